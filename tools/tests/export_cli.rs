//! `tinyvae train` then `tinyvae export` on a tiny synthetic IDX set, and
//! the export's bad-input cases: a missing checkpoint, a checkpoint whose
//! config names another model than its weights.

mod common;

use std::path::Path;

use tinyvae_shared::Model;
use tinyvae_trainer::data::{DataSet, PIXELS, Split, write_dir};

use common::{assert_success, tinyvae};

/// 4 classes of bright squares, one per quadrant.
fn squares(n: usize) -> Split {
    let mut pixels = vec![0u8; n * PIXELS];
    for (k, image) in pixels.chunks_exact_mut(PIXELS).enumerate() {
        let (x0, y0) = ((k % 2) * 14 + 2 + k % 5, ((k / 2) % 2) * 14 + 2 + k % 3);
        for y in y0..y0 + 8 {
            image[y * 28 + x0..y * 28 + x0 + 8].fill(200);
        }
    }
    Split {
        pixels,
        labels: (0..n).map(|k| (k % 4) as u8).collect(),
        shape: tinyvae_trainer::data::ImageShape::MNIST,
    }
}

/// Runs `tinyvae train` on the data in `dir/data` into `out`, with `flags`.
fn train_command(dir: &Path, out: &Path, flags: &[&str]) -> std::process::Output {
    let data = dir.join("data");
    let args = [
        "train",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    tinyvae(&[&args[..], flags].concat())
}

/// Trains one epoch on 128 squares into `dir/run`, with `extra` flags.
fn train(dir: &Path, extra: &[&str]) -> std::path::PathBuf {
    write_dir(
        &dir.join("data"),
        &DataSet {
            train: squares(128),
            test: squares(32),
            names: None,
        },
    )
    .unwrap();
    let run = dir.join("run");
    let quick = [
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--latent",
        "4",
        "--threads",
        "1",
    ];
    let out = train_command(dir, &run, &[&quick[..], extra].concat());
    assert_success(&out);
    run
}

fn export(dir: &Path, checkpoint: &Path, blob: &Path) -> std::process::Output {
    export_with(dir, checkpoint, blob, &[])
}

/// [`export`] with `extra` flags.
fn export_with(dir: &Path, checkpoint: &Path, blob: &Path, extra: &[&str]) -> std::process::Output {
    let data = dir.join("data");
    let args = [
        "export",
        "--checkpoint",
        checkpoint.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--out",
        blob.to_str().unwrap(),
        "--calibration",
        "40",
        "--fidelity",
        "20",
    ];
    tinyvae(&[&args[..], extra].concat())
}

/// Exports `checkpoint` to `blob`, which must succeed: the blob's bytes and
/// the process's output.
fn export_ok(dir: &Path, checkpoint: &Path, blob: &Path) -> (Vec<u8>, std::process::Output) {
    let out = export(dir, checkpoint, blob);
    assert_success(&out);
    (std::fs::read(blob).unwrap(), out)
}

/// Asserts that `out` is bad input: exit 2, its first line naming
/// `problem`. Returns its stderr.
fn assert_bad_input(out: std::process::Output, problem: &str) -> String {
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.lines().next().unwrap().contains(problem), "{stderr}");
    stderr
}

#[test]
fn export_writes_a_valid_blob_and_report_and_refuses_foreign_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let run = train(dir.path(), &[]);

    let (bytes, out) = export_ok(dir.path(), &run, &dir.path().join("model.tvae"));
    let model = Model::from_bytes(&bytes).unwrap();
    assert_eq!(model.latent_dim(), 4);
    assert_eq!(model.classes(), 4);
    // Conditional by default, with a fitted density to draw from.
    assert_eq!(model.condition().map(|c| c.classes), Some(4));
    assert_eq!(model.input_len(), 4 + 4);
    assert_eq!(model.density().map(|d| d.classes), Some(4));
    assert_eq!(model.default_draw(), tinyvae_shared::Draw::Fitted);
    assert_eq!(model.body().metadata.model, "mlp");
    assert_eq!(model.body().metadata.epochs, 1);
    // The data set's names, stored in the blob (squares are not
    // Fashion-MNIST: `class k`).
    assert_eq!(
        model.class_names().text(),
        "class 0\nclass 1\nclass 2\nclass 3"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("model.fidelity.json")).unwrap())
            .unwrap();
    assert!(
        report["prior"]["psnr_db"].as_f64().unwrap() > 30.0,
        "{report}"
    );
    assert!(String::from_utf8(out.stdout).unwrap().contains("PSNR"));

    // Bad input: one line naming the problem, exit 2, nothing written.
    for (flags, problem) in [
        (["--components", "0"], "0 components per class"),
        (["--temperature", "0"], "temperature 0 is not positive"),
    ] {
        let blob = dir.path().join("never.tvae");
        let stderr = assert_bad_input(export_with(dir.path(), &run, &blob, &flags), problem);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(!blob.exists() && !dir.path().join("never.fidelity.json").exists());
    }
    let missing = dir.path().join("no-such-run");
    let config = run.join("checkpoints/epoch-0001/config.json");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("\"mlp\""), "{text}");
    std::fs::write(&config, text.replace("\"mlp\"", "\"conv\"")).unwrap();
    for (checkpoint, problem) in [(&missing, "no-such-run"), (&run, "checkpoint")] {
        let blob = dir.path().join("never.tvae");
        let stderr = assert_bad_input(export(dir.path(), checkpoint, &blob), problem);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(!blob.exists() && !dir.path().join("never.fidelity.json").exists());
    }
}

/// `--decoder-channels` reaches the exported blob; used with the wrong
/// model or written wrong, it is bad input: exit 2, one line, no run.
#[test]
fn decoder_channels_shape_the_exported_conv_decoder() {
    let dir = tempfile::tempdir().unwrap();
    let run = train(
        dir.path(),
        &["--model", "conv", "--decoder-channels", "3,5"],
    );
    let (bytes, _) = export_ok(dir.path(), &run, &dir.path().join("conv.tvae"));
    let model = Model::from_bytes(&bytes).unwrap();
    let channels: Vec<usize> = model
        .body()
        .layers
        .iter()
        .map(|l| l.op.channels())
        .collect();
    assert_eq!(channels, [3 * 49, 5, 1]);

    for (flags, problem) in [
        (
            &["--model", "mlp", "--decoder-channels", "3,5"][..],
            "--model conv",
        ),
        (&["--model", "conv", "--decoder-channels", "3"][..], "C0,C1"),
        (
            &["--model", "conv", "--decoder-channels", "0,5"][..],
            "C0,C1",
        ),
    ] {
        let out_dir = dir.path().join("refused");
        assert_bad_input(train_command(dir.path(), &out_dir, flags), problem);
        assert!(!out_dir.exists(), "{flags:?}");
    }
}
