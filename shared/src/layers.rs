//! The int8 kernels: fully connected and transposed 2-D convolution.
//!
//! Both accumulate exact int8 x int8 products in `i32` (wrapping, as on
//! Arm, so a hostile blob cannot make a debug build panic), add the int32
//! bias and requantize per output channel exactly as
//! [`crate::fixedpoint::multiply_by_quantized_multiplier`] (in a faster
//! form, [`crate::requant`]), then add the output zero point and clamp (the
//! activation). Dense weights are read in the row-quad layout of
//! [`crate::layout`]. The shapes and array lengths are those checked by
//! [`crate::Model`]'s validation; the kernels trust them.

use crate::blob::{Layer, Op, tap};
use crate::geometry::ConvGeometry;
use crate::layout::DenseLayout;
use crate::requant::Requantizer;

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
    /// The Cortex-M0/M0+'s assembly (`crate::armv6m`) for the dense layers
    /// and transposed convolutions that fit it, the portable kernels for
    /// the rest. Built only for ARMv6-M (thumbv6m).
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
#[inline(never)] // the unpacked input's frame only while it runs
fn dense_dsp(
    layout: &DenseLayout,
    weights: &[u8],
    requant: &Requantizer<'_>,
    input: &[i8],
    output: &mut [i8],
) {
    match bytemuck::try_cast_slice(weights) {
        Ok(words) if input.len() <= crate::dsp::MAX_INPUTS => {
            crate::dsp::dense(layout, words, requant, input, output);
        }
        _ => dense(layout, weights, requant, input, output),
    }
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
/// On ARMv6-M not inlined into [`run`], so that its lists are not on the
/// stack while the fast kernels run (the micro:bit's stack is tight).
#[cfg_attr(tinyvae_armv6m, inline(never))]
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
mod tests;
