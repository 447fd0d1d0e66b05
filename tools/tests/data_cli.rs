//! `tinyvae train` on bad IDX data: each problem is one line on stderr naming
//! the file, and exit code 2 (bad input), never a panic. And `--download`
//! in a build without the `download` feature.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use tinyvae_trainer::data::{DataSet, PIXELS, Split, encode_labels, write_dir};

/// `n` valid 28x28 images and their labels.
fn tiny(n: usize) -> Split {
    Split {
        pixels: (0..n * PIXELS).map(|i| (i % 251) as u8).collect(),
        labels: (0..n).map(|k| (k % 10) as u8).collect(),
        shape: tinyvae_trainer::data::ImageShape::MNIST,
    }
}

/// Writes a valid set of 6 training and 4 test images into `data`.
fn write_tiny(data: &Path) {
    let set = DataSet {
        train: tiny(6),
        test: tiny(4),
        names: None,
    };
    write_dir(data, &set).unwrap();
}

/// Writes the tiny set into `dir/data`, lets `corrupt` rewrite the bytes of
/// `file`, and returns the data directory.
fn corrupted(dir: &Path, file: &str, corrupt: impl FnOnce(Vec<u8>) -> Vec<u8>) -> PathBuf {
    let data = dir.join("data");
    write_tiny(&data);
    let path = data.join(file);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, corrupt(bytes)).unwrap();
    data
}

/// Runs `tinyvae train --data DATA --epochs 1 --out DIR/out` plus `extra`
/// (a panic would print more than one line, so the one-line check below
/// catches it too).
fn train(dir: &Path, data: &Path, extra: &[&str]) -> Output {
    let out = dir.join("out");
    let args = ["train", "--data", data.to_str().unwrap(), "--epochs", "1"];
    let args = [&args[..], &["--out", out.to_str().unwrap()], extra].concat();
    common::tinyvae(&args)
}

/// Asserts exit code 2 and exactly one line on stderr, `error: ...`,
/// containing every one of `parts`; returns the line.
fn assert_one_line_bad_input(output: &Output, parts: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr:\n{stderr}");
    let line = lines[0];
    assert!(line.starts_with("error: "), "{line}");
    for part in parts {
        assert!(line.contains(part), "{part:?} missing from: {line}");
    }
    line.to_owned()
}

/// Corrupts `file` of a valid data set with `corrupt`, trains on it, and
/// expects one line that starts with the file's path and holds `problem`;
/// returns the data directory and the line.
fn rejects(
    tmp: &Path,
    file: &str,
    corrupt: impl FnOnce(Vec<u8>) -> Vec<u8>,
    problem: &str,
) -> (PathBuf, String) {
    let data = corrupted(tmp, file, corrupt);
    let output = train(tmp, &data, &[]);
    let named = format!("error: {}: ", data.join(file).display());
    let line = assert_one_line_bad_input(&output, &[problem]);
    assert!(line.starts_with(&named), "{line}");
    assert!(!tmp.join("out").exists(), "nothing trained");
    (data, line)
}

#[test]
fn wrong_magic() {
    let tmp = tempfile::tempdir().unwrap();
    let set_dtype = |mut b: Vec<u8>| {
        b[2] = 0x0d;
        b
    };
    let expected = "not an IDX images file (magic 0x00000d03, expected 0x00000803)";
    rejects(tmp.path(), "train-images-idx3-ubyte", set_dtype, expected);
}

#[test]
fn truncated_values() {
    let tmp = tempfile::tempdir().unwrap();
    let full = 16 + 4 * PIXELS;
    let expected = format!(
        "truncated: the header announces {full} bytes, the file holds {}",
        full - 100
    );
    let cut = |b: Vec<u8>| b[..b.len() - 100].to_vec();
    rejects(tmp.path(), "t10k-images-idx3-ubyte", cut, &expected);
}

#[test]
fn truncated_header() {
    let tmp = tempfile::tempdir().unwrap();
    let expected = "truncated: the header announces 8 bytes, the file holds 5";
    rejects(
        tmp.path(),
        "train-labels-idx1-ubyte",
        |b| b[..5].to_vec(),
        expected,
    );
}

/// A header announcing (2^32 - 1) x (2^32 - 1) x 28 pixels: more bytes
/// than a usize counts (the size must not overflow, nor panic).
#[test]
fn absurd_header() {
    let tmp = tempfile::tempdir().unwrap();
    let huge = |mut b: Vec<u8>| {
        b[4..12].copy_from_slice(&[0xff; 8]);
        b
    };
    let expected = "truncated: the header announces";
    rejects(tmp.path(), "train-images-idx3-ubyte", huge, expected);
}

#[test]
fn label_count_differs_from_image_count() {
    let tmp = tempfile::tempdir().unwrap();
    let five = |_| encode_labels(&tiny(5).labels);
    let (data, line) = rejects(
        tmp.path(),
        "train-labels-idx1-ubyte",
        five,
        "5 labels for 6 images in",
    );
    let images = data.join("train-images-idx3-ubyte");
    assert!(line.contains(&images.display().to_string()), "{line}");
}

/// Without the `download` feature (the default build), `--download` parses
/// and fails at once with one line saying how to rebuild.
#[cfg(not(feature = "download"))]
#[test]
fn download_without_the_feature_says_how_to_rebuild() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("fashion");
    for which in ["fashion-mnist", "mnist"] {
        let output = train(tmp.path(), &data, &["--download", which]);
        assert_one_line_bad_input(
            &output,
            &[&format!(
                "error: this tinyvae was built without the `download` feature: rebuild with `cargo install --path tools --features download`, or copy the IDX files into {}",
                data.display()
            )],
        );
    }
    assert!(!data.exists(), "nothing created");
    let help = common::tinyvae(&["train", "--help"]);
    common::assert_success(&help);
    let help = String::from_utf8_lossy(&help.stdout).replace(char::is_whitespace, "");
    assert!(help.contains("--featuresdownload"), "{help}");
}

/// With the `download` feature, files already in --data are used as they
/// are (no network here): a bad one is reported like any --data.
#[cfg(feature = "download")]
#[test]
fn download_uses_the_files_already_there() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("mnist");
    write_tiny(&data);
    for name in [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ] {
        let raw = data.join(name);
        let mut bytes = std::fs::read(&raw).unwrap();
        if name == "t10k-labels-idx1-ubyte" {
            bytes.push(0);
        }
        std::fs::remove_file(&raw).unwrap();
        std::fs::write(data.join(format!("{name}.gz")), bytes).unwrap();
    }
    let output = train(tmp.path(), &data, &["--download", "mnist"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let last = stderr.lines().last().unwrap();
    assert!(
        last.starts_with(&format!(
            "error: {}: count mismatch",
            data.join("t10k-labels-idx1-ubyte.gz").display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
