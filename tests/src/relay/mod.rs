//! A fault-injecting serial relay for tests: it sits between a board's
//! port (QEMU's pty) and a pty of its own that the host opens instead, and
//! forwards bytes both ways on two threads, damaging each direction as its
//! [`Faults`] say (flipped, dropped, duplicated bytes; stalls), so that the
//! host's and the firmware's handling of a bad line can be tested against
//! the real board firmware. A seed replays its damage.
//!
//! - `faults.rs`: [`Faults`] and [`Stall`], and each byte's fate under
//!   them;
//! - `line.rs`: one direction's damage, stalls, queue and [`Counts`].

mod faults;
mod line;

use std::io::{ErrorKind, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serialport::{SerialPort, TTYPort};

pub use faults::{Faults, Stall};
pub use line::Counts;

use line::Line;

/// How long a relay thread waits for bytes (or for room to write them)
/// before it looks at its stop flag and its queue again.
const POLL: Duration = Duration::from_millis(20);

/// A running relay between a board's port and [`Relay::port`]; its threads
/// stop when it is dropped.
pub struct Relay {
    /// The pty the host opens, as it would the board's port.
    pub port: String,
    /// Tells the threads to stop.
    stop: Arc<AtomicBool>,
    /// What each direction has done: to the board, to the host.
    counts: [Arc<Mutex<Counts>>; 2],
    /// The two forwarding threads.
    threads: Vec<JoinHandle<()>>,
}

/// What both directions of a relay have done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayCounts {
    /// From the host to the board.
    pub to_board: Counts,
    /// From the board to the host.
    pub to_host: Counts,
}

impl Relay {
    /// Opens `board_port` (a serial port or pty), makes a pty pair whose
    /// other end becomes [`Relay::port`], and starts forwarding: what the
    /// host writes to the board with `to_board`'s faults, what the board
    /// answers with `to_host`'s.
    pub fn start(board_port: &str, to_board: Faults, to_host: Faults) -> Result<Self> {
        to_board.check().context("the faults towards the board")?;
        to_host.check().context("the faults towards the host")?;
        let board = serialport::new(board_port, 115_200)
            .timeout(POLL)
            .open_native()
            .with_context(|| format!("opening the board's port {board_port}"))?;
        // The relay keeps the master end; the host opens the other by name.
        // The master end neither echoes nor translates (Linux sets a pty
        // master raw); `pair` sets the other end raw, and so does the
        // host's serialport when it opens it.
        let (mut host, other_end) = TTYPort::pair().context("creating a pty pair")?;
        let port = other_end.name().context("the new pty has no name")?;
        host.set_timeout(POLL)?;
        let stop = Arc::new(AtomicBool::new(false));
        let counts = [(); 2].map(|()| Arc::new(Mutex::new(Counts::default())));
        let directions = [
            (
                host.try_clone_native()?,
                board.try_clone_native()?,
                to_board,
            ),
            (board, host, to_host),
        ];
        let threads = directions
            .into_iter()
            .zip(&counts)
            .map(|((from, to, faults), counts)| {
                let (stop, counts) = (Arc::clone(&stop), Arc::clone(counts));
                thread::spawn(move || forward(from, to, Line::new(faults), &counts, &stop))
            })
            .collect();
        Ok(Self {
            port,
            stop,
            counts,
            threads,
        })
    }

    /// What each direction has done so far.
    pub fn counts(&self) -> RelayCounts {
        let [to_board, to_host] = self.counts.each_ref().map(|counts| *counts.lock().unwrap());
        RelayCounts { to_board, to_host }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Forwards `from`'s bytes to `to` through `line` until `stop`, publishing
/// its counts as they change. A port whose other side is closed (a host
/// between two sessions) fails every read and write at once: the thread
/// waits a poll between tries and keeps the bytes it holds.
fn forward(
    mut from: TTYPort,
    mut to: TTYPort,
    mut line: Line,
    counts: &Mutex<Counts>,
    stop: &AtomicBool,
) {
    let mut buffer = [0; 4096];
    while !stop.load(Ordering::Relaxed) {
        match from.read(&mut buffer) {
            Ok(n) if n > 0 => line.take(&buffer[..n], Instant::now()),
            Err(err) if err.kind() == ErrorKind::TimedOut => {}
            _ => thread::sleep(POLL),
        }
        while let Some(bytes) = line.ready(Instant::now()) {
            match to.write(bytes) {
                Ok(n) if n > 0 => line.delivered(n),
                Ok(_) => break,
                Err(err) if err.kind() == ErrorKind::TimedOut => break,
                Err(_) => {
                    thread::sleep(POLL);
                    break;
                }
            }
        }
        *counts.lock().unwrap() = line.counts;
    }
}
