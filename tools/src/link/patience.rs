//! When the host stops asking: a rule that follows the line's progress,
//! not a fixed count of fruitless rounds.
//!
//! On a clean line every round brings images, and a board that stops
//! answering is given up on after [`MIN_STREAK`] fruitless rounds. On a
//! noisy line, where only a share `p` of the rounds so far brought
//! anything, a fruitless run of `k` rounds has probability `(1 - p)^k`
//! by bad luck alone; the host keeps asking until the run is longer than
//! a one-in-a-million chance ([`GIVE_UP_CHANCE`]) on that record, so a
//! line that still makes progress, however slowly, is never given up on,
//! and a line that has stopped is, after a wait proportional to how
//! rarely it used to deliver.

/// The fewest fruitless rounds in a row the host gives up after.
pub const MIN_STREAK: u32 = 5;

/// How unlikely the current fruitless run must be, on the line's record,
/// before the host gives up.
pub const GIVE_UP_CHANCE: f64 = 1e-6;

/// The rounds of one request so far.
#[derive(Debug, Default, Clone, Copy)]
pub struct Record {
    /// Rounds before the current fruitless run.
    before: u32,
    /// Of those, rounds that brought at least one new image.
    fruitful: u32,
    /// The current run of rounds that brought nothing.
    streak: u32,
}

impl Record {
    /// Records one round, `fruitful` when it brought a new image.
    pub fn round(&mut self, fruitful: bool) {
        if fruitful {
            self.before += self.streak + 1;
            self.fruitful += 1;
            self.streak = 0;
        } else {
            self.streak += 1;
        }
    }

    /// All rounds so far.
    pub fn rounds(&self) -> u32 {
        self.before + self.streak
    }

    /// The longest fruitless run the record allows: [`MIN_STREAK`] on a
    /// line that always or never delivered, else the run whose chance on
    /// the record is below [`GIVE_UP_CHANCE`].
    pub fn patience(&self) -> u32 {
        if self.fruitful == 0 || self.fruitful == self.before {
            return MIN_STREAK;
        }
        let p = f64::from(self.fruitful) / f64::from(self.before);
        let runs = (GIVE_UP_CHANCE.ln() / (1.0 - p).ln()).ceil();
        (runs as u32).max(MIN_STREAK)
    }

    /// `Some(patience)` once the current fruitless run exceeds it.
    pub fn exhausted(&self) -> Option<u32> {
        let patience = self.patience();
        (self.streak > patience).then_some(patience)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(rounds: &[bool]) -> Record {
        let mut record = Record::default();
        rounds.iter().for_each(|&r| record.round(r));
        record
    }

    #[test]
    fn a_clean_line_that_stops_is_given_up_after_the_minimum() {
        let mut record = record(&[true; 20]);
        for _ in 0..MIN_STREAK {
            record.round(false);
            assert_eq!(record.exhausted(), None);
        }
        record.round(false);
        assert_eq!(record.exhausted(), Some(MIN_STREAK));
        assert_eq!(record.rounds(), 20 + MIN_STREAK + 1);
    }

    #[test]
    fn a_line_that_never_delivered_gets_the_minimum() {
        let record = record(&[false; 6]);
        assert_eq!(record.exhausted(), Some(MIN_STREAK));
    }

    #[test]
    fn a_slow_line_gets_patience_in_proportion_to_its_record() {
        // One round in ten brought images: a run of k fruitless rounds has
        // chance 0.9^k; 0.9^132 < 1e-6 < 0.9^131.
        let mut rounds = vec![false; 9];
        rounds.push(true);
        let record = record(&rounds.repeat(10));
        assert_eq!(record.patience(), 132);
        // One in two: 0.5^20 < 1e-6 < 0.5^19.
        let record = self::record(&[false, true].repeat(10));
        assert_eq!(record.patience(), 20);
    }

    #[test]
    fn the_current_run_does_not_lower_the_record() {
        // The allowance is fixed by the rounds before the run, so a long
        // run cannot keep raising it.
        let mut record = record(&[false, true].repeat(10));
        let patience = record.patience();
        for _ in 0..patience {
            record.round(false);
        }
        assert_eq!(record.patience(), patience);
        assert_eq!(record.exhausted(), None);
        record.round(false);
        assert_eq!(record.exhausted(), Some(patience));
    }
}
