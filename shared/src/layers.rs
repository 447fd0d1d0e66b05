//! The int8 kernels: fully connected and transposed 2-D convolution.
//!
//! Both accumulate exact int8 x int8 products in `i32` (wrapping, as on
//! Arm, so a hostile blob cannot make a debug build panic), add the int32
//! bias and requantize per output channel exactly as
//! [`crate::fixedpoint::multiply_by_quantized_multiplier`] (in a faster
//! form, `requantize`), then add the output zero point and clamp (the
//! activation). Dense weights are read in the row-quad layout of
//! [`crate::layout`]. The shapes and array lengths are those checked by
//! [`crate::Model`]'s validation; the kernels trust them.

use crate::blob::{Activation, Hwc, Layer, Le, Op, tap};
#[cfg(test)]
use crate::fixedpoint::multiply_by_quantized_multiplier;
use crate::layout::DenseLayout;

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
        let (multiplier, shift) = self.scale(c);
        self.apply(acc, multiplier, shift)
    }

    /// Channel `c`'s multiplier and shift, for [`Requantizer::apply`].
    #[inline(always)]
    pub(crate) fn scale(&self, c: usize) -> (i32, i8) {
        (le_i32(self.multipliers, c), self.shifts[c] as i8)
    }

    /// Requantizes `acc` with one channel's multiplier and shift, adds the
    /// output zero point and clamps (the activation).
    #[inline(always)]
    pub(crate) fn apply(&self, acc: i32, multiplier: i32, shift: i8) -> i8 {
        requantize(acc, multiplier, i32::from(shift))
            .wrapping_add(self.zero_point)
            .clamp(i32::from(i8::MIN), i32::from(i8::MAX))
            .max(self.min) as i8
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
            *out = self.apply(sum.wrapping_add(word(b)), word(m), shift as i8);
        }
    }
}

/// Bias, multiplier and shift bytes of (up to) four consecutive channels.
pub(crate) struct ChannelQuad<'a> {
    bias: &'a [u8],
    multipliers: &'a [u8],
    shifts: &'a [u8],
}

/// Which implementation of the int8 kernels runs. Every choice gives the
/// same bytes; they differ only in speed (and in where they build).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Kernels {
    /// Plain Rust: every target; the host's reference.
    Portable,
    /// The Cortex-M4/M7 DSP extension's SXTB16/SMLAD (`crate::dsp`) for
    /// the layers that fit it, the portable kernels for the rest.
    /// Built only where the DSP extension exists (thumbv7em).
    #[cfg(tinyvae_dsp)]
    Dsp,
    /// The Cortex-M0/M0+'s assembly (`crate::armv6m`) for the transposed
    /// convolutions that fit it, the portable kernels for the rest. Built
    /// only for ARMv6-M (thumbv6m).
    #[cfg(tinyvae_armv6m)]
    Armv6m,
}

impl Kernels {
    /// The fastest kernels this target has: `Kernels::Dsp` on thumbv7em,
    /// `Kernels::Armv6m` on thumbv6m, [`Kernels::Portable`] elsewhere.
    /// [`crate::Model::decode`] uses them.
    #[cfg(tinyvae_dsp)]
    pub const BEST: Self = Self::Dsp;
    /// The fastest kernels this target has: `Kernels::Dsp` on thumbv7em,
    /// `Kernels::Armv6m` on thumbv6m, [`Kernels::Portable`] elsewhere.
    /// [`crate::Model::decode`] uses them.
    #[cfg(tinyvae_armv6m)]
    pub const BEST: Self = Self::Armv6m;
    /// The fastest kernels this target has: `Kernels::Dsp` on thumbv7em,
    /// `Kernels::Armv6m` on thumbv6m, [`Kernels::Portable`] elsewhere.
    /// [`crate::Model::decode`] uses them.
    #[cfg(not(any(tinyvae_dsp, tinyvae_armv6m)))]
    pub const BEST: Self = Self::Portable;

    /// A short name for logs and benchmark tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Portable => "portable",
            #[cfg(tinyvae_dsp)]
            Self::Dsp => "dsp",
            #[cfg(tinyvae_armv6m)]
            Self::Armv6m => "armv6m",
        }
    }
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
/// A test compares the two on random and edge inputs.
#[inline(always)]
fn requantize(acc: i32, multiplier: i32, shift: i32) -> i32 {
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
/// [`requantize`]'s product, from 16-bit halves in 32-bit arithmetic: on
/// ARMv6-M a 64-bit product is a library call (`__aeabi_lmul`, about forty
/// instructions), four MULS are a quarter of that.
///
/// With `a = ah * 2^16 + al` and `m = mh * 2^16 + ml` (`al`, `ml` in
/// `0..2^16`, `mh` in `0..2^15`), `a * m + 2^30 = 2^32 * ah * mh +
/// 2^16 * (c1 + c2) + r` where `c1 = ah * ml`, `c2 = al * mh +
/// floor(al * ml / 2^16) + 2^14` and `0 <= r < 2^16`, so the result is
/// `2 * ah * mh + floor((c1 + c2) / 2^15)`, each term in range. A test
/// compares it with the 64-bit form.
#[cfg(any(test, tinyvae_armv6m))]
#[inline(always)]
fn high_product_halves(a: i32, m: i32) -> i32 {
    let (ah, al) = (a >> 16, (a & 0xffff) as u32);
    let (mh, ml) = (m >> 16, m & 0xffff);
    // |c1| < 2^31; c2 < 2^31 + 2^17.
    let c1 = ah * ml;
    let c2 = al * mh as u32 + ((al * ml as u32) >> 16) + (1 << 14);
    // The two remainders modulo 2^15 carry at most one.
    let carry = ((c1 & 0x7fff) as u32 + (c2 & 0x7fff)) >> 15;
    (2 * ah * mh)
        .wrapping_add(c1 >> 15)
        .wrapping_add((c2 >> 15) as i32)
        .wrapping_add(carry as i32)
}

/// Little-endian i32 number `index` of `bytes` with one bounds check (one
/// word load on thumbv7em), where `Le::i32` checks each byte.
#[inline(always)]
fn le_i32(bytes: &[u8], index: usize) -> i32 {
    match bytes.get(index * 4..index * 4 + 4) {
        Some(&[a, b, c, d]) => i32::from_le_bytes([a, b, c, d]),
        _ => Le::i32(bytes, index),
    }
}

/// Runs one layer: `input` and `output` hold exactly the op's input and
/// output lengths. The input is the layer's to use: a kernel may leave it
/// rewritten (`crate::armv6m` does).
pub(crate) fn run(kernels: Kernels, layer: &Layer<'_>, input: &mut [i8], output: &mut [i8]) {
    let requant = Requantizer::new(layer);
    match layer.op {
        Op::Dense { inputs, outputs } => {
            let layout = DenseLayout::new(usize::from(inputs), usize::from(outputs));
            match kernels {
                #[cfg(tinyvae_dsp)]
                Kernels::Dsp => dense_dsp(&layout, layer.weights, &requant, input, output),
                #[cfg(tinyvae_armv6m)]
                Kernels::Armv6m => {
                    if !crate::armv6m::dense(&layout, layer.weights, &requant, input, output) {
                        dense(&layout, layer.weights, &requant, input, output);
                    }
                }
                _ => dense(&layout, layer.weights, &requant, input, output),
            }
        }
        Op::ConvTranspose2d {
            input: in_shape,
            output: out_shape,
            kernel,
            stride,
            padding,
        } => {
            let geometry = ConvGeometry {
                input: in_shape,
                output: out_shape,
                kernel,
                stride,
                padding,
            };
            let weights = bytemuck::cast_slice(layer.weights);
            let zero_point = i32::from(layer.input.zero_point);
            let fast = match kernels {
                Kernels::Portable => false,
                #[cfg(tinyvae_dsp)]
                Kernels::Dsp => crate::dsp::conv_transpose(
                    &geometry, weights, &requant, zero_point, input, output,
                ),
                #[cfg(tinyvae_armv6m)]
                Kernels::Armv6m => crate::armv6m::conv_transpose(
                    &geometry, weights, &requant, zero_point, input, output,
                ),
            };
            if !fast {
                conv_transpose_2d(&geometry, weights, &requant, zero_point, input, output);
            }
        }
    }
}

/// Fully connected layer on the row-quad layout ([`crate::layout`]),
/// four rows per pass over the input; the input zero point is already in
/// the bias.
fn dense(
    layout: &DenseLayout,
    weights: &[u8],
    requant: &Requantizer<'_>,
    input: &[i8],
    output: &mut [i8],
) {
    // One input pair (x0, x1) against the two words of row pairs 0 and 1.
    let pair = |sums: &mut [i32; 4], words: &[u8], x0: i32, x1: i32| {
        let a = |byte: u8| i32::from((byte ^ 0x80) as i8);
        let b = |byte: u8| i32::from(byte as i8);
        for (p, w) in words.chunks_exact(4).enumerate() {
            sums[2 * p] = sums[2 * p].wrapping_add(a(w[0]) * x0 + a(w[2]) * x1);
            sums[2 * p + 1] = sums[2 * p + 1].wrapping_add(b(w[1]) * x0 + b(w[3]) * x1);
        }
    };
    let (pairs, last) = (input.chunks_exact(2), input.len() % 2 == 1);
    let odd = input.last().map_or(0, |&v| i32::from(v));
    let quads = weights.chunks_exact(layout.quad_bytes());
    for ((quad, outputs), params) in quads.zip(output.chunks_mut(4)).zip(requant.quads()) {
        let mut sums = [0_i32; 4];
        let mut words = quad.chunks_exact(8);
        // `pairs` first: zip must not take a word it has no pair for.
        for (x, w) in pairs.clone().zip(&mut words) {
            pair(&mut sums, w, i32::from(x[0]), i32::from(x[1]));
        }
        if let (true, Some(w)) = (last, words.next()) {
            // An odd input count: the last pair's second input is padding.
            pair(&mut sums, w, odd, 0);
        }
        requant.finish_quad(params, sums, outputs);
    }
}

/// [`dense`] with the DSP extension (`crate::dsp`). Layers with more than
/// [`crate::dsp::MAX_INPUTS`] inputs, or whose weights are not word-aligned
/// in memory (a blob not loaded at a 4-byte boundary), take the portable
/// kernel. The same bytes as [`dense`].
#[cfg(tinyvae_dsp)]
#[inline(never)] // its own register allocation: no spills in the quad loop
fn dense_dsp(
    layout: &DenseLayout,
    weights: &[u8],
    requant: &Requantizer<'_>,
    input: &[i8],
    output: &mut [i8],
) {
    use crate::dsp;
    let words: &[u32] = match bytemuck::try_cast_slice(weights) {
        Ok(words) if input.len() <= dsp::MAX_INPUTS => words,
        _ => return dense(layout, weights, requant, input, output),
    };
    let mut x = [0_u32; dsp::MAX_PAIRS];
    let sum128 = dsp::unpack(input, &mut x).wrapping_mul(128);
    let x = &x[..layout.pairs()];
    let quads = words.chunks_exact(2 * layout.pairs());
    for ((quad, outputs), params) in quads.zip(output.chunks_mut(4)).zip(requant.quads()) {
        let [s0, t0, s1, t1] = dsp::dot_quad(quad, x);
        let sums = [
            t0.wrapping_sub(sum128),
            s0.wrapping_sub(t0) >> 8,
            t1.wrapping_sub(sum128),
            s1.wrapping_sub(t1) >> 8,
        ];
        requant.finish_quad(params, sums, outputs);
    }
}

/// Shapes of a transposed convolution.
pub(crate) struct ConvGeometry {
    pub input: Hwc,
    pub output: Hwc,
    pub kernel: [u8; 2],
    pub stride: [u8; 2],
    pub padding: [u8; 2],
}

/// Most taps along one axis of one output pixel that [`conv_transpose_2d`]
/// lists (`ceil(kernel / stride)`; 2 for the conv decoder's 4 x 4 kernels
/// of stride 2). Layers with more take [`conv_transpose_2d_gather`].
const MAX_AXIS_TAPS: usize = 8;

/// The taps of output coordinate `o` along one axis (see [`axis_taps`]),
/// as `(kernel index, input index)` pairs in `list`; returns how many.
fn list_axis_taps(
    list: &mut [(usize, usize); MAX_AXIS_TAPS],
    o: u16,
    kernel: u8,
    stride: u8,
    pad: u8,
    n: u16,
) -> usize {
    let mut count = 0;
    for (slot, tap) in list.iter_mut().zip(axis_taps(o, kernel, stride, pad, n)) {
        *slot = tap;
        count += 1;
    }
    count
}

/// Transposed convolution in gather form: each output pixel sums the taps
/// that land on it, so no int32 scratch the size of the output is needed.
/// The taps are listed once per output pixel (no division per tap, which
/// the Cortex-M0 does in software), then two output channels per pass
/// share each input value. The same bytes as [`conv_transpose_2d_gather`].
fn conv_transpose_2d(
    g: &ConvGeometry,
    weights: &[i8],
    requant: &Requantizer<'_>,
    input_zero_point: i32,
    input: &[i8],
    output: &mut [i8],
) {
    let axis = |k: u8, s: u8| usize::from(k).div_ceil(usize::from(s));
    if axis(g.kernel[0], g.stride[0]).max(axis(g.kernel[1], g.stride[1])) > MAX_AXIS_TAPS {
        return conv_transpose_2d_gather(g, weights, requant, input_zero_point, input, output);
    }
    let in_c = usize::from(g.input.channels);
    let out_c = usize::from(g.output.channels);
    let kw = usize::from(g.kernel[1]);
    // From one output channel's weights to the next's.
    let channel = usize::from(g.kernel[0]) * kw * in_c;
    let width = usize::from(g.input.width);
    let (mut row_taps, mut column_taps) = ([(0, 0); MAX_AXIS_TAPS], [(0, 0); MAX_AXIS_TAPS]);
    let mut pixels = output.chunks_exact_mut(out_c);
    for oy in 0..g.output.height {
        let (k0, s0, p0) = (g.kernel[0], g.stride[0], g.padding[0]);
        let count = list_axis_taps(&mut row_taps, oy, k0, s0, p0, g.input.height);
        let rows = &row_taps[..count];
        for ox in 0..g.output.width {
            let Some(pixel) = pixels.next() else { return };
            let (k1, s1, p1) = (g.kernel[1], g.stride[1], g.padding[1]);
            let count = list_axis_taps(&mut column_taps, ox, k1, s1, p1, g.input.width);
            let columns = &column_taps[..count];
            let mut pairs = pixel.chunks_exact_mut(2);
            for (co, outs) in (0..out_c).step_by(2).zip(&mut pairs) {
                let mut acc = [requant.bias(co), requant.bias(co + 1)];
                for &(ky, iy) in rows {
                    for &(kx, ix) in columns {
                        let x = &input[(iy * width + ix) * in_c..][..in_c];
                        let w = &weights[co * channel + (ky * kw + kx) * in_c..];
                        let (w0, w1) = (&w[..in_c], &w[channel..][..in_c]);
                        for ((&x, &a), &b) in x.iter().zip(w0).zip(w1) {
                            let v = i32::from(x) - input_zero_point;
                            acc[0] = acc[0].wrapping_add(i32::from(a) * v);
                            acc[1] = acc[1].wrapping_add(i32::from(b) * v);
                        }
                    }
                }
                outs[0] = requant.output(co, acc[0]);
                outs[1] = requant.output(co + 1, acc[1]);
            }
            if let [out] = pairs.into_remainder() {
                let co = out_c - 1;
                let mut acc = requant.bias(co);
                for &(ky, iy) in rows {
                    for &(kx, ix) in columns {
                        let x = &input[(iy * width + ix) * in_c..][..in_c];
                        let w = &weights[co * channel + (ky * kw + kx) * in_c..][..in_c];
                        for (&x, &w) in x.iter().zip(w) {
                            acc =
                                acc.wrapping_add(i32::from(w) * (i32::from(x) - input_zero_point));
                        }
                    }
                }
                *out = requant.output(co, acc);
            }
        }
    }
}

/// Transposed convolution in gather form, tap by tap with [`tap`]: the
/// general case (any kernel and stride) and the reference the faster
/// kernels are tested against.
fn conv_transpose_2d_gather(
    g: &ConvGeometry,
    weights: &[i8],
    requant: &Requantizer<'_>,
    input_zero_point: i32,
    input: &[i8],
    output: &mut [i8],
) {
    let in_c = usize::from(g.input.channels);
    let out_c = usize::from(g.output.channels);
    let (kh, kw) = (usize::from(g.kernel[0]), usize::from(g.kernel[1]));
    let mut pixels = output.chunks_exact_mut(out_c);
    for oy in 0..g.output.height {
        for ox in 0..g.output.width {
            let Some(pixel) = pixels.next() else { return };
            for (co, out) in pixel.iter_mut().enumerate() {
                let mut acc = requant.bias(co);
                for ky in 0..g.kernel[0] {
                    let Some(iy) =
                        tap(oy, ky, g.stride[0], g.padding[0]).filter(|&i| i < g.input.height)
                    else {
                        continue;
                    };
                    for kx in 0..g.kernel[1] {
                        let Some(ix) =
                            tap(ox, kx, g.stride[1], g.padding[1]).filter(|&i| i < g.input.width)
                        else {
                            continue;
                        };
                        let at =
                            (usize::from(iy) * usize::from(g.input.width) + usize::from(ix)) * in_c;
                        let x = &input[at..at + in_c];
                        let w_at = ((co * kh + usize::from(ky)) * kw + usize::from(kx)) * in_c;
                        let w = &weights[w_at..w_at + in_c];
                        acc = w.iter().zip(x).fold(acc, |acc, (&w, &x)| {
                            acc.wrapping_add(i32::from(w) * (i32::from(x) - input_zero_point))
                        });
                    }
                }
                *out = requant.output(co, acc);
            }
        }
    }
}

/// The `(kernel index, input index)` pairs of output coordinate `o` along
/// one axis, as [`tap`] gives them, with the input index below `n`, in
/// increasing kernel index: the kernel indices congruent to `o + pad`
/// modulo `stride` (one division per call, none per tap).
fn axis_taps(
    o: u16,
    kernel: u8,
    stride: u8,
    pad: u8,
    n: u16,
) -> impl Iterator<Item = (usize, usize)> {
    let shifted = usize::from(o) + usize::from(pad);
    let stride = usize::from(stride);
    // Kernel index `shifted % stride + j * stride` reads input
    // `shifted / stride - j`: `tap`'s division, done once.
    (shifted % stride..usize::from(kernel))
        .step_by(stride)
        .zip((0..=shifted / stride).rev())
        .filter(move |&(_, i)| i < usize::from(n))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::blob::Quant;
    use crate::fixedpoint::quantize_multiplier;
    use crate::test_rng::SplitMix;

    /// Largest difference in int8 steps allowed between the integer kernels
    /// and an f64 evaluation of the same quantized math: the Q31 multiplier
    /// and the two roundings of the integer path can move a result that
    /// sits near a rounding boundary by one step.
    const TOLERANCE_STEPS: i32 = 1;

    /// A layer's parameters as owned vectors, for building test layers.
    struct Params {
        op: Op,
        /// Stored bytes: a dense layer's packed into its layout.
        weights: Vec<u8>,
        scales: Vec<f32>,
        input: Quant,
        output: Quant,
        activation: Activation,
        multipliers: Vec<u8>,
        shifts: Vec<u8>,
        bias_bytes: Vec<u8>,
        scale_bytes: Vec<u8>,
    }

    impl Params {
        fn new(
            op: Op,
            weights: Vec<i8>,
            scales: Vec<f32>,
            bias: Vec<i32>,
            input: Quant,
            output: Quant,
            relu: bool,
        ) -> Self {
            let (mut multipliers, mut shifts) = (Vec::new(), Vec::new());
            for &s in &scales {
                let real = f64::from(input.scale) * f64::from(s) / f64::from(output.scale);
                let (m, sh) = quantize_multiplier(real).unwrap();
                multipliers.extend(m.to_le_bytes());
                shifts.push(sh as i8 as u8);
            }
            let stored = match op {
                Op::Dense { inputs, outputs } => {
                    let n = usize::from(inputs);
                    let layout = DenseLayout::new(n, usize::from(outputs));
                    let mut stored = vec![0; layout.stored_len().unwrap()];
                    layout.pack(&mut stored, |r, i| weights[r * n + i]);
                    stored
                }
                Op::ConvTranspose2d { .. } => weights.iter().map(|&w| w as u8).collect(),
            };
            Self {
                op,
                weights: stored,
                bias_bytes: bias.iter().flat_map(|b| b.to_le_bytes()).collect(),
                scale_bytes: scales.iter().flat_map(|s| s.to_le_bytes()).collect(),
                scales,
                input,
                output,
                activation: if relu {
                    Activation::Relu
                } else {
                    Activation::Linear
                },
                multipliers,
                shifts,
            }
        }

        fn layer(&self) -> Layer<'_> {
            Layer {
                op: self.op,
                activation: self.activation,
                input: self.input,
                output: self.output,
                weight_scales: &self.scale_bytes,
                bias: &self.bias_bytes,
                multipliers: &self.multipliers,
                shifts: &self.shifts,
                align: &[],
                weights: &self.weights,
            }
        }

        /// f64 requantization of a real-valued accumulator of channel `c`.
        fn reference_output(&self, c: usize, acc_steps: f64) -> i32 {
            let real = acc_steps * f64::from(self.input.scale) * f64::from(self.scales[c]);
            let q =
                (real / f64::from(self.output.scale)).round() + f64::from(self.output.zero_point);
            let min = match self.activation {
                Activation::Linear => -128.0,
                Activation::Relu => f64::from(self.output.zero_point),
            };
            q.clamp(min, 127.0) as i32
        }
    }

    fn quant() -> impl Strategy<Value = Quant> {
        (0.001f32..0.2, any::<i8>()).prop_map(|(scale, zero_point)| Quant { scale, zero_point })
    }

    fn assert_close(got: &[i8], expected: &[i32]) {
        for (i, (&g, &e)) in got.iter().zip(expected).enumerate() {
            assert!(
                (i32::from(g) - e).abs() <= TOLERANCE_STEPS,
                "output {i}: int8 kernel gave {g}, f64 reference {e} (tolerance {TOLERANCE_STEPS})"
            );
        }
    }

    /// The inputs where rounding and saturation edges live.
    fn edgy_i32() -> impl Strategy<Value = i32> {
        prop_oneof![
            any::<i32>(),
            Just(i32::MIN),
            Just(i32::MAX),
            Just(0),
            Just(1 << 30),
            Just(-(1 << 30)),
            -300i32..300,
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// The kernels' requantization equals fixedpoint's TFLM-literal one.
        #[test]
        fn requantize_equals_multiply_by_quantized_multiplier(
            acc in edgy_i32(),
            multiplier in edgy_i32().prop_map(|m| m.checked_abs().unwrap_or(i32::MAX)),
            shift in -31i32..=30,
        ) {
            prop_assert_eq!(
                requantize(acc, multiplier, shift),
                multiply_by_quantized_multiplier(acc, multiplier, shift),
                "acc {} multiplier {} shift {}", acc, multiplier, shift
            );
        }

        /// The ARMv6-M high half equals the 64-bit one for every
        /// multiplier validation admits.
        #[test]
        fn high_product_halves_equals_64_bit(
            a in edgy_i32(),
            m in edgy_i32().prop_map(|m| m.checked_abs().unwrap_or(i32::MAX)),
        ) {
            let wide = ((i64::from(a) * i64::from(m) + (1 << 30)) >> 31) as i32;
            prop_assert_eq!(high_product_halves(a, m), wide, "a {} m {}", a, m);
        }

        /// Dense: integer kernel vs f64 evaluation of the same quantized math
        /// (unfolded zero point, exact real requantization).
        #[test]
        fn dense_matches_f64_reference(
            (inputs, outputs) in (1usize..48, 1usize..24),
            seed in any::<u64>(),
            input_q in quant(),
            output_q in quant(),
            relu in any::<bool>(),
        ) {
            let mut rng = SplitMix::new(seed);
            let weights: Vec<i8> = (0..inputs * outputs).map(|_| rng.i8()).collect();
            let x: Vec<i8> = (0..inputs).map(|_| rng.i8()).collect();
            let scales: Vec<f32> = (0..outputs).map(|_| 0.001 + rng.unit() * 0.05).collect();
            let raw_bias: Vec<i32> = (0..outputs).map(|_| rng.i8() as i32 * 50).collect();
            let zp = i32::from(input_q.zero_point);
            // Export folds the input zero point into the bias.
            let folded: Vec<i32> = (0..outputs)
                .map(|c| raw_bias[c] - zp * weights[c * inputs..(c + 1) * inputs].iter().map(|&w| i32::from(w)).sum::<i32>())
                .collect();
            let op = Op::Dense { inputs: inputs as u16, outputs: outputs as u16 };
            let p = Params::new(op, weights.clone(), scales, folded, input_q, output_q, relu);
            let layer = p.layer();
            let mut out = vec![0i8; outputs];
            run(Kernels::Portable, &layer, &mut x.clone(), &mut out);
            let expected: Vec<i32> = (0..outputs)
                .map(|c| {
                    let acc: f64 = (0..inputs)
                        .map(|k| f64::from(weights[c * inputs + k]) * (f64::from(x[k]) - f64::from(zp)))
                        .sum::<f64>() + f64::from(raw_bias[c]);
                    p.reference_output(c, acc)
                })
                .collect();
            assert_close(&out, &expected);
        }

        /// Transposed convolution: integer gather kernel vs an f64 scatter
        /// evaluation (the textbook definition), on random geometry.
        #[test]
        fn conv_transpose_matches_f64_reference(
            (in_h, in_w, in_c, out_c) in (1u16..6, 1u16..6, 1u16..5, 1u16..5),
            (k, s) in (1u8..5, 1u8..4),
            pad_seed in any::<u8>(),
            out_pad_seed in any::<u8>(),
            seed in any::<u64>(),
            input_q in quant(),
            output_q in quant(),
            relu in any::<bool>(),
        ) {
            let pad = pad_seed % k; // padding < kernel
            let out_pad = out_pad_seed % s; // output_padding < stride
            let full = |i: u16| (i32::from(i) - 1) * i32::from(s) + i32::from(k) - 2 * i32::from(pad) + i32::from(out_pad);
            let (out_h, out_w) = (full(in_h), full(in_w));
            prop_assume!(out_h > 0 && out_w > 0);
            let (out_h, out_w) = (out_h as u16, out_w as u16);
            let mut rng = SplitMix::new(seed);
            let (ic, oc) = (usize::from(in_c), usize::from(out_c));
            let (ku, kk) = (usize::from(k), usize::from(k));
            let weights: Vec<i8> = (0..oc * ku * kk * ic).map(|_| rng.i8()).collect();
            let x: Vec<i8> = (0..usize::from(in_h) * usize::from(in_w) * ic).map(|_| rng.i8()).collect();
            let scales: Vec<f32> = (0..oc).map(|_| 0.001 + rng.unit() * 0.05).collect();
            let bias: Vec<i32> = (0..oc).map(|_| rng.i8() as i32 * 50).collect();
            let op = Op::ConvTranspose2d {
                input: Hwc { height: in_h, width: in_w, channels: in_c },
                output: Hwc { height: out_h, width: out_w, channels: out_c },
                kernel: [k, k],
                stride: [s, s],
                padding: [pad, pad],
            };
            let p = Params::new(op, weights.clone(), scales, bias.clone(), input_q, output_q, relu);
            let layer = p.layer();
            let mut out = vec![0i8; usize::from(out_h) * usize::from(out_w) * oc];
            run(Kernels::Portable, &layer, &mut x.clone(), &mut out);

            // Scatter: every input pixel adds its kernel to the output.
            let (oh, ow) = (usize::from(out_h), usize::from(out_w));
            let mut acc = vec![0f64; oh * ow * oc];
            let zp = f64::from(input_q.zero_point);
            for iy in 0..usize::from(in_h) {
                for ix in 0..usize::from(in_w) {
                    for ky in 0..ku {
                        for kx in 0..kk {
                            let y = (iy * usize::from(s) + ky) as i64 - i64::from(pad);
                            let xo = (ix * usize::from(s) + kx) as i64 - i64::from(pad);
                            if y < 0 || xo < 0 || y >= oh as i64 || xo >= ow as i64 {
                                continue;
                            }
                            for co in 0..oc {
                                for ci in 0..ic {
                                    let w = f64::from(weights[((co * ku + ky) * kk + kx) * ic + ci]);
                                    let v = f64::from(x[(iy * usize::from(in_w) + ix) * ic + ci]) - zp;
                                    acc[(y as usize * ow + xo as usize) * oc + co] += w * v;
                                }
                            }
                        }
                    }
                }
            }
            let expected: Vec<i32> = acc
                .iter()
                .enumerate()
                .map(|(i, &a)| p.reference_output(i % oc, a + f64::from(bias[i % oc])))
                .collect();
            assert_close(&out, &expected);
            // The MAC count used for benchmarks is the number of products
            // the scatter form performs.
            let scatter_macs: u64 = (0..usize::from(in_h))
                .flat_map(|iy| (0..ku).map(move |ky| (iy * usize::from(s) + ky) as i64 - i64::from(pad)))
                .filter(|&y| y >= 0 && y < oh as i64)
                .count() as u64
                * (0..usize::from(in_w))
                    .flat_map(|ix| (0..kk).map(move |kx| (ix * usize::from(s) + kx) as i64 - i64::from(pad)))
                    .filter(|&x| x >= 0 && x < ow as i64)
                    .count() as u64
                * (ic * oc) as u64;
            prop_assert_eq!(op.macs(), scatter_macs);
        }
    }

    proptest! {
        /// The tap-listing kernel and the decompositions of
        /// `crate::subpixel` (by phases four pixels or four channels at a
        /// time, and scatter) give the gather reference's bytes, for odd
        /// and even channel counts, any padding, and kernels with more taps
        /// per axis than they take (which go to the reference).
        #[test]
        fn conv_transpose_equals_gather(
            (in_h, in_w, in_c, out_c) in (1u16..5, 1u16..5, 1u16..10, 1u16..6),
            (kh, kw, s) in (1u8..13, 1u8..6, 1u8..4),
            pad_seed in any::<u8>(),
            seed in any::<u64>(),
            input_q in quant(),
            output_q in quant(),
            relu in any::<bool>(),
        ) {
            let (ph, pw) = (pad_seed % kh, (pad_seed / 16) % kw);
            let full = |i: u16, k: u8, p: u8| (i32::from(i) - 1) * i32::from(s) + i32::from(k) - 2 * i32::from(p);
            let (out_h, out_w) = (full(in_h, kh, ph), full(in_w, kw, pw));
            prop_assume!(out_h > 0 && out_w > 0);
            let (out_h, out_w) = (out_h as u16, out_w as u16);
            let mut rng = SplitMix::new(seed);
            let (ic, oc) = (usize::from(in_c), usize::from(out_c));
            let weights: Vec<i8> = (0..oc * usize::from(kh) * usize::from(kw) * ic).map(|_| rng.i8()).collect();
            let x: Vec<i8> = (0..usize::from(in_h) * usize::from(in_w) * ic).map(|_| rng.i8()).collect();
            let scales: Vec<f32> = (0..oc).map(|_| 0.001 + rng.unit() * 0.05).collect();
            let bias: Vec<i32> = (0..oc).map(|_| rng.i8() as i32 * 50).collect();
            let geometry = ConvGeometry {
                input: Hwc { height: in_h, width: in_w, channels: in_c },
                output: Hwc { height: out_h, width: out_w, channels: out_c },
                kernel: [kh, kw],
                stride: [s, s],
                padding: [ph, pw],
            };
            let op = Op::ConvTranspose2d {
                input: geometry.input,
                output: geometry.output,
                kernel: geometry.kernel,
                stride: geometry.stride,
                padding: geometry.padding,
            };
            let p = Params::new(op, weights.clone(), scales, bias, input_q, output_q, relu);
            let layer = p.layer();
            let requant = Requantizer::new(&layer);
            let zp = i32::from(input_q.zero_point);
            let len = usize::from(out_h) * usize::from(out_w) * oc;
            let (mut fast, mut gather) = (vec![0i8; len], vec![0i8; len]);
            conv_transpose_2d(&geometry, &weights, &requant, zp, &x, &mut fast);
            conv_transpose_2d_gather(&geometry, &weights, &requant, zp, &x, &mut gather);
            prop_assert_eq!(&fast, &gather);
            // The decompositions the chips' assembly runs (`crate::subpixel`).
            if crate::subpixel::fits(&geometry) {
                let mut phases = vec![0i8; len];
                let mut backend = crate::subpixel::Portable::new(&x, ic, zp);
                crate::subpixel::conv_transpose(&geometry, &weights, &requant, &mut backend, &mut phases);
                prop_assert_eq!(&phases, &gather);
                // With buffers that hold the whole layer, and with small
                // ones that are flushed phase by phase (or decline a layer
                // whose one phase overflows them).
                let mut backend = crate::subpixel::PortableChannels::new(&x, ic, zp);
                if crate::subpixel::conv_transpose_channels::<32, 512, 4096>(&geometry, &weights, &requant, &mut backend, &mut phases) {
                    prop_assert_eq!(&phases, &gather);
                }
                let mut small = vec![0i8; len];
                if crate::subpixel::conv_transpose_channels::<3, 6, 24>(&geometry, &weights, &requant, &mut backend, &mut small) {
                    prop_assert_eq!(&small, &gather);
                }
            }
            // The scatter form (any geometry).
            {
                let mut scatter = vec![0i8; len];
                let mut sums = vec![0i32; len];
                let mut backend = crate::subpixel::PortableChannels::new(&x, ic, zp);
                prop_assert!(crate::subpixel::conv_transpose_scatter(&geometry, &weights, &requant, &mut backend, &mut sums, &mut scatter));
                prop_assert_eq!(scatter, gather);
            }
        }
    }

    /// A known dense case worked by hand: 2 inputs, 2 outputs, M = 0.5.
    #[test]
    fn dense_by_hand() {
        let q = Quant {
            scale: 1.0,
            zero_point: 0,
        };
        let half = Quant {
            scale: 2.0,
            zero_point: 3,
        };
        // M = in_scale * w_scale / out_scale = 1 * 1 / 2 = 0.5.
        let op = Op::Dense {
            inputs: 2,
            outputs: 2,
        };
        let p = Params::new(
            op,
            vec![1, 2, -3, 4],
            vec![1.0, 1.0],
            vec![10, -10],
            q,
            half,
            true,
        );
        let layer = p.layer();
        let mut out = [0i8; 2];
        run(Kernels::Portable, &layer, &mut [5, -7], &mut out);
        // c0: 1*5 + 2*-7 + 10 = 1; 0.5 -> round away = 1; + 3 = 4.
        // c1: -3*5 + 4*-7 - 10 = -53; -26.5 -> -27; + 3 = -24; ReLU clamps at zp 3.
        assert_eq!(out, [4, 3]);
    }
}
