//! End to end on the BBC micro:bit v1 board firmware, the very ELF a user
//! flashes (no semihosting), in plain `qemu-system-arm -machine microbit`:
//! the blob flashed from Intel HEX at the board's blob address, the
//! protocol over the emulated UART on a pty, spoken by `tinyvae listen`'s
//! code. Several requests in one boot, seeds from the board's RNG, every
//! image byte for byte against the host; a board without a valid blob, a
//! malformed request and an unknown class each answered with an error
//! frame while the board stays up; a reset (QEMU's `system_reset`) that
//! keeps the flashed blob; the same images through the test relay
//! (`tinyvae_tests::relay`) with clean faults.
//!
//! Needs `qemu-system-arm` and the thumbv6m target; builds firmware/ for
//! the micro:bit once.

use std::time::{Duration, Instant};

use tinyvae_shared::protocol::{Command, Problem, Request, SeedSource};
use tinyvae_shared::{Draw, Model};
use tinyvae_tests::fixtures;
use tinyvae_tests::microbit::{assert_replayed, elf};
use tinyvae_tests::relay::{Faults, Relay};
use tinyvae_tools::firmware::{self, Emulator, Flash, Machine, Microbit};
use tinyvae_tools::link::{Board, Collected, Decoder, Event};
use tinyvae_trainer::data::FASHION_MNIST_CLASSES;
use tinyvae_trainer::model::Arch;

const TIMEOUT: Duration = Duration::from_secs(60);

fn boot(blob: Option<&[u8]>) -> Emulator {
    firmware::emulate_microbit(elf(), blob, TIMEOUT)
        .unwrap_or_else(|err| panic!("booting the micro:bit in QEMU: {err:#}"))
}

/// Asserts that `collected` is the host's replay of its seed, image by
/// image and latent by latent, over a clean line.
fn assert_equals_host(model: &Model<'_>, request: Request, collected: &Collected) {
    assert_replayed(model, request, collected);
    assert_eq!((collected.damaged, collected.resent), (0, 0));
}

#[test]
fn requests_in_one_boot_equal_the_host_and_hardware_seeds_differ() {
    let blob = fixtures::conv_blob();
    let model = Model::from_bytes(&blob).unwrap();
    let mut emulator = boot(Some(&blob));
    let board = &mut emulator.board;
    let info = board.model().expect("the board has the blob");
    assert_eq!(info.blob_crc32, model.header().crc32);
    assert_eq!(info.shape, [28, 28, 1]);
    // The blob's class names travel in the board's status.
    assert_eq!(info.class_names, FASHION_MNIST_CLASSES.join("\n"));
    assert_eq!(info.names().unwrap(), model.class_names());

    let replayed = [
        Request::new(Draw::Prior, 3, Some(7)),
        Request::new(Draw::Fitted, 2, Some(5)),
        Request::new(Draw::Class(3), 2, Some(42)),
        Request::new(Draw::Interpolate, 5, Some(0xDEAD_BEEF_0123_4567)),
    ];
    for request in replayed {
        let collected = board.generate(request, |_| {}).expect("generate");
        assert_eq!(collected.source, SeedSource::Host);
        assert_eq!(Some(collected.seed), request.seed);
        assert_equals_host(&model, request, &collected);
    }
    // Seeds from the nRF51's RNG: two requests, two different seeds, each
    // image the host's replay of its seed.
    let request = Request::new(Draw::Prior, 2, None);
    let first = board.generate(request, |_| {}).expect("generate");
    let second = board.generate(request, |_| {}).expect("generate");
    for collected in [&first, &second] {
        assert_eq!(collected.source, SeedSource::Hardware);
        assert_equals_host(&model, request, collected);
    }
    assert_ne!(first.seed, second.seed, "the RNG gave the same seed twice");
    let log = firmware::log_text(&board.log);
    assert!(log.contains("hardware RNG"), "{log}");
    assert!(log.contains("memory: flash"), "no memory report:\n{log}");
}

#[test]
fn an_exported_conv_model_on_the_board_equals_host() {
    let blob = fixtures::exported(Arch::Conv);
    let model = Model::from_bytes(&blob).unwrap();
    let mut emulator = boot(Some(&blob));
    for request in [
        Request::new(Draw::Prior, 2, Some(1)),
        Request::new(Draw::Class(9), 1, Some(2)),
    ] {
        let collected = emulator.board.generate(request, |_| {}).unwrap();
        assert_equals_host(&model, request, &collected);
    }
}

/// Whether `event` is a log line that starts with `words`.
fn logged(event: &Event, words: &str) -> bool {
    matches!(event, Event::Log(line) if line.message.starts_with(words))
}

/// QEMU's `system_reset` (the board's reset button) restarts the firmware
/// with its flash intact: the blob the loader put there survives, the
/// board announces itself with it and generates as before.
#[test]
fn a_reset_board_announces_itself_and_still_generates() {
    let blob = fixtures::conv_blob();
    let model = Model::from_bytes(&blob).unwrap();
    let mut emulator = boot(Some(&blob));
    emulator.microbit.reset().expect("reset");
    // Unasked (no greeting sent), the board boots again: it logs its
    // start and the model it found in flash, then sends its status.
    let deadline = Instant::now() + TIMEOUT;
    let mut events = Vec::new();
    let status = loop {
        assert!(Instant::now() < deadline, "no boot after reset: {events:?}");
        events.extend(
            emulator
                .board
                .exchange_raw(&[])
                .expect("the board after reset"),
        );
        let boot = events
            .iter()
            .position(|event| logged(event, "tinyvae firmware"));
        let status = boot.and_then(|at| {
            events[at..].iter().find_map(|event| match event {
                Event::Status(status) => Some(status.clone()),
                _ => None,
            })
        });
        if let Some(status) = status {
            break status;
        }
    };
    let info = status.model.expect("the blob survives the reset");
    assert_eq!(info.blob_crc32, model.header().crc32);
    assert!(
        events.iter().any(|event| logged(event, "model: latent 20")),
        "{events:?}"
    );

    let request = Request::new(Draw::Prior, 2, Some(7));
    let collected = emulator.board.generate(request, |_| {}).unwrap();
    assert_equals_host(&model, request, &collected);
}

/// The relay (`tinyvae_tests::relay`) with clean faults between the host
/// and the board firmware: the host connects through it and gets the
/// host's images, byte for byte.
#[test]
fn a_clean_relay_passes_the_board_through() {
    let blob = fixtures::conv_blob();
    let model = Model::from_bytes(&blob).unwrap();
    let microbit = Microbit::boot(elf(), Flash::Blob(&blob), TIMEOUT).unwrap();
    let relay = Relay::start(&microbit.port, Faults::clean(), Faults::clean()).unwrap();
    let mut board = Board::open(&relay.port, 115_200, Decoder::new(None), TIMEOUT).unwrap();
    assert_eq!(board.model().unwrap().blob_crc32, model.header().crc32);
    for request in [
        Request::new(Draw::Prior, 3, Some(11)),
        Request::new(Draw::Class(4), 2, Some(12)),
    ] {
        let collected = board.generate(request, |_| {}).unwrap();
        assert_equals_host(&model, request, &collected);
    }
    let counts = relay.counts();
    assert!(counts.to_board.received > 0 && counts.to_host.received > 0);
    assert_eq!(counts.to_host.delivered, counts.to_host.received);
}

/// Generating must fail with the board's own words, `expected`.
fn assert_refused(emulator: &mut Emulator, request: Request, expected: &str) {
    let error = emulator
        .board
        .generate(request, |_| {})
        .expect_err("the board should refuse");
    let text = format!("{error:#}");
    assert!(
        text.contains(expected),
        "{text:?} does not say {expected:?}"
    );
}

#[test]
fn a_board_without_a_valid_blob_says_so_to_every_request() {
    let request = Request::new(Draw::Prior, 1, Some(1));
    let mut empty = boot(None);
    let why = empty.board.status.model.clone().expect_err("no blob");
    assert!(why.contains("bad magic"), "{why}");
    for _ in 0..2 {
        assert_refused(&mut empty, request, "bad magic, nothing or no tinyvae blob");
    }
    let mut blob = fixtures::conv_blob();
    let middle = blob.len() / 2;
    blob[middle] ^= 0x40;
    let mut corrupt = boot(Some(&blob));
    assert_refused(
        &mut corrupt,
        request,
        "checksum mismatch, the blob is corrupt",
    );
    let log = firmware::log_text(&corrupt.board.log);
    assert!(log.contains("no valid model blob at 0x00020400"), "{log}");
    // Still serving: it answers a greeting.
    let events = corrupt
        .board
        .exchange_raw(&Command::Hello.to_frame())
        .unwrap();
    assert!(
        events.iter().any(|e| matches!(e, Event::Status(_))),
        "{events:?}"
    );
}

#[test]
fn malformed_and_unservable_requests_get_error_frames_and_the_board_stays_up() {
    let blob = fixtures::conv_blob();
    let model = Model::from_bytes(&blob).unwrap();
    let mut emulator = boot(Some(&blob));
    let refusals = |events: Vec<Event>| -> Vec<(Problem, String)> {
        events
            .into_iter()
            .filter_map(|e| match e {
                Event::Refused(problem, detail) => Some((problem, detail)),
                _ => None,
            })
            .collect()
    };
    // A frame whose checksum is wrong (one byte of a good frame changed).
    let mut damaged = Command::Generate(Request::new(Draw::Prior, 1, Some(1))).to_frame();
    damaged[3] ^= 0x10;
    let answer = refusals(emulator.board.exchange_raw(&damaged).unwrap());
    assert_eq!(
        answer,
        [(Problem::BadFrame, "command frame checksum mismatch".into())]
    );
    // Noise with no frame structure, longer than any command.
    let mut noise: Vec<u8> = (1..=200_u8).collect();
    noise.push(0);
    let answer = refusals(emulator.board.exchange_raw(&noise).unwrap());
    assert_eq!(
        answer,
        [(Problem::BadFrame, "command frame too long".into())]
    );
    // Well-formed, but not servable.
    assert_refused(
        &mut emulator,
        Request::new(Draw::Class(fixtures::CLASSES), 1, Some(1)),
        "the model has no such class",
    );
    assert_refused(
        &mut emulator,
        Request::new(Draw::Prior, 0, Some(1)),
        "count must be 1 to 100000",
    );
    // And the board still generates.
    let request = Request::new(Draw::Prior, 1, Some(3));
    let collected = emulator.board.generate(request, |_| {}).unwrap();
    assert_equals_host(&model, request, &collected);
}

/// Semihosting calls (`BKPT 0xAB`) halfwords in an ELF's flashed bytes.
fn semihosting_calls(elf: &std::path::Path) -> usize {
    let bytes = std::fs::read(elf).unwrap();
    tinyvae_tools::firmware::elf_load_chunks(&bytes)
        .unwrap()
        .iter()
        .map(|chunk| {
            chunk
                .bytes
                .chunks_exact(2)
                .filter(|half| half == &[0xab, 0xbe])
                .count()
        })
        .sum()
}

/// A semihosting call with no debugger attached faults a real board: the
/// board firmware makes none; the lab build (which QEMU serves) does.
#[test]
fn the_board_firmware_makes_no_semihosting_calls() {
    assert_eq!(semihosting_calls(elf()), 0);
    let lab = firmware::build(Machine::Mps2An386).unwrap();
    assert!(semihosting_calls(&lab) > 0, "the check finds nothing");
}
