//! When the host stops asking: a rule that follows the line's progress,
//! not a fixed count of fruitless rounds.
//!
//! The record is how many of the images the host asked for (and lacked)
//! have arrived intact: on this line an image gets through with
//! probability about `q = (arrived + 1) / (asked + 2)`. A run of rounds
//! that brings nothing while `k` wanted images were asked for has chance
//! `(1 - q)^k` on that record; the host gives up once that is below one in
//! a million ([`GIVE_UP_CHANCE`]) and the run is at least [`MIN_STREAK`]
//! rounds long. So a clean line that goes dead is given up on after a few
//! rounds, a line that loses nine images in ten keeps being asked (through
//! about 130 lost images in a row), and a line that still makes progress,
//! however slowly, never is: each image that arrives resets the run.

/// The fewest fruitless rounds in a row the host gives up after.
pub const MIN_STREAK: u32 = 5;

/// How unlikely the current fruitless run must be, on the line's record,
/// before the host gives up.
pub const GIVE_UP_CHANCE: f64 = 1e-6;

/// The rounds of one request so far.
#[derive(Debug, Default, Clone, Copy)]
pub struct Record {
    /// Wanted images asked for before the current fruitless run.
    asked: u64,
    /// Of those, how many arrived.
    arrived: u64,
    /// Rounds in the current run of rounds that brought nothing.
    streak: u32,
    /// Wanted images asked for during that run.
    streak_asked: u64,
    /// All rounds.
    rounds: u32,
}

impl Record {
    /// Records one round that asked for `wanted` images the host lacked
    /// and brought `arrived` of them.
    pub fn round(&mut self, wanted: u32, arrived: u32) {
        self.rounds += 1;
        if arrived > 0 {
            self.asked += self.streak_asked + u64::from(wanted);
            self.arrived += u64::from(arrived);
            self.streak = 0;
            self.streak_asked = 0;
        } else {
            self.streak += 1;
            self.streak_asked += u64::from(wanted);
        }
    }

    /// All rounds so far.
    pub fn rounds(&self) -> u32 {
        self.rounds
    }

    /// The share of wanted images that get through, on the record before
    /// the current run (Laplace's estimate: never exactly 0 or 1).
    pub fn delivery(&self) -> f64 {
        (self.arrived + 1) as f64 / (self.asked + 2) as f64
    }

    /// The share of the wanted images asked for before the current run
    /// that arrived; `None` before anything was.
    pub fn history(&self) -> Option<f64> {
        (self.asked > 0).then(|| self.arrived as f64 / self.asked as f64)
    }

    /// The chance, on the record, of the current fruitless run.
    pub fn run_chance(&self) -> f64 {
        (1.0 - self.delivery()).powf(self.streak_asked as f64)
    }

    /// `Some(rounds)` (the fruitless run's length) once the host should
    /// give up.
    pub fn exhausted(&self) -> Option<u32> {
        (self.streak >= MIN_STREAK && self.run_chance() < GIVE_UP_CHANCE).then_some(self.streak)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clean_line_that_goes_dead_is_given_up_after_the_minimum() {
        let mut record = Record::default();
        for _ in 0..20 {
            record.round(4, 4);
        }
        for _ in 1..MIN_STREAK {
            record.round(4, 0);
            assert_eq!(record.exhausted(), None);
        }
        record.round(4, 0);
        assert_eq!(record.exhausted(), Some(MIN_STREAK));
        assert_eq!(record.rounds(), 20 + MIN_STREAK);
    }

    #[test]
    fn a_line_that_never_delivered_is_given_up_on_when_the_chance_is_gone() {
        // Nothing has ever arrived: no record, so q = 1/2, and a run asking
        // for 2 images a round is given up after 10 (0.5^20 < 1e-6).
        let mut record = Record::default();
        let mut rounds = 0;
        while record.exhausted().is_none() {
            record.round(2, 0);
            rounds += 1;
        }
        assert_eq!(rounds, 10);
        assert_eq!(record.history(), None);
        // 20 images a round: the minimum, 5 rounds.
        let mut record = Record::default();
        (0..MIN_STREAK).for_each(|_| record.round(20, 0));
        assert_eq!(record.exhausted(), Some(MIN_STREAK));
    }

    #[test]
    fn a_lossy_line_gets_patience_in_proportion_to_its_record() {
        // One wanted image in ten arrives: q = 11 / 102; a run asking for
        // k images has chance (1 - q)^k, below 1e-6 from k = 122 on.
        let mut record = Record::default();
        record.round(100, 10);
        assert!((record.delivery() - 11.0 / 102.0).abs() < 1e-12);
        assert_eq!(record.history(), Some(0.1));
        for _ in 0..121 {
            record.round(1, 0);
        }
        assert_eq!(record.exhausted(), None);
        record.round(1, 0);
        assert_eq!(record.exhausted(), Some(122));
    }

    #[test]
    fn an_image_that_arrives_resets_the_run() {
        let mut record = Record::default();
        record.round(100, 10);
        for _ in 0..100 {
            record.round(1, 0);
        }
        record.round(1, 1);
        assert_eq!(record.streak, 0);
        // The lost rounds count in the record: q = 12 / 203.
        assert!((record.delivery() - 12.0 / 203.0).abs() < 1e-12);
    }
}
