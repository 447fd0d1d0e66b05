//! `tinyvae bench-train`: both models' recipes on burn, a PyTorch peer's
//! epochs read from its JSON lines and turned into ratios, and a peer
//! that is missing or fails is one line of error.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{assert_success, tinyvae, write_tiny};

/// A stand-in for `python3`: answers the torch probe (`-c ...`) and, run
/// as `python SCRIPT --model M ... --epochs N`, prints N epochs whose
/// seconds are 2.0 for the mlp and 4.0 for the conv model.
fn fake_python(dir: &Path) -> String {
    let path = dir.join("python");
    std::fs::write(
        &path,
        r#"#!/bin/sh
[ "$1" = "-c" ] && exit 0
shift
model=mlp epochs=0
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model=$2; shift ;;
    --epochs) epochs=$2; shift ;;
  esac
  shift
done
seconds=2.0; [ "$model" = conv ] && seconds=4.0
i=1
while [ $i -le $epochs ]; do
  echo "{\"epoch\": $i, \"train_seconds\": $seconds, \"train_loss\": 1.0, \"test_nelbo\": 300.0}"
  i=$((i + 1))
done
"#,
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_str().unwrap().to_owned()
}

fn bench_train(dir: &Path, extra: &[&str]) -> std::process::Output {
    let data = dir.join("data");
    if !data.exists() {
        write_tiny(&data);
    }
    let out = dir.join("out");
    let mut args = vec![
        "bench-train",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--epochs",
        "2",
        "--threads",
        "1",
    ];
    args.extend_from_slice(extra);
    tinyvae(&args)
}

/// The table's rows of `model`: (contender, steady seconds, ratio).
fn rows(stdout: &str, model: &str) -> Vec<(String, f64, String)> {
    stdout
        .lines()
        .filter(|line| line.split_whitespace().next() == Some(model))
        .map(|line| {
            // model, contender (one or two words), s/epoch ... steady ratio nelbo
            let words: Vec<&str> = line.split_whitespace().collect();
            let n = words.len();
            let contender = if words[1] == "burn" {
                format!("burn {}", words[2])
            } else {
                words[1].to_owned()
            };
            (
                contender,
                words[n - 3].parse().unwrap(),
                words[n - 2].to_owned(),
            )
        })
        .collect()
}

#[test]
fn both_models_against_a_peer() {
    let tmp = tempfile::tempdir().unwrap();
    let python = fake_python(tmp.path());
    let output = bench_train(tmp.path(), &["--python", &python]);
    assert_success(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    for (model, peer_seconds) in [("mlp", 2.0), ("conv", 4.0)] {
        let rows = rows(&stdout, model);
        assert_eq!(
            rows.len(),
            2,
            "{model}: burn flex and pytorch rows in\n{stdout}"
        );
        let (contender, burn, ratio) = &rows[0];
        assert_eq!(contender, "burn flex");
        let ratio: f64 = ratio.parse().unwrap();
        assert!(
            (ratio - burn / peer_seconds).abs() < 0.01,
            "{model}: ratio {ratio} of {burn} s to the peer's {peer_seconds} s"
        );
        assert_eq!(rows[1].0, "pytorch");
        assert_eq!((rows[1].1, rows[1].2.as_str()), (peer_seconds, "1.00"));
    }
    // Each model's run keeps its own checkpoints.
    for model in ["mlp", "conv"] {
        assert!(tmp.path().join("out").join(model).join("flex").is_dir());
    }
}

#[test]
fn one_model_without_the_peer() {
    let tmp = tempfile::tempdir().unwrap();
    let output = bench_train(tmp.path(), &["--model", "conv", "--no-pytorch"]);
    assert_success(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(rows(&stdout, "mlp").is_empty(), "{stdout}");
    let conv = rows(&stdout, "conv");
    assert_eq!(conv.len(), 1, "{stdout}");
    assert_eq!(conv[0].2, "-", "no ratio without a peer");
}

#[test]
fn a_missing_peer_is_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-python");
    let output = bench_train(tmp.path(), &["--python", missing.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "bad input");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no-such-python"), "{stderr}");
    assert!(stderr.contains("--no-pytorch"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
