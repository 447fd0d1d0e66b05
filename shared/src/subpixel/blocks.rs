//! The block form: a transposed convolution of stride `s` as an ordinary
//! convolution whose output channels are the `s_y * s_x` phases times the
//! `out_c` channels; the Cortex-M4's form for layers with fewer than four
//! output channels (the decoder's last: 2 x 2 phases of one channel).
//!
//! Output coordinate `o` (one axis) has `o + pad = q * s + r` with
//! `r = (o + pad) mod s`, and its taps are kernel indices `r + m * s`
//! reading input `q - m`. So the `s` outputs with the same `q`, a
//! *block*, read the same inputs `q, q - 1, ...`, each with its own
//! kernel index: across both axes a block of `s_y * s_x` pixels reads
//! `ceil(kh / s_y) * ceil(kw / s_x)` input pixels, and its `s_y * s_x *
//! out_c` values are the lanes of a [`ChannelBackend`] whose weights are
//! the kernel rearranged (zero where `r + m * s` falls past the kernel).
//! Consecutive blocks of a row with the same taps read consecutive input
//! pixels and form a run, one backend call. Lanes of a border block that
//! fall outside the output are computed and dropped.

use super::{ChannelBackend, LANES, MAX_PHASE_TAPS, PixelTap, dims};
use crate::geometry::ConvGeometry;
use crate::requant::{Requantizer, Scale};

/// Input pixels per block along each axis, `ceil(k / s)`, if the block
/// form takes `g`: its lanes, `s_y * s_x * out_c`, at most [`LANES`], and
/// at most [`MAX_PHASE_TAPS`] taps per block.
pub(crate) fn block_taps(g: &ConvGeometry) -> Option<[usize; 2]> {
    let [s_y, s_x, _, _, kh, kw, ..] = dims(g);
    let [.., out_c] = dims(g);
    let taps = [kh.div_ceil(s_y), kw.div_ceil(s_x)];
    (s_y * s_x * out_c <= LANES && taps[0] * taps[1] <= MAX_PHASE_TAPS).then_some(taps)
}

/// The first block along an axis with an output inside it, and one past
/// the last: blocks `q` cover outputs `q * s - pad ..` (`s` of them).
fn block_range(out: usize, stride: usize, pad: usize) -> core::ops::Range<usize> {
    (pad + 1).saturating_sub(stride).div_ceil(stride)..(out + pad).div_ceil(stride)
}

/// The transposed convolution `g` in block form (see the module doc), in
/// runs of at most `RUN` blocks. `scratch` receives the rearranged
/// weights, `lanes * taps * in_c` bytes, which the backend keeps. The same
/// bytes as the gather kernels; returns `false`, having written nothing,
/// when [`block_taps`] declines `g` or the weights overflow `scratch`.
#[inline(never)] // its own register allocation, out of `dsp`'s large frame
pub(crate) fn conv_transpose_blocks<'w, const RUN: usize>(
    g: &ConvGeometry,
    weights: &[i8],
    requant: &Requantizer<'_>,
    scratch: &'w mut [i8],
    backend: &mut impl ChannelBackend<'w>,
    output: &mut [i8],
) -> bool {
    let [s_y, s_x, p_y, p_x, kh, kw, ..] = dims(g);
    let [.., out_h, out_w, in_h, in_w, in_c, out_c] = dims(g);
    let Some([rows, columns]) = block_taps(g) else {
        return false;
    };
    let lanes = s_y * s_x * out_c;
    let vector = rows * columns * in_c;
    let Some(rearranged) = scratch.get_mut(..lanes * vector) else {
        return false;
    };
    // Lane `(ry * s_x + rx) * out_c + co`, tap `(my, mx)`: channel `co`'s
    // weights of kernel tap `(ry + my * s_y, rx + mx * s_x)`, or zeros.
    let per_lane = rows * columns;
    for (i, chunk) in rearranged.chunks_exact_mut(in_c).enumerate() {
        let (r, co) = (i / per_lane / out_c, i / per_lane % out_c);
        let (my, mx) = (i % per_lane / columns, i % columns);
        let (ky, kx) = (r / s_x + my * s_y, r % s_x + mx * s_x);
        if ky < kh && kx < kw {
            chunk.copy_from_slice(&weights[((co * kh + ky) * kw + kx) * in_c..][..in_c]);
        } else {
            chunk.fill(0);
        }
    }
    backend.channels(rearranged, lanes);
    let mut bias = [0; LANES];
    let mut scales = [Scale::default(); LANES];
    // Each lane's output channel and offset `(ry, rx)` within a block.
    let mut places = [(0, 0, 0); LANES];
    for lane in 0..lanes {
        let (r, co) = (lane / out_c, lane % out_c);
        bias[lane] = requant.bias(co);
        scales[lane] = requant.scale(co);
        places[lane] = (co, r / s_x, r % s_x);
    }
    let mut taps = [PixelTap::default(); MAX_PHASE_TAPS];
    let mut acc = [[0; LANES]; RUN];
    // The taps `m` of an axis that block `q` reads inside the input, a
    // bit each: `m <= q` and `q - m < n`.
    let reach = |q: usize, count: usize, n: usize| -> u32 {
        (0..count)
            .filter(|&m| m <= q && q - m < n)
            .fold(0, |bits, m| bits | 1 << m)
    };
    let (along_y, along_x) = (block_range(out_h, s_y, p_y), block_range(out_w, s_x, p_x));
    for qy in along_y {
        let row_mask = reach(qy, rows, in_h);
        let mut qx = along_x.start;
        while qx < along_x.end {
            let mask = reach(qx, columns, in_w);
            let mut len = 1;
            while len < RUN && qx + len < along_x.end && reach(qx + len, columns, in_w) == mask {
                len += 1;
            }
            let mut count = 0;
            for my in (0..rows).filter(|&my| row_mask & 1 << my != 0) {
                for mx in (0..columns).filter(|&mx| mask & 1 << mx != 0) {
                    taps[count] = PixelTap {
                        pixel: (qy - my) * in_w + qx - mx,
                        tap: my * columns + mx,
                    };
                    count += 1;
                }
            }
            let acc = &mut acc[..len];
            if count > 0 {
                backend.taps(&mut taps[..count]);
                backend.run(&taps[..count], bias, acc);
            } else {
                acc.fill(bias);
            }
            for (lane, &(co, ry, rx)) in places[..lanes].iter().enumerate() {
                // The blocks `lo..hi` of the run whose lane lands inside
                // the output: `oy` and `ox = column + b * s_x - p_x` (the
                // row's subtraction wraps below zero).
                let oy = (qy * s_y + ry).wrapping_sub(p_y);
                let column = qx * s_x + rx;
                let lo = p_x.saturating_sub(column).div_ceil(s_x);
                let hi = (out_w + p_x).saturating_sub(column).div_ceil(s_x).min(len);
                if oy >= out_h || lo >= hi {
                    continue;
                }
                let start = (oy * out_w + column + lo * s_x - p_x) * out_c + co;
                let outputs = output[start..].iter_mut().step_by(s_x * out_c);
                for (out, acc) in outputs.zip(&acc[lo..hi]) {
                    *out = requant.apply(acc[lane], scales[lane]);
                }
            }
            qx += len;
        }
    }
    true
}
