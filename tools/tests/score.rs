//! `tinyvae score`: a row per kind of draw and per reference set (real,
//! blurred, noise), the same
//! numbers in the JSON, the judge trained once and then loaded from its
//! cache, and bad input rejected in one line with exit code 2.

mod common;

use std::path::Path;
use std::process::Output;

use common::{assert_success, image_sized_model, tinyvae};
use tinyvae_trainer::data::{DataSet, PIXELS, SIDE, Split, write_dir};

/// `n` images in 4 classes: class `k` a bright square in quadrant `k`.
fn quadrants(n: usize, seed: usize) -> Split {
    let mut pixels = vec![0u8; n * PIXELS];
    for (i, image) in pixels.chunks_exact_mut(PIXELS).enumerate() {
        let class = i % 4;
        let size = 6 + (i * 7 + seed) % 5;
        let (x0, y0) = ((class % 2) * 14 + 2, (class / 2) * 14 + 2);
        for y in y0..y0 + size {
            image[y * SIDE + x0..y * SIDE + x0 + size].fill(200);
        }
    }
    Split {
        pixels,
        labels: (0..n).map(|i| (i % 4) as u8).collect(),
        shape: tinyvae_trainer::data::ImageShape::MNIST,
    }
}

/// Writes the blob and a tiny data set (40 training, 12 test images) into
/// `dir`: `(blob, data)`.
fn fixtures(dir: &Path) -> (String, String) {
    let blob = dir.join("model.tvae");
    std::fs::write(&blob, image_sized_model().to_blob().unwrap()).unwrap();
    let data = dir.join("data");
    let set = DataSet {
        train: quadrants(40, 1),
        test: quadrants(12, 2),
        names: None,
    };
    write_dir(&data, &set).unwrap();
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    (path(&blob), path(&data))
}

fn score(blob: &str, data: &str, dir: &Path, extra: &[&str]) -> Output {
    let cache = dir.join("judges");
    let args = [
        "score",
        "--blob",
        blob,
        "--data",
        data,
        "--judge-cache",
        cache.to_str().unwrap(),
    ];
    tinyvae(&[&args[..], extra].concat())
}

/// The table's rows (kind and N) and the JSON's fields; the second run
/// loads the judge the first trained.
#[test]
fn scores_every_kind_of_draw_and_the_references() {
    let dir = tempfile::tempdir().unwrap();
    let (blob, data) = fixtures(dir.path());
    let json = dir.path().join("scores.json");
    let args = [
        "--count",
        "10",
        "--seed",
        "3",
        "--json",
        json.to_str().unwrap(),
    ];
    let run = score(&blob, &data, dir.path(), &args);
    assert_success(&run);
    let stderr = String::from_utf8(run.stderr).unwrap();
    assert!(stderr.contains("trained the judge"), "{stderr}");
    let stdout = String::from_utf8(run.stdout).unwrap();
    assert!(
        stdout.contains("10 images per kind of draw, seed 3; judge: test accuracy"),
        "{stdout}"
    );
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .filter(|line| line.starts_with("| ") && !line.starts_with("| kind"))
        .map(|line| line.split(" | ").collect())
        .collect();
    let kinds: Vec<(&str, &str)> = rows.iter().map(|r| (r[0], r[1])).collect();
    assert_eq!(
        kinds,
        [
            ("| prior N(0, I)", "10"),
            ("| fitted density", "10"),
            ("| class draws", "10"),
            ("| real training images", "10"),
            ("| real test images", "12"),
            ("| real test images, 3x3 box blur", "12"),
            ("| uniform noise", "10"),
        ]
    );
    assert_eq!(rows[0][2], "-", "the prior asks for no class");
    assert_eq!(rows[1][2], "-", "the fitted density asks for no class");
    assert!(rows[2][2].contains("(worst: class "), "{:?}", rows[2]);
    assert!(
        stdout.contains("class draws per class: class 0 "),
        "{stdout}"
    );

    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(value["count"], 10);
    assert_eq!(value["seed"], 3);
    assert_eq!(value["judge"]["origin"], "trained");
    let accuracy = value["judge"]["test_accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&accuracy));
    let rows = value["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 7);
    let classes = &rows[2]["scores"];
    assert_eq!(classes["count"], 10);
    // 10 images over 4 classes: 3, 3, 2, 2.
    let per_class: Vec<(u64, u64)> = classes["per_class"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["class"].as_u64().unwrap(), c["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(per_class, [(0, 3), (1, 3), (2, 2), (3, 2)]);
    for row in rows {
        let scores = &row["scores"];
        let predicted: u64 = scores["predicted"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap())
            .sum();
        assert_eq!(predicted, scores["count"].as_u64().unwrap(), "{row}");
        for field in ["confidence", "entropy", "frechet"] {
            assert!(scores[field].as_f64().unwrap() >= 0.0, "{field} of {row}");
        }
    }
    // The test images' own accuracy is the judge's test accuracy, and
    // their features are the reference: FD ~0.
    assert_eq!(rows[4]["scores"]["accuracy"].as_f64().unwrap(), accuracy);
    assert!(rows[4]["scores"]["frechet"].as_f64().unwrap().abs() < 1e-3);
    assert!(rows[0]["scores"]["accuracy"].is_null());
    assert!(
        rows[6]["scores"]["accuracy"].is_null(),
        "noise asks for no class"
    );

    let again = score(&blob, &data, dir.path(), &args);
    assert_success(&again);
    assert!(
        String::from_utf8(again.stderr)
            .unwrap()
            .starts_with("judge: ")
    );
    let reloaded: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(reloaded["judge"]["origin"], "loaded");
    assert_eq!(
        reloaded["rows"], value["rows"],
        "the same judge, the same scores"
    );
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let (blob, data) = fixtures(dir.path());
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let small = dir.path().join("small.tvae");
    std::fs::write(&small, common::small_model().to_blob().unwrap()).unwrap();
    let cases: [(&str, &str, &[&str], &str); 4] = [
        ("/nonexistent/model.tvae", &data, &[], "model.tvae"),
        (&blob, &data, &["--count", "0"], "--count"),
        (&blob, empty.to_str().unwrap(), &[], "empty"),
        (small.to_str().unwrap(), &data, &[], "28x28"),
    ];
    for (blob, data, extra, expected) in cases {
        let run = score(blob, data, dir.path(), extra);
        let stderr = String::from_utf8(run.stderr).unwrap();
        assert_eq!(run.status.code(), Some(2), "{extra:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(stderr.contains(expected), "{expected:?} missing: {stderr}");
        assert!(run.stdout.is_empty());
    }
    assert!(!dir.path().join("judges").exists(), "no judge was trained");
}
