//! The unit tests' random values, drawn from [`SplitMix64`]: one proptest
//! seed turns into a layer's worth of bytes.

use crate::splitmix::SplitMix64;

/// A [`SplitMix64`] stream with the draws the kernel tests need.
pub(crate) struct SplitMix(SplitMix64);

impl SplitMix {
    /// The stream determined by `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix(SplitMix64::new(seed))
    }

    /// A uniform int8.
    pub(crate) fn i8(&mut self) -> i8 {
        self.0.next_u64() as i8
    }

    /// Uniform in `[0, 1)`, 24 bits.
    pub(crate) fn unit(&mut self) -> f32 {
        (self.0.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in `range` (modulo bias is irrelevant here).
    pub(crate) fn within(&mut self, range: core::ops::RangeInclusive<i64>) -> i64 {
        let span = (range.end() - range.start() + 1) as u64;
        range.start() + self.0.below(span) as i64
    }
}
