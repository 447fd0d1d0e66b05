//! Tiny training runs on synthetic IDX data: the loss decreases, a resumed run
//! trains only the remaining epochs, from the checkpoint, and matches an
//! uninterrupted one, pictures are written.

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
        names: None,
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

/// Rewrites the `state.json` of the checkpoint of `epoch` in `out` with `edit`.
fn edit_checkpoint_state(out: &Path, epoch: usize, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = out.join(format!("checkpoints/epoch-{epoch:04}/state.json"));
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(state["epoch"], epoch, "{state}");
    edit(&mut state);
    std::fs::write(&path, state.to_string()).unwrap();
}

/// A train loss no epoch computes: marks epoch 1's metrics in a checkpoint.
const SENTINEL_LOSS: f64 = 12345.5;

/// Training is deterministic, so equal metrics alone cannot tell a resume
/// from a fresh start. The checkpoint is therefore tampered with where a
/// resume must read it: epoch 1's metrics carry a sentinel that only a run
/// which did not train epoch 1 again reports; and another RNG state in the
/// checkpoint changes the epoch trained after it.
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
    let first_run = train(&config, &data, &first).unwrap();
    assert_same_metrics(&first_run.metrics, &straight.metrics[..1]);
    edit_checkpoint_state(&out, 1, |state| {
        state["metrics"][0]["train_loss"] = SENTINEL_LOSS.into();
    });
    // A run killed while writing the next checkpoint leaves a temporary directory.
    let partial = out.join("checkpoints/epoch-0002.tmp");
    std::fs::create_dir_all(&partial).unwrap();
    std::fs::write(partial.join("model.bpk"), b"half a file").unwrap();

    let again = RunOptions {
        resume: true,
        ..options(&out)
    };
    let resumed = train(&config, &data, &again).unwrap();
    // Epoch 1 is the checkpoint's, not trained again (that would report
    // its real loss); epochs 2 and 3 were trained, from the checkpoint's
    // model, optimizer and RNG, exactly as the uninterrupted run did.
    let epochs: Vec<usize> = resumed.metrics.iter().map(|m| m.epoch).collect();
    assert_eq!(epochs, [1, 2, 3]);
    assert_eq!(resumed.metrics[0].train_loss, SENTINEL_LOSS);
    assert_same_metrics(&resumed.metrics[1..], &straight.metrics[1..]);
    let written = read_metrics(&out).unwrap();
    assert_eq!(written[0].train_loss, SENTINEL_LOSS);
    assert_same_metrics(&written[1..], &straight.metrics[1..]);
    assert!(resumed.checkpoint.ends_with("checkpoints/epoch-0003"));

    // The RNG state comes from the checkpoint too: with another one, the
    // one epoch resumed (2) shuffles and samples differently.
    let reseeded = tmp.path().join("reseeded");
    train(
        &config,
        &data,
        &RunOptions {
            stop_after: Some(1),
            ..options(&reseeded)
        },
    )
    .unwrap();
    edit_checkpoint_state(&reseeded, 1, |state| {
        let rng = state["rng"]["state"].as_u64().expect("rng state is a u64");
        state["rng"]["state"] = (rng ^ 0x5555_5555).into();
    });
    let other_rng = train(
        &config,
        &data,
        &RunOptions {
            resume: true,
            stop_after: Some(1),
            ..options(&reseeded)
        },
    )
    .unwrap();
    assert_eq!(other_rng.metrics.len(), 2, "exactly one more epoch");
    assert_same_metrics(&other_rng.metrics[..1], &straight.metrics[..1]);
    let (ours, theirs) = (
        other_rng.metrics[1].train_loss,
        straight.metrics[1].train_loss,
    );
    assert!(
        (ours - theirs).abs() > RESUME_TOLERANCE * theirs.abs(),
        "epoch 2 ignored the checkpoint's RNG state: {ours} vs {theirs}"
    );

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
