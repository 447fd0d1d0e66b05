//! The training loop: epochs of Adam over shuffled mini-batches, a test NELBO
//! per epoch, atomic checkpoints, and resuming from them.
//!
//! Randomness (data order, the reparameterisation noise) comes from one host
//! PRNG whose state is saved in every checkpoint, so a resumed run continues
//! the same stream as an uninterrupted one.

use std::fs;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::config::Config;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::backend::{Backend, run_in_pool};
use crate::data::{self, DataSet, PIXELS, Split};
use crate::evaluation::{Nelbo, test_nelbo};
use crate::loss::bce_with_logits_fused;
use crate::model::{CONV_DECODER_CHANNELS, Vae, VaeConfig, bce_with_logits_sum, kl_sum};
use crate::optim::FusedAdam;

/// Everything that defines a run; saved as `config.json` in every checkpoint.
#[derive(Config, Debug)]
pub struct TrainingConfig {
    /// The model.
    pub model: VaeConfig,
    /// Backend the run trains on.
    pub backend: Backend,
    /// Epochs to train in total.
    #[config(default = 10)]
    pub epochs: usize,
    /// Images per Adam step.
    #[config(default = 128)]
    pub batch_size: usize,
    /// Adam's learning rate.
    #[config(default = 1e-3)]
    pub lr: f64,
    /// How the learning rate moves over the run.
    #[config(default = "LrSchedule::Constant")]
    pub lr_schedule: LrSchedule,
    /// Weight of the KL term (1: the ELBO; 0: a plain autoencoder).
    #[config(default = 1.0)]
    pub beta: f64,
    /// Seed of the initialisation, the data order and the noise.
    #[config(default = 1)]
    pub seed: u64,
    /// Use only the first this many training images (all: `None`).
    #[config(default = "None")]
    pub train_limit: Option<usize>,
}

/// How the learning rate moves over a run's Adam steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LrSchedule {
    /// `lr` at every step (pytorch/examples' recipe).
    #[default]
    Constant,
    /// Half a cosine from `lr` at the first step down towards 0 at the
    /// last: `lr * (1 + cos(pi * step / steps)) / 2`. Extending a finished
    /// run (more `--epochs`) stretches the rest of the curve.
    Cosine,
}

impl LrSchedule {
    /// The learning rate at `step` (from 0) of `steps` in all.
    pub fn at(self, lr: f64, step: usize, steps: usize) -> f64 {
        match self {
            LrSchedule::Constant => lr,
            LrSchedule::Cosine => {
                let progress = step as f64 / steps.max(1) as f64;
                lr * 0.5 * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos())
            }
        }
    }
}

/// Errors of training, checkpointing and loading checkpoints.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Writing the data files failed.
    #[error(transparent)]
    Data(#[from] data::DataError),
    /// A checkpoint file does not parse.
    #[error("{path}: corrupt checkpoint file: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// `--resume` without a checkpoint.
    #[error("{dir}: no checkpoint to resume from")]
    NoCheckpoint {
        /// The output directory.
        dir: PathBuf,
    },
    /// The output directory holds a checkpoint of another run.
    #[error(
        "{path}: the checkpoint there is of a different run ({field} differs: {theirs} there, {ours} asked); choose another --out or delete it"
    )]
    OtherRun {
        /// Its config.json.
        path: PathBuf,
        /// The first setting that differs.
        field: String,
        /// Its value in the checkpoint.
        theirs: String,
        /// Its value asked for now.
        ours: String,
    },
    /// An option is out of range.
    #[error("{0}")]
    BadOption(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io {
        path: path.to_owned(),
        source,
    }
}

/// SplitMix64: a tiny PRNG whose whole state is one `u64`, so a checkpoint
/// can hold it exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A stream determined by `seed`.
    pub fn new(seed: u64) -> Self {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `n` draws from N(0, 1) (Box-Muller).
    pub fn normals(&mut self, n: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(n + 1);
        while out.len() < n {
            let radius = (-2.0 * (1.0 - self.uniform()).ln()).sqrt();
            let angle = std::f64::consts::TAU * self.uniform();
            out.push((radius * angle.cos()) as f32);
            out.push((radius * angle.sin()) as f32);
        }
        out.truncate(n);
        out
    }

    /// A uniformly random permutation of `0..n` (Fisher-Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        order
    }
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based.
    pub epoch: usize,
    /// Mean training loss (BCE + beta * KL) per image over the epoch.
    pub train_loss: f64,
    /// Test negative ELBO and its parts, nats per image.
    pub test: Nelbo,
    /// Seconds of training (without the test pass).
    pub train_seconds: f64,
    /// Training images per second.
    pub images_per_second: f64,
}

/// What a checkpoint holds besides the model and the optimizer.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    /// Epochs completed.
    epoch: usize,
    /// The PRNG after those epochs.
    rng: Rng,
    /// Metrics of every completed epoch.
    metrics: Vec<EpochMetrics>,
}

const CHECKPOINTS: &str = "checkpoints";
const CONFIG_FILE: &str = "config.json";
const MODEL_FILE: &str = "model.bpk";
const OPTIMIZER_FILE: &str = "optimizer.bpk";
const STATE_FILE: &str = "state.json";
/// The metrics of the run so far, one JSON object per line.
pub const METRICS_FILE: &str = "metrics.jsonl";

/// Where and how a run writes, besides its [`TrainingConfig`].
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Output directory: checkpoints, metrics, pictures.
    pub out: PathBuf,
    /// Rayon threads (0: one per core).
    pub threads: usize,
    /// Refuse to start afresh: a checkpoint must exist.
    pub resume: bool,
    /// Stop after this many epochs of this invocation (for tests of resuming).
    pub stop_after: Option<usize>,
}

/// The result of [`train`].
#[derive(Debug)]
pub struct Trained {
    /// The model after the last epoch (on a device without autodiff).
    pub model: Vae,
    /// Metrics of every epoch, including those before a resume.
    pub metrics: Vec<EpochMetrics>,
    /// The checkpoint written last.
    pub checkpoint: PathBuf,
}

/// Trains (or resumes training) on `data`, writing a checkpoint and
/// `metrics.jsonl` into `options.out` after every epoch.
pub fn train(
    config: &TrainingConfig,
    data: &DataSet,
    options: &RunOptions,
) -> Result<Trained, TrainError> {
    if config.batch_size == 0 || config.epochs == 0 || config.model.latent == 0 {
        return Err(TrainError::BadOption(
            "epochs, batch size and latent size must be at least 1".into(),
        ));
    }
    if config.model.decoder_channels.contains(&0) {
        return Err(TrainError::BadOption(
            "the conv decoder's channels must be at least 1".into(),
        ));
    }
    if !(config.beta >= 0.0 && config.lr > 0.0) {
        return Err(TrainError::BadOption(format!(
            "need beta >= 0 and lr > 0 (got beta {}, lr {})",
            config.beta, config.lr
        )));
    }
    fs::create_dir_all(&options.out).map_err(io_err(&options.out))?;
    let threads = if config.backend.is_cpu() {
        options.threads
    } else {
        1
    };
    run_in_pool(threads, || train_in_pool(config, data, options))
}

fn train_in_pool(
    config: &TrainingConfig,
    data: &DataSet,
    options: &RunOptions,
) -> Result<Trained, TrainError> {
    let device = config.backend.device().autodiff();
    let resumed = match latest_checkpoint(&options.out)? {
        Some(dir) => Some(load_for_resume(&dir, config, &device)?),
        None if options.resume => {
            return Err(TrainError::NoCheckpoint {
                dir: options.out.clone(),
            });
        }
        None => None,
    };
    let (mut model, mut optim, mut state) = match resumed {
        Some(parts) => parts,
        None => {
            let mut rng = Rng::new(config.seed);
            let model = config.model.init(&device, &mut rng);
            let state = State {
                epoch: 0,
                rng,
                metrics: Vec::new(),
            };
            (model, adam(config.backend), state)
        }
    };
    if state.epoch > 0 {
        eprintln!(
            "resuming from the checkpoint of epoch {} in {}",
            state.epoch,
            options.out.display()
        );
    }

    let train_split = match config.train_limit {
        Some(n) => data.train.clone().truncated(n),
        None => data.train.clone(),
    };
    let train_x = images_tensor(&train_split, &device);
    let n = train_split.len();
    let batches = n.div_ceil(config.batch_size);
    let mut checkpoint = latest_checkpoint(&options.out)?;
    let last_epoch = match options.stop_after {
        Some(k) => config.epochs.min(state.epoch + k),
        None => config.epochs,
    };
    // The same loss value and gradient either way; see `Backend::fuses_loss`.
    let reconstruction = if config.backend.fuses_loss() {
        bce_with_logits_fused
    } else {
        bce_with_logits_sum
    };
    while state.epoch < last_epoch {
        let epoch = state.epoch + 1;
        let bar = progress_bar(batches as u64, epoch, config.epochs);
        let start = Instant::now();
        let order = state.rng.permutation(n);
        let mut loss_sum = 0.0;
        for (step, chunk) in order.chunks(config.batch_size).enumerate() {
            let indices: Vec<i64> = chunk.iter().map(|&i| i as i64).collect();
            let indices =
                Tensor::<1, Int>::from_data(TensorData::new(indices, [chunk.len()]), &device);
            let x = train_x.clone().select(0, indices); // [batch, 784]
            let eps = noise(&mut state.rng, chunk.len(), config.model.latent, &device);
            let (logits, mu, logvar) = model.forward(x.clone(), eps);
            let loss = reconstruction(logits, x) + kl_sum(mu, logvar).mul_scalar(config.beta);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let lr = config.lr_schedule.at(
                config.lr,
                (epoch - 1) * batches + step,
                config.epochs * batches,
            );
            model = optim.step(lr, model, grads);
            loss_sum += f64::from(loss.into_scalar::<f32>());
            let seen = (step * config.batch_size + chunk.len()) as f64;
            bar.inc(1);
            bar.set_message(format!(
                "loss {:.2}  {:.0} img/s",
                loss_sum / seen,
                seen / start.elapsed().as_secs_f64()
            ));
        }
        let train_seconds = start.elapsed().as_secs_f64();
        bar.finish_and_clear();
        let test = test_nelbo(&model.valid(), &data.test, config.seed);
        let metrics = EpochMetrics {
            epoch,
            train_loss: loss_sum / n as f64,
            test,
            train_seconds,
            images_per_second: n as f64 / train_seconds,
        };
        eprintln!(
            "epoch {epoch}/{}: train loss {:.3}, {:.1} s ({:.0} img/s); test NELBO {:.3} nats/image (BCE {:.3} + KL {:.3})",
            config.epochs,
            metrics.train_loss,
            train_seconds,
            metrics.images_per_second,
            test.nelbo,
            test.bce,
            test.kl
        );
        state.epoch = epoch;
        state.metrics.push(metrics);
        checkpoint = Some(save_checkpoint(
            &options.out,
            config,
            &model,
            &optim,
            &state,
        )?);
        write_metrics(&options.out, &state.metrics)?;
    }
    Ok(Trained {
        model: model.valid(),
        metrics: state.metrics,
        checkpoint: checkpoint.ok_or(TrainError::NoCheckpoint {
            dir: options.out.clone(),
        })?,
    })
}

/// PyTorch's Adam (epsilon 1e-8; burn's default is 1e-5): fused and in place
/// on the CPU backends, burn's `Adam` on the GPU ones. Both keep the same
/// state, so their checkpoints are interchangeable.
fn adam(backend: Backend) -> ModuleOptimizer {
    if backend.is_cpu() {
        ModuleOptimizer::from(FusedAdam::default())
    } else {
        AdamConfig::new().with_epsilon(1e-8).init()
    }
}

/// All images of `split` as one `[n, 784]` tensor in [0, 1].
pub fn images_tensor(split: &Split, device: &Device) -> Tensor<2> {
    let values: Vec<f32> = split.pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
    Tensor::from_data(TensorData::new(values, [split.len(), PIXELS]), device)
}

/// `[batch, latent]` draws from N(0, 1).
pub fn noise(rng: &mut Rng, batch: usize, latent: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(
        TensorData::new(rng.normals(batch * latent), [batch, latent]),
        device,
    )
}

fn progress_bar(batches: u64, epoch: usize, epochs: usize) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::with_draw_target(Some(batches), ProgressDrawTarget::hidden());
    }
    let bar = ProgressBar::new(batches);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "epoch {epoch}/{epochs} [{{bar:30}}] {{pos}}/{{len}} {{msg}} ({{elapsed}}<{{eta}})"
        ))
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar
}

/// The newest complete checkpoint under `out`, if any.
pub fn latest_checkpoint(out: &Path) -> Result<Option<PathBuf>, TrainError> {
    let dir = out.join(CHECKPOINTS);
    if !dir.is_dir() {
        return Ok(None);
    }
    let mut best: Option<(usize, PathBuf)> = None;
    for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
        let entry = entry.map_err(io_err(&dir))?;
        let name = entry.file_name();
        let Some(epoch) = name
            .to_str()
            .and_then(|n| n.strip_prefix("epoch-"))
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        if best.as_ref().is_none_or(|(e, _)| epoch > *e) {
            best = Some((epoch, entry.path()));
        }
    }
    Ok(best.map(|(_, path)| path))
}

/// Writes the checkpoint of `state.epoch` as `checkpoints/epoch-NNNN/`: files
/// go into a temporary directory that is renamed into place once complete, so
/// a run killed at any moment leaves the previous checkpoint intact. Older
/// checkpoints are then removed.
fn save_checkpoint(
    out: &Path,
    config: &TrainingConfig,
    model: &Vae,
    optim: &ModuleOptimizer,
    state: &State,
) -> Result<PathBuf, TrainError> {
    let root = out.join(CHECKPOINTS);
    let name = format!("epoch-{:04}", state.epoch);
    let tmp = root.join(format!("{name}.tmp"));
    let dir = root.join(&name);
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
    }
    fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
    let corrupt = |path: PathBuf| {
        move |err: burn::store::RecordError| TrainError::Corrupt {
            path,
            reason: err.to_string(),
        }
    };
    let model_path = tmp.join(MODEL_FILE);
    model
        .clone()
        .save_file(&model_path)
        .map_err(corrupt(model_path.clone()))?;
    let optim_path = tmp.join(OPTIMIZER_FILE);
    optim
        .save(&optim_path)
        .map_err(corrupt(optim_path.clone()))?;
    data::write_atomic(&tmp.join(CONFIG_FILE), config.to_string().as_bytes())?;
    let state_json = serde_json::to_string_pretty(state).expect("state serialises");
    data::write_atomic(&tmp.join(STATE_FILE), state_json.as_bytes())?;
    for file in [MODEL_FILE, OPTIMIZER_FILE] {
        let path = tmp.join(file);
        fs::File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(io_err(&path))?;
    }
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(io_err(&dir))?;
    }
    fs::rename(&tmp, &dir).map_err(io_err(&dir))?;
    fs::File::open(&root)
        .and_then(|f| f.sync_all())
        .map_err(io_err(&root))?;
    for entry in fs::read_dir(&root).map_err(io_err(&root))? {
        let path = entry.map_err(io_err(&root))?.path();
        if path != dir {
            fs::remove_dir_all(&path).map_err(io_err(&path))?;
        }
    }
    Ok(dir)
}

fn write_metrics(out: &Path, metrics: &[EpochMetrics]) -> Result<(), TrainError> {
    let lines: String = metrics
        .iter()
        .map(|m| serde_json::to_string(m).expect("metrics serialise") + "\n")
        .collect();
    data::write_atomic(&out.join(METRICS_FILE), lines.as_bytes())?;
    Ok(())
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, TrainError> {
    let text = fs::read_to_string(path).map_err(io_err(path))?;
    serde_json::from_str(&text).map_err(|err| TrainError::Corrupt {
        path: path.to_owned(),
        reason: err.to_string(),
    })
}

/// Reads a run's `config.json`, including one written before a setting
/// existed ([`config_from_json`]).
fn read_config(path: &Path) -> Result<TrainingConfig, TrainError> {
    let value: serde_json::Value = read_json(path)?;
    config_from_json(value).map_err(|err| TrainError::Corrupt {
        path: path.to_owned(),
        reason: err.to_string(),
    })
}

/// A config from its JSON, settings added since the file was written
/// taking the values that runs had before them (burn's `Config`
/// deserializer has no field defaults): `lr_schedule` constant, the
/// model's `decoder_channels` [`CONV_DECODER_CHANNELS`].
fn config_from_json(mut value: serde_json::Value) -> Result<TrainingConfig, serde_json::Error> {
    if let Some(object) = value.as_object_mut() {
        object
            .entry("lr_schedule")
            .or_insert_with(|| serde_json::json!(LrSchedule::Constant));
        if let Some(model) = object.get_mut("model").and_then(|m| m.as_object_mut()) {
            model
                .entry("decoder_channels")
                .or_insert_with(|| serde_json::json!(CONV_DECODER_CHANNELS));
        }
    }
    serde_json::from_value(value)
}

/// The first setting in which two configs differ, ignoring the number of
/// epochs (a finished run may be extended) and the backend.
fn config_difference(
    theirs: &TrainingConfig,
    ours: &TrainingConfig,
) -> Option<(String, String, String)> {
    let json = |c: &TrainingConfig| {
        let mut value = serde_json::to_value(c).expect("config serialises");
        let object = value.as_object_mut().expect("config is an object");
        object.remove("epochs");
        object.remove("backend");
        value
    };
    let (theirs, ours) = (json(theirs), json(ours));
    theirs
        .as_object()
        .expect("object")
        .iter()
        .find(|(key, value)| ours.get(key.as_str()) != Some(value))
        .map(|(key, value)| {
            let other = ours.get(key.as_str()).cloned().unwrap_or_default();
            (key.clone(), value.to_string(), other.to_string())
        })
}

fn load_for_resume(
    dir: &Path,
    config: &TrainingConfig,
    device: &Device,
) -> Result<(Vae, ModuleOptimizer, State), TrainError> {
    let config_path = dir.join(CONFIG_FILE);
    let theirs = read_config(&config_path)?;
    if let Some((field, theirs, ours)) = config_difference(&theirs, config) {
        return Err(TrainError::OtherRun {
            path: config_path,
            field,
            theirs,
            ours,
        });
    }
    let model = load_model_file(dir, &theirs.model, device)?;
    let optim_path = dir.join(OPTIMIZER_FILE);
    let optim = adam(config.backend)
        .load(&optim_path)
        .map_err(|err| TrainError::Corrupt {
            path: optim_path,
            reason: err.to_string(),
        })?;
    let state = read_json(&dir.join(STATE_FILE))?;
    Ok((model, optim, state))
}

fn load_model_file(dir: &Path, config: &VaeConfig, device: &Device) -> Result<Vae, TrainError> {
    let path = dir.join(MODEL_FILE);
    config
        .init(device, &mut Rng::new(0))
        .try_load_file(&path)
        .map_err(|err| TrainError::Corrupt {
            path,
            reason: err.to_string(),
        })
}

/// Loads the config and the model of a checkpoint onto `device` (e.g.
/// `Backend::default().device()`, a CPU device without autodiff). `path` is
/// a checkpoint directory (`.../checkpoints/epoch-0010`) or a run's output
/// directory, whose newest checkpoint is taken.
pub fn load_model(path: &Path, device: &Device) -> Result<(TrainingConfig, Vae), TrainError> {
    let checkpoint = load_checkpoint(path, device)?;
    Ok((checkpoint.config, checkpoint.model))
}

/// A checkpoint loaded for use (export, evaluation): no optimizer.
#[derive(Debug)]
pub struct Checkpoint {
    /// The checkpoint directory.
    pub dir: PathBuf,
    /// The run's configuration.
    pub config: TrainingConfig,
    /// The model.
    pub model: Vae,
    /// Epochs completed.
    pub epoch: usize,
    /// Metrics of those epochs.
    pub metrics: Vec<EpochMetrics>,
}

/// Like [`load_model`], with the checkpoint's epoch and metrics.
pub fn load_checkpoint(path: &Path, device: &Device) -> Result<Checkpoint, TrainError> {
    let dir = if path.join(MODEL_FILE).is_file() {
        path.to_owned()
    } else {
        latest_checkpoint(path)?.ok_or_else(|| TrainError::NoCheckpoint {
            dir: path.to_owned(),
        })?
    };
    let config = read_config(&dir.join(CONFIG_FILE))?;
    let state: State = read_json(&dir.join(STATE_FILE))?;
    let model = load_model_file(&dir, &config.model, device)?;
    Ok(Checkpoint {
        dir,
        config,
        model,
        epoch: state.epoch,
        metrics: state.metrics,
    })
}

/// Reads a run's `metrics.jsonl`.
pub fn read_metrics(out: &Path) -> Result<Vec<EpochMetrics>, TrainError> {
    let path = out.join(METRICS_FILE);
    let text = fs::read_to_string(&path).map_err(io_err(&path))?;
    text.lines()
        .map(|line| {
            serde_json::from_str(line).map_err(|err| TrainError::Corrupt {
                path: path.clone(),
                reason: err.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lr_schedules() {
        let constant = LrSchedule::Constant;
        assert_eq!(constant.at(1e-3, 0, 100), 1e-3);
        assert_eq!(constant.at(1e-3, 99, 100), 1e-3);
        let cosine = LrSchedule::Cosine;
        assert_eq!(cosine.at(2e-3, 0, 100), 2e-3);
        assert!((cosine.at(2e-3, 50, 100) - 1e-3).abs() < 1e-15);
        assert!((cosine.at(2e-3, 25, 100) - 1e-3 * (1.0 + 0.5f64.sqrt())).abs() < 1e-15);
        assert!(cosine.at(2e-3, 99, 100) < 1e-6);
        assert!(cosine.at(2e-3, 100, 100).abs() < 1e-18);
    }

    /// A config.json written before `lr_schedule` and `decoder_channels`
    /// existed still loads, as a constant schedule and the decoder shape
    /// runs had then (resume and export read old runs).
    #[test]
    fn old_configs_load_with_the_settings_they_were_trained_with() {
        let config = TrainingConfig::new(
            VaeConfig::new(crate::model::Arch::Conv).with_decoder_channels([8, 8]),
            Backend::default(),
        )
        .with_lr_schedule(LrSchedule::Cosine);
        let mut json = serde_json::to_value(&config).unwrap();
        let object = json.as_object_mut().unwrap();
        object.remove("lr_schedule");
        let model = object["model"].as_object_mut().unwrap();
        model.remove("decoder_channels").unwrap();
        let loaded = config_from_json(json).unwrap();
        assert_eq!(loaded.lr_schedule, LrSchedule::Constant);
        assert_eq!(loaded.model.decoder_channels, CONV_DECODER_CHANNELS);
    }

    #[test]
    fn rng_normals_have_unit_moments() {
        let mut rng = Rng::new(7);
        let draws = rng.normals(100_001);
        let n = draws.len() as f64;
        let mean = draws.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = draws
            .iter()
            .map(|&x| (f64::from(x) - mean).powi(2))
            .sum::<f64>()
            / n;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
    }

    #[test]
    fn permutation_is_a_permutation() {
        let mut order = Rng::new(3).permutation(1000);
        assert_ne!(order, (0..1000).collect::<Vec<_>>());
        order.sort_unstable();
        assert_eq!(order, (0..1000).collect::<Vec<_>>());
    }
}
