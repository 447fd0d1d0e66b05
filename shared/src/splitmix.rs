//! SplitMix64 (Steele, Lea and Flood, 2014): the workspace's one
//! generator of non-cryptographic test and training randomness. Its whole
//! state is one `u64`, so a training checkpoint holds it exactly; the
//! trainer's `Rng`, the test fixtures' weights and the unit tests all draw
//! from it. (The chip's latent sampler is PCG32: see [`crate::sampler`].)

/// A SplitMix64 stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// The stream determined by `seed`.
    pub const fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` by reduction modulo `n` (the bias, below 2^-40
    /// for the `n` tests use, does not matter there). `n` must not be 0.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `[-1, 1)`, 24 bits.
    pub fn symmetric(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::SplitMix64;

    /// The first outputs for seed 0, as published with the algorithm
    /// (e.g. the reference `splitmix64.c` by Vigna).
    #[test]
    fn seed_zero_golden_words() {
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(rng.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(rng.next_u64(), 0x06c4_5d18_8009_454f);
    }

    #[test]
    fn symmetric_stays_in_range() {
        let mut rng = SplitMix64::new(9);
        assert!(
            (0..10_000)
                .map(|_| rng.symmetric())
                .all(|x| (-1.0..1.0).contains(&x))
        );
    }
}
