//! `tinyvae bench-train`: seconds per training epoch of each model's
//! recipe (`tinyvae train`'s defaults: the unconditional mlp at batch 128,
//! the conditional conv model at batch 16 with its cosine schedule) on
//! every CPU backend compiled in and on PyTorch (`trainer/bench/
//! pytorch_vae.py`, the same models and recipes), same data, same threads,
//! one after another in one run; reported as ratios to PyTorch.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde::Deserialize;
use tinyvae_trainer::backend::Backend;
use tinyvae_trainer::config::{Recipe, TrainingConfig};
use tinyvae_trainer::data::{DEFAULT_DATA_DIR, DataOptions};
use tinyvae_trainer::model::{Arch, VaeConfig};
use tinyvae_trainer::training::{RunOptions, train};

use crate::fail::bad_input;
use crate::train::{Model, classify, load_data};

/// Time training epochs: burn's CPU backends vs PyTorch, same recipe.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The models to time, each with its recipe (repeat the flag, or give a
    /// list: `--model mlp,conv`).
    #[arg(long, value_enum, value_delimiter = ',', default_values = ["mlp", "conv"])]
    pub model: Vec<Model>,
    /// Epochs per contender (the first includes warm-up effects).
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// CPU threads for every contender.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Directory of the IDX files.
    #[arg(long, default_value = DEFAULT_DATA_DIR)]
    pub data: PathBuf,
    /// Python interpreter with torch and numpy installed.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// The PyTorch peer script.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../trainer/bench/pytorch_vae.py"))]
    pub pytorch_script: PathBuf,
    /// Skip PyTorch (report absolute times only).
    #[arg(long)]
    pub no_pytorch: bool,
    /// Scratch directory for the burn runs' checkpoints.
    #[arg(long, default_value = "out/bench-train")]
    pub out: PathBuf,
}

/// One epoch's line from the PyTorch script.
#[derive(Debug, Deserialize)]
struct PeerEpoch {
    train_seconds: f64,
    test_nelbo: f64,
}

/// A contender's per-epoch seconds and final test NELBO.
struct Timing {
    name: String,
    seconds: Vec<f64>,
    nelbo: f64,
}

impl Timing {
    /// Mean seconds per epoch after the first (warm-up) epoch, or the only one.
    fn steady(&self) -> f64 {
        let tail = if self.seconds.len() > 1 {
            &self.seconds[1..]
        } else {
            &self.seconds[..]
        };
        tail.iter().sum::<f64>() / tail.len() as f64
    }
}

fn check_torch(python: &str) -> anyhow::Result<()> {
    let probe = Command::new(python)
        .args(["-c", "import torch, numpy"])
        .output()
        .with_context(|| {
            format!("{python}: cannot run it (need Python 3 with torch and numpy, or --no-pytorch)")
        })
        .map_err(bad_input)?;
    if !probe.status.success() {
        bail!(bad_input(anyhow::anyhow!(
            "{python}: torch or numpy is not installed: run `{python} -m pip install torch numpy`, or pass --no-pytorch"
        )));
    }
    Ok(())
}

fn run_pytorch(args: &Args, model: Model, data: &Path) -> anyhow::Result<Timing> {
    let output = Command::new(&args.python)
        .arg(&args.pytorch_script)
        .args(["--model", model_name(model)])
        .arg("--data")
        .arg(data)
        .args(["--epochs", &args.epochs.to_string()])
        .args(["--threads", &args.threads.to_string()])
        .output()
        .with_context(|| format!("running {}", args.pytorch_script.display()))?;
    if !output.status.success() {
        bail!(
            "{}: failed: {}",
            args.pytorch_script.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let epochs: Vec<PeerEpoch> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .with_context(|| format!("{}: unexpected output", args.pytorch_script.display()))?;
    if epochs.len() != args.epochs {
        bail!(
            "{}: reported {} epochs, expected {}",
            args.pytorch_script.display(),
            epochs.len(),
            args.epochs
        );
    }
    Ok(Timing {
        name: "pytorch".into(),
        seconds: epochs.iter().map(|e| e.train_seconds).collect(),
        nelbo: epochs.last().map_or(f64::NAN, |e| e.test_nelbo),
    })
}

/// The model's name on the command line.
fn model_name(model: Model) -> &'static str {
    match model {
        Model::Mlp => "mlp",
        Model::Conv => "conv",
    }
}

/// The model's recipe as `tinyvae train` runs it by default: the mlp
/// unconditional (as pytorch/examples), the conv model conditional on the
/// data's `classes`.
fn recipe_config(model: Model, classes: usize, backend: Backend, epochs: usize) -> TrainingConfig {
    let (arch, classes) = match model {
        Model::Mlp => (Arch::Mlp, 0),
        Model::Conv => (Arch::Conv, classes),
    };
    let recipe = Recipe::of(arch);
    TrainingConfig::new(VaeConfig::new(arch).with_classes(classes), backend)
        .with_epochs(epochs)
        .with_batch_size(recipe.batch_size)
        .with_lr(recipe.lr)
        .with_lr_schedule(recipe.lr_schedule)
}

/// Runs `bench-train`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.epochs == 0 || args.threads == 0 {
        bail!(bad_input(anyhow::anyhow!(
            "--epochs and --threads must be at least 1"
        )));
    }
    if !args.no_pytorch {
        check_torch(&args.python)?;
    }
    let data = load_data(Some(&args.data), None, &DataOptions::default())?;
    let mut models: Vec<Model> = Vec::new();
    for &model in &args.model {
        if !models.contains(&model) {
            models.push(model);
        }
    }
    let mut rows = Vec::new();
    for &model in &models {
        for &backend in Backend::ALL.iter().filter(|b| b.is_cpu()) {
            eprintln!(
                "{} on burn {backend}: {} epochs on {} threads",
                model_name(model),
                args.epochs,
                args.threads
            );
            let out = args.out.join(model_name(model)).join(backend.name());
            if out.exists() {
                std::fs::remove_dir_all(&out)
                    .with_context(|| format!("{}: cannot clear", out.display()))?;
            }
            let config = recipe_config(model, data.classes(), backend, args.epochs);
            let options = RunOptions {
                out,
                threads: args.threads,
                resume: false,
                stop_after: None,
            };
            let trained = train(&config, &data, &options).map_err(classify)?;
            rows.push((
                model,
                Timing {
                    name: format!("burn {backend}"),
                    seconds: trained.metrics.iter().map(|m| m.train_seconds).collect(),
                    nelbo: trained.metrics.last().map_or(f64::NAN, |m| m.test.nelbo),
                },
            ));
        }
        if !args.no_pytorch {
            eprintln!(
                "{} on pytorch: {} epochs on {} threads",
                model_name(model),
                args.epochs,
                args.threads
            );
            rows.push((model, run_pytorch(&args, model, &args.data)?));
        }
    }
    println!(
        "{} training images, {} threads; s/epoch per epoch, steady = mean after epoch 1; recipes: mlp batch 128, conv batch 16 (conditional, cosine)",
        data.train.len(),
        args.threads
    );
    println!(
        "{:<6} {:<14} {:>28} {:>8} {:>10} {:>11}",
        "model", "contender", "s/epoch", "steady", "x pytorch", "test NELBO"
    );
    for &model in &models {
        let timings: Vec<&Timing> = rows
            .iter()
            .filter(|(m, _)| *m == model)
            .map(|(_, t)| t)
            .collect();
        let peer = timings
            .iter()
            .find(|t| t.name == "pytorch")
            .map(|t| t.steady());
        for t in timings {
            let per_epoch: Vec<String> = t.seconds.iter().map(|s| format!("{s:.2}")).collect();
            let ratio = peer.map_or("-".into(), |p| format!("{:.2}", t.steady() / p));
            println!(
                "{:<6} {:<14} {:>28} {:>8.2} {:>10} {:>11.2}",
                model_name(model),
                t.name,
                per_epoch.join(" / "),
                t.steady(),
                ratio,
                t.nelbo
            );
        }
    }
    Ok(())
}
