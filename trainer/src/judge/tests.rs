//! The judge's cache and scores, on a tiny synthetic data set trained for
//! one epoch (the judge's learning is tested in `trainer/tests/judge.rs`).

use super::*;
use crate::backend::Backend;

/// Stripes: class `k` of 4 is a bright horizontal band at rows `6k..6k+4`,
/// its brightness and width varying with the image's index.
fn stripes(n: usize, offset: usize) -> Split {
    let mut pixels = vec![0u8; n * PIXELS];
    let mut labels = Vec::with_capacity(n);
    for (i, image) in pixels.chunks_exact_mut(PIXELS).enumerate() {
        let class = (i + offset) % 4;
        let width = 3 + (i + offset) % 3;
        for row in 6 * class..6 * class + 4 {
            image[row * SIDE + 2..row * SIDE + 2 + 8 * width].fill(120 + ((i * 37) % 120) as u8);
        }
        labels.push(class as u8);
    }
    Split {
        pixels,
        labels,
        shape: crate::data::ImageShape::MNIST,
    }
}

fn tiny_data() -> DataSet {
    DataSet {
        train: stripes(48, 0),
        test: stripes(16, 1),
        names: None,
    }
}

const ONE_EPOCH: Recipe = Recipe {
    epochs: 1,
    batch: 16,
    lr: 1e-3,
    seed: 3,
};

fn device() -> Device {
    Backend::default().device()
}

fn cache_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

/// The second call reads the file the first wrote (no training: its
/// origin says so) and gives the same judge; other data gets its own file.
#[test]
fn the_cache_loads_the_same_judge_and_retrains_for_other_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_data();
    let first = load_or_train(&data, dir.path(), &ONE_EPOCH, &device()).unwrap();
    assert_eq!(first.origin, Origin::Trained);
    assert!(first.path.is_file());
    let second = load_or_train(&data, dir.path(), &ONE_EPOCH, &device()).unwrap();
    assert_eq!(second.origin, Origin::Loaded);
    assert_eq!(second.path, first.path);
    let (a, b) = (&first.judge.facts, &second.judge.facts);
    assert_eq!(b.reference, a.reference, "bit for bit");
    assert_eq!(
        (&b.version, b.recipe, b.classes),
        (&a.version, a.recipe, a.classes)
    );
    assert!((b.train_seconds - a.train_seconds).abs() < 1e-9);
    assert!((b.test_accuracy[0] - a.test_accuracy[0]).abs() < 1e-12);
    assert_eq!(
        second.judge.outputs(&data.test.pixels),
        first.judge.outputs(&data.test.pixels)
    );
    assert_eq!(second.judge.test_accuracy_per_epoch().len(), 1);

    let mut changed = data.clone();
    changed.train.pixels[100] ^= 1;
    let other = load_or_train(&changed, dir.path(), &ONE_EPOCH, &device()).unwrap();
    assert_eq!(other.origin, Origin::Trained);
    assert_ne!(other.path, first.path);
    let mut relabelled = data.clone();
    relabelled.test.labels[0] = (relabelled.test.labels[0] + 1) % 4;
    let again = load_or_train(&relabelled, dir.path(), &ONE_EPOCH, &device()).unwrap();
    assert_eq!(again.origin, Origin::Trained);
    let recipe = Recipe {
        seed: 4,
        ..ONE_EPOCH
    };
    let reseeded = load_or_train(&data, dir.path(), &recipe, &device()).unwrap();
    assert_eq!(reseeded.origin, Origin::Trained);
    assert_eq!(cache_files(dir.path()), 4);
}

/// A corrupt or truncated file is trained over (the same judge again: the
/// training is deterministic), with the reason, and then loads.
#[test]
fn a_corrupt_cache_file_is_trained_over() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_data();
    let good = load_or_train(&data, dir.path(), &ONE_EPOCH, &device()).unwrap();
    let bytes = std::fs::read(&good.path).unwrap();
    let corruptions: [(Vec<u8>, &str); 3] = [
        (b"not a judge".to_vec(), "not a tinyvae judge file"),
        (bytes[..bytes.len() / 2].to_vec(), ""),
        (
            bytes[..cache::MAGIC.len() + 20].to_vec(),
            "truncated header",
        ),
    ];
    for (corrupt, reason) in corruptions {
        std::fs::write(&good.path, &corrupt).unwrap();
        let redone = load_or_train(&data, dir.path(), &ONE_EPOCH, &device()).unwrap();
        let Origin::Replaced { reason: why } = &redone.origin else {
            panic!("{:?}", redone.origin)
        };
        assert!(why.contains(reason), "{why}");
        assert_eq!(redone.judge.facts.reference, good.judge.facts.reference);
        let loaded = load_or_train(&data, dir.path(), &ONE_EPOCH, &device()).unwrap();
        assert_eq!(loaded.origin, Origin::Loaded);
    }
    assert_eq!(cache_files(dir.path()), 1, "no temporary file left");
}

/// Scoring the test images with their labels gives the judge's test
/// accuracy, a Frechet distance of ~0 from themselves, and counts that add
/// up.
#[test]
fn the_test_images_score_as_the_judge_measured_them() {
    let data = tiny_data();
    let judge = Judge::train(&data, &ONE_EPOCH, &device());
    let scores = judge.score(&data.test.pixels, Some(&data.test.labels));
    assert_eq!(scores.count, 16);
    assert_eq!(scores.accuracy, Some(judge.test_accuracy()));
    // 16 images in 128 dimensions: a rank-deficient covariance, whose
    // clamped rounding-level eigenvalues leave a trace of ~1e-6.
    assert!(scores.frechet.abs() < 1e-4, "{}", scores.frechet);
    assert_eq!(scores.predicted.len(), 4);
    assert_eq!(scores.predicted.iter().sum::<usize>(), 16);
    assert_eq!(scores.entropy, entropy_nats(&scores.predicted));
    let counts: Vec<(u8, usize)> = scores
        .per_class
        .iter()
        .map(|c| (c.class, c.count))
        .collect();
    assert_eq!(counts, [(0, 4), (1, 4), (2, 4), (3, 4)]);
    let worst = scores.worst_class().unwrap().accuracy;
    assert!(scores.per_class.iter().all(|c| c.accuracy >= worst));
    assert!((0.25..=1.0).contains(&scores.confidence));
    // Without asked labels: no accuracy, the same features and spread.
    let unasked = judge.score(&data.test.pixels, None);
    assert_eq!(unasked.accuracy, None);
    assert!(unasked.per_class.is_empty());
    assert_eq!(unasked.predicted, scores.predicted);
    // Other images are farther from the test images.
    let blank = judge.score(&vec![0u8; 16 * PIXELS], None);
    assert!(blank.frechet > 1e-3, "{}", blank.frechet);
}
