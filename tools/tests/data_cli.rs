//! `tinyvae train` on bad IDX data and bad image folders: each problem is
//! one line on stderr naming the file or folder, and exit code 2 (bad
//! input), never a panic. `--download` in a build without the `download`
//! feature. And image folders through `tinyvae train` and `tinyvae
//! export`, which reads the data as the run did.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{tiny, write_tiny};
use tinyvae_shared::Model;
use tinyvae_trainer::data::{DataSet, ImageShape, PIXELS, Split, encode_labels, write_folder};

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

// --- Image folders. ---

/// `n` images of `shape` in `classes` classes (label `k % classes`), each
/// image's bytes depending on its index.
fn images(n: usize, shape: ImageShape, classes: usize) -> Split {
    Split {
        pixels: (0..n * shape.len()).map(|i| (i * 37 % 256) as u8).collect(),
        labels: (0..n).map(|k| (k % classes.max(1)) as u8).collect(),
        shape,
    }
}

/// A square shape of `side` pixels and `channels`.
fn square(side: usize, channels: usize) -> ImageShape {
    ImageShape {
        height: side,
        width: side,
        channels,
    }
}

/// Writes an image folder at `dir/name`: `train` and `test` images (or, with
/// `test` None, the training images as one folder to hold out from), in
/// `names`' classes (empty: no classes). Returns the folder.
fn write_images(
    dir: &Path,
    name: &str,
    train: Split,
    test: Option<Split>,
    names: &[&str],
) -> PathBuf {
    let folder = dir.join(name);
    let names: Vec<String> = names.iter().map(|&n| n.to_owned()).collect();
    let split = test.is_some();
    let data = DataSet {
        test: test.unwrap_or_else(|| train.clone()),
        train,
        names: Some(names),
    };
    write_folder(&folder, &data).unwrap();
    if !split {
        // One folder: the classes (or images) of train/ alone, at the top.
        std::fs::remove_dir_all(folder.join("test")).unwrap();
        let train = folder.join("train");
        for entry in std::fs::read_dir(&train).unwrap() {
            let entry = entry.unwrap();
            std::fs::rename(entry.path(), folder.join(entry.file_name())).unwrap();
        }
        std::fs::remove_dir(train).unwrap();
    }
    folder
}

/// Trains on `data` with `extra` flags, expecting bad input: one line
/// starting with `error: {path}: ` and holding `problem`, nothing written.
fn refuses(tmp: &Path, data: &Path, extra: &[&str], path: &Path, problem: &str) {
    let output = train(tmp, data, extra);
    let line = assert_one_line_bad_input(&output, &[problem]);
    let named = format!("error: {}: ", path.display());
    assert!(line.starts_with(&named), "{line}");
    assert!(!tmp.join("out").exists(), "nothing trained");
}

#[test]
fn a_corrupt_image_file() {
    let tmp = tempfile::tempdir().unwrap();
    let gray = square(4, 1);
    let data = write_images(
        tmp.path(),
        "data",
        images(6, gray, 2),
        Some(images(2, gray, 2)),
        &["a", "b"],
    );
    let png = data.join("train/b/3.png");
    std::fs::write(&png, b"\x89PNG\r\n\x1a\n but nothing more").unwrap();
    refuses(
        tmp.path(),
        &data,
        &[],
        &png,
        "not a readable PNG or JPEG image",
    );
}

#[test]
fn mixed_sizes_without_size() {
    let tmp = tempfile::tempdir().unwrap();
    let (small, large) = (square(4, 1), square(6, 1));
    let data = write_images(
        tmp.path(),
        "data",
        images(4, small, 2),
        Some(images(2, large, 2)),
        &["a", "b"],
    );
    let first = data.join("train/a/0.png");
    let odd = data.join("test/a/0.png");
    let problem = format!(
        "6x6 pixels, but {} is 4x4: give --size HxW",
        first.display()
    );
    refuses(tmp.path(), &data, &[], &odd, &problem);
}

#[test]
fn an_empty_class_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let gray = square(4, 1);
    let data = write_images(tmp.path(), "data", images(20, gray, 2), None, &["a", "b"]);
    let empty = data.join("c");
    std::fs::create_dir(&empty).unwrap();
    refuses(tmp.path(), &data, &[], &empty, "empty class folder");
}

#[test]
fn folders_without_images() {
    let tmp = tempfile::tempdir().unwrap();
    let gray = square(4, 1);
    let data = write_images(
        tmp.path(),
        "data",
        images(4, gray, 0),
        Some(images(2, gray, 0)),
        &[],
    );
    let test = data.join("test");
    std::fs::remove_dir_all(&test).unwrap();
    std::fs::create_dir(&test).unwrap();
    refuses(
        tmp.path(),
        &data,
        &[],
        &test,
        "no images (.png, .jpg, .jpeg)",
    );
    let nothing = tmp.path().join("nothing");
    std::fs::create_dir(&nothing).unwrap();
    std::fs::write(nothing.join("notes.txt"), "no images here").unwrap();
    refuses(
        tmp.path(),
        &nothing,
        &[],
        &nothing,
        "no data: neither IDX files",
    );
}

#[test]
fn more_classes_than_labels_hold() {
    let tmp = tempfile::tempdir().unwrap();
    let one = write_images(tmp.path(), "one", images(1, square(2, 1), 0), None, &[]);
    let data = tmp.path().join("data");
    for class in 0..257 {
        let folder = data.join(format!("{class:03}"));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::copy(one.join("0.png"), folder.join("0.png")).unwrap();
    }
    refuses(
        tmp.path(),
        &data,
        &[],
        &data,
        "257 class folders, but labels tell at most 256",
    );
}

/// Folder options that do not apply, or out of range: one line, exit 2.
#[test]
fn folder_options_that_do_not_apply() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = tmp.path().join("idx");
    write_tiny(&idx);
    refuses(
        tmp.path(),
        &idx,
        &["--size", "8x8"],
        &idx,
        "--size does not apply: it holds IDX files",
    );
    let gray = square(4, 1);
    let split = write_images(
        tmp.path(),
        "split",
        images(4, gray, 2),
        Some(images(2, gray, 2)),
        &["a", "b"],
    );
    let problem = "--test-fraction does not apply: its test images are in test/";
    refuses(
        tmp.path(),
        &split,
        &["--test-fraction", "0.2"],
        &split,
        problem,
    );
    let output = train(tmp.path(), &split, &["--test-fraction", "1.5"]);
    assert_one_line_bad_input(
        &output,
        &["--test-fraction 1.5: must lie strictly between 0 and 1"],
    );
    assert!(!tmp.path().join("out").exists());
}

/// The flags (beside `train`'s one epoch) that train quickly on a few
/// tiny images.
const QUICK: [&str; 6] = ["--batch-size", "8", "--latent", "2", "--threads", "1"];

/// Runs `tinyvae export` of the run `run` on `data` into `blob`.
fn export(run: &Path, data: &Path, blob: &Path) -> Output {
    common::tinyvae(&[
        "export",
        "--checkpoint",
        run.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--out",
        blob.to_str().unwrap(),
        "--calibration",
        "16",
        "--fidelity",
        "8",
        "--components",
        "1",
    ])
}

/// A labelled RGB folder trained with --size and --channels: the run
/// records them, and export reads the folder the same way (data of
/// another kind is refused in one line).
#[test]
fn a_folder_trains_and_exports_as_it_was_read() {
    let tmp = tempfile::tempdir().unwrap();
    let data = write_images(
        tmp.path(),
        "data",
        images(40, square(6, 3), 2),
        None,
        &["cats", "dogs"],
    );
    let output = train(
        tmp.path(),
        &data,
        &[&QUICK[..], &["--size", "8x8", "--channels", "1"]].concat(),
    );
    common::assert_success(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("loaded 36 training and 4 test images (8x8 gray, 2 classes) in "),
        "{stderr}"
    );
    assert!(stderr.contains("conditional on 2 classes"), "{stderr}");
    let run = tmp.path().join("out");
    let config = std::fs::read_to_string(run.join("checkpoints/epoch-0001/config.json")).unwrap();
    let config: serde_json::Value = serde_json::from_str(&config).unwrap();
    assert_eq!(
        config["data"],
        serde_json::json!({"size": {"height": 8, "width": 8}, "channels": "gray", "test_fraction": null})
    );

    let blob = tmp.path().join("model.tvae");
    common::assert_success(&export(&run, &data, &blob));
    let model = Model::from_bytes(&std::fs::read(&blob).unwrap())
        .unwrap()
        .image_shape();
    assert_eq!((model.height, model.width, model.channels), (8, 8, 1));
    assert_eq!(
        Model::from_bytes(&std::fs::read(&blob).unwrap())
            .unwrap()
            .classes(),
        2
    );

    let idx = tmp.path().join("idx");
    write_tiny(&idx);
    let never = tmp.path().join("never.tvae");
    let line = assert_one_line_bad_input(&export(&run, &idx, &never), &["--size does not apply"]);
    assert!(
        line.starts_with(&format!("error: {}: ", idx.display())),
        "{line}"
    );
    assert!(!never.exists());
}

/// Images without class folders train an unconditional model; export
/// refuses a folder whose images have another shape than the model's.
#[test]
fn an_unlabelled_folder_trains_unconditionally_and_export_checks_the_shape() {
    let tmp = tempfile::tempdir().unwrap();
    let data = write_images(tmp.path(), "data", images(20, square(4, 1), 0), None, &[]);
    let output = train(tmp.path(), &data, &QUICK);
    common::assert_success(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("loaded 18 training and 2 test images (4x4 gray, no classes)"),
        "{stderr}"
    );
    assert!(stderr.contains("unconditional"), "{stderr}");

    let rgb = write_images(tmp.path(), "rgb", images(20, square(4, 3), 0), None, &[]);
    let never = tmp.path().join("never.tvae");
    let run = tmp.path().join("out");
    let output = export(&run, &rgb, &never);
    let problem = format!(
        "error: {}: its images are 4x4 RGB, but the model in ",
        rgb.display()
    );
    assert_one_line_bad_input(&output, &[&problem, "was trained on 4x4 gray images"]);
    assert!(!never.exists());
}
