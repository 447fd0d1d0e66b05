//! The unit tests' random numbers: splitmix64, a tiny deterministic
//! generator that turns one proptest seed into a layer's worth of bytes.

/// splitmix64 (Steele, Lea and Flood), from its state.
pub(crate) struct SplitMix(pub u64);

impl SplitMix {
    /// The next 64 random bits.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform int8.
    pub(crate) fn i8(&mut self) -> i8 {
        self.next() as i8
    }

    /// Uniform in `[0, 1)`, 24 bits.
    pub(crate) fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in `range` (modulo bias is irrelevant here).
    pub(crate) fn within(&mut self, range: core::ops::RangeInclusive<i64>) -> i64 {
        let span = (range.end() - range.start() + 1) as u64;
        range.start() + (self.next() % span) as i64
    }
}
