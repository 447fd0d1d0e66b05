//! `tinyvae qemu` end to end: the chip's bytes (QEMU Cortex-M4) against
//! `tinyvae sample`'s, and a corrupt blob refused as bad input.

mod common;

use common::{assert_success, tinyvae, write_blob};

#[test]
fn chip_images_equal_host_samples() {
    let dir = tempfile::tempdir().unwrap();
    let blob = write_blob(dir.path());
    let blob = blob.to_str().unwrap();
    let (chip, host) = (dir.path().join("chip"), dir.path().join("host"));
    for class in [None, Some("1")] {
        let mut request = vec!["--blob", blob, "--seed", "11", "--count", "5"];
        if let Some(k) = class {
            request.extend(["--class", k]);
        }
        let qemu = tinyvae(
            &[
                &["qemu", "--check", "--out", chip.to_str().unwrap()],
                &request[..],
            ]
            .concat(),
        );
        assert_success(&qemu);
        let stderr = String::from_utf8(qemu.stderr).unwrap();
        assert!(stderr.contains("identical to the host's"), "{stderr}");
        let sample =
            tinyvae(&[&["sample", "--out", host.to_str().unwrap()], &request[..]].concat());
        assert_success(&sample);
        let chip_bytes = std::fs::read(chip.join("qemu.raw")).unwrap();
        assert_eq!(chip_bytes.len(), 5 * 4);
        assert_eq!(chip_bytes, std::fs::read(host.join("samples.raw")).unwrap());
    }
}

#[test]
fn corrupt_blob_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_blob(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[30] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let out = dir.path().join("out");
    let run = tinyvae(&[
        "qemu",
        "--blob",
        path.to_str().unwrap(),
        "--seed",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8(run.stderr).unwrap();
    assert!(
        stderr.contains("model.tvae") && stderr.contains("checksum"),
        "{stderr}"
    );
    assert!(!out.exists());
}
