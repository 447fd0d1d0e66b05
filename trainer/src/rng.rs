//! The trainer's host randomness: [`SplitMix64`] (the workspace's one
//! generator, from `tinyvae-shared`) with the draws training needs.
//!
//! Initialisation, data order and the reparameterisation noise all come from
//! one [`Rng`] whose whole state is one `u64`, saved in every checkpoint, so a
//! resumed run continues the same stream as an uninterrupted one.

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use tinyvae_shared::splitmix::SplitMix64;

/// A SplitMix64 stream with uniform, normal and permutation draws.
///
/// Serialised exactly as the generator is, `{"state": <u64>}`, which is the
/// form checkpoints (`state.json`) have always held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Rng(SplitMix64);

impl Rng {
    /// The stream determined by `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(SplitMix64::new(seed))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in [0, 1) with 53 bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `n` draws from N(0, 1) (Box-Muller, both values of every pair; an odd
    /// `n` drops the last one).
    pub fn normals(&mut self, n: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(n + 1);
        while out.len() < n {
            let radius = (-2.0 * (1.0 - self.uniform()).ln()).sqrt();
            let angle = std::f64::consts::TAU * self.uniform();
            out.push((radius * angle.cos()) as f32);
            out.push((radius * angle.sin()) as f32);
        }
        out.truncate(n);
        out
    }

    /// `[rows, cols]` draws from N(0, 1) on `device`, row after row: the
    /// noise `e` of `z = mu + sigma * e`, and prior latents.
    pub fn noise(&mut self, rows: usize, cols: usize, device: &Device) -> Tensor<2> {
        Tensor::from_data(
            TensorData::new(self.normals(rows * cols), [rows, cols]),
            device,
        )
    }

    /// A uniformly random permutation of `0..n` (Fisher-Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.0.below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normals_have_unit_moments() {
        let mut rng = Rng::new(7);
        let draws = rng.normals(100_001);
        let n = draws.len() as f64;
        let mean = draws.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = draws
            .iter()
            .map(|&x| (f64::from(x) - mean).powi(2))
            .sum::<f64>()
            / n;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
    }

    #[test]
    fn permutation_is_a_permutation() {
        let mut order = Rng::new(3).permutation(1000);
        assert_ne!(order, (0..1000).collect::<Vec<_>>());
        order.sort_unstable();
        assert_eq!(order, (0..1000).collect::<Vec<_>>());
    }

    /// The streams of the trainer's own SplitMix64 before it wrapped the
    /// shared one (values printed by that code, seed 7): words, uniforms,
    /// normals and permutations are the same bit for bit, so runs and
    /// checkpoints made before reproduce.
    #[test]
    fn streams_are_those_of_the_earlier_generator() {
        let mut rng = Rng::new(7);
        assert_eq!(rng.next_u64(), 0x63cb_e1e4_5932_0dd7);
        assert_eq!(rng.next_u64(), 0x044c_3cd7_f43c_661c);
        assert_eq!(rng.uniform().to_bits(), 0x3fec_d308_1017_5625);
        assert_eq!(rng.uniform().to_bits(), 0x3fe2_a75d_6e0c_e7c5);
        let normals: Vec<u32> = rng.normals(5).iter().map(|x| x.to_bits()).collect();
        assert_eq!(
            normals,
            [
                0x3b80_7515,
                0x3f8c_7ba7,
                0xbf07_7e49,
                0x3f7d_acd5,
                0xbeea_fe11
            ]
        );
        assert_eq!(rng.permutation(10), [4, 1, 2, 8, 5, 0, 9, 6, 7, 3]);
        // The earlier `Rng { state }` serialised as `{"state":...}`.
        let json = serde_json::to_string(&rng).unwrap();
        assert_eq!(json, r#"{"state":13699396756335703446}"#);
    }

    /// A checkpoint's `"rng"` (the earlier form) loads and continues its
    /// stream; the JSON goes back unchanged.
    #[test]
    fn checkpoint_form_round_trips() {
        let old = r#"{"state":13699396756335703446}"#;
        let mut loaded: Rng = serde_json::from_str(old).unwrap();
        assert_eq!(serde_json::to_string(&loaded).unwrap(), old);
        // The draws of the test above took 2 + 2 + 6 + 9 words.
        let mut rng = Rng::new(7);
        (0..19).for_each(|_| {
            rng.next_u64();
        });
        assert_eq!(loaded, rng);
        assert_eq!(loaded.next_u64(), rng.next_u64());
    }
}
