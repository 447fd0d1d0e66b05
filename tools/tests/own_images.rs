//! Your own images, end to end through the CLI: a labelled RGB image
//! folder (the coloured shapes of `tinyvae_tools::shapes`, 32x32, written
//! by the test), `tinyvae train` on it for one epoch, `tinyvae export`,
//! the class names in the blob, `tinyvae fit` for every board, and the
//! Cortex-M4 lab machine in QEMU asked for a class by its name: every byte
//! the host's (`tinyvae sample` with the same seed and class).

mod common;

use std::path::Path;

use common::{assert_success, tinyvae};
use tinyvae_tools::shapes::{CLASSES, write_shapes};

/// `args` as `&str`s, paths included.
fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> std::process::Output {
    let args: Vec<&str> = args
        .iter()
        .map(|a| a.as_ref().to_str().expect("UTF-8 paths"))
        .collect();
    tinyvae(&args)
}

#[test]
fn a_folder_of_rgb_images_reaches_the_chip_and_classes_go_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let (data, out) = (dir.path().join("shapes"), dir.path().join("run"));
    write_shapes(&data, 24, 6, 3).unwrap();

    let trained = run(&[
        &"train",
        &"--data",
        &data,
        &"--model",
        &"conv",
        &"--epochs",
        &"1",
        &"--out",
        &out,
    ]);
    let stderr = String::from_utf8_lossy(&trained.stderr);
    assert!(trained.status.success(), "{stderr}");
    assert!(stderr.contains("32x32 RGB"), "{stderr}");

    let blob = dir.path().join("shapes.tvae");
    assert_success(&run(&[
        &"export",
        &"--checkpoint",
        &out,
        &"--data",
        &data,
        &"--out",
        &blob,
    ]));
    let inspect = run(&[&"inspect", &"--blob", &blob, &"--json"]);
    assert_success(&inspect);
    let json: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    // The folders' names, sorted.
    let mut sorted = CLASSES.to_vec();
    sorted.sort_unstable();
    assert_eq!(json["class_names"], serde_json::json!(sorted));

    // Too big for the micro:bit v1's buffers, fine for the lab M4.
    let fit = run(&[&"fit", &"--blob", &blob]);
    assert_success(&fit);
    let table = String::from_utf8_lossy(&fit.stdout);
    let row = |board: &str| {
        table
            .lines()
            .find(|line| line.starts_with(&format!("| {board} ")))
            .unwrap_or_else(|| panic!("no {board} row: {table}"))
            .to_owned()
    };
    assert!(row("microbit").ends_with("no: scratch |"), "{table}");
    assert!(row("lab-m4").ends_with("yes         |"), "{table}");
    let fit_microbit = run(&[&"fit", &"--blob", &blob, &"--board", &"microbit"]);
    assert_eq!(fit_microbit.status.code(), Some(2));
    assert_success(&run(&[&"fit", &"--blob", &blob, &"--board", &"lab-m4"]));

    // A class by name, on the chip and on the host: the same bytes.
    let (chip, host) = (dir.path().join("chip"), dir.path().join("host"));
    let draw = ["--class", "blue-triangle", "--seed", "5", "--count", "4"];
    let on_chip = run(&[
        &"qemu", &"--blob", &blob, &"--out", &chip, &"--check", &draw[0], &draw[1], &draw[2],
        &draw[3], &draw[4], &draw[5],
    ]);
    let stderr = String::from_utf8_lossy(&on_chip.stderr);
    assert!(on_chip.status.success(), "{stderr}");
    assert!(stderr.contains("identical to the host's"), "{stderr}");
    assert_success(&run(&[
        &"sample", &"--blob", &blob, &"--out", &host, &draw[0], &draw[1], &draw[2], &draw[3],
        &draw[4], &draw[5],
    ]));
    let bytes = |path: &Path| std::fs::read(path).unwrap();
    let chip_raw = bytes(&chip.join("qemu.raw"));
    assert_eq!(chip_raw.len(), 4 * 32 * 32 * 3);
    assert_eq!(chip_raw, bytes(&host.join("samples.raw")));

    // An unknown name: one line naming the known ones, exit 2.
    let unknown = run(&[
        &"sample",
        &"--blob",
        &blob,
        &"--out",
        &host,
        &"--seed",
        &"1",
        &"--class",
        &"purple-star",
    ]);
    assert_eq!(unknown.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("purple-star") && stderr.contains("red-circle"),
        "{stderr}"
    );
}
