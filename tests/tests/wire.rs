//! The serial link when things go wrong, on the micro:bit board firmware
//! in plain QEMU (the ELF a user flashes): bytes damaged both ways by a
//! relay (`tinyvae_tests::relay`), the board reset in the middle of a
//! request, and a long run in one boot. Whatever happens, every image the
//! host keeps is the host's replay of its seed, and none is missing.
//!
//! `goodput` (ignored: minutes) measures verified images per minute at
//! several damage rates against a clean line, the README's table:
//! `cargo test -p tinyvae-tests --test wire -- --ignored --nocapture goodput`.

use std::time::{Duration, Instant};

use tinyvae_shared::protocol::{Request, SeedSource};
use tinyvae_shared::{Draw, Model};
use tinyvae_tests::fixtures;
use tinyvae_tests::microbit::{assert_replayed, elf};
use tinyvae_tests::relay::{Faults, Relay, RelayCounts, Stall};
use tinyvae_tools::firmware::{self, Emulator, Flash, Microbit};
use tinyvae_tools::link::{Board, Collected, Decoder};

/// How long the board may boot.
const BOOT: Duration = Duration::from_secs(60);

/// How long the host waits through the board's silence before it asks
/// again: short, so that lost answers cost little here.
const SILENCE: Duration = Duration::from_secs(2);

/// The emulated micro:bit with the tests' conv blob, the host connected to
/// it through a relay with these faults.
struct Noisy {
    board: Board<Box<dyn serialport::SerialPort>>,
    relay: Relay,
    _microbit: Microbit,
}

fn noisy(blob: &[u8], to_board: Faults, to_host: Faults) -> Noisy {
    let microbit = Microbit::boot(elf(), Flash::Blob(blob), BOOT).expect("boot the micro:bit");
    let relay = Relay::start(&microbit.port, to_board, to_host).expect("start the relay");
    let mut board =
        Board::open(&relay.port, 115_200, Decoder::new(None), BOOT).expect("greet the board");
    board.timeout = SILENCE;
    Noisy {
        board,
        relay,
        _microbit: microbit,
    }
}

/// Damaged bytes (flipped, dropped, duplicated) of one direction.
fn damaged(counts: &tinyvae_tests::relay::Counts) -> u64 {
    counts.flipped + counts.dropped + counts.duplicated
}

fn print_counts(what: &str, collected: &Collected, counts: &RelayCounts) {
    eprintln!(
        "{what}: {} images; host: {} damaged frames dropped, {} images asked for again; \
         relay to the board: {} bytes, {} damaged; to the host: {} bytes, {} damaged, {} stalls",
        collected.images.len(),
        collected.damaged,
        collected.resent,
        counts.to_board.received,
        damaged(&counts.to_board),
        counts.to_host.received,
        damaged(&counts.to_host),
        counts.to_host.stalls,
    );
}

/// Replies damaged at 1 byte in 1,000 and stalled once past the host's
/// timeout; commands damaged at 3 in 100 (a command is about 15 bytes:
/// at 1e-3 hardly one would be hit). Every image arrives, each the host's
/// replay of the board's hardware seed.
#[test]
fn a_line_damaged_both_ways_loses_no_image() {
    let blob = fixtures::conv_blob();
    let model = Model::from_bytes(&blob).unwrap();
    let to_host = Faults {
        stall: Some(Stall {
            every_bytes: 20_000,
            duration: SILENCE + Duration::from_secs(1),
        }),
        ..Faults::noisy(1e-3, 11)
    };
    let mut link = noisy(&blob, Faults::noisy(3e-2, 12), to_host);
    let request = Request::new(Draw::Prior, 40, None);
    let collected = link.board.generate(request, |_| {}).expect("every image");
    let counts = link.relay.counts();
    print_counts("damaged both ways", &collected, &counts);
    assert_eq!(collected.source, SeedSource::Hardware);
    assert_replayed(&model, request, &collected);
    assert!(damaged(&counts.to_board) > 0, "{counts:?}");
    assert!(damaged(&counts.to_host) > 0, "{counts:?}");
    assert!(counts.to_host.stalls > 0, "{counts:?}");
    assert!(collected.damaged > 0 && collected.resent > 0);
}

/// The board reset (QEMU's `system_reset`) while it sends a request's
/// images: the host sees its fresh status, asks for the images it lacks
/// with the seed it learnt from `Begin`, and ends with all of them.
#[test]
fn a_board_reset_mid_request_ends_correct() {
    let blob = fixtures::conv_blob();
    let model = Model::from_bytes(&blob).unwrap();
    let mut emulator = firmware::emulate_microbit(elf(), Some(&blob), BOOT).unwrap();
    let Emulator { board, microbit } = &mut emulator;
    board.timeout = SILENCE;
    let request = Request::new(Draw::Fitted, 60, None);
    let mut reset = false;
    let collected = board
        .generate(request, |received| {
            if received == 4 && !reset {
                microbit.reset().expect("reset the board");
                reset = true;
            }
        })
        .expect("every image");
    assert_eq!(collected.source, SeedSource::Hardware);
    assert_replayed(&model, request, &collected);
    let log = firmware::log_text(&board.log);
    assert_eq!(log.matches("tinyvae firmware").count(), 2, "{log}");
    assert!(collected.resent > 0, "nothing was asked for again");
}

/// The board's `memory:` log line after its latest request.
fn memory_line(board: &Board<Box<dyn serialport::SerialPort>>) -> String {
    firmware::log_text(&board.log)
        .lines()
        .rev()
        .find(|line| line.contains("memory:"))
        .expect("a memory report")
        .to_owned()
}

/// Images of the long run in one boot (the README's soak figure).
const SOAK: u32 = 10_000;

/// One boot serves a short request and then a long one: every image the
/// host's, and the board's static RAM and stack high-water unchanged.
#[test]
fn one_boot_serves_a_long_run_with_the_same_memory() {
    let count = SOAK;
    let blob = fixtures::conv_blob();
    let model = Model::from_bytes(&blob).unwrap();
    let mut emulator = firmware::emulate_microbit(elf(), Some(&blob), BOOT).unwrap();
    let board = &mut emulator.board;
    let short = Request::new(Draw::Fitted, 16, Some(1));
    let collected = board.generate(short, |_| {}).unwrap();
    assert_replayed(&model, short, &collected);
    let before = memory_line(board);
    let long = Request::new(Draw::Fitted, count, Some(2));
    let start = Instant::now();
    let collected = board.generate(long, |_| {}).unwrap();
    let took = start.elapsed();
    assert_replayed(&model, long, &collected);
    let after = memory_line(board);
    eprintln!(
        "soak: {count} images in one boot in {took:.1?} ({:.0} images per second); \
         after 16: {before}; after {count} more: {after}",
        f64::from(count) / took.as_secs_f64()
    );
    assert_eq!(before, after, "the board's memory changed over the run");
    let log = firmware::log_text(&board.log);
    assert_eq!(log.matches("tinyvae firmware").count(), 1, "a reset: {log}");
}

/// Verified images per minute at each damage rate (flips and drops, both
/// ways) against a clean line, one fresh boot each.
#[test]
#[ignore = "minutes: the README's goodput table"]
fn goodput() {
    let blob = fixtures::conv_blob();
    let model = Model::from_bytes(&blob).unwrap();
    let count = 500;
    let mut clean = None;
    eprintln!(
        "| damaged bytes | images per minute | of a clean line's | damaged frames | asked again |"
    );
    eprintln!("|---|---|---|---|---|");
    for (rate, seed) in [(0.0, 1), (1e-4, 2), (1e-3, 3), (3e-3, 4)] {
        let mut link = noisy(
            &blob,
            Faults::noisy(rate, seed),
            Faults::noisy(rate, seed + 100),
        );
        let request = Request::new(Draw::Fitted, count, None);
        let start = Instant::now();
        let collected = link.board.generate(request, |_| {}).expect("every image");
        let minutes = start.elapsed().as_secs_f64() / 60.0;
        assert_replayed(&model, request, &collected);
        let per_minute = f64::from(count) / minutes;
        let clean_rate = *clean.get_or_insert(per_minute);
        eprintln!(
            "| {rate} | {per_minute:.0} | {:.2} | {} | {} |",
            per_minute / clean_rate,
            collected.damaged,
            collected.resent
        );
    }
}
