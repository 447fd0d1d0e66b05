//! The training loop: epochs of Adam over shuffled mini-batches, a test NELBO
//! per epoch, a checkpoint and `metrics.jsonl` after every epoch, and
//! resuming from the newest checkpoint.
//!
//! Randomness (data order, the reparameterisation noise) comes from one host
//! [`Rng`] whose state is saved in every checkpoint, so a resumed run
//! continues the same stream as an uninterrupted one.

use std::fs;
use std::path::PathBuf;
use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Int, Tensor, TensorData};
use indicatif::ProgressBar;

use crate::backend::run_in_pool;
use crate::batch::images_tensor;
use crate::checkpoint::{self, CheckpointError, State};
use crate::config::TrainingConfig;
use crate::data::DataSet;
use crate::error::TrainError;
use crate::evaluation::{EpochMetrics, test_nelbo};
use crate::loss::{bce_with_logits_fused, bce_with_logits_sum, kl_sum};
use crate::model::Vae;
use crate::optim::adam;
use crate::progress;
use crate::rng::Rng;

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
    if let Some(problem) = config.out_of_range() {
        return Err(TrainError::BadOption(problem));
    }
    if config.model.image != data.shape() {
        return Err(TrainError::BadOption(format!(
            "the model is for {} images, the data's are {}",
            config.model.image,
            data.shape()
        )));
    }
    if let Some(problem) = config.model.image_problem() {
        return Err(TrainError::BadOption(problem));
    }
    let classes = config.model.classes;
    if classes > 0 {
        let labels = data.train.labels.iter().chain(&data.test.labels);
        if let Some(&label) = labels.max().filter(|&&l| usize::from(l) >= classes) {
            return Err(TrainError::BadOption(format!(
                "a conditional model of {classes} classes cannot learn label {label}"
            )));
        }
    }
    fs::create_dir_all(&options.out).map_err(|source| TrainError::Io {
        path: options.out.clone(),
        source,
    })?;
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
    let no_checkpoint = || CheckpointError::NoCheckpoint {
        dir: options.out.clone(),
    };
    let (mut model, mut optim, mut state) = match checkpoint::resume(&options.out, config, &device)?
    {
        Some(parts) => parts,
        None if options.resume => return Err(no_checkpoint().into()),
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
    let mut last_checkpoint = checkpoint::latest_checkpoint(&options.out)?;
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
            let labels: Vec<u8> = chunk.iter().map(|&i| train_split.labels[i]).collect();
            let class = model.one_hot(&labels, &device); // [batch, classes]
            let eps = state.rng.noise(chunk.len(), config.model.latent, &device);
            let (logits, mu, logvar) = model.forward(x.clone(), class, eps);
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
        last_checkpoint = Some(checkpoint::save(
            &options.out,
            config,
            &model,
            &optim,
            &state,
        )?);
        checkpoint::write_metrics(&options.out, &state.metrics)?;
    }
    Ok(Trained {
        model: model.valid(),
        metrics: state.metrics,
        checkpoint: last_checkpoint.ok_or_else(no_checkpoint)?,
    })
}

fn progress_bar(batches: u64, epoch: usize, epochs: usize) -> ProgressBar {
    progress::bar(batches, &format!("epoch {epoch}/{epochs}"))
}
