//! One direction of a relay apart from its ports: the bytes taken from the
//! sender, each given its fate, queued with the instant they may go (later
//! than now while the line stalls), and the [`Counts`] of it all.

use std::collections::VecDeque;
use std::time::Instant;

use super::faults::{Damage, Fate, Faults, Stall};

/// What one direction of a relay has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Bytes taken from the sender.
    pub received: u64,
    /// Bytes delivered to the receiver: `received - dropped + duplicated`
    /// once the line has caught up.
    pub delivered: u64,
    /// Bytes delivered changed (XORed with a nonzero byte).
    pub flipped: u64,
    /// Bytes not delivered.
    pub dropped: u64,
    /// Bytes delivered twice.
    pub duplicated: u64,
    /// Silences the line has started.
    pub stalls: u64,
}

/// One direction's damage, stalls and queue.
pub(crate) struct Line {
    damage: Damage,
    stall: Option<Stall>,
    /// Runs of bytes to deliver, each with the instant it may go, in order.
    queue: VecDeque<(Instant, Vec<u8>)>,
    /// The end of the last silence: nothing taken since it began goes
    /// before it.
    gate: Instant,
    /// What the line has done.
    pub(crate) counts: Counts,
}

impl Line {
    /// A line with `faults`, not stalled.
    pub(crate) fn new(faults: Faults) -> Self {
        Self {
            damage: Damage::new(faults),
            stall: faults.stall,
            queue: VecDeque::new(),
            gate: Instant::now(),
            counts: Counts::default(),
        }
    }

    /// Takes `bytes` from the sender at `now`: damages them and queues what
    /// is left of them; the byte that completes a stall's `every_bytes`
    /// silences the line after it for the stall's duration.
    pub(crate) fn take(&mut self, bytes: &[u8], now: Instant) {
        for &byte in bytes {
            self.counts.received += 1;
            match self.damage.fate() {
                Fate::Pass => self.queue_byte(byte),
                Fate::Flip(mask) => {
                    self.counts.flipped += 1;
                    self.queue_byte(byte ^ mask);
                }
                Fate::Drop => self.counts.dropped += 1,
                Fate::Duplicate => {
                    self.counts.duplicated += 1;
                    self.queue_byte(byte);
                    self.queue_byte(byte);
                }
            }
            if let Some(stall) = self.stall
                && self.counts.received.is_multiple_of(stall.every_bytes)
            {
                // Silent from when this byte goes (now, or the end of the
                // silence it waits for).
                self.gate = self.gate.max(now) + stall.duration;
                self.counts.stalls += 1;
            }
        }
    }

    /// The bytes that may go at `now`, if any: the front run of the queue.
    pub(crate) fn ready(&self, now: Instant) -> Option<&[u8]> {
        self.queue
            .front()
            .filter(|(at, _)| *at <= now)
            .map(|(_, run)| run.as_slice())
    }

    /// Removes the first `n` bytes of [`ready`](Line::ready)'s run: they
    /// were delivered.
    pub(crate) fn delivered(&mut self, n: usize) {
        if let Some((_, run)) = self.queue.front_mut() {
            run.drain(..n);
            if run.is_empty() {
                self.queue.pop_front();
            }
        }
        self.counts.delivered += n as u64;
    }

    /// Queues `byte` to go at the gate.
    fn queue_byte(&mut self, byte: u8) {
        match self.queue.back_mut() {
            Some((at, run)) if *at == self.gate => run.push(byte),
            _ => self.queue.push_back((self.gate, vec![byte])),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A stall holds the bytes after its `every_bytes`th until its end, and
    /// a stall that starts during another begins when that one ends.
    #[test]
    fn a_stall_holds_the_bytes_after_it_until_it_ends() {
        let duration = Duration::from_millis(100);
        let mut line = Line::new(Faults {
            stall: Some(Stall {
                every_bytes: 3,
                duration,
            }),
            ..Faults::clean()
        });
        let now = Instant::now();
        line.take(&[1, 2, 3, 4, 5, 6, 7], now);
        assert_eq!(line.counts.stalls, 2);
        assert_eq!(line.ready(now), Some(&[1, 2, 3][..]));
        line.delivered(3);
        assert_eq!(line.ready(now + duration / 2), None);
        assert_eq!(line.ready(now + duration), Some(&[4, 5, 6][..]));
        line.delivered(2);
        assert_eq!(line.ready(now + duration), Some(&[6][..]));
        line.delivered(1);
        assert_eq!(
            line.ready(now + duration * 2 - Duration::from_millis(1)),
            None
        );
        assert_eq!(line.ready(now + duration * 2), Some(&[7][..]));
        line.delivered(1);
        assert_eq!(line.ready(now + duration * 3), None);
        assert_eq!(line.counts.delivered, 7);
    }

    /// Every fault does what it says, byte by byte, and only the faults
    /// asked for happen.
    #[test]
    fn each_fault_changes_its_bytes_as_it_says() {
        let bytes: Vec<u8> = (0..10_000_u32).map(|i| (i * 7) as u8).collect();
        let pass = |faults: Faults| {
            let mut line = Line::new(faults);
            let now = Instant::now();
            line.take(&bytes, now);
            let out = line.ready(now).unwrap_or_default().to_vec();
            (out, line.counts)
        };
        let (out, counts) = pass(Faults {
            flip: 0.05,
            ..Faults::clean()
        });
        let changed = bytes.iter().zip(&out).filter(|(a, b)| a != b).count();
        assert_eq!(out.len(), bytes.len());
        assert_eq!((changed as u64, counts.dropped), (counts.flipped, 0));
        assert!(counts.flipped > 0);

        let (out, counts) = pass(Faults {
            drop: 0.05,
            ..Faults::clean()
        });
        assert_eq!(out.len() as u64, counts.received - counts.dropped);
        assert!(counts.dropped > 0 && counts.flipped == 0);
        let mut rest = out.iter().peekable();
        for byte in &bytes {
            rest.next_if_eq(&byte);
        }
        assert!(
            rest.peek().is_none(),
            "what arrives is what was sent, less some"
        );

        let (out, counts) = pass(Faults {
            duplicate: 0.05,
            ..Faults::clean()
        });
        assert_eq!(out.len() as u64, counts.received + counts.duplicated);
        let mut once = out.clone();
        once.dedup();
        assert_eq!(once, bytes, "consecutive bytes differ: dedup undoes it");
        assert!(counts.duplicated > 0 && counts.dropped == 0);
    }
}
