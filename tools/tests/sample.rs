//! `tinyvae sample` and `tinyvae latents`: deterministic per seed, the same
//! latents the images were decoded from, and bad input rejected.

mod common;

use tinyvae_shared::Model;

use common::{SMALL_CLASS_NAMES, assert_success, tinyvae, write_blob};

fn sample(blob: &str, out: &std::path::Path, seed: &str, extra: &[&str]) -> Vec<u8> {
    let mut args = vec![
        "sample",
        "--blob",
        blob,
        "--seed",
        seed,
        "--count",
        "12",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    let run = tinyvae(&args);
    assert_success(&run);
    assert!(out.join("samples.png").is_file());
    std::fs::read(out.join("samples.raw")).unwrap()
}

#[test]
fn sample_is_deterministic_per_seed_and_differs_across_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let blob = write_blob(dir.path());
    let blob = blob.to_str().unwrap();
    let a = sample(blob, &dir.path().join("a"), "7", &[]);
    let again = sample(blob, &dir.path().join("again"), "7", &[]);
    let b = sample(blob, &dir.path().join("b"), "8", &[]);
    assert_eq!(a.len(), 12 * 4);
    assert_eq!(a, again);
    assert_ne!(a, b);
    let class = sample(blob, &dir.path().join("c"), "7", &["--class", "1"]);
    assert_ne!(a, class);
}

/// The CSV's int8 latents, decoded with the blob, give exactly the sampled
/// images; its dequantized columns are `scale * (q - zero_point)`.
#[test]
fn latents_are_the_sampled_images_latents() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_blob(dir.path());
    let blob = path.to_str().unwrap();
    let images = sample(blob, &dir.path().join("s"), "5", &["--class", "0"]);
    let run = tinyvae(&[
        "latents", "--blob", blob, "--seed", "5", "--count", "12", "--class", "0",
    ]);
    assert_success(&run);
    let csv = String::from_utf8(run.stdout).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next().unwrap(), "image,q_0,q_1,z_0,z_1");
    let bytes = std::fs::read(&path).unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    let mut scratch = vec![0i8; model.scratch_len()];
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 12);
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<&str> = row.split(',').collect();
        assert_eq!(cells[0], i.to_string());
        let q: Vec<i8> = cells[1..3].iter().map(|c| c.parse().unwrap()).collect();
        let z: Vec<f32> = cells[3..5].iter().map(|c| c.parse().unwrap()).collect();
        for (&q, &z) in q.iter().zip(&z) {
            assert_eq!(z, model.z_quant().dequantize(q));
        }
        let mut pixels = [0u8; 4];
        model.decode(&q, &mut scratch, &mut pixels).unwrap();
        assert_eq!(pixels, images[i * 4..(i + 1) * 4], "image {i}");
    }
}

#[test]
fn bad_requests_exit_2_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let blob = write_blob(dir.path());
    let blob = blob.to_str().unwrap();
    let out = dir.path().join("never");
    let cases: [&[&str]; 3] = [
        &[
            "sample",
            "--blob",
            blob,
            "--seed",
            "1",
            "--class",
            "2",
            "--out",
            out.to_str().unwrap(),
        ],
        &["latents", "--blob", blob, "--seed", "1", "--class", "9"],
        &[
            "sample",
            "--blob",
            "/nonexistent/model.tvae",
            "--seed",
            "1",
            "--out",
            out.to_str().unwrap(),
        ],
    ];
    for args in cases {
        let run = tinyvae(args);
        assert_eq!(run.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(run.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("model.tvae"), "{stderr}");
        assert!(run.stdout.is_empty());
    }
    assert!(!out.exists(), "a failed sample left {}", out.display());
}

/// `--class` takes a class's name (its exact spelling, or any case when
/// only one name matches) as well as its index; a name the blob lacks is
/// one line listing the names, exit 2.
#[test]
fn a_class_is_named_or_numbered() {
    let dir = tempfile::tempdir().unwrap();
    let blob = write_blob(dir.path());
    let blob = blob.to_str().unwrap();
    let [circle, ankle_boot] = SMALL_CLASS_NAMES;
    let by_index = sample(blob, &dir.path().join("1"), "3", &["--class", "1"]);
    let by_name = sample(blob, &dir.path().join("n"), "3", &["--class", ankle_boot]);
    let any_case = sample(blob, &dir.path().join("c"), "3", &["--class", "ANKLE BOOT"]);
    assert_eq!(by_name, by_index);
    assert_eq!(any_case, by_index);
    let zero = sample(blob, &dir.path().join("0"), "3", &["--class", "0"]);
    let circle = sample(blob, &dir.path().join("o"), "3", &["--class", circle]);
    assert_eq!(circle, zero);
    assert_ne!(zero, by_index);

    let out = dir.path().join("never");
    let out = out.to_str().unwrap();
    let unknown = ["--blob", blob, "--seed", "1", "--class", "Sneaker"];
    let sample_args = [&["sample", "--out", out][..], &unknown].concat();
    let latents_args = [&["latents"][..], &unknown].concat();
    for args in [sample_args, latents_args] {
        let run = tinyvae(&args);
        let stderr = String::from_utf8(run.stderr).unwrap();
        assert_eq!(run.status.code(), Some(2), "{stderr}");
        assert_eq!(
            stderr,
            format!(
                "error: --class \"Sneaker\": {blob} has classes Circle, Ankle boot \
                 (or their index, 0 to 1)\n"
            )
        );
        assert!(run.stdout.is_empty());
    }
    assert!(!dir.path().join("never").exists());
}
