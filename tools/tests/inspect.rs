//! `tinyvae inspect` on a real blob and on bad input.

mod common;

use common::{SMALL_CLASS_NAMES, assert_success, small_model, small_weights, tinyvae, write_blob};
use tinyvae_shared::blob::HEADER_LEN;
use tinyvae_shared::write::seal;

#[test]
fn text_report_lists_layers_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let blob = write_blob(dir.path());
    let out = tinyvae(&["inspect", blob.to_str().unwrap()]);
    assert_success(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "checksum        ok",
        "2 dims",
        "2x2x1",
        "dense",
        "2 -> 6",
        "relu",
        "2 classes",
        "synthetic",
        "99.50",
        "class names     0: Circle, 1: Ankle boot\n",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

/// A version-3 blob stores no class names: `inspect` calls its classes
/// `class k` and says so, in the text and in `--json`.
#[test]
fn a_version_3_blob_names_its_classes_by_number() {
    let dir = tempfile::tempdir().unwrap();
    let v4 = small_model().to_blob().unwrap();
    // The same payload without its names string (a length byte and
    // "Circle\nAnkle boot"), behind a version-3 header.
    let names = SMALL_CLASS_NAMES.join("\n");
    let payload = &v4[HEADER_LEN..v4.len() - 1 - names.len()];
    let mut v3 = seal(payload);
    v3[4] = 3;
    let path = dir.path().join("v3.tvae");
    std::fs::write(&path, v3).unwrap();
    let out = tinyvae(&["inspect", path.to_str().unwrap()]);
    assert_success(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("format version  3\n"), "{text}");
    assert!(
        text.contains("class names     0: class 0, 1: class 1 (the blob stores none)\n"),
        "{text}"
    );
    let out = tinyvae(&["inspect", path.to_str().unwrap(), "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["class_names"],
        serde_json::json!(["class 0", "class 1"])
    );
}

#[test]
fn json_with_weights_carries_every_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let blob = write_blob(dir.path());
    let out = tinyvae(&["inspect", blob.to_str().unwrap(), "--json", "--weights"]);
    assert_success(&out);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let bytes = small_model().to_blob().unwrap();
    let model = tinyvae_shared::Model::from_bytes(&bytes).unwrap();
    let body = model.body();
    assert_eq!(json["latent_dim"], 2);
    assert_eq!(json["layers"].as_array().unwrap().len(), 2);
    for (i, layer) in body.layers.iter().enumerate() {
        let j = &json["layers"][i];
        // Logical [outputs][inputs] order, whatever the stored layout: each
        // dequantized weight is within half a step of the float weight.
        let weights: Vec<i8> = serde_json::from_value(j["weights"].clone()).unwrap();
        let float = &small_weights()[i];
        assert_eq!(weights.len(), float.len());
        let channels = layer.op.channels();
        let per = float.len() / channels;
        for (k, (&q, &f)) in weights.iter().zip(float).enumerate() {
            let scale = layer.weight_scale(k / per);
            assert!(
                (f32::from(q) * scale - f).abs() <= scale * 0.501,
                "layer {i} weight {k}: {q} vs {f}"
            );
        }
        let folded: Vec<i32> = serde_json::from_value(j["folded_bias"].clone()).unwrap();
        assert_eq!(
            folded,
            (0..channels).map(|c| layer.bias(c)).collect::<Vec<_>>()
        );
        // TFLite's bias: the folded one plus the input zero point times the
        // channel's weight sum (dense), computed here from the JSON alone.
        let bias: Vec<i64> = serde_json::from_value(j["bias"].clone()).unwrap();
        let zero_point = j["input"]["zero_point"].as_i64().unwrap();
        let dense = j["op"]["kind"] == "dense";
        for c in 0..channels {
            let sum: i64 = weights[c * per..(c + 1) * per]
                .iter()
                .map(|&w| i64::from(w))
                .sum();
            let unfolded = i64::from(folded[c]) + if dense { zero_point * sum } else { 0 };
            assert_eq!(bias[c], unfolded, "layer {i} channel {c}");
            // ... and it is the float bias, at scale in * w[c].
            let step = j["input"]["scale"].as_f64().unwrap() * f64::from(layer.weight_scale(c));
            let float_bias = [0.1, -0.2][i];
            assert!(
                (bias[c] as f64 * step - float_bias).abs() <= step,
                "layer {i} channel {c}"
            );
        }
        let multipliers: Vec<i32> = serde_json::from_value(j["multipliers"].clone()).unwrap();
        assert_eq!(
            multipliers,
            (0..channels)
                .map(|c| layer.multiplier(c))
                .collect::<Vec<_>>()
        );
        let shifts: Vec<i8> = serde_json::from_value(j["shifts"].clone()).unwrap();
        assert_eq!(
            shifts,
            (0..channels).map(|c| layer.shift(c)).collect::<Vec<_>>()
        );
    }
    let table: Vec<u8> = serde_json::from_value(json["output_table"].clone()).unwrap();
    assert_eq!(table, body.output_table);
    // The density in real units: class 1's mean and Cholesky rows.
    assert_eq!(json["class_names"], serde_json::json!(SMALL_CLASS_NAMES));
    let component = &json["density"]["components"][1];
    assert_eq!(component["class"], 1);
    assert_eq!(json["default_draw"], "fitted");
    assert!(json["condition"].is_null());
    for (key, expected) in [("mean", &[1.0, 1.5][..]), ("scale_tril", &[0.5, 0.1, 0.75])] {
        let got: Vec<f64> = serde_json::from_value(component[key].clone()).unwrap();
        assert_eq!(got.len(), expected.len(), "{key}");
        for (g, e) in got.iter().zip(expected) {
            assert!((g - e).abs() < 1e-4, "{key}: {got:?} vs {expected:?}");
        }
    }
    // Without --weights the arrays are left out.
    let out = tinyvae(&["inspect", blob.to_str().unwrap(), "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["layers"][0].get("weights").is_none());
}

/// Bad input: one line on stderr naming the file and the problem, exit 2.
#[test]
fn bad_blobs_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(write_blob(dir.path())).unwrap();
    let mut corrupt = good.clone();
    corrupt[40] ^= 0x55;
    let mut wrong_version = good.clone();
    wrong_version[4] = 9;
    let mut old_version = good.clone();
    old_version[4] = 2;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated.tvae",
            good[..good.len() / 2].to_vec(),
            "truncated",
        ),
        ("corrupt.tvae", corrupt, "checksum mismatch"),
        (
            "version.tvae",
            wrong_version,
            "blob format version 9 is newer than this tinyvae's 4",
        ),
        (
            "old.tvae",
            old_version,
            "re-export the model with `tinyvae export`",
        ),
        ("empty.tvae", Vec::new(), "truncated"),
        (
            "text.tvae",
            b"not a blob at all, just text".to_vec(),
            "bad magic",
        ),
    ];
    for (name, bytes, problem) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = tinyvae(&["inspect", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
        assert!(
            stderr.contains(name) && stderr.contains(problem),
            "{name}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{name}: partial output");
    }
    let missing = dir.path().join("missing.tvae");
    let out = tinyvae(&["inspect", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("missing.tvae")
    );
}
