//! Requantization: an int32 sum of int8 products, plus the int32 bias, to
//! the next layer's int8, per output channel, bit for bit as
//! [`multiply_by_quantized_multiplier`] (TFLite Micro's arithmetic) and in
//! fewer instructions. Every kernel (portable, `dsp`, `armv6m`, the host's)
//! ends in [`Requantizer`]. The Q31 multiply's rounded high half has one
//! form per target, each tested equal to [`requantize`]'s 64-bit one: two
//! instructions around SMMLAR on the Cortex-M4/M7 ([`requantize_doubled`],
//! whose assembly twin `crate::dsp` runs), 32-bit multiplies on ARMv6-M
//! (`high_product_halves`: no `__aeabi_lmul`), the 64-bit product
//! elsewhere.

// The Cortex-M4's requantization assembly (below, `cfg(tinyvae_dsp)`).
#![cfg_attr(tinyvae_dsp, allow(unsafe_code))]

use crate::blob::{Activation, Layer, Le};
#[cfg(doc)]
use crate::fixedpoint::multiply_by_quantized_multiplier;

/// Per-channel requantization of one layer, read from its byte arrays.
pub(crate) struct Requantizer<'a> {
    bias: &'a [u8],
    multipliers: &'a [u8],
    shifts: &'a [u8],
    zero_point: i32,
    min: i32,
}

impl<'a> Requantizer<'a> {
    pub(crate) fn new(layer: &Layer<'a>) -> Self {
        let zero_point = i32::from(layer.output.zero_point);
        Self {
            bias: layer.bias,
            multipliers: layer.multipliers,
            shifts: layer.shifts,
            zero_point,
            min: match layer.activation {
                Activation::Linear => i32::from(i8::MIN),
                Activation::Relu => zero_point,
            },
        }
    }

    /// The int32 bias of channel `c`.
    #[inline]
    pub(crate) fn bias(&self, c: usize) -> i32 {
        le_i32(self.bias, c)
    }

    /// Accumulator of channel `c` (bias included) to its int8 output.
    #[inline(always)]
    pub(crate) fn output(&self, c: usize, acc: i32) -> i8 {
        self.apply(acc, self.scale(c))
    }

    /// Channel `c`'s multiplier and shift, for [`Requantizer::apply`].
    #[inline(always)]
    pub(crate) fn scale(&self, c: usize) -> Scale {
        Scale::from((le_i32(self.multipliers, c), self.shifts[c] as i8))
    }

    /// Requantizes `acc` with one channel's [`Scale`], adds the output zero
    /// point and clamps (the activation).
    #[inline(always)]
    pub(crate) fn apply(&self, acc: i32, scale: Scale) -> i8 {
        #[cfg(not(tinyvae_dsp))]
        let requantized = requantize(acc, scale.0, i32::from(scale.1));
        #[cfg(tinyvae_dsp)]
        let requantized = requantize_doubled(acc, scale, smmlar);
        let x = requantized.wrapping_add(self.zero_point);
        // The clamp to the int8 range, then raised to `min` (-128 or the
        // zero point): one SSAT and a MAX on thumbv7em; on ARMv6-M, which
        // has no SSAT, one clamp to `min..=127` gives the same bytes in
        // fewer compares.
        #[cfg(not(tinyvae_armv6m))]
        let clamped = x
            .clamp(i32::from(i8::MIN), i32::from(i8::MAX))
            .max(self.min);
        #[cfg(tinyvae_armv6m)]
        let clamped = x.max(self.min).min(i32::from(i8::MAX));
        clamped as i8
    }

    /// Four channels' accumulators to their int8 outputs, as
    /// [`Requantizer::apply`] each (in one assembly call on the
    /// Cortex-M4/M7). For `crate::subpixel`'s channel form.
    #[cfg(any(test, tinyvae_dsp, tinyvae_armv6m))]
    #[inline(always)]
    pub(crate) fn apply_four(&self, acc: &[i32; 4], scales: &[Scale; 4], out: &mut [i8; 4]) {
        #[cfg(tinyvae_dsp)]
        requantize_four(acc, scales, self.zero_point, self.min, out);
        #[cfg(not(tinyvae_dsp))]
        for ((out, &acc), &scale) in out.iter_mut().zip(acc).zip(scales) {
            *out = self.apply(acc, scale);
        }
    }

    /// The per-channel parameters four channels at a time, in step with
    /// a dense layer's row quads (the last group may be shorter).
    pub(crate) fn quads(&self) -> impl Iterator<Item = ChannelQuad<'a>> + use<'a> {
        self.bias
            .chunks(16)
            .zip(self.multipliers.chunks(16))
            .zip(self.shifts.chunks(4))
            .map(|((bias, multipliers), shifts)| ChannelQuad {
                bias,
                multipliers,
                shifts,
            })
    }

    /// Adds a row quad's biases to its sums and requantizes them into
    /// `outputs` (fewer than four in a padded last quad). Iterating over
    /// the parameter bytes, rather than indexing them per channel, lets the
    /// compiler drop the bounds checks.
    #[inline(always)]
    pub(crate) fn finish_quad(&self, params: ChannelQuad<'_>, sums: [i32; 4], outputs: &mut [i8]) {
        let params = params
            .bias
            .chunks_exact(4)
            .zip(params.multipliers.chunks_exact(4))
            .zip(params.shifts);
        for ((out, sum), ((b, m), &shift)) in outputs.iter_mut().zip(sums).zip(params) {
            let word = |x: &[u8]| i32::from_le_bytes([x[0], x[1], x[2], x[3]]);
            let scale = Scale::from((word(m), shift as i8));
            *out = self.apply(sum.wrapping_add(word(b)), scale);
        }
    }
}

#[cfg(tinyvae_dsp)]
impl<'a> Requantizer<'a> {
    /// The per-channel byte arrays (bias, multipliers, shifts), the output
    /// zero point and the activation's floor, for `crate::dsp`'s dense
    /// kernel, which requantizes in assembly as [`Requantizer::apply`]
    /// does.
    pub(crate) fn parts(&self) -> ([&'a [u8]; 3], i32, i32) {
        let arrays = [self.bias, self.multipliers, self.shifts];
        (arrays, self.zero_point, self.min)
    }
}

/// One channel's multiplier and shift as [`Requantizer::apply`] takes
/// them: as stored where [`requantize`] runs, prepared for SMMLAR
/// ([`DoubledScale`]) on the Cortex-M4/M7.
#[cfg(not(tinyvae_dsp))]
pub(crate) type Scale = (i32, i8);
/// One channel's multiplier and shift as [`Requantizer::apply`] takes
/// them: as stored where [`requantize`] runs, prepared for SMMLAR
/// ([`DoubledScale`]) on the Cortex-M4/M7.
#[cfg(tinyvae_dsp)]
pub(crate) type Scale = DoubledScale;

/// A multiplier `m` (`0 <= m < 2^31`) and shift prepared for
/// [`requantize_doubled`]: `2m` modulo 2^32, whether that wrapped, and
/// the right shift `-shift - 1` as [`requantize`] masks it. Four words,
/// in this order, that `crate::dsp`'s assembly loads with one LDM.
#[cfg(any(test, tinyvae_dsp))]
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct DoubledScale {
    doubled: i32,
    /// All ones if `2m` wrapped (`m >= 2^30`), else zero.
    wrapped: i32,
    shift: i32,
    right: u32,
}

#[cfg(any(test, tinyvae_dsp))]
impl From<(i32, i8)> for DoubledScale {
    #[inline(always)]
    fn from((multiplier, shift): (i32, i8)) -> Self {
        let doubled = multiplier.wrapping_shl(1);
        Self {
            doubled,
            wrapped: doubled >> 31,
            shift: shift.into(),
            right: !i32::from(shift) as u32 & 31,
        }
    }
}

/// [`requantize`] with the Cortex-M4's SMMLAR, `smmlar(a, b, c) =
/// (c * 2^32 + a * b + 2^31) >> 32` (bits 63..32 of the exact sum), bit
/// for bit: `floor((x * m + 2^30) / 2^31)` is `floor((x * 2m + 2^31) /
/// 2^32)`, one rounded high word. Where `2m < 2^31`, `smmlar(x, 2m, 0)`
/// is that; where `2m` wraps to `2m - 2^32`, adding `x * 2^32` back
/// (`c = x`) restores `x * 2m` exactly. Two instructions (AND, SMMLAR)
/// where the 64-bit product and its rounding take five. The rounding right
/// shift is [`requantize`]'s. `smmlar` is the instruction on the chip and
/// a 64-bit model in the host's test, which holds this to [`requantize`].
#[cfg(any(test, tinyvae_dsp))]
#[inline(always)]
pub(crate) fn requantize_doubled(
    acc: i32,
    scale: DoubledScale,
    smmlar: impl Fn(i32, i32, i32) -> i32,
) -> i32 {
    let high = |x: i32| smmlar(x, scale.doubled, x & scale.wrapped);
    if scale.shift >= 0 {
        high(acc.wrapping_shl(scale.shift as u32))
    } else {
        let h = high(acc);
        (h.wrapping_add(h >> 31) >> scale.right).wrapping_add(1) >> 1
    }
}

// The Cortex-M4/M7's requantization in assembly: here rather than in
// `crate::dsp` (whose kernels use it) so that `Requantizer` does not
// import the kernels that import it.

/// [`crate::requant::requantize_doubled`] of the sum in `$v`, plus the
/// output zero point (`$zp`) and clamped to int8: `$doubled` and
/// `$wrapped` as in [`crate::requant::DoubledScale`], the channel's shift
/// in `$shift` (overwritten), `$t` scratch. Where the shift is negative,
/// the rounding right shift by `-shift` (half away from zero): subtract
/// one from a negative value, shift by `-shift - 1` (MVN), add one,
/// halve. Ten instructions, fourteen with a negative shift; local labels
/// 8 and 9.
#[cfg(tinyvae_dsp)]
#[rustfmt::skip]
macro_rules! requantize_sum {
    ($v:literal, $doubled:literal, $wrapped:literal, $shift:literal, $t:literal, $zp:literal) => {
        concat!(
            "cmp ", $shift, ", #0\n",
            "blt 8f\n",
            "lsl ", $v, ", ", $v, ", ", $shift, "\n",
            "and ", $t, ", ", $v, ", ", $wrapped, "\n",
            "smmlar ", $v, ", ", $v, ", ", $doubled, ", ", $t, "\n",
            "b 9f\n",
            "8:\n",
            "and ", $t, ", ", $v, ", ", $wrapped, "\n",
            "smmlar ", $v, ", ", $v, ", ", $doubled, ", ", $t, "\n",
            "add ", $v, ", ", $v, ", ", $v, ", asr #31\n",
            "mvn ", $shift, ", ", $shift, "\n",
            "asr ", $v, ", ", $v, ", ", $shift, "\n",
            "add ", $v, ", ", $v, ", #1\n",
            "asr ", $v, ", ", $v, ", #1\n",
            "9:\n",
            "add ", $v, ", ", $v, ", ", $zp, "\n",
            "ssat ", $v, ", #8, ", $v, "\n"
        )
    };
}

/// `(c * 2^32 + a * b + 2^31) >> 32`, bits 63..32 of the exact sum: one
/// SMMLAR, for [`crate::requant::requantize_doubled`].
#[cfg(tinyvae_dsp)]
#[inline(always)]
pub(crate) fn smmlar(a: i32, b: i32, c: i32) -> i32 {
    let d;
    // SAFETY: a register-only instruction.
    unsafe {
        core::arch::asm!("smmlar {d}, {a}, {b}, {c}", a = in(reg) a, b = in(reg) b, c = in(reg) c, d = out(reg) d, options(pure, nomem, nostack));
    }
    d
}

/// Four sums of four channels to their int8 outputs in `out`, as
/// [`Requantizer::apply`] each: the sums' requantization
/// ([`requantize_sum`]), then the four bytes packed into one word and
/// floored at once (`min`, -128 or a ReLU's zero point, in each byte:
/// SSUB8 and SEL) and stored together.
#[cfg(tinyvae_dsp)]
pub(crate) fn requantize_four(
    acc: &[i32; 4],
    scales: &[DoubledScale; 4],
    zero_point: i32,
    min: i32,
    out: &mut [i8; 4],
) {
    let floor = u32::from(min as u8) * 0x0101_0101;
    // SAFETY: four sums, four scales (four words each, `repr(C)`) and four
    // bytes (STR takes any alignment on the M4) behind the references.
    unsafe { requantize_four_words(acc, scales, out, zero_point, floor) };
}

/// One sum of [`requantize_four_words`]: from lr (moved on) into `$v`, its
/// scale's words from r1 (moved on) into r7, r9, r10 (r11 unused).
#[cfg(tinyvae_dsp)]
#[rustfmt::skip]
macro_rules! requantize_lane {
    ($v:literal) => {
        concat!(
            "ldr ", $v, ", [lr], #4\n",
            "ldm r1!, {{r7, r9, r10, r11}}\n",
            requantize_sum!($v, "r7", "r9", "r10", "r0", "r3")
        )
    };
}

/// [`requantize_four`]: the four clamped values in r4, r5, r6 and r8, then
///
/// ```text
/// pkhbt  r0, r4, r6, lsl #16     @ (v0, v2) as halves
/// pkhbt  r7, r5, r8, lsl #16     @ (v1, v3)
/// uxtb16 r0, r0                  @ bytes 0 and 2
/// uxtb16 r7, r7
/// orr    r0, r0, r7, lsl #8      @ (v0, v1, v2, v3)
/// ssub8  r7, r0, floor           @ GE where a byte is at least the floor
/// sel    r0, r0, floor
/// str    r0, [out]
/// ```
///
/// # Safety
/// `acc` readable for four words, `scales` for sixteen, `out` writable
/// for four bytes.
#[cfg(tinyvae_dsp)]
#[unsafe(naked)]
unsafe extern "C" fn requantize_four_words(
    acc: *const [i32; 4],
    scales: *const [DoubledScale; 4],
    out: *mut [i8; 4],
    zero_point: i32,
    floor: u32,
) {
    core::arch::naked_asm!(
        "push {{r4-r11, lr}}",
        "ldr r12, [sp, #36]",
        "mov lr, r0",
        requantize_lane!("r4"),
        requantize_lane!("r5"),
        requantize_lane!("r6"),
        requantize_lane!("r8"),
        "pkhbt r0, r4, r6, lsl #16",
        "pkhbt r7, r5, r8, lsl #16",
        "uxtb16 r0, r0",
        "uxtb16 r7, r7",
        "orr r0, r0, r7, lsl #8",
        "ssub8 r7, r0, r12",
        "sel r0, r0, r12",
        "str r0, [r2]",
        "pop {{r4-r11, pc}}",
    )
}

/// Bias, multiplier and shift bytes of (up to) four consecutive channels.
pub(crate) struct ChannelQuad<'a> {
    bias: &'a [u8],
    multipliers: &'a [u8],
    shifts: &'a [u8],
}

/// [`multiply_by_quantized_multiplier`], bit for bit, for the
/// non-negative multipliers that validation admits, in fewer instructions:
/// - gemmlowp's nudge-and-truncate (`(ab + nudge) / 2^31` with
///   `nudge = 2^30` or `1 - 2^30`) is `floor((ab + 2^30) / 2^31)` for
///   either sign of `ab`: one arithmetic shift of the 64-bit product
///   instead of a branch and a signed division. Its one saturating case
///   (`i32::MIN * i32::MIN`) needs a negative multiplier. The result is at
///   most `2^31 - 2`.
/// - the rounding right shift by `e >= 1` (round half away from zero) is
///   `(((h - [h < 0]) >> (e - 1)) + 1) >> 1`: for `h >= 0` that is
///   `floor((h + 2^(e-1)) / 2^e)`, round half up, and subtracting one
///   from a negative `h` first turns its ties downwards. No masks, no
///   overflow (`h <= 2^31 - 2`).
///
/// A test compares the two on random and edge inputs. The Cortex-M4/M7
/// take [`requantize_doubled`] instead.
#[cfg(any(test, not(tinyvae_dsp)))]
#[inline(always)]
pub(crate) fn requantize(acc: i32, multiplier: i32, shift: i32) -> i32 {
    #[cfg(not(tinyvae_armv6m))]
    let high = |x: i32| ((i64::from(x) * i64::from(multiplier) + (1 << 30)) >> 31) as i32;
    #[cfg(tinyvae_armv6m)]
    let high = |x: i32| high_product_halves(x, multiplier);
    if shift >= 0 {
        high(acc.wrapping_shl(shift as u32))
    } else {
        let h = high(acc);
        // `h >> 31` is -1 for negative `h`; `!shift` is `-shift - 1`.
        let floor_half = h.wrapping_add(h >> 31) >> (!shift as u32 & 31);
        floor_half.wrapping_add(1) >> 1
    }
}

/// `floor((a * m + 2^30) / 2^31)` for `m >= 0`, the rounded high half of
/// [`requantize`]'s product, in 32-bit arithmetic: on ARMv6-M a 64-bit
/// product is a library call (`__aeabi_lmul`, about forty instructions);
/// this takes two MULS where `a` fits in 16 bits and four elsewhere.
///
/// With `m = mh * 2^16 + ml` (`ml` in `0..2^16`, `mh` in `0..2^15`) and
/// `-2^15 <= a < 2^15`, `a * mh` and `a * ml` fit in 32 bits, and since
/// `2^30` is a multiple of `2^16` the result is `floor((a * mh + floor(a *
/// ml / 2^16) + 2^14) / 2^15)`, whose sum stays below `2^30 + 2^16`.
///
/// Elsewhere, with `a = ah * 2^16 + al` (`al` in `0..2^16`), `a * m +
/// 2^30 = 2^32 * ah * mh + 2^16 * (p + q + r + 2^14) + (al * ml mod
/// 2^16)` where `p = ah * ml` (`|p| < 2^31`), `q = al * mh` (`< 2^31 -
/// 2^16`) and `r = floor(al * ml / 2^16)` (`< 2^16`), so the result is `2 * ah * mh + floor((p + q + r + 2^14) /
/// 2^15)`. That sum needs 33 bits; with `p = 2^15 * (p >> 15) + (p mod
/// 2^15)` its floor is `(p >> 15) + floor((q + r + 2^14 + (p mod 2^15)) /
/// 2^15)`, whose sum is non-negative and below `2^31 + 2^14`: one unsigned
/// shift, no carry to recover. A test compares it with the 64-bit form.
#[cfg(any(test, tinyvae_armv6m))]
#[inline(always)]
pub(crate) fn high_product_halves(a: i32, m: i32) -> i32 {
    let (mh, ml) = (m >> 16, m & 0xffff);
    if (a as u32).wrapping_add(1 << 15) < 1 << 16 {
        // -2^15 <= a < 2^15: the 16-bit form (see above).
        return (a * mh + ((a * ml) >> 16) + (1 << 14)) >> 15;
    }
    let (ah, al) = (a >> 16, (a & 0xffff) as u32);
    let p = ah * ml;
    let low = al * mh as u32 + ((al * ml as u32) >> 16) + (1 << 14) + (p as u32 & 0x7fff);
    (2 * ah * mh)
        .wrapping_add(p >> 15)
        .wrapping_add((low >> 15) as i32)
}

/// Little-endian i32 number `index` of `bytes` with one bounds check (one
/// word load on thumbv7em), where `Le::i32` checks each byte.
#[inline(always)]
pub(crate) fn le_i32(bytes: &[u8], index: usize) -> i32 {
    match bytes.get(index * 4..index * 4 + 4) {
        Some(&[a, b, c, d]) => i32::from_le_bytes([a, b, c, d]),
        _ => Le::i32(bytes, index),
    }
}
