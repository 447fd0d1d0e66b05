//! End to end on the lab machine: the firmware, built for the Cortex-M4F
//! (QEMU `mps2-an386`, semihosting), loads a blob it was not linked with
//! (the fixtures, and blobs from the trainer's exporter), generates images
//! from a seed, and they equal the host's byte for byte. A missing or
//! corrupt blob makes it stop with a clear error and a non-zero exit code.
//! The micro:bit board firmware has its own tests (`microbit.rs`).
//!
//! Needs `qemu-system-arm` (apt-get install qemu-system-arm) and the thumb
//! targets from rust-toolchain.toml; builds firmware/ with cargo (release,
//! its own target directory) once per machine.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use tinyvae_shared::protocol::Request;
use tinyvae_shared::{Draw, Model};
use tinyvae_tests::fixtures;
use tinyvae_tools::firmware::{self, Machine, Run};
use tinyvae_tools::generate::{host_images, host_latents};
use tinyvae_trainer::data::ImageShape;
use tinyvae_trainer::model::Arch;

const TIMEOUT: Duration = Duration::from_secs(60);

/// The lab firmware ELF, built once per test binary.
fn elf() -> &'static Path {
    static M4: OnceLock<PathBuf> = OnceLock::new();
    M4.get_or_init(|| {
        firmware::build(Machine::Mps2An386)
            .unwrap_or_else(|err| panic!("building the firmware: {err:#}"))
    })
}

/// `bytes` in a file of its own (QEMU's loader reads files).
fn blob_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tinyvae-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write a blob file");
    path
}

fn run(blob: Option<&Path>, request: Option<&Request>) -> Run {
    firmware::run(elf(), Machine::Mps2An386, blob, request, TIMEOUT)
        .unwrap_or_else(|err| panic!("running the firmware in QEMU: {err:#}"))
}

/// Runs every request and compares each image with the host's.
fn chip_equals_host(machine: Machine, name: &str, blob: &[u8], requests: &[Request]) {
    let model = Model::from_bytes(blob).expect("the fixture is valid");
    let path = blob_file(name, blob);
    let mut levels = std::collections::BTreeSet::new();
    for request in requests {
        let run = firmware::run(elf(), machine, Some(&path), Some(request), TIMEOUT)
            .unwrap_or_else(|err| panic!("running the firmware in QEMU: {err:#}"));
        assert_eq!(
            run.exit_code,
            0,
            "{machine:?} {name} {request:?}: exit code {}\n{}{}",
            run.exit_code,
            run.log_text(),
            run.stderr
        );
        assert_eq!(
            run.images.len(),
            request.count as usize,
            "{}",
            run.log_text()
        );
        let latents =
            host_latents(&model, request.seed.unwrap(), request.count, request.draw).unwrap();
        assert_eq!(
            run.latents.concat(),
            latents,
            "{machine:?} {name} {request:?}: latents"
        );
        let host = host_images(&model, request.seed.unwrap(), request.count, request.draw).unwrap();
        for (i, (chip, host)) in run
            .images
            .iter()
            .zip(host.chunks(model.image_len()))
            .enumerate()
        {
            assert!(
                chip == host,
                "{machine:?} {name} {request:?}: image {i} differs from the host's\n chip {chip:?}\n host {host:?}"
            );
        }
        levels.extend(host);
        let log = run.log_text();
        assert!(log.contains("memory: flash"), "no memory report:\n{log}");
        if request.draw == Draw::Prior {
            assert!(
                log.contains(&format!("seed {} (host), prior", request.seed.unwrap())),
                "{log}"
            );
        }
    }
    // Not all black or white: the fixtures exercise the whole pipeline (a
    // fresh model's fitted density is narrow, so over all requests).
    assert!(
        levels.len() > 32,
        "{name}: only {} gray levels",
        levels.len()
    );
}

/// Three seeds from the prior (two images each: the generator's state
/// carries over between images), one class-conditional request and one
/// interpolation (whose ends are two prior draws, so its first latent is
/// the prior request's first latent for the same seed).
fn requests() -> Vec<Request> {
    let mut requests: Vec<Request> = [1, 42, 0xDEAD_BEEF_0123_4567]
        .iter()
        .map(|&seed| Request::new(Draw::Prior, 2, Some(seed)))
        .collect();
    requests.push(Request::new(Draw::Fitted, 2, Some(5)));
    requests.push(Request::new(Draw::Class(3), 2, Some(7)));
    requests.push(Request::new(Draw::Interpolate, 5, Some(42)));
    requests
}

#[test]
fn mlp_on_cortex_m4_equals_host() {
    chip_equals_host(
        Machine::Mps2An386,
        "mlp.tvae",
        &fixtures::mlp_blob(),
        &requests(),
    );
}

#[test]
fn conv_on_cortex_m4_equals_host() {
    chip_equals_host(
        Machine::Mps2An386,
        "conv.tvae",
        &fixtures::conv_blob(),
        &requests(),
    );
}

#[test]
fn exported_models_on_the_chips_equal_host() {
    let (mlp, conv) = (
        fixtures::exported(Arch::Mlp),
        fixtures::exported(Arch::Conv),
    );
    chip_equals_host(Machine::Mps2An386, "exported-mlp.tvae", &mlp, &requests());
    chip_equals_host(Machine::Mps2An386, "exported-conv.tvae", &conv, &requests());
}

/// A conv model of 32x32 RGB images (a 8x8 first map, three output
/// channels in HWC), exported by the trainer's code, on the Cortex-M4:
/// every byte the host's.
#[test]
fn an_exported_rgb_conv_model_on_the_m4_equals_host() {
    let image = ImageShape {
        height: 32,
        width: 32,
        channels: 3,
    };
    let blob = fixtures::exported_with(Arch::Conv, image);
    let model = Model::from_bytes(&blob).unwrap();
    let shape = model.image_shape();
    assert_eq!((shape.height, shape.width, shape.channels), (32, 32, 3));
    chip_equals_host(Machine::Mps2An386, "exported-rgb.tvae", &blob, &requests());
}

/// Asserts a failed run: non-zero exit, no images, an error naming `problem`.
fn assert_refused(run: &Run, problem: &str) {
    let log = run.log_text();
    assert_ne!(run.exit_code, 0, "exit code 0:\n{log}");
    assert!(run.images.is_empty(), "images despite the error:\n{log}");
    let error = run
        .error()
        .unwrap_or_else(|| panic!("no ERROR line:\n{log}"));
    assert!(
        error.contains(problem),
        "error {error:?} does not say {problem:?}"
    );
}

const ONE: Request = Request::new(Draw::Prior, 1, Some(1));

#[test]
fn corrupt_blob_is_refused() {
    let mut blob = fixtures::conv_blob();
    let middle = blob.len() / 2;
    blob[middle] ^= 0x40;
    let path = blob_file("corrupt.tvae", &blob);
    let run = run(Some(&path), Some(&ONE));
    assert_refused(&run, "checksum mismatch, the blob is corrupt");
    assert!(
        run.error()
            .unwrap()
            .starts_with("no valid model blob at 0x")
    );
    assert_eq!(
        run.refusal.as_deref(),
        Some("payload checksum mismatch, the blob is corrupt")
    );
}

#[test]
fn missing_blob_is_refused() {
    let run = run(None, Some(&ONE));
    assert_refused(&run, "bad magic, nothing or no tinyvae blob loaded there");
}

#[test]
fn missing_request_is_refused() {
    let path = blob_file("for-missing-request.tvae", &fixtures::conv_blob());
    let run = run(Some(&path), None);
    assert_refused(&run, "no request block at 0x21000000");
}

#[test]
fn unknown_class_is_refused() {
    let path = blob_file("for-unknown-class.tvae", &fixtures::conv_blob());
    let request = Request {
        draw: Draw::Class(fixtures::CLASSES),
        ..ONE
    };
    let run = run(Some(&path), Some(&request));
    assert_refused(&run, "the model has no such class");
}
