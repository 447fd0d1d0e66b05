//! The real-board commands end to end: `tinyvae hex` writes the file a
//! user flashes; plain `qemu-system-arm -machine microbit` (no semihosting)
//! boots the board firmware with that file; `tinyvae listen` talks to it
//! over its UART's pty, as to a micro:bit's USB serial port. And every way
//! it can go wrong gives one line and exit 2.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{assert_success, image_too_big_for_the_microbit, small_model, tinyvae, write_blob};
use tinyvae_shared::blob::{Activation, Op, Quant};
use tinyvae_shared::protocol::Request;
use tinyvae_shared::write::OwnedLayer;
use tinyvae_shared::{Draw, Model};
use tinyvae_tools::firmware::{self, Flash, Machine, Microbit};
use tinyvae_tools::hex::parse_intel_hex;

/// The micro:bit's blob address.
const BLOB_ADDRESS: u32 = tinyvae_shared::boards::MICROBIT.blob_start;

/// Boots the board ELF in QEMU with `hex` flashed (if any), its UART on a pty.
fn boot(hex: Option<&Path>) -> Microbit {
    let elf = firmware::build(Machine::Microbit).expect("build the micro:bit firmware");
    let flash = hex.map_or(Flash::Empty, Flash::Hex);
    Microbit::boot(&elf, flash, Duration::from_secs(20))
        .unwrap_or_else(|err| panic!("booting the micro:bit in QEMU: {err:#}"))
}

/// `tinyvae hex --board microbit --blob BLOB --out OUT` and `extra`.
fn run_hex(blob: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let (blob, out) = (blob.to_str().unwrap(), out.to_str().unwrap());
    let args = ["hex", "--board", "microbit", "--blob", blob, "--out", out];
    tinyvae(&[&args[..], extra].concat())
}

/// [`run_hex`], which must succeed.
fn hex_of(blob: &Path, out: &Path, extra: &[&str]) {
    assert_success(&run_hex(blob, out, extra));
}

/// The test blob in `dir`, and `tinyvae hex`'s file of it beside it.
fn blob_and_hex(dir: &Path) -> (PathBuf, PathBuf) {
    let blob = write_blob(dir);
    let hex = dir.join("model.hex");
    hex_of(&blob, &hex, &[]);
    (blob, hex)
}

/// Asserts exit 2 and one line on stderr that contains `words`.
fn assert_bad_input(run: &std::process::Output, words: &str) {
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    let last = stderr.lines().last().unwrap_or("");
    assert!(
        last.starts_with("error: ") && last.contains(words),
        "{stderr}"
    );
}

fn listen(port: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    tinyvae(
        &[
            &[
                "listen",
                "--port",
                port,
                "--out",
                out.to_str().unwrap(),
                "--timeout",
                "20",
            ],
            extra,
        ]
        .concat(),
    )
}

fn json_lines(path: PathBuf) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn hex_places_the_blob_at_the_board_address_and_with_the_firmware() {
    let dir = tempfile::tempdir().unwrap();
    let (blob, hex) = blob_and_hex(dir.path());
    let chunks = parse_intel_hex(&std::fs::read_to_string(&hex).unwrap()).unwrap();
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].address, BLOB_ADDRESS);
    assert_eq!(chunks[0].bytes, std::fs::read(&blob).unwrap());

    let elf = firmware::build(Machine::Microbit).unwrap();
    let both = dir.path().join("both.hex");
    hex_of(
        &blob,
        &both,
        &["--with-firmware", "--elf", elf.to_str().unwrap()],
    );
    let chunks = parse_intel_hex(&std::fs::read_to_string(&both).unwrap()).unwrap();
    assert_eq!(
        chunks[0].address, 0,
        "the vector table at the start of flash"
    );
    let last = chunks.last().unwrap();
    assert_eq!(last.address, BLOB_ADDRESS);
    assert!(
        chunks[..chunks.len() - 1]
            .iter()
            .all(|c| c.end() <= u64::from(BLOB_ADDRESS))
    );
}

#[test]
fn a_blob_too_big_for_the_board_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // 2 -> 400 -> 400 -> 4: 160,000 bytes of weights, over the micro:bit's
    // 130,048-byte blob region.
    let mut model = small_model();
    let q = Quant::from_range(0.0, 2.0).unwrap();
    let (z, logits) = (model.layers[0].input, model.layers[1].output);
    let dense = |inputs: u16, outputs: u16, act, input, output| {
        let w = vec![0.01; usize::from(inputs) * usize::from(outputs)];
        let b = vec![0.0; usize::from(outputs)];
        OwnedLayer::quantize(Op::Dense { inputs, outputs }, act, input, output, &w, &b).unwrap()
    };
    model.layers = vec![
        dense(2, 400, Activation::Relu, z, q),
        dense(400, 400, Activation::Relu, q, q),
        dense(400, 4, Activation::Linear, q, logits),
    ];
    let path = dir.path().join("big.tvae");
    std::fs::write(&path, model.to_blob().unwrap()).unwrap();
    let out = dir.path().join("big.hex");
    let run = run_hex(&path, &out, &[]);
    assert_bad_input(&run, "bytes, the blob region 130048");
    assert!(!out.exists());
}

/// A model whose image is too big for the micro:bit firmware's buffer (its
/// blob fits the flash) is refused in one line, the same line everywhere:
/// by `tinyvae fit` and `tinyvae hex` (exit 2), and by the board itself,
/// flashed anyway: its `Status` gives it as the model's error, and a
/// request is refused with it.
#[test]
fn a_model_too_big_for_the_boards_buffers_is_refused_in_the_same_words() {
    let dir = tempfile::tempdir().unwrap();
    let blob = image_too_big_for_the_microbit().to_blob().unwrap();
    let path = dir.path().join("big.tvae");
    std::fs::write(&path, &blob).unwrap();
    let line = tinyvae_shared::boards::MICROBIT
        .check(&Model::from_bytes(&blob).unwrap())
        .unwrap_err()
        .to_string();
    assert!(line.contains("its image is 1600 bytes"), "{line}");
    let one_line = format!("error: {}: {line}\n", path.display());

    let out = dir.path().join("big.hex");
    let hex = run_hex(&path, &out, &[]);
    assert_eq!(hex.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&hex.stderr), one_line);
    assert!(!out.exists());
    let path_arg = path.to_str().unwrap();
    let fit = tinyvae(&["fit", "--blob", path_arg, "--board", "microbit"]);
    assert_eq!(fit.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&fit.stderr), one_line);

    let elf = firmware::build(Machine::Microbit).unwrap();
    let mut emulator = firmware::emulate_microbit(&elf, Some(&blob), Duration::from_secs(20))
        .unwrap_or_else(|err| panic!("booting the micro:bit in QEMU: {err:#}"));
    assert_eq!(emulator.board.status.model, Err(line.clone()));
    let request = Request::new(Draw::Prior, 1, Some(1));
    let refused = emulator.board.generate(request, |_| {}).unwrap_err();
    assert_eq!(
        format!("{refused:#}"),
        format!("the board refused the request: {line}")
    );
    // `listen` on the same board, once this session lets go of its port.
    let firmware::Emulator { board, microbit } = emulator;
    drop(board);
    let listen = listen(&microbit.port, &dir.path().join("l"), &[]);
    assert_bad_input(&listen, &format!("has no model it can run: {line}"));
}

/// `listen` against plain QEMU booted with `tinyvae hex`'s file: two
/// requests in one boot, seeds from the board's RNG, every image replayed
/// on the host; `--seed` replays `tinyvae sample`'s images.
#[test]
fn listen_to_the_emulated_microbit() {
    let dir = tempfile::tempdir().unwrap();
    let (blob, hex) = blob_and_hex(dir.path());
    let board = boot(Some(&hex));
    let blob_arg = blob.to_str().unwrap();

    let mut seeds = Vec::new();
    for run_dir in ["first", "second"] {
        let out = dir.path().join(run_dir);
        let run = listen(
            &board.port,
            &out,
            &["--blob", blob_arg, "--count", "3", "--check"],
        );
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(run.status.success(), "{stderr}");
        assert!(stderr.contains("identical to the host's"), "{stderr}");
        let lines = json_lines(out.join("images.jsonl"));
        assert_eq!(lines.len(), 3);
        for (i, line) in lines.iter().enumerate() {
            assert_eq!(line["index"], i);
            assert_eq!(line["seed_source"], "hardware");
            assert_eq!(line["verified"], true);
            assert_eq!(line["seed"], lines[0]["seed"]);
        }
        assert_eq!(std::fs::read(out.join("images.raw")).unwrap().len(), 3 * 4);
        assert!(out.join("images.png").exists());
        seeds.push(lines[0]["seed"].as_u64().unwrap());
    }
    assert_ne!(seeds[0], seeds[1], "two requests, one seed");

    // Class 1 by the name the board's status gives it (no blob here).
    let chip = dir.path().join("seven");
    let run = listen(
        &board.port,
        &chip,
        &["--seed", "7", "--count", "4", "--class", "ankle boot"],
    );
    assert_success(&run);
    let host = dir.path().join("host");
    let sample = tinyvae(&[
        "sample",
        "--blob",
        blob_arg,
        "--seed",
        "7",
        "--count",
        "4",
        "--class",
        "1",
        "--out",
        host.to_str().unwrap(),
    ]);
    assert!(sample.status.success());
    assert_eq!(
        std::fs::read(chip.join("images.raw")).unwrap(),
        std::fs::read(host.join("samples.raw")).unwrap()
    );
    let lines = json_lines(chip.join("images.jsonl"));
    assert_eq!(lines[2]["drawn"]["class"], 1);
    assert_eq!(lines[2]["verified"], serde_json::Value::Null);

    // Refused before anything is written: a class the blob lacks, with and
    // without the blob on the host, and another blob than the board's.
    let out = dir.path().join("refused");
    let run = listen(&board.port, &out, &["--blob", blob_arg, "--class", "5"]);
    assert_bad_input(&run, "class 5 requested, the model has 2 classes");
    let run = listen(&board.port, &out, &["--class", "5"]);
    assert_bad_input(
        &run,
        "the board refused the request: the model has no such class",
    );
    let run = listen(&board.port, &out, &["--class", "Sneaker"]);
    assert_bad_input(
        &run,
        "--class \"Sneaker\": the board's model has classes Circle, Ankle boot (or their index, 0 to 1)",
    );
    let mut other = small_model();
    other.epochs = 3;
    let other_path = dir.path().join("other.tvae");
    std::fs::write(&other_path, other.to_blob().unwrap()).unwrap();
    let run = listen(
        &board.port,
        &out,
        &["--blob", other_path.to_str().unwrap(), "--check"],
    );
    assert_bad_input(&run, "the board holds another blob");
    assert!(!out.exists());
}

#[test]
fn listen_to_a_board_without_a_blob_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let board = boot(None);
    let out = dir.path().join("out");
    let run = listen(&board.port, &out, &[]);
    assert_bad_input(&run, "has no model it can run: bad magic");
    assert!(!out.exists());
}

#[test]
fn listen_on_a_port_that_does_not_exist_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = listen("/dev/tinyvae-no-such-port", &out, &[]);
    assert_bad_input(&run, "cannot open serial port /dev/tinyvae-no-such-port");
    assert!(!out.exists());
}

/// Lines in `path` (0 when it does not exist yet).
fn lines_in(path: &Path) -> usize {
    std::fs::read(path).map_or(0, |bytes| bytes.iter().filter(|&&b| b == b'\n').count())
}

/// Starts `tinyvae listen` with `args` and interrupts it as Ctrl-C does
/// (SIGINT) once its journal lists `after` images: what it leaves in
/// `out` is an unfinished run, never a complete-looking `images.raw`.
fn interrupted_listen(port: &str, out: &Path, args: &[&str], after: usize) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tinyvae"))
        .args(["listen", "--port", port, "--out", out.to_str().unwrap()])
        .args(args)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let journal = out.join("images.journal");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while lines_in(&journal) < after + 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the run never got going"
        );
        assert!(child.try_wait().unwrap().is_none(), "listen ended early");
        std::thread::sleep(Duration::from_millis(5));
    }
    let pid = child.id().to_string();
    assert_success(
        &std::process::Command::new("kill")
            .args(["-INT", &pid])
            .output()
            .unwrap(),
    );
    let status = child.wait().unwrap();
    assert!(!status.success(), "listen finished before the interrupt");
    assert!(journal.exists() && out.join("images.part").exists());
    assert!(
        !out.join("images.raw").exists(),
        "a complete-looking raw file"
    );
    assert!(lines_in(&journal) < 6_001, "nothing left to resume");
}

/// Ctrl-C in the middle of `listen`, then the same command again: it
/// resumes (asking only for what it lacks) and ends byte-identical to an
/// uninterrupted run of the same seed; a hardware-seeded run interrupted
/// is finished by `--resume` with the seed from its journal.
#[test]
fn an_interrupted_listen_finishes_when_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let blob = write_blob(dir.path());
    let board = boot(Some(&blob_and_hex(dir.path()).1));
    let blob_arg = blob.to_str().unwrap();
    let args = [
        "--blob", blob_arg, "--count", "6000", "--seed", "5", "--check",
    ];

    let whole = dir.path().join("whole");
    assert_success(&listen(&board.port, &whole, &args));
    let resumed = dir.path().join("resumed");
    interrupted_listen(&board.port, &resumed, &args, 500);
    let run = listen(&board.port, &resumed, &args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains("resuming the interrupted run"), "{stderr}");
    assert!(stderr.contains("check: 6000 images"), "{stderr}");
    for file in ["images.raw", "images.png"] {
        assert_eq!(
            std::fs::read(whole.join(file)).unwrap(),
            std::fs::read(resumed.join(file)).unwrap(),
            "{file}"
        );
    }
    let lines = json_lines(resumed.join("images.jsonl"));
    assert_eq!(lines.len(), 6000);
    assert!(lines.iter().all(|line| line["verified"] == true));
    assert!(!resumed.join("images.journal").exists());
    assert!(!resumed.join("images.part").exists());

    // The board's own seed: `--resume` takes it (and the request) from the
    // journal.
    let hardware = dir.path().join("hardware");
    interrupted_listen(&board.port, &hardware, &["--count", "6000"], 500);
    let run = listen(
        &board.port,
        &hardware,
        &["--resume", "--blob", blob_arg, "--check"],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains("(from the hardware RNG)"), "{stderr}");
    let lines = json_lines(hardware.join("images.jsonl"));
    assert_eq!(lines.len(), 6000);
    assert!(lines.iter().all(|line| line["verified"] == true));
    assert!(lines.iter().all(|line| line["seed_source"] == "hardware"));

    // Another request into a directory with an unfinished run, and
    // `--resume` with none: one line each, exit 2.
    let other = dir.path().join("other");
    interrupted_listen(&board.port, &other, &args, 500);
    let run = listen(&board.port, &other, &["--blob", blob_arg, "--count", "7"]);
    assert_bad_input(&run, "holds an interrupted run of another request");
    let run = listen(&board.port, &whole, &["--resume"]);
    assert_bad_input(&run, "holds no interrupted run");
}
