//! The latent sampler: `z = mu + sigma * e`, `e ~ N(0, 1)`, and
//! `z = mean + L e` from a component of the fitted density, in fixed point.
//!
//! Integer arithmetic only, so the host, a Cortex-M4F and a Cortex-M0 draw
//! the same bytes from the same random words:
//!
//! 1. **e**: one `u32` per dimension. Bit 31 is the sign; the low 31 bits
//!    `m` give the tail probability `w = m / 2^31` of `|e|`. The magnitude is
//!    the half-normal quantile `Q(w)` (`P(|Z| > Q(w)) = w`), read from a table
//!    made by `build.rs`: the leading zeros of `m` pick an octave
//!    `w in [2^-(k+1), 2^-k)`, the next 5 bits a segment, and the 16 bits
//!    after those interpolate linearly. Octaves make the table exact in the
//!    tails (down to `w = 2^-31`, `|e| = 6.23`) with 31 x 33 entries (4 KiB).
//! 2. **z**: `v = mu + sigma * e` in Q16.16 real units, then
//!    `q = zero_point + round(v / z_scale)` computed as
//!    `round(v * z_inv_scale_q16 / 2^32)`, saturated into int8. Rounding is
//!    half away from zero throughout.
//! 3. **z from a density component** `k` ([`crate::blob::Density`], in
//!    int8 steps): `e_j` for every dimension first, then per dimension `i`
//!    `v_i = mean_i * 2^24 + sum_{j <= i} L_ij * e_j` in i64 (Q16 times
//!    Q24: Q40; [`crate::blob::MAX_DENSITY_Q16`] keeps it from
//!    overflowing), `z_i = zero_point + round(v_i / 2^40)`, saturated.
//!
//! # The random words of one decoder input (the replay contract)
//!
//! [`crate::Model::sample_latent`] fills the whole decoder input (`z`,
//! then a class-conditional decoder's one-hot codes) from `rng.next_u32()`
//! words in this order:
//!
//! - [`Latent::Prior`]: a class-conditional model first takes one word
//!   `w` for the class, `(w * classes) >> 32` (in u64); then one word per
//!   latent dimension, in order (`e`, step 2 with `mu = 0`, `sigma = 1`).
//! - [`Latent::Fitted`]: one word picks the component over all components
//!   ([`crate::blob::Density::pick`]), then one word per dimension (step
//!   3). A conditional model's class is the component's.
//! - [`Latent::Class`]`(k)`: with a density, one word picks among class
//!   `k`'s components ([`crate::blob::Density::pick_in_class`]), then one
//!   word per dimension; without one (a conditional decoder), one word per
//!   dimension from N(0, I), class `k`.
//! - [`Latent::Posterior`]: one word per dimension, no class word.
//!
//! A request ([`Draw`]) draws its images' inputs one after another;
//! [`Draw::Interpolate`] draws its two ends with the model's default draw
//! ([`crate::Model::default_draw`]) and interpolates the whole input
//! vector between them, using no further words.

use rand_core::RngCore;

use crate::blob::{Density, Le};

include!(concat!(env!("OUT_DIR"), "/half_normal.rs"));

/// 1.0 in Q16.16: the prior's sigma.
pub const ONE_Q16: i32 = 1 << 16;

/// Where one decoder input is drawn from (its random words: the module
/// documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latent<'a> {
    /// The prior N(0, I): what makes a VAE a generator. A class-conditional
    /// decoder gets a uniformly drawn class.
    Prior,
    /// The fitted density: a component picked by its weight, then z from
    /// it. A class-conditional decoder gets the component's class.
    Fitted,
    /// Class `k`: the fitted density's components of class `k` (picked by
    /// their weights within the class), or, without a density, N(0, I)
    /// with class `k`'s one-hot codes.
    Class(u16),
    /// A given diagonal Gaussian, e.g. an encoder's posterior, as Q16.16
    /// real-valued means and standard deviations (see [`to_q16`]).
    Posterior {
        /// Means, one per latent dimension.
        mu_q16: &'a [i32],
        /// Standard deviations, one per latent dimension.
        sigma_q16: &'a [i32],
        /// The class whose one-hot codes complete the input: `Some` for a
        /// class-conditional decoder (e.g. the test image's label), `None`
        /// for an unconditional one.
        class: Option<u16>,
    },
}

/// What a generation request draws, image after image. The variants'
/// order is their postcard index in the protocol: append, never reorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Draw {
    /// Every input from the prior N(0, I) ([`Latent::Prior`]).
    Prior,
    /// Every input of one class ([`Latent::Class`]).
    Class(u16),
    /// Two inputs drawn with the model's default draw
    /// ([`crate::Model::default_draw`]), then `count` evenly spaced points
    /// on the line between them (both ends included, the one-hot codes
    /// too): a strip that morphs one generated image into another.
    Interpolate,
    /// Every input from the fitted density ([`Latent::Fitted`]).
    Fitted,
}

/// `prior`, `class 3`, `interpolation`, `fitted`: as the host tools print it.
impl core::fmt::Display for Draw {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Draw::Prior => f.write_str("prior"),
            Draw::Class(k) => write!(f, "class {k}"),
            Draw::Interpolate => f.write_str("interpolation"),
            Draw::Fitted => f.write_str("fitted"),
        }
    }
}

/// `out = from + round((to - from) * step / (steps - 1))` per dimension,
/// rounding half away from zero: point `step` of `steps` on the segment
/// from `from` (step 0) to `to` (step `steps - 1`). Integer-only, so the
/// chip and the host agree exactly. Fewer than 2 steps give `from`.
pub fn interpolate(from: &[i8], to: &[i8], step: u32, steps: u32, out: &mut [i8]) {
    let span = i64::from(steps.max(2) - 1);
    let step = i64::from(step.min(steps.saturating_sub(1)));
    for ((o, &a), &b) in out.iter_mut().zip(from).zip(to) {
        let delta = (i64::from(b) - i64::from(a)) * step;
        let offset = if delta >= 0 {
            (2 * delta + span) / (2 * span)
        } else {
            -((-2 * delta + span) / (2 * span))
        };
        // Between a and b, so within i8.
        *o = (i64::from(a) + offset) as i8;
    }
}

/// The seeded generator used wherever no hardware source is wanted (QEMU,
/// the host, tests): PCG32 (`rand_pcg::Pcg32`, XSH-RR 64/32) with the seed as
/// its initial state on stream 54, exactly the reference implementation's
/// `pcg32_srandom_r(&rng, seed, 54)`, so a seed means the same words on
/// every target and in any other PCG32 implementation.
pub fn seeded_rng(seed: u64) -> rand_pcg::Pcg32 {
    const STREAM: u64 = 54;
    rand_pcg::Pcg32::new(seed, STREAM)
}

/// A standard normal deviate in Q24 (`E_FRAC_BITS`) from one random word.
#[inline]
pub fn standard_normal_q24(word: u32) -> i32 {
    let negative = word >> 31 == 1;
    let m = (word & 0x7fff_ffff).max(1);
    // m in [2^(30-k), 2^(31-k)): octave k, with `bits` bits below the leading one.
    let k = (m.leading_zeros() - 1) as usize;
    let bits = 30 - k as u32;
    // Position inside the octave as a Q32 fraction (below 2^32; computed in
    // u64 because the deepest octave has no fraction bits and shifts by 32).
    let frac = (u64::from(m - (1 << bits)) << (32 - bits)) as u32;
    let segment = (frac >> (32 - SEGMENTS_LOG2)) as usize;
    let t = i64::from((frac << SEGMENTS_LOG2) >> 16); // Q16 within the segment
    let row = &HALF_NORMAL[k.min(OCTAVES - 1)];
    let (a, b) = (i64::from(row[segment]), i64::from(row[segment + 1]));
    let magnitude = (a + round_shift((b - a) * t, 16)) as i32;
    if negative { -magnitude } else { magnitude }
}

/// One z component: `round((mu + sigma * e) / scale) + zero_point`, saturated.
#[inline]
pub(crate) fn draw<R: RngCore + ?Sized>(
    sigma_q16: i32,
    mu_q16: i32,
    rng: &mut R,
    inv_scale_q16: i32,
    zero_point: i8,
) -> i8 {
    let e = standard_normal_q24(rng.next_u32());
    let v = i64::from(mu_q16) + round_shift(i64::from(sigma_q16) * i64::from(e), E_FRAC_BITS);
    // Saturate v to i32 so the product below cannot overflow i64.
    let v = v.clamp(i64::from(i32::MIN), i64::from(i32::MAX));
    let steps = round_shift(v * i64::from(inv_scale_q16), 32);
    (steps + i64::from(zero_point)).clamp(i64::from(i8::MIN), i64::from(i8::MAX)) as i8
}

/// z from component `k` of `density` (step 3 of the module
/// documentation): `latent` words for `e`, then `z = mean + L e` in int8
/// steps, rounded half away from zero and saturated into `z`
/// (`density.latent_dim()` codes). Not inlined: its buffer of `e` (1 KiB
/// for [`crate::blob::MAX_LATENT`] dimensions) lives only while it runs,
/// never beside the decoder's stack.
#[inline(never)]
pub(crate) fn draw_component<R: RngCore + ?Sized>(
    density: &Density<'_>,
    k: usize,
    rng: &mut R,
    zero_point: i8,
    z: &mut [i8],
) {
    let mut e = [0_i32; crate::blob::MAX_LATENT as usize];
    let e = &mut e[..z.len()];
    for e in e.iter_mut() {
        *e = standard_normal_q24(rng.next_u32());
    }
    let mut row = density.tril_bytes(k);
    let means = density.mean_bytes(k).chunks_exact(4);
    for ((i, z), mean) in z.iter_mut().enumerate().zip(means) {
        // Validation proved the rows are all there.
        let Some((l, rest)) = row.split_at_checked(4 * (i + 1)) else {
            break;
        };
        row = rest;
        // |mean| and |L| <= 2^24 (validated), |e| < 2^27: no overflow.
        let mut v = i64::from(Le::i32(mean, 0)) << E_FRAC_BITS;
        for (l, &e) in l.chunks_exact(4).zip(e.iter()) {
            v += i64::from(Le::i32(l, 0)) * i64::from(e);
        }
        let steps = round_shift(v, 16 + E_FRAC_BITS);
        *z = (steps + i64::from(zero_point)).clamp(i64::from(i8::MIN), i64::from(i8::MAX)) as i8;
    }
}

/// `round_half_away_from_zero(x / 2^shift)`.
#[inline]
fn round_shift(x: i64, shift: u32) -> i64 {
    let half = 1_i64 << (shift - 1);
    if x >= 0 {
        (x + half) >> shift
    } else {
        -((-x + half) >> shift)
    }
}

/// A real value in Q16.16, rounded half away from zero and saturated (for
/// building [`Latent::Posterior`] on the host).
pub fn to_q16(value: f32) -> i32 {
    let scaled = f64::from(value) * f64::from(ONE_Q16);
    let rounded = if scaled >= 0.0 {
        scaled + 0.5
    } else {
        scaled - 0.5
    };
    // `as` saturates (and maps NaN to 0).
    rounded as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCALE: f64 = (1_u64 << E_FRAC_BITS) as f64;

    /// Standard normal CDF.
    fn phi(x: f64) -> f64 {
        0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
    }

    /// P(K > lambda) for the Kolmogorov distribution.
    fn kolmogorov_p(lambda: f64) -> f64 {
        let sum: f64 = (1..200)
            .map(|k| {
                let k = f64::from(k);
                let sign = if k as i64 % 2 == 1 { 1.0 } else { -1.0 };
                sign * (-2.0 * k * k * lambda * lambda).exp()
            })
            .sum();
        (2.0 * sum).clamp(0.0, 1.0)
    }

    fn draws(seed: u64, n: usize) -> Vec<f64> {
        let mut rng = seeded_rng(seed);
        (0..n)
            .map(|_| f64::from(standard_normal_q24(rng.next_u32())) / SCALE)
            .collect()
    }

    const N: usize = 1_000_000;

    /// Kolmogorov-Smirnov against N(0, 1) on 1,000,000 draws for several
    /// fixed seeds: p > 0.001 (fixed seeds, so the test is deterministic;
    /// a broken table gives p ~ 0).
    #[test]
    fn kolmogorov_smirnov_against_standard_normal() {
        for seed in [1, 2, 42] {
            let mut x = draws(seed, N);
            x.sort_by(f64::total_cmp);
            let n = N as f64;
            let d = x
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let f = phi(v);
                    (f - i as f64 / n).abs().max(((i + 1) as f64 / n - f).abs())
                })
                .fold(0.0, f64::max);
            let sqrt_n = n.sqrt();
            let p = kolmogorov_p(d * (sqrt_n + 0.12 + 0.11 / sqrt_n));
            assert!(p > 0.001, "seed {seed}: KS D = {d:.6}, p = {p:.6}");
        }
    }

    /// Mean within 5 standard errors of 0 (5 / sqrt(N) = 0.005) and variance
    /// within 5 standard errors of 1 (sd of the sample variance is
    /// sqrt(2 / N) = 0.0014, so +-0.0071).
    #[test]
    fn moments() {
        let x = draws(7, N);
        let n = N as f64;
        let mean = x.iter().sum::<f64>() / n;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        assert!(mean.abs() < 5.0 / n.sqrt(), "mean {mean}");
        assert!((var - 1.0).abs() < 5.0 * (2.0 / n).sqrt(), "variance {var}");
    }

    /// Tails exist and have the right mass: P(|e| > 3) = 0.26998%, so
    /// 2,700 expected in 1M with sd sqrt(N p (1 - p)) = 52; accept +-5 sd.
    /// Beyond 4 sigma (63 expected) there must be some too.
    #[test]
    fn tails_beyond_three_sigma() {
        let x = draws(11, N);
        let beyond3 = x.iter().filter(|v| v.abs() > 3.0).count() as f64;
        let p = 2.0 * (1.0 - phi(3.0));
        let expected = N as f64 * p;
        let sd = (N as f64 * p * (1.0 - p)).sqrt();
        assert!(
            (beyond3 - expected).abs() < 5.0 * sd,
            "{beyond3} beyond 3 sigma, expected {expected:.0} +- {:.0}",
            5.0 * sd
        );
        let beyond4 = x.iter().filter(|v| v.abs() > 4.0).count();
        assert!(
            (20..=130).contains(&beyond4),
            "{beyond4} beyond 4 sigma, expected ~63"
        );
    }

    /// The table reproduces the quantile at points between its entries.
    #[test]
    fn quantile_accuracy() {
        for k in 0..31_u32 {
            for step in 0..64_u32 {
                // m inside octave k at fraction step / 64.
                let bits = 30 - k;
                let m = (1_u32 << bits) + (((u64::from(step) << bits) >> 6) as u32);
                let got = f64::from(standard_normal_q24(m)) / SCALE;
                let w = f64::from(m) / 2f64.powi(31);
                let exact = std::f64::consts::SQRT_2 * inverse_erfc(w);
                assert!(
                    (got - exact).abs() < 2e-4,
                    "octave {k} m {m}: {got} vs {exact}"
                );
            }
        }
    }

    fn inverse_erfc(w: f64) -> f64 {
        let (mut lo, mut hi) = (0.0_f64, 10.0_f64);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if libm::erfc(mid) > w {
                lo = mid
            } else {
                hi = mid
            }
        }
        lo
    }

    #[test]
    fn sign_bit_is_the_sign_and_extremes_are_bounded() {
        assert_eq!(
            standard_normal_q24(0x8000_0000 | 12345),
            -standard_normal_q24(12345)
        );
        let top = f64::from(standard_normal_q24(0)) / SCALE; // m = 0 is treated as 1
        assert!((6.2..6.3).contains(&top), "extreme {top}");
        assert_eq!(standard_normal_q24(0x7fff_ffff) / 1000, 0); // w -> 1: e -> 0
    }

    /// The generator is pinned: these words are part of the replay contract
    /// (a seed must mean the same latents on every target and every version).
    #[test]
    fn seeded_rng_golden_words() {
        let mut rng = seeded_rng(42);
        let words: Vec<u32> = (0..4).map(|_| rng.next_u32()).collect();
        let mut again = seeded_rng(42);
        let words_again: Vec<u32> = (0..4).map(|_| again.next_u32()).collect();
        assert_eq!(words, words_again);
        assert_eq!(
            words, GOLDEN_SEED_42,
            "seed 42 must give pcg32-demo's words"
        );
        assert_ne!(
            words,
            (0..4)
                .map(|_| seeded_rng(43).next_u32())
                .collect::<Vec<_>>()
        );
    }

    /// The first words of the PCG reference `pcg32-demo` (seed 42, stream 54).
    const GOLDEN_SEED_42: [u32; 4] = [0xa15c_02b7, 0x7b47_f409, 0xba1d_3330, 0x83d2_f293];

    #[test]
    fn interpolation_hits_both_ends_and_rounds_away_from_zero() {
        let (a, b) = ([-128i8, 0, 10, 127], [127i8, 0, -10, -128]);
        let mut out = [0i8; 4];
        interpolate(&a, &b, 0, 5, &mut out);
        assert_eq!(out, a);
        interpolate(&a, &b, 4, 5, &mut out);
        assert_eq!(out, b);
        // Midpoint: -128 + 127.5 -> 128 (away from zero) = 0; 10 - 10 = 0;
        // 127 + (-127.5 -> -128) = -1.
        interpolate(&a, &b, 2, 5, &mut out);
        assert_eq!(out, [0, 0, 0, -1]);
        // Step 1 of 5: -128 + 63.75 -> 64 = -64; 10 - 5 = 5.
        interpolate(&a, &b, 1, 5, &mut out);
        assert_eq!(out, [-64, 0, 5, 63]);
        // Degenerate: one step gives the start.
        interpolate(&a, &b, 0, 1, &mut out);
        assert_eq!(out, a);
    }

    #[test]
    fn draw_rounds_and_saturates() {
        struct Fixed(u32);
        impl RngCore for Fixed {
            fn next_u32(&mut self) -> u32 {
                self.0
            }
            fn next_u64(&mut self) -> u64 {
                u64::from(self.0)
            }
            fn fill_bytes(&mut self, dst: &mut [u8]) {
                dst.fill(0)
            }
        }
        // w -> 1 gives e = 0 (to within rounding): z = mu / scale + zp.
        let e_zero = 0x7fff_ffff;
        let inv_scale = 10 << 16; // scale 0.1
        assert_eq!(
            draw(ONE_Q16, to_q16(0.25), &mut Fixed(e_zero), inv_scale, 3),
            3 + 3
        ); // 2.5 -> 3 (away)
        assert_eq!(
            draw(ONE_Q16, to_q16(-0.25), &mut Fixed(e_zero), inv_scale, 3),
            3 - 3
        );
        assert_eq!(
            draw(ONE_Q16, to_q16(100.0), &mut Fixed(e_zero), inv_scale, 0),
            127
        );
        assert_eq!(
            draw(ONE_Q16, to_q16(-100.0), &mut Fixed(e_zero), inv_scale, 0),
            -128
        );
        // sigma 0: always mu, whatever the word.
        assert_eq!(draw(0, to_q16(0.5), &mut Fixed(0), inv_scale, -1), 4);
        // Extreme mu and sigma saturate instead of overflowing.
        assert_eq!(draw(i32::MAX, i32::MAX, &mut Fixed(0), i32::MAX, 0), 127);
        assert_eq!(
            draw(i32::MAX, i32::MIN, &mut Fixed(0x8000_0000), i32::MAX, 0),
            -128
        );
    }
}
