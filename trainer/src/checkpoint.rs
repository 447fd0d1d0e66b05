//! A run's files: checkpoints (`checkpoints/epoch-NNNN/`: the model, the
//! optimizer, `config.json` and `state.json`), written atomically, loaded for
//! use or to resume training; and `metrics.jsonl`.

use std::fs;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::config::{TrainingConfig, config_difference, config_from_json};
use crate::evaluation::EpochMetrics;
use crate::fsio::{WriteError, write_atomic};
use crate::model::{Vae, VaeConfig};
use crate::optim::adam;
use crate::rng::Rng;

const CHECKPOINTS: &str = "checkpoints";
const CONFIG_FILE: &str = "config.json";
const MODEL_FILE: &str = "model.bpk";
const OPTIMIZER_FILE: &str = "optimizer.bpk";
const STATE_FILE: &str = "state.json";
/// The metrics of the run so far, one JSON object per line.
pub const METRICS_FILE: &str = "metrics.jsonl";

/// Errors of writing, finding and loading checkpoints and metrics.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A checkpoint file does not parse.
    #[error("{path}: corrupt checkpoint file: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// `--resume` (or loading a run) without a checkpoint.
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
}

impl From<WriteError> for CheckpointError {
    fn from(err: WriteError) -> Self {
        CheckpointError::Io {
            path: err.path,
            source: err.source,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_owned(),
        source,
    }
}

fn corrupt(path: PathBuf) -> impl FnOnce(burn::store::RecordError) -> CheckpointError {
    move |err| CheckpointError::Corrupt {
        path,
        reason: err.to_string(),
    }
}

/// What a checkpoint holds besides the model and the optimizer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct State {
    /// Epochs completed.
    pub epoch: usize,
    /// The PRNG after those epochs.
    pub rng: Rng,
    /// Metrics of every completed epoch.
    pub metrics: Vec<EpochMetrics>,
}

/// The newest complete checkpoint under `out`, if any.
pub fn latest_checkpoint(out: &Path) -> Result<Option<PathBuf>, CheckpointError> {
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
pub(crate) fn save(
    out: &Path,
    config: &TrainingConfig,
    model: &Vae,
    optim: &ModuleOptimizer,
    state: &State,
) -> Result<PathBuf, CheckpointError> {
    let root = out.join(CHECKPOINTS);
    let name = format!("epoch-{:04}", state.epoch);
    let tmp = root.join(format!("{name}.tmp"));
    let dir = root.join(&name);
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
    }
    fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
    let model_path = tmp.join(MODEL_FILE);
    model
        .clone()
        .save_file(&model_path)
        .map_err(corrupt(model_path.clone()))?;
    let optim_path = tmp.join(OPTIMIZER_FILE);
    optim
        .save(&optim_path)
        .map_err(corrupt(optim_path.clone()))?;
    write_atomic(&tmp.join(CONFIG_FILE), config.to_string().as_bytes())?;
    let state_json = serde_json::to_string_pretty(state).expect("state serialises");
    write_atomic(&tmp.join(STATE_FILE), state_json.as_bytes())?;
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

/// Writes `metrics.jsonl` into `out`: one line per epoch.
pub(crate) fn write_metrics(out: &Path, metrics: &[EpochMetrics]) -> Result<(), CheckpointError> {
    let lines: String = metrics
        .iter()
        .map(|m| serde_json::to_string(m).expect("metrics serialise") + "\n")
        .collect();
    write_atomic(&out.join(METRICS_FILE), lines.as_bytes())?;
    Ok(())
}

/// Reads a run's `metrics.jsonl`.
pub fn read_metrics(out: &Path) -> Result<Vec<EpochMetrics>, CheckpointError> {
    let path = out.join(METRICS_FILE);
    let text = fs::read_to_string(&path).map_err(io_err(&path))?;
    text.lines()
        .map(|line| {
            serde_json::from_str(line).map_err(|err| CheckpointError::Corrupt {
                path: path.clone(),
                reason: err.to_string(),
            })
        })
        .collect()
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, CheckpointError> {
    let text = fs::read_to_string(path).map_err(io_err(path))?;
    serde_json::from_str(&text).map_err(|err| CheckpointError::Corrupt {
        path: path.to_owned(),
        reason: err.to_string(),
    })
}

/// Reads a run's `config.json`, including one written before a setting
/// existed ([`config_from_json`]).
fn read_config(path: &Path) -> Result<TrainingConfig, CheckpointError> {
    let value: serde_json::Value = read_json(path)?;
    config_from_json(value).map_err(|err| CheckpointError::Corrupt {
        path: path.to_owned(),
        reason: err.to_string(),
    })
}

/// The newest checkpoint under `out` loaded to continue training with
/// `config` on `device` (with autodiff): model, optimizer and state. `None`
/// when there is none; an error when it is of another run
/// ([`config_difference`]).
pub(crate) fn resume(
    out: &Path,
    config: &TrainingConfig,
    device: &Device,
) -> Result<Option<(Vae, ModuleOptimizer, State)>, CheckpointError> {
    let Some(dir) = latest_checkpoint(out)? else {
        return Ok(None);
    };
    let config_path = dir.join(CONFIG_FILE);
    let theirs = read_config(&config_path)?;
    if let Some((field, theirs, ours)) = config_difference(&theirs, config) {
        return Err(CheckpointError::OtherRun {
            path: config_path,
            field,
            theirs,
            ours,
        });
    }
    let model = load_model_file(&dir, &theirs.model, device)?;
    let optim_path = dir.join(OPTIMIZER_FILE);
    let optim = adam(config.backend)
        .load(&optim_path)
        .map_err(corrupt(optim_path))?;
    let state = read_json(&dir.join(STATE_FILE))?;
    Ok(Some((model, optim, state)))
}

fn load_model_file(
    dir: &Path,
    config: &VaeConfig,
    device: &Device,
) -> Result<Vae, CheckpointError> {
    let path = dir.join(MODEL_FILE);
    config
        .init(device, &mut Rng::new(0))
        .try_load_file(&path)
        .map_err(corrupt(path))
}

/// Loads the config and the model of a checkpoint onto `device` (e.g.
/// `Backend::default().device()`, a CPU device without autodiff). `path` is
/// a checkpoint directory (`.../checkpoints/epoch-0010`) or a run's output
/// directory, whose newest checkpoint is taken.
pub fn load_model(path: &Path, device: &Device) -> Result<(TrainingConfig, Vae), CheckpointError> {
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
pub fn load_checkpoint(path: &Path, device: &Device) -> Result<Checkpoint, CheckpointError> {
    let dir = if path.join(MODEL_FILE).is_file() {
        path.to_owned()
    } else {
        latest_checkpoint(path)?.ok_or_else(|| CheckpointError::NoCheckpoint {
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
