//! `tinyvae fit`: a blob against each board's blob region and buffers, in
//! one table; with `--board`, exit 2 and the first reason when it does not
//! fit (the same line `tinyvae hex` and the board itself give:
//! `board_cli.rs`).

mod common;

use std::path::Path;

use common::{image_too_big_for_the_microbit, small_conv_model, tinyvae};
use tinyvae_shared::Model;
use tinyvae_shared::boards::MICROBIT;
use tinyvae_shared::write::OwnedModel;

/// Writes `model` to `dir/name` and runs `tinyvae fit` on it with `extra`.
fn fit(dir: &Path, name: &str, model: &OwnedModel, extra: &[&str]) -> std::process::Output {
    let path = dir.join(name);
    std::fs::write(&path, model.to_blob().unwrap()).unwrap();
    tinyvae(&[&["fit", "--blob", path.to_str().unwrap()][..], extra].concat())
}

/// The table's row for `board`, split into its cells.
fn row(stdout: &str, board: &str) -> Vec<String> {
    let line = stdout
        .lines()
        .find(|line| line.starts_with(&format!("| {board} ")))
        .unwrap_or_else(|| panic!("no row for {board}:\n{stdout}"));
    line.trim_matches('|')
        .split('|')
        .map(|cell| cell.trim().to_owned())
        .collect()
}

#[test]
fn a_conv_model_that_fits_the_microbit() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_conv_model();
    let blob = model.to_blob().unwrap();
    let parsed = Model::from_bytes(&blob).unwrap();
    let run = fit(dir.path(), "conv.tvae", &model, &["--board", "microbit"]);
    let stdout = String::from_utf8(run.stdout).unwrap();
    assert!(run.status.success(), "{stdout}");
    let cells = row(&stdout, "microbit");
    assert_eq!(
        cells[1..4],
        [
            format!("{} / 130048", blob.len()),
            format!("{} / 9728", parsed.scratch_len()),
            "16 / 1024".to_owned()
        ]
    );
    // 2 x 8 dense MACs and the transposed convolution's interior taps
    // (36 of 4x4 outputs x 2 channels), at the micro:bit's conv figure.
    let macs = 16 + 72;
    assert_eq!(
        cells[4],
        format!(
            "{:.0} (4.57 per MAC, M0, the conv decoder)",
            macs as f64 * 4.57
        )
    );
    assert_eq!(cells[5], "yes");
    assert_eq!(stdout.lines().filter(|l| l.starts_with("| ")).count(), 3);
}

#[test]
fn every_board_without_board_and_exit_2_for_the_board_it_does_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    let model = image_too_big_for_the_microbit();
    let run = fit(dir.path(), "big.tvae", &model, &[]);
    let stdout = String::from_utf8(run.stdout).unwrap();
    assert!(run.status.success(), "{stdout}");
    assert_eq!(row(&stdout, "microbit")[3], "1600 / 1024");
    assert_eq!(row(&stdout, "microbit")[5], "no: image buffer");
    for board in ["microbit-v2", "stm32f429i-disc1", "lab-m4"] {
        assert_eq!(row(&stdout, board)[5], "yes", "{board}");
    }
    // An MLP-shaped decoder takes the dense figure.
    assert!(row(&stdout, "lab-m4")[4].contains("(1.14 per MAC, M4, the MLP)"));

    let run = fit(dir.path(), "big.tvae", &model, &["--board", "microbit"]);
    let stderr = String::from_utf8(run.stderr).unwrap();
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    let blob = model.to_blob().unwrap();
    let misfit = MICROBIT
        .check(&Model::from_bytes(&blob).unwrap())
        .unwrap_err();
    assert_eq!(
        misfit.to_string(),
        "the model does not fit the BBC micro:bit v1 (nRF51822, Cortex-M0): \
         its image is 1600 bytes, the firmware's image buffer 1024"
    );
    let path = dir.path().join("big.tvae");
    assert_eq!(stderr, format!("error: {}: {misfit}\n", path.display()));
    assert_eq!(
        row(&String::from_utf8(run.stdout).unwrap(), "microbit")[5],
        "no: image buffer"
    );
}
