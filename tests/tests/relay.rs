//! The fault-injecting relay over real ptys, a second pty pair standing in
//! for the board: clean, it passes every byte value both ways unchanged
//! (the protocol is binary, 0x00-delimited: no echo, no translation);
//! noisy, it damages as many bytes as its rate says, within a binomial
//! bound, and a seed replays its damage; a stall delays the bytes after it
//! by its duration and loses none.

use std::io::{ErrorKind, Read, Write};
use std::thread;
use std::time::{Duration, Instant};

use serialport::{SerialPort, TTYPort};
use tinyvae_tests::relay::{Counts, Faults, Relay, Stall};

/// How long a test waits for bytes before it gives up.
const PATIENCE: Duration = Duration::from_secs(20);

/// A relay between a stand-in board (the master end of a pty pair) and a
/// host that has opened the relay's port, as `tinyvae listen` would.
struct Wire {
    board: TTYPort,
    host: TTYPort,
    relay: Relay,
}

fn wire(to_board: Faults, to_host: Faults) -> Wire {
    let (mut board, board_end) = TTYPort::pair().unwrap();
    board.set_timeout(Duration::from_millis(50)).unwrap();
    let relay = Relay::start(&board_end.name().unwrap(), to_board, to_host).unwrap();
    let host = serialport::new(&relay.port, 115_200)
        .timeout(Duration::from_millis(50))
        .open_native()
        .unwrap();
    Wire { board, host, relay }
}

/// `len` bytes of every value, no two neighbours equal.
fn stream(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(7).wrapping_add(salt))
        .collect()
}

/// Writes all of `bytes` to `port`.
fn send(port: &mut TTYPort, bytes: &[u8]) {
    let deadline = Instant::now() + PATIENCE;
    let mut rest = bytes;
    while !rest.is_empty() {
        assert!(
            Instant::now() < deadline,
            "{} bytes not written",
            rest.len()
        );
        match port.write(rest) {
            Ok(n) => rest = &rest[n..],
            Err(err) if err.kind() == ErrorKind::TimedOut => {}
            Err(err) => panic!("writing: {err}"),
        }
    }
}

/// Reads `port` until `done` says what arrived is all, each byte with when
/// it arrived.
fn receive(port: &mut TTYPort, mut done: impl FnMut(&[u8]) -> bool) -> (Vec<u8>, Vec<Instant>) {
    let deadline = Instant::now() + PATIENCE;
    let (mut bytes, mut times) = (Vec::new(), Vec::new());
    let mut buffer = [0; 4096];
    while !done(&bytes) {
        assert!(Instant::now() < deadline, "{} bytes arrived", bytes.len());
        match port.read(&mut buffer) {
            Ok(n) => {
                bytes.extend_from_slice(&buffer[..n]);
                times.resize(bytes.len(), Instant::now());
            }
            Err(err) if err.kind() == ErrorKind::TimedOut => {}
            Err(err) => panic!("reading: {err}"),
        }
    }
    (bytes, times)
}

/// Sends `bytes` from `from` while reading them at `to`, until the relay
/// direction `counts` says it has taken them all and delivered what `to`
/// has read.
fn pass(
    from: &mut TTYPort,
    to: &mut TTYPort,
    bytes: &[u8],
    counts: impl Fn() -> Counts,
) -> Vec<u8> {
    thread::scope(|scope| {
        scope.spawn(|| send(from, bytes));
        let all = |arrived: &[u8]| {
            let counts = counts();
            counts.received == bytes.len() as u64 && counts.delivered == arrived.len() as u64
        };
        receive(to, all).0
    })
}

/// Sends `to_board` and `to_host` through `wire` at the same time and
/// returns what arrived at the board and at the host.
fn pass_both(wire: &mut Wire, to_board: &[u8], to_host: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let Wire { board, host, relay } = wire;
    let (mut board_in, mut host_in) = (
        board.try_clone_native().unwrap(),
        host.try_clone_native().unwrap(),
    );
    let relay = &*relay;
    thread::scope(|scope| {
        let up = scope.spawn(|| pass(host, &mut board_in, to_board, || relay.counts().to_board));
        let down = pass(board, &mut host_in, to_host, || relay.counts().to_host);
        (up.join().unwrap(), down)
    })
}

#[test]
fn a_clean_relay_passes_every_byte_both_ways_unchanged() {
    let mut wire = wire(Faults::clean(), Faults::clean());
    let (up, down) = (stream(100_000, 1), stream(100_000, 2));
    let (at_board, at_host) = pass_both(&mut wire, &up, &down);
    assert!(at_board == up, "the board got other bytes");
    assert!(at_host == down, "the host got other bytes");
    let counts = wire.relay.counts();
    for (counts, len) in [(counts.to_board, up.len()), (counts.to_host, down.len())] {
        let len = len as u64;
        let clean = Counts {
            received: len,
            delivered: len,
            ..Counts::default()
        };
        assert_eq!(counts, clean);
    }
}

/// Asserts that `count` bytes of `n` each damaged with probability `p` is
/// within 5 standard deviations of the expected `n p`.
fn assert_binomial(what: &str, count: u64, n: u64, p: f64) {
    let (mean, sd) = (n as f64 * p, (n as f64 * p * (1.0 - p)).sqrt());
    assert!(
        (count as f64 - mean).abs() <= 5.0 * sd,
        "{what}: {count} bytes of {n}, expected {mean:.0} ± {:.0}",
        5.0 * sd
    );
}

#[test]
fn a_noisy_relay_damages_its_rate_of_bytes_and_a_seed_replays_it() {
    const LEN: usize = 200_000;
    const RATE: f64 = 1e-2;
    let (up, down) = (stream(LEN, 3), stream(LEN, 4));
    let run = |seeds: (u64, u64)| {
        let mut wire = wire(Faults::noisy(RATE, seeds.0), Faults::noisy(RATE, seeds.1));
        let arrived = pass_both(&mut wire, &up, &down);
        (arrived, wire.relay.counts())
    };
    let (arrived, counts) = run((1, 2));
    for (counts, sent, got) in [
        (counts.to_board, &up, &arrived.0),
        (counts.to_host, &down, &arrived.1),
    ] {
        assert_binomial("flipped", counts.flipped, LEN as u64, RATE / 2.0);
        assert_binomial("dropped", counts.dropped, LEN as u64, RATE / 2.0);
        assert_eq!((counts.duplicated, counts.stalls), (0, 0));
        assert_eq!(got.len() as u64, LEN as u64 - counts.dropped);
        assert!(got != sent);
    }
    assert_ne!(arrived.0, arrived.1, "two seeds, two kinds of damage");
    let (again, counts_again) = run((1, 2));
    assert!(again == arrived && counts_again == counts, "the same seeds");
    let (other, _) = run((5, 6));
    assert!(other.0 != arrived.0 && other.1 != arrived.1, "other seeds");
}

#[test]
fn a_stall_delays_the_bytes_after_it_by_its_duration_and_loses_none() {
    let stall = Stall {
        every_bytes: 1000,
        duration: Duration::from_millis(300),
    };
    let faults = Faults {
        stall: Some(stall),
        ..Faults::clean()
    };
    let Wire {
        mut board,
        mut host,
        relay,
    } = wire(faults, Faults::clean());
    let bytes = stream(2500, 5);
    let sent = Instant::now();
    send(&mut host, &bytes);
    let (arrived, times) = receive(&mut board, |arrived| arrived.len() >= bytes.len());
    assert!(arrived == bytes, "the stalled line lost or changed bytes");
    for after in [1000, 2000] {
        let waited = times[after] - sent;
        let stalls = (after / 1000) as u32;
        assert!(
            waited >= stall.duration * stalls,
            "byte {after} after {waited:?}"
        );
    }
    assert_eq!(relay.counts().to_board.stalls, 2);
}
