//! Reading and writing IDX files, and the one-line errors of bad ones.

use super::download::FASHION_MNIST_FILES;
use super::*;
use std::io::Write;

use flate2::{Compression, write::GzEncoder};

fn tiny(n: usize) -> Split {
    Split {
        pixels: (0..n * PIXELS).map(|i| (i * 7 % 256) as u8).collect(),
        labels: (0..n).map(|i| (i % 10) as u8).collect(),
        shape: crate::data::ImageShape::MNIST,
    }
}

fn tiny_set() -> DataSet {
    DataSet {
        train: tiny(5),
        test: tiny(3),
        names: None,
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

#[test]
fn a_header_announcing_more_than_memory_is_truncated_not_a_panic() {
    let mut bytes = idx_header(IMAGES_MAGIC, &[u32::MAX as usize, 28, 28]);
    bytes.extend_from_slice(&[0; PIXELS]);
    let message = error_with("train-images-idx3-ubyte", |_| bytes);
    assert!(
        message.contains(
            "train-images-idx3-ubyte: truncated: the header announces 3367254359296 bytes"
        ),
        "{message}"
    );
    let mut bytes = idx_header(IMAGES_MAGIC, &[u32::MAX as usize; 3]);
    bytes.extend_from_slice(&[0; PIXELS]);
    let message = error_with("train-images-idx3-ubyte", |_| bytes);
    assert!(message.contains(": truncated: "), "{message}");
}

// --- Downloads: https only, SHA-256 pins (all without the network). ---

/// SHA-256 of "abc" (FIPS 180-2, appendix B.1).
const ABC_SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

#[test]
fn every_address_is_https_and_anything_else_is_refused() {
    for source in Source::ALL {
        assert!(source.base_url().starts_with("https://"), "{source:?}");
        for file in source.files() {
            let url = source.url(file).unwrap();
            assert!(
                url.starts_with("https://") && url.ends_with(file.name),
                "{url}"
            );
        }
    }
    assert!(require_https("https://example.org/x.gz").is_ok());
    assert!(require_https("HTTPS://example.org/x.gz").is_ok());
    for bad in [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-labels-idx1-ubyte.gz",
        "ftp://example.org/x.gz",
        "file:///etc/passwd",
        "example.org/x.gz",
        "https:/example.org",
        "",
    ] {
        let err = require_https(bad).unwrap_err();
        assert!(matches!(err, DataError::NotHttps { .. }), "{bad}: {err}");
        assert!(err.to_string().contains("but https"), "{err}");
    }
}

#[test]
fn pins_are_sha256_hex_one_per_file() {
    for source in Source::ALL {
        let files = source.files();
        let names: Vec<_> = files.iter().map(|f| f.name).collect();
        assert_eq!(
            names,
            [
                "train-images-idx3-ubyte.gz",
                "train-labels-idx1-ubyte.gz",
                "t10k-images-idx3-ubyte.gz",
                "t10k-labels-idx1-ubyte.gz"
            ]
        );
        for file in files {
            assert_eq!(file.sha256.len(), 64, "{file:?}");
            assert!(
                file.sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{file:?}"
            );
        }
    }
    let all: std::collections::HashSet<_> = Source::ALL
        .iter()
        .flat_map(|s| s.files().iter().map(|f| f.sha256))
        .collect();
    assert_eq!(all.len(), 8);
}

#[test]
fn verify_sha256_accepts_the_pin_and_names_both_hashes_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("abc");
    fs::write(&path, b"abc").unwrap();
    assert_eq!(sha256_file(&path).unwrap(), ABC_SHA256);
    verify_sha256(&path, ABC_SHA256).unwrap();
    verify_sha256(&path, &ABC_SHA256.to_uppercase()).unwrap();

    let wrong = FASHION_MNIST_FILES[3].sha256;
    let err = verify_sha256(&path, wrong).unwrap_err();
    assert!(matches!(err, DataError::Checksum { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "{}: SHA-256 mismatch: expected {wrong}, got {ABC_SHA256}",
            path.display()
        )
    );
    let missing = verify_sha256(&dir.path().join("nothing"), ABC_SHA256).unwrap_err();
    assert!(matches!(missing, DataError::Io { .. }), "{missing}");
}

#[test]
fn install_verified_moves_a_matching_file_and_deletes_another() {
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("x.gz.part");
    let path = dir.path().join("x.gz");
    fs::write(&part, b"abc").unwrap();
    install_verified(&part, &path, ABC_SHA256).unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"abc");
    assert!(!part.exists());

    fs::remove_file(&path).unwrap();
    fs::write(&part, b"abd").unwrap();
    let err = install_verified(&part, &path, ABC_SHA256).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains(&format!("expected {ABC_SHA256}, got ")),
        "{message}"
    );
    assert!(!part.exists(), "the mismatching download is deleted");
    assert!(!path.exists(), "nothing is moved into place");
}

/// Debian's dataset-fashion-mnist holds Fashion-MNIST's data, but
/// dh_strip_nondeterminism rewrote each file's gzip header (no file name,
/// the packaging date as time stamp), so its files do not match the
/// download pins as they are (nor torchvision's MD5s). With the upstream
/// header restored, the file name and the upstream time stamp (found by
/// searching the seconds of 2017 against the pins), they do, byte for byte
/// (and so do those MD5s): the compressed data, CRC-32 and length are
/// upstream's.
#[test]
fn fashion_mnist_pins_match_debians_files_with_the_upstream_gzip_header() {
    /// Each file's upstream gzip MTIME: 2017-08-31 10:50:06 and 10:50:27 UTC.
    const UPSTREAM_MTIME: [u32; 4] = [1_504_176_606, 1_504_176_606, 1_504_176_627, 1_504_176_627];
    let dir = Path::new(DEFAULT_DATA_DIR);
    if !dir.join(FASHION_MNIST_FILES[0].name).is_file() {
        eprintln!("skipped: no Fashion-MNIST in {DEFAULT_DATA_DIR}");
        return;
    }
    for (file, mtime) in FASHION_MNIST_FILES.iter().zip(UPSTREAM_MTIME) {
        let debian_path = dir.join(file.name);
        let debian = fs::read(&debian_path).unwrap();
        // ID1 ID2 CM FLG, MTIME (4), XFL OS; FLG 0: no file name.
        assert_eq!(debian[..4], [0x1f, 0x8b, 8, 0], "{}", file.name);
        assert!(
            verify_sha256(&debian_path, file.sha256).is_err(),
            "{}: Debian's file is upstream's as it is: simplify this test",
            file.name
        );
        let stem = file.name.strip_suffix(".gz").unwrap();
        let mut upstream = vec![0x1f, 0x8b, 8, 0x08]; // FLG: FNAME
        upstream.extend_from_slice(&mtime.to_le_bytes());
        upstream.extend_from_slice(&debian[8..10]);
        upstream.extend_from_slice(stem.as_bytes());
        upstream.push(0);
        upstream.extend_from_slice(&debian[10..]);
        assert_eq!(upstream.len() as u64, file.size, "{}", file.name);
        let restored = tempfile::NamedTempFile::new().unwrap();
        fs::write(restored.path(), &upstream).unwrap();
        verify_sha256(restored.path(), file.sha256)
            .unwrap_or_else(|err| panic!("{}: {err}", file.name));
    }
}

#[cfg(not(feature = "download"))]
#[test]
fn without_the_feature_download_says_how_to_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let err = download(Source::FashionMnist, dir.path()).unwrap_err();
    assert!(matches!(err, DataError::NotBuilt { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "this tinyvae was built without the `download` feature: rebuild with `cargo install --path tools --features download`, or copy the IDX files into {}",
            dir.path().display()
        )
    );
    const { assert!(!CAN_DOWNLOAD) };
}

/// Files already in the directory are used as they are: no network.
#[cfg(feature = "download")]
#[test]
fn download_uses_the_files_already_there() {
    let dir = tempfile::tempdir().unwrap();
    let set = tiny_set();
    for (prefix, split) in [("train", &set.train), ("t10k", &set.test)] {
        fs::write(
            dir.path().join(format!("{prefix}-images-idx3-ubyte.gz")),
            encode_images(&split.pixels),
        )
        .unwrap();
        fs::write(
            dir.path().join(format!("{prefix}-labels-idx1-ubyte.gz")),
            encode_labels(&split.labels),
        )
        .unwrap();
    }
    assert_eq!(download(Source::Mnist, dir.path()).unwrap(), set);
    const { assert!(CAN_DOWNLOAD) };
}

#[test]
fn class_names_are_fashion_mnists_only_for_its_labels() {
    let set = tiny_set();
    assert_eq!(set.class_names(2), ["class 0", "class 1"]);
    let dir = Path::new(DEFAULT_DATA_DIR);
    if !dir.join(FASHION_MNIST_FILES[0].name).is_file() {
        eprintln!("skipped: no Fashion-MNIST in {DEFAULT_DATA_DIR}");
        return;
    }
    let mut fashion = load_dir(dir).unwrap();
    let names = fashion.class_names(11);
    assert_eq!(names[..10], FASHION_MNIST_CLASSES.map(String::from));
    assert_eq!(names[10], "class 10", "no 11th name");
    fashion.test.labels[0] ^= 1;
    assert_eq!(
        fashion.class_names(6)[5],
        "class 5",
        "other labels, other data"
    );
}
