//! The scatter form: four kernel offsets per pass over each input pixel,
//! the sums added into an int32 copy of the output; the Cortex-M4's form
//! for layers with fewer than four output channels.

use super::{ChannelBackend, LANES, PixelTap, dims};
use crate::geometry::ConvGeometry;
use crate::requant::Requantizer;

/// Longest run of output pixels of [`conv_transpose_scatter`].
const MAX_RUN: usize = 32;

/// Most runs (one tap each) of [`conv_transpose_scatter`].
const SCATTER_TAPS: usize = 512;

/// The transposed convolution `g` in scatter form, for layers with few
/// output channels (the decoder's last, with one): every input pixel's
/// `in_c` values meet each of the `out_c * kh * kw` weight vectors, four
/// at a time as a [`ChannelBackend`]'s lanes (`channels` with one tap
/// each), along runs of an input row, and each sum is added to the int32
/// accumulator of the output it lands on; the taps that land outside the
/// output are the only wasted work. `sums` holds one int32 per output
/// value. The same bytes as the gather kernels; returns `false`, having
/// written nothing, when its runs exceed [`SCATTER_TAPS`].
pub(crate) fn conv_transpose_scatter<'w>(
    g: &ConvGeometry,
    weights: &'w [i8],
    requant: &Requantizer<'_>,
    backend: &mut impl ChannelBackend<'w>,
    sums: &mut [i32],
    output: &mut [i8],
) -> bool {
    let [s_y, s_x, p_y, p_x, kh, kw, ..] = dims(g);
    let [.., out_h, out_w, in_h, in_w, in_c, out_c] = dims(g);
    for (at, sum) in sums.iter_mut().enumerate() {
        *sum = requant.bias(at % out_c);
    }
    // One tap per run: MAX_RUN pixels of a row, reading weight vector 0.
    let runs_per_row = in_w.div_ceil(MAX_RUN);
    let mut taps = [PixelTap::default(); SCATTER_TAPS];
    let listed = (0..in_h).flat_map(|iy| (0..in_w).step_by(MAX_RUN).map(move |ix| iy * in_w + ix));
    let mut count = 0;
    for (tap, pixel) in taps.iter_mut().zip(listed) {
        *tap = PixelTap { tap: 0, pixel };
        count += 1;
    }
    if count < in_h * runs_per_row {
        return false;
    }
    backend.taps(&mut taps[..count]);
    let vectors = out_c * kh * kw;
    let mut acc = [[0; LANES]; MAX_RUN];
    for first in (0..vectors).step_by(LANES) {
        let lanes = (vectors - first).min(LANES);
        backend.channels(&weights[first * in_c..][..lanes * in_c], lanes);
        // Each lane's output channel, kernel row, and the input columns
        // whose outputs (`ix * s + kx - pad`) lie inside the output with
        // where the first of them lands.
        let mut targets = [(0, 0, (0, 0), 0); LANES];
        for (j, target) in targets.iter_mut().enumerate().take(lanes) {
            let v = first + j;
            let (co, ky, kx) = (v / (kh * kw), v / kw % kh, v % kw);
            let lo = p_x.saturating_sub(kx).div_ceil(s_x);
            let hi = (out_w + p_x).saturating_sub(kx).div_ceil(s_x).min(in_w);
            *target = (co, ky, (lo, hi), (lo * s_x + kx).wrapping_sub(p_x));
        }
        let step = s_x * out_c;
        for iy in 0..in_h {
            for ix0 in (0..in_w).step_by(MAX_RUN) {
                let len = (in_w - ix0).min(MAX_RUN);
                let acc = &mut acc[..len];
                let tap = iy * runs_per_row + ix0 / MAX_RUN;
                backend.run(&taps[tap..tap + 1], [0; LANES], acc);
                for (j, (co, ky, columns, first_ox)) in targets[..lanes].iter().enumerate() {
                    let oy = (iy * s_y + ky).wrapping_sub(p_y);
                    // The run's pixels that land inside the output.
                    let (from, to) = (columns.0.max(ix0), columns.1.min(ix0 + len));
                    if oy >= out_h || from >= to {
                        continue;
                    }
                    let ox = first_ox + (from - columns.0) * s_x;
                    let at = (oy * out_w + ox) * out_c + co;
                    // Consecutive input pixels land `s_x` pixels apart.
                    for (k, acc) in acc[from - ix0..to - ix0].iter().enumerate() {
                        let sum = &mut sums[at + k * step];
                        *sum = sum.wrapping_add(acc[j]);
                    }
                }
            }
        }
    }
    for (at, (out, &sum)) in output.iter_mut().zip(sums.iter()).enumerate() {
        *out = requant.output(at % out_c, sum);
    }
    true
}
