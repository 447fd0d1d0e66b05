//! Reading and writing IDX files, and the one-line errors of bad ones.

use super::*;
use std::io::Write;

use flate2::{Compression, write::GzEncoder};

fn tiny(n: usize) -> Split {
    Split {
        pixels: (0..n * PIXELS).map(|i| (i * 7 % 256) as u8).collect(),
        labels: (0..n).map(|i| (i % 10) as u8).collect(),
    }
}

fn tiny_set() -> DataSet {
    DataSet {
        train: tiny(5),
        test: tiny(3),
    }
}

#[test]
fn reads_back_raw_files() {
    let dir = tempfile::tempdir().unwrap();
    write_dir(dir.path(), &tiny_set()).unwrap();
    assert_eq!(load_dir(dir.path()).unwrap(), tiny_set());
}

#[test]
fn reads_gzip_and_dotted_names() {
    let dir = tempfile::tempdir().unwrap();
    let set = tiny_set();
    for (prefix, split) in [("train", &set.train), ("t10k", &set.test)] {
        for (name, bytes) in [
            ("images.idx3-ubyte.gz", encode_images(&split.pixels)),
            ("labels.idx1-ubyte.gz", encode_labels(&split.labels)),
        ] {
            let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
            gz.write_all(&bytes).unwrap();
            fs::write(
                dir.path().join(format!("{prefix}-{name}")),
                gz.finish().unwrap(),
            )
            .unwrap();
        }
    }
    assert_eq!(load_dir(dir.path()).unwrap(), set);
}

/// Writes the tiny set, replaces one file with `bytes`, and returns the
/// one-line error of loading it.
fn error_with(file: &str, bytes: impl FnOnce(Vec<u8>) -> Vec<u8>) -> String {
    let dir = tempfile::tempdir().unwrap();
    write_dir(dir.path(), &tiny_set()).unwrap();
    let path = dir.path().join(file);
    let good = fs::read(&path).unwrap();
    fs::write(&path, bytes(good)).unwrap();
    let message = load_dir(dir.path()).unwrap_err().to_string();
    assert!(!message.contains('\n'), "{message}");
    message
}

#[test]
fn wrong_magic_names_the_file() {
    let message = error_with("train-images-idx3-ubyte", |mut b| {
        b[3] = 0x01;
        b
    });
    assert!(message.contains("train-images-idx3-ubyte: not an IDX images file"));
    assert!(message.contains("magic 0x00000801"), "{message}");
}

#[test]
fn labels_in_place_of_images_is_wrong_magic() {
    let labels = encode_labels(&tiny(5).labels);
    let message = error_with("train-images-idx3-ubyte", |_| labels);
    assert!(message.contains("not an IDX images file"), "{message}");
}

#[test]
fn truncated_values() {
    let message = error_with("t10k-images-idx3-ubyte", |mut b| {
        b.truncate(b.len() - 1);
        b
    });
    assert!(
        message.contains("t10k-images-idx3-ubyte: truncated"),
        "{message}"
    );
}

#[test]
fn truncated_header() {
    let message = error_with("t10k-labels-idx1-ubyte", |b| b[..6].to_vec());
    assert!(
        message.contains(
            "t10k-labels-idx1-ubyte: truncated: the header announces 8 bytes, the file holds 6"
        ),
        "{message}"
    );
}

#[test]
fn truncated_gzip_stream() {
    let dir = tempfile::tempdir().unwrap();
    write_dir(dir.path(), &tiny_set()).unwrap();
    let path = dir.path().join("train-labels-idx1-ubyte");
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(&fs::read(&path).unwrap()).unwrap();
    let mut bytes = gz.finish().unwrap();
    bytes.truncate(bytes.len() / 2);
    fs::remove_file(&path).unwrap();
    fs::write(path.with_extension("gz"), bytes).unwrap();
    let message = load_dir(dir.path()).unwrap_err().to_string();
    assert!(
        message.contains("train-labels-idx1-ubyte.gz: "),
        "{message}"
    );
}

#[test]
fn count_mismatch() {
    let message = error_with("train-labels-idx1-ubyte", |mut b| {
        b.push(3);
        b
    });
    assert!(
        message.contains("train-labels-idx1-ubyte: count mismatch: the header counts 5 items"),
        "{message}"
    );
}

#[test]
fn label_and_image_counts_differ() {
    let labels = encode_labels(&tiny(4).labels);
    let message = error_with("train-labels-idx1-ubyte", |_| labels);
    assert!(
        message.contains("train-labels-idx1-ubyte: 4 labels for 5 images in"),
        "{message}"
    );
}

#[test]
fn wrong_image_size() {
    let mut bytes = idx_header(IMAGES_MAGIC, &[1, 14, 56]);
    bytes.extend_from_slice(&[0; PIXELS]);
    let message = error_with("t10k-images-idx3-ubyte", |_| bytes);
    assert!(message.contains("images are 14x56"), "{message}");
}

#[test]
fn missing_file_says_how_to_get_data() {
    let dir = tempfile::tempdir().unwrap();
    let message = load_dir(dir.path()).unwrap_err().to_string();
    assert!(
        message.contains("no train-images-idx3-ubyte (nor .gz)") && message.contains("--download"),
        "{message}"
    );
}
