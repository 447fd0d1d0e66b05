//! Tiny training runs on synthetic IDX data: the loss decreases, a resumed run
//! matches an uninterrupted one, pictures are written.

mod common;

use std::path::Path;

use tinyvae_trainer::backend::Backend;
use tinyvae_trainer::checkpoint::{CheckpointError, load_model, read_metrics};
use tinyvae_trainer::config::TrainingConfig;
use tinyvae_trainer::data::{self, DataSet};
use tinyvae_trainer::error::TrainError;
use tinyvae_trainer::evaluation::EpochMetrics;
use tinyvae_trainer::model::{Arch, VaeConfig};
use tinyvae_trainer::pictures::write_pictures;
use tinyvae_trainer::training::{RunOptions, train};

/// A resumed run repeats the same float operations in the same order; allow
/// for reductions whose order may depend on thread scheduling.
const RESUME_TOLERANCE: f64 = 1e-5;

/// Writes a tiny synthetic IDX set into `dir` and reads it back.
fn tiny_set(dir: &Path) -> DataSet {
    let set = DataSet {
        train: common::shapes(192, 1),
        test: common::shapes(64, 2),
    };
    data::write_dir(dir, &set).unwrap();
    data::load_dir(dir).unwrap()
}

fn config(arch: Arch, epochs: usize) -> TrainingConfig {
    TrainingConfig::new(VaeConfig::new(arch).with_latent(4), Backend::default())
        .with_epochs(epochs)
        .with_batch_size(32)
        .with_seed(5)
}

fn options(out: &Path) -> RunOptions {
    RunOptions {
        out: out.to_owned(),
        threads: 2,
        resume: false,
        stop_after: None,
    }
}

/// Out-of-range settings are refused as `BadOption` naming the setting,
/// before the output directory is created.
#[test]
fn out_of_range_options_are_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tiny_set(&tmp.path().join("data"));
    let conv = || config(Arch::Conv, 1);
    let cases = [
        (conv().with_batch_size(0), "batch size"),
        (
            TrainingConfig::new(
                VaeConfig::new(Arch::Conv).with_latent(0),
                Backend::default(),
            ),
            "latent size",
        ),
        (
            TrainingConfig::new(
                VaeConfig::new(Arch::Conv).with_decoder_channels([0, 4]),
                Backend::default(),
            ),
            "channels",
        ),
        (conv().with_lr(0.0), "lr"),
    ];
    for (bad, setting) in cases {
        let out = tmp.path().join("run");
        match train(&bad, &data, &options(&out)) {
            Err(TrainError::BadOption(message)) => {
                assert!(message.contains(setting), "{setting}: {message}")
            }
            other => panic!("{setting}: expected BadOption, got {:?}", other.err()),
        }
        assert!(!out.exists(), "{setting}");
    }
}

#[test]
fn loss_decreases_and_pictures_are_written() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tiny_set(&tmp.path().join("data"));
    for (arch, epochs) in [(Arch::Mlp, 3), (Arch::Conv, 2)] {
        let out = tmp.path().join(format!("{arch:?}"));
        let trained = train(&config(arch, epochs), &data, &options(&out)).unwrap();
        let m = &trained.metrics;
        assert_eq!(m.len(), epochs);
        assert!(
            m[epochs - 1].train_loss < m[0].train_loss
                && m[epochs - 1].test.nelbo < m[0].test.nelbo,
            "{arch:?}: loss did not decrease: {m:?}"
        );
        for e in m {
            let sum = e.test.bce + e.test.kl;
            assert!((e.test.nelbo - sum).abs() < 1e-9 * sum, "{e:?}");
        }
        assert_same_metrics(&read_metrics(&out).unwrap(), m);
        let pictures = write_pictures(&out, &trained.model, &data.test, m, 5).unwrap();
        for path in pictures {
            let bytes = std::fs::read(&path).unwrap();
            assert!(bytes.starts_with(b"\x89PNG"), "{}", path.display());
        }
        let device = Backend::default().device();
        let (loaded_config, _model) = load_model(&out, &device).unwrap();
        assert_eq!(loaded_config.model.arch, arch);
    }
}

fn assert_same_metrics(resumed: &[EpochMetrics], straight: &[EpochMetrics]) {
    assert_eq!(resumed.len(), straight.len());
    for (r, s) in resumed.iter().zip(straight) {
        let pairs = [
            (r.train_loss, s.train_loss),
            (r.test.nelbo, s.test.nelbo),
            (r.test.bce, s.test.bce),
            (r.test.kl, s.test.kl),
        ];
        for (a, b) in pairs {
            assert!(
                (a - b).abs() <= RESUME_TOLERANCE * b.abs().max(1.0),
                "epoch {}: resumed {a} vs uninterrupted {b}\nresumed: {resumed:?}\nuninterrupted: {straight:?}",
                r.epoch
            );
        }
    }
}

#[test]
fn resumed_run_matches_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tiny_set(&tmp.path().join("data"));
    let config = config(Arch::Mlp, 3);

    let straight = train(&config, &data, &options(&tmp.path().join("straight"))).unwrap();

    let out = tmp.path().join("interrupted");
    let first = RunOptions {
        stop_after: Some(1),
        ..options(&out)
    };
    assert_eq!(train(&config, &data, &first).unwrap().metrics.len(), 1);
    // A run killed while writing the next checkpoint leaves a temporary directory.
    let partial = out.join("checkpoints/epoch-0002.tmp");
    std::fs::create_dir_all(&partial).unwrap();
    std::fs::write(partial.join("model.bpk"), b"half a file").unwrap();

    let again = RunOptions {
        resume: true,
        ..options(&out)
    };
    let resumed = train(&config, &data, &again).unwrap();
    assert_same_metrics(&resumed.metrics, &straight.metrics);
    assert_same_metrics(&read_metrics(&out).unwrap(), &straight.metrics);

    let other = config.clone().with_lr(3e-4);
    let err = train(&other, &data, &options(&out)).unwrap_err();
    assert!(
        matches!(
            err,
            TrainError::Checkpoint(CheckpointError::OtherRun { .. })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("lr differs"), "{err}");

    let nothing = RunOptions {
        resume: true,
        ..options(&tmp.path().join("empty"))
    };
    let err = train(&config, &data, &nothing).unwrap_err();
    assert!(
        matches!(
            err,
            TrainError::Checkpoint(CheckpointError::NoCheckpoint { .. })
        ),
        "{err}"
    );
}
