//! Fixed-point arithmetic exactly as TensorFlow Lite Micro and CMSIS-NN do it
//! on their default (double-rounding) path.
//!
//! The int8 layers accumulate in `i32` and bring the accumulator back to int8
//! with a per-channel multiplier `M = m * 2^shift`, where `m` is a Q31 number
//! in `[0.5, 1)`. TFLite Micro computes that product with gemmlowp's
//! `SaturatingRoundingDoublingHighMul` (the high 32 bits of the doubled
//! 64-bit product, rounded half *up*, towards +infinity, like Arm's
//! `SQRDMULH`) followed by `RoundingDivideByPOT` (round half away from zero
//! on the right shift). Rounding twice can differ
//! by one from rounding the exact product once; newer desktop LiteRT reference
//! kernels round once in double precision, so only these formulas (TFLM's
//! `common.h`/`common.cc`, CMSIS-NN's `arm_nn_requantize` without
//! `CMSIS_NN_USE_SINGLE_ROUNDING`) are the reference. Overflowing
//! intermediate products wrap as two's complement, as they do on Arm.

/// `floor(a * b / 2^31 + 1/2)` (nearest, ties towards +infinity), saturated:
/// the only overflowing input, `a == b == i32::MIN`, gives `i32::MAX`.
///
/// gemmlowp's `SaturatingRoundingDoublingHighMul`, literally: its nudge is
/// `2^30` for a non-negative product and `1 - 2^30` for a negative one,
/// and C division truncates towards zero, so a negative tie such as
/// `-0.5` becomes `0`, not `-1`.
#[inline]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = i64::from(a) * i64::from(b);
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // Division truncates towards zero, as in C; with the nudge this rounds
    // to nearest, ties up. The quotient fits in i32 once the single
    // overflowing input is excluded.
    ((ab + nudge) / (1_i64 << 31)) as i32
}

/// `round_half_away_from_zero(x / 2^exponent)` for `exponent` in `0..=31`.
///
/// gemmlowp's `RoundingDivideByPOT`. Exponents outside `0..=31` are a caller
/// bug; blob validation keeps them out of the kernels.
#[inline]
pub fn rounding_divide_by_pot(x: i32, exponent: u32) -> i32 {
    debug_assert!(exponent <= 31, "exponent {exponent} out of 0..=31");
    let mask: i32 = ((1_i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

/// Smallest shift a requantization may use (`x * m / 2^31 / 2^31`).
pub const MIN_SHIFT: i8 = -31;
/// Largest shift a requantization may use (`x * 2^30 * m / 2^31`).
pub const MAX_SHIFT: i8 = 30;

/// `x * multiplier * 2^shift / 2^31` with TFLite Micro's rounding.
///
/// TFLM's `MultiplyByQuantizedMultiplier` (and CMSIS-NN's
/// `arm_nn_requantize`): a positive shift multiplies `x` before the high
/// multiply (wrapping on overflow, as `x * (1 << left_shift)` does on Arm);
/// a negative shift divides after it. `shift` must lie in
/// [`MIN_SHIFT`]`..=`[`MAX_SHIFT`].
#[inline]
pub fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left_shift = shift.max(0) as u32;
    let right_shift = (-shift).max(0) as u32;
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x.wrapping_shl(left_shift), multiplier),
        right_shift,
    )
}

/// A real multiplier `M` as the Q31 `multiplier` and `shift` with
/// `M ≈ multiplier * 2^shift / 2^31`: TFLite's `QuantizeMultiplier`.
///
/// `M` is split with `frexp` into `q * 2^shift`, `q` in `[0.5, 1)`, and `q` is
/// rounded to Q31 half away from zero (`TfLiteRound`); a `q` that rounds up to
/// `1.0` becomes `0.5` with `shift + 1`. Multipliers below `2^-32` flush to
/// zero, and shifts above [`MAX_SHIFT`] saturate, as TFLite does.
/// Returns `None` for a negative, infinite or NaN multiplier: the layers only
/// ever need `M = in_scale * w_scale / out_scale > 0`.
pub fn quantize_multiplier(real: f64) -> Option<(i32, i32)> {
    if !real.is_finite() || real < 0.0 {
        return None;
    }
    if real == 0.0 {
        return Some((0, 0));
    }
    let (q, mut shift) = frexp(real);
    let mut q_fixed = round_half_away(q * (1_i64 << 31) as f64);
    if q_fixed == 1_i64 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < i32::from(MIN_SHIFT) {
        return Some((0, 0));
    }
    if shift > i32::from(MAX_SHIFT) {
        return Some((i32::MAX, i32::from(MAX_SHIFT)));
    }
    Some((q_fixed as i32, shift))
}

/// `x = q * 2^e` with `q` in `[0.5, 1)`, for finite positive `x` (C's
/// `frexp`), from the IEEE-754 bits: `core` has no `frexp`.
fn frexp(x: f64) -> (f64, i32) {
    const EXP_MASK: u64 = 0x7ff << 52;
    let bits = x.to_bits();
    let biased = ((bits & EXP_MASK) >> 52) as i32;
    if biased == 0 {
        // Subnormal: scale into the normal range first.
        let (q, e) = frexp(x * (1_u64 << 54) as f64);
        return (q, e - 54);
    }
    // Replace the exponent by the one of 0.5 (biased 1022).
    let q = f64::from_bits((bits & !EXP_MASK) | (1022 << 52));
    (q, biased - 1022)
}

/// Rounds half away from zero (C's `round`) for `|x| < 2^62`.
fn round_half_away(x: f64) -> i64 {
    // Adding 0.5 to a value below 2^52 in magnitude is exact, and `as`
    // truncates towards zero.
    if x >= 0.0 {
        (x + 0.5) as i64
    } else {
        -((-x + 0.5) as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact reference for SRDHM: `floor((n + 2^30) / 2^31)`, ties up.
    fn round_half_up_div_2_31(n: i128) -> i128 {
        (n + (1 << 30)).div_euclid(1 << 31)
    }

    /// Exact reference for RDBPOT: `round_half_away_from_zero(n / 2^k)`.
    fn round_div_pow2(n: i128, k: u32) -> i128 {
        let d = 1_i128 << k;
        let q = n.abs() / d;
        let r = n.abs() % d;
        let q = if 2 * r >= d { q + 1 } else { q };
        if n < 0 { -q } else { q }
    }

    /// Golden vectors for `SaturatingRoundingDoublingHighMul`, each worked
    /// out by hand from gemmlowp's formula `(a*b + nudge) / 2^31` (C
    /// division, truncating), nudge `2^30` if `a*b >= 0` else `1 - 2^30`.
    #[test]
    fn srdhm_golden() {
        let table: &[(i32, i32, i32)] = &[
            // 2^30 * 2^30 / 2^31 = 2^29 exactly.
            (1 << 30, 1 << 30, 1 << 29),
            // 1 * 2^30 / 2^31 = 0.5: a positive tie rounds up to 1.
            (1, 1 << 30, 1),
            // -1 * 2^30 / 2^31 = -0.5, a negative tie:
            // (-2^30 + 1 - 2^30) / 2^31 = (-2^31 + 1) / 2^31 truncates to 0.
            (-1, 1 << 30, 0),
            // 3 * 2^30 / 2^31 = 1.5 -> (3*2^30 + 2^30) / 2^31 = 2.
            (3, 1 << 30, 2),
            // -1.5: (-3*2^30 + 1 - 2^30) / 2^31 = (-2^32 + 1) / 2^31 -> -1.
            (-3, 1 << 30, -1),
            // 1 * (2^30 - 1) / 2^31 = 0.4999999995 -> 0 (just below the tie).
            (1, (1 << 30) - 1, 0),
            // -1 * (2^30 + 1) / 2^31 = -0.5000000005 -> -1.
            (-1, (1 << 30) + 1, -1),
            // The one overflow: (-2^31)^2 / 2^31 = 2^31 saturates to i32::MAX.
            (i32::MIN, i32::MIN, i32::MAX),
            // -2^31 * (2^31 - 1) / 2^31 = -(2^31 - 1): representable.
            (i32::MIN, i32::MAX, -i32::MAX),
            // (2^31 - 1)^2 / 2^31 = 2^31 - 2 + 2^-31 -> 2^31 - 2.
            (i32::MAX, i32::MAX, i32::MAX - 1),
            // 1000 * 1518500250 / 2^31 = 707.106781... -> 707 (m = 1/sqrt(2) in Q31).
            (1000, 1_518_500_250, 707),
            // -1000 * 1518500250 / 2^31 = -707.106781... -> -707.
            (-1000, 1_518_500_250, -707),
        ];
        for &(a, b, expected) in table {
            let got = saturating_rounding_doubling_high_mul(a, b);
            assert_eq!(
                got, expected,
                "srdhm({a}, {b}) = {got}, expected {expected}"
            );
        }
    }

    /// Golden vectors for `RoundingDivideByPOT`: `round_half_away(x / 2^e)`.
    #[test]
    fn rounding_divide_by_pot_golden() {
        let table: &[(i32, u32, i32)] = &[
            (5, 0, 5),   // 2^0: identity
            (5, 1, 3),   // 2.5 -> 3 (tie away from zero)
            (-5, 1, -3), // -2.5 -> -3 (an arithmetic shift alone gives -3, round-half-up -2)
            (-3, 2, -1), // -0.75 -> -1
            (-2, 2, -1), // -0.5 -> -1 (negative tie)
            (-1, 2, 0),  // -0.25 -> 0
            (6, 2, 2),   // 1.5 -> 2
            (7, 3, 1),   // 0.875 -> 1
            (4, 3, 1),   // 0.5 -> 1
            (3, 3, 0),   // 0.375 -> 0
            // Large shifts: 2^30 / 2^31 = 0.5 -> 1; -2^30 / 2^31 -> -1.
            (1 << 30, 31, 1),
            (-(1 << 30), 31, -1),
            // i32::MAX / 2^31 = 0.99999... -> 1; i32::MIN / 2^31 = -1 exactly.
            (i32::MAX, 31, 1),
            (i32::MIN, 31, -1),
            // (2^30 - 1) / 2^31 just below the tie -> 0.
            ((1 << 30) - 1, 31, 0),
            // i32::MIN / 2^30 = -2 exactly; i32::MAX / 2^30 = 1.999... -> 2.
            (i32::MIN, 30, -2),
            (i32::MAX, 30, 2),
        ];
        for &(x, e, expected) in table {
            let got = rounding_divide_by_pot(x, e);
            assert_eq!(
                got, expected,
                "rdbpot({x}, {e}) = {got}, expected {expected}"
            );
        }
    }

    /// Golden vectors for the whole requantization, including the case where
    /// rounding twice (TFLM) differs from rounding once (newer LiteRT).
    #[test]
    fn multiply_by_quantized_multiplier_golden() {
        let table: &[(i32, i32, i32, i32)] = &[
            // M = 0.5 (m = 2^30, shift 0): 3 * 0.5 = 1.5 -> 2; -1.5 is a
            // negative tie in SRDHM, rounded up to -1 (no shift to round again).
            (3, 1 << 30, 0, 2),
            (-3, 1 << 30, 0, -1),
            // M = 0.25 via shift -1: srdhm(-6, 2^30) = -3 exactly, then
            // RDBPOT(-3, 1) = -1.5, a tie rounded away from zero -> -2.
            (6, 1 << 30, -1, 2),
            (-6, 1 << 30, -1, -2),
            // Double rounding: x = 1, m = 1610612736 = 0.75 * 2^31, shift -1.
            // srdhm(1, m) = round(0.75) = 1; then round(1 / 2) = 1.
            // The exact product 1 * 0.375 = 0.375 would round once to 0.
            (1, 1_610_612_736, -1, 1),
            // Its negative: srdhm(-1, m) = -0.75 -> -1, RDBPOT(-1, 1) = -0.5 -> -1
            // (away from zero); the exact -0.375 would round once to 0.
            (-1, 1_610_612_736, -1, -1),
            // Large right shift: 2^30 * 2^30 / 2^31 = 2^29; 2^29 / 2^31 = 0.25 -> 0.
            (1 << 30, 1 << 30, -31, 0),
            // 2^31-1 times 2^30/2^31 = 1073741823.5 -> 1073741824 = 2^30; 2^30 / 2^31 = 0.5 -> 1.
            (i32::MAX, 1 << 30, -31, 1),
            // Left shift: 100 * 2^3 = 800; 800 * 0.5 = 400.
            (100, 1 << 30, 3, 400),
            // Left shift that wraps: 2^28 * 2^4 = 2^32 wraps to 0 -> 0 (as on Arm).
            (1 << 28, 1 << 30, 4, 0),
            // The saturating corner: x = -2^31, m = -2^31 cannot come from
            // quantize_multiplier (m >= 0), but x = i32::MIN with m = 2^31-1:
            // -2^31 * (2^31-1) / 2^31 = -(2^31-1), / 2^0 -> -2147483647.
            (i32::MIN, i32::MAX, 0, -i32::MAX),
            // Saturation through the left shift: 2^30 * 2 wraps to i32::MIN;
            // srdhm(i32::MIN, i32::MIN) saturates to i32::MAX.
            (1 << 30, i32::MIN, 1, i32::MAX),
        ];
        for &(x, m, s, expected) in table {
            let got = multiply_by_quantized_multiplier(x, m, s);
            assert_eq!(
                got, expected,
                "mbqm({x}, {m}, {s}) = {got}, expected {expected}"
            );
        }
    }

    /// Both roundings agree with the exact i128 reference on a sweep.
    #[test]
    fn srdhm_and_pot_match_exact_reference() {
        let values = [
            i32::MIN,
            i32::MIN + 1,
            -(1 << 30) - 1,
            -(1 << 30),
            -65_537,
            -3,
            -1,
            0,
            1,
            2,
            3,
            12_345,
            1 << 30,
            (1 << 30) + 1,
            i32::MAX - 1,
            i32::MAX,
        ];
        for &a in &values {
            for &b in &values {
                if a == i32::MIN && b == i32::MIN {
                    continue;
                }
                let exact = round_half_up_div_2_31(i128::from(a) * i128::from(b));
                assert_eq!(
                    i128::from(saturating_rounding_doubling_high_mul(a, b)),
                    exact,
                    "srdhm({a}, {b})"
                );
            }
            for e in 0..=31 {
                let exact = round_div_pow2(i128::from(a), e);
                assert_eq!(
                    i128::from(rounding_divide_by_pot(a, e)),
                    exact,
                    "rdbpot({a}, {e})"
                );
            }
        }
    }

    /// `quantize_multiplier` against values worked out by hand from
    /// TFLite's definition.
    #[test]
    fn quantize_multiplier_golden() {
        let table: &[(f64, Option<(i32, i32)>)] = &[
            (0.0, Some((0, 0))),
            // 0.5 = 0.5 * 2^0 -> q = 2^30.
            (0.5, Some((1 << 30, 0))),
            // 1.0 = 0.5 * 2^1.
            (1.0, Some((1 << 30, 1))),
            // 0.75 * 2^31 = 1610612736 exactly.
            (0.75, Some((1_610_612_736, 0))),
            // 0.1 = 0.8 * 2^-3; 0.8 * 2^31 = 1717986918.4 -> 1717986918.
            (0.1, Some((1_717_986_918, -3))),
            // 1/3 = 0.6666... * 2^-1; * 2^31 = 1431655765.33 -> 1431655765.
            (1.0 / 3.0, Some((1_431_655_765, -1))),
            // q just below 1: rounds up to 2^31, renormalised to 2^30 with shift + 1.
            (1.0 - 1e-12, Some((1 << 30, 1))),
            // Tiny multipliers flush to zero: 2^-40 has shift -39 < -31.
            (2f64.powi(-40), Some((0, 0))),
            // 2^-32 = 0.5 * 2^-31 is the smallest kept.
            (2f64.powi(-32), Some((1 << 30, -31))),
            // Huge multipliers saturate.
            (2f64.powi(40), Some((i32::MAX, 30))),
            (-1.0, None),
            (f64::NAN, None),
            (f64::INFINITY, None),
        ];
        for &(real, expected) in table {
            let got = quantize_multiplier(real);
            assert_eq!(
                got, expected,
                "quantize_multiplier({real:e}) = {got:?}, expected {expected:?}"
            );
        }
    }

    /// The quantized multiplier represents the real one to within half a Q31 step.
    #[test]
    fn quantize_multiplier_is_accurate() {
        let mut real = 1e-9_f64;
        while real < 1e6 {
            let (m, s) = quantize_multiplier(real).unwrap();
            let back = f64::from(m) * 2f64.powi(s) / 2f64.powi(31);
            let tolerance = 2f64.powi(s) / 2f64.powi(31); // one Q31 step, scaled
            assert!(
                (back - real).abs() <= tolerance,
                "{real:e} -> ({m}, {s}) = {back:e}"
            );
            real *= 1.37;
        }
    }

    #[test]
    fn frexp_matches_definition() {
        for &x in &[1.0, 0.5, 0.75, 3.0, 1e-300, 5e-324, 1e300, 0.1] {
            let (q, e) = frexp(x);
            assert!((0.5..1.0).contains(&q), "frexp({x:e}) mantissa {q}");
            // Scale both sides up by 2^200 so 2^e stays representable.
            assert_eq!(
                q * 2f64.powi(e + 200),
                x * 2f64.powi(200),
                "frexp({x:e}) = ({q}, {e})"
            );
        }
    }
}
