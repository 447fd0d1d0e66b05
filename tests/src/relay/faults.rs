//! The faults of one direction of a relay ([`Faults`]) and each byte's
//! fate under them, drawn from the workspace's SplitMix64 seeded by the
//! faults' seed, so that a seed replays the same damage on the same bytes.

use std::time::Duration;

use anyhow::{Result, ensure};
use tinyvae_shared::splitmix::SplitMix64;

/// What one direction of a relay does to the bytes it forwards. Each byte
/// suffers at most one of flip, drop and duplicate, with the given
/// probabilities (their sum at most 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faults {
    /// Probability that a byte is flipped: XORed with a random nonzero byte.
    pub flip: f64,
    /// Probability that a byte is dropped.
    pub drop: f64,
    /// Probability that a byte is delivered twice.
    pub duplicate: f64,
    /// Silences of the line, if any.
    pub stall: Option<Stall>,
    /// Seeds the choice of damaged bytes: the same seed damages the same
    /// bytes of the same stream the same way.
    pub seed: u64,
}

/// A line that goes silent now and then, as a busy USB bridge does: after
/// every `every_bytes` bytes it delivers nothing for `duration`, holding
/// the bytes that arrive meanwhile, then delivers them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stall {
    /// How many bytes pass between the starts of two silences.
    pub every_bytes: u64,
    /// How long each silence lasts.
    pub duration: Duration,
}

impl Faults {
    /// No damage: every byte delivered once, unchanged, without delay.
    pub fn clean() -> Self {
        Self {
            flip: 0.0,
            drop: 0.0,
            duplicate: 0.0,
            stall: None,
            seed: 0,
        }
    }

    /// A noisy line: `rate` damaged bytes per byte, half of them flipped,
    /// half dropped, chosen by `seed`.
    pub fn noisy(rate: f64, seed: u64) -> Self {
        Self {
            flip: rate / 2.0,
            drop: rate / 2.0,
            seed,
            ..Self::clean()
        }
    }

    /// Refuses probabilities outside 0..=1 or summing over 1, and stalls
    /// every 0 bytes.
    pub(crate) fn check(&self) -> Result<()> {
        let odds = [self.flip, self.drop, self.duplicate];
        ensure!(
            odds.iter().all(|p| (0.0..=1.0).contains(p)) && odds.iter().sum::<f64>() <= 1.0,
            "fault probabilities must be in 0..=1 and sum to at most 1: {self:?}"
        );
        ensure!(
            self.stall.is_none_or(|stall| stall.every_bytes > 0),
            "a stall every 0 bytes: {self:?}"
        );
        Ok(())
    }
}

/// What becomes of one byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Delivered as it is.
    Pass,
    /// Delivered XORed with this nonzero mask.
    Flip(u8),
    /// Not delivered.
    Drop,
    /// Delivered twice.
    Duplicate,
}

/// Draws each byte's fate under `faults`, in order.
pub(crate) struct Damage {
    faults: Faults,
    rng: SplitMix64,
}

impl Damage {
    /// The fates of a stream's bytes under `faults`, from its seed.
    pub(crate) fn new(faults: Faults) -> Self {
        Self {
            faults,
            rng: SplitMix64::new(faults.seed),
        }
    }

    /// The next byte's fate.
    pub(crate) fn fate(&mut self) -> Fate {
        let Faults {
            flip,
            drop,
            duplicate,
            ..
        } = self.faults;
        // Uniform in [0, 1), from the top 53 bits.
        let draw = (self.rng.next_u64() >> 11) as f64 / (1_u64 << 53) as f64;
        if draw < drop {
            Fate::Drop
        } else if draw < drop + flip {
            Fate::Flip(1 + self.rng.below(255) as u8)
        } else if draw < drop + flip + duplicate {
            Fate::Duplicate
        } else {
            Fate::Pass
        }
    }
}
