//! Transposed convolution by phases (sub-pixel decomposition), four lanes
//! at a time: the loop shapes of the chips' fast kernels.
//!
//! A transposed convolution of stride `s` splits its output pixels into
//! `s_y * s_x` *phases* by `(oy mod s_y, ox mod s_x)`. Every pixel of a
//! phase is reached by the same kernel taps `(ky, kx)` (those with
//! `ky = (oy + pad_y) mod s_y` modulo `s_y`, and likewise across), and tap
//! number `(my, mx)` of the phase reads input pixel `(qy - my, qx - mx)`
//! where `q = (o + pad) / s`. So within a phase an ordinary convolution
//! remains, with every multiply-accumulate useful and no scatter-add.
//!
//! Four loop shapes share one input value or one weight among four
//! *lanes*, so that one load serves four multiply-accumulates:
//! - `conv_transpose_channels` (the *channel form*): the lanes are four
//!   output channels of one output pixel, over its taps (none outside the
//!   input). Along a phase row, consecutive pixels with the same taps read
//!   consecutive input pixels and form a *run*, one backend call.
//! - `conv_transpose` (the *pixel form*): the lanes are four pixels of a
//!   *block* (a rectangle of a phase's pixels over which the same taps
//!   reach the input), in raster order, sharing each tap's weights; no
//!   lane reads outside the input. For layers with fewer than four output
//!   channels on the Cortex-M0.
//! - `conv_transpose_blocks` (the *block form*): the lanes are the
//!   `s_y * s_x` phases (times the output channels) of a block of output
//!   pixels, one per phase, that read the same input pixels: a transposed
//!   convolution turned into an ordinary one. For layers with fewer than
//!   four output channels on the Cortex-M4.
//! - `conv_transpose_scatter` (the *scatter form*): the lanes are four of
//!   the `out_c * kh * kw` kernel offsets, each input pixel meets them
//!   once and the sums are added to an int32 copy of the output. For the
//!   Cortex-M4's layers with fewer than four output channels that the
//!   block form declines.
//!
//! The arithmetic is a backend's: the Cortex-M0's and the Cortex-M4's
//! assembly in `crate::armv6m` and `crate::dsp`, and plain-Rust ones that
//! the host's tests hold to the gather kernels. Sums wrap modulo 2^32 like
//! the gather kernels' and do not depend on the order of the terms, so
//! every backend gives their bytes (the tests compare them).

use crate::geometry::ConvGeometry;
use crate::requant::{Requantizer, Scale};

#[cfg(any(test, tinyvae_dsp))]
mod blocks;
#[cfg(any(test, tinyvae_armv6m))]
mod pixels;
#[cfg(test)]
mod reference;
#[cfg(any(test, tinyvae_dsp))]
mod scatter;

#[cfg(any(test, tinyvae_dsp))]
pub(crate) use blocks::{block_taps, conv_transpose_blocks};
#[cfg(any(test, tinyvae_armv6m))]
pub(crate) use pixels::{BlockTap, LaneBackend, conv_transpose};
#[cfg(test)]
pub(crate) use reference::{Portable, PortableChannels};
#[cfg(any(test, tinyvae_dsp))]
pub(crate) use scatter::conv_transpose_scatter;

/// Output pixels computed together.
pub(crate) const LANES: usize = 4;

/// Most taps a phase may have (`ceil(kh / s_y) * ceil(kw / s_x)`; 4 for
/// the conv decoder's 4 x 4 kernels of stride 2). Layers with more take
/// the gather kernels.
pub(crate) const MAX_PHASE_TAPS: usize = 16;

/// A transposed convolution's shapes as `usize`, in one order for every
/// loop here: stride, padding and kernel (rows, then columns), output and
/// input height and width, input and output channels.
type Dims = [usize; 12];

/// [`Dims`] of `g`.
fn dims(g: &ConvGeometry) -> Dims {
    let (input, output) = (g.input, g.output);
    let [s, p, k] = [g.stride, g.padding, g.kernel].map(|pair| pair.map(usize::from));
    let [out_h, out_w, in_h, in_w, in_c, out_c] = [
        output.height,
        output.width,
        input.height,
        input.width,
        input.channels,
        output.channels,
    ]
    .map(usize::from);
    [
        s[0], s[1], p[0], p[1], k[0], k[1], out_h, out_w, in_h, in_w, in_c, out_c,
    ]
}

/// Whether `conv_transpose` and `conv_transpose_channels` take this
/// geometry.
pub(crate) fn fits(g: &ConvGeometry) -> bool {
    let axis = |k: u8, s: u8| usize::from(k).div_ceil(usize::from(s));
    axis(g.kernel[0], g.stride[0]) * axis(g.kernel[1], g.stride[1]) <= MAX_PHASE_TAPS
}

/// One tap of one output pixel: where its input is (the input pixel's
/// raster index) and where its weights are (the tap's index `ky * kw +
/// kx`: they start `in_c` times that into an output channel's
/// `[kh][kw][in_c]`).
///
/// A [`ChannelBackend`] may rewrite both into its own terms, byte offsets
/// say (`ChannelBackend::taps`); the assembly reads them, in this order,
/// as two `u32`s.
#[cfg(any(test, tinyvae_dsp, tinyvae_armv6m))]
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct PixelTap {
    pub pixel: usize,
    pub tap: usize,
}

/// The arithmetic of [`conv_transpose_channels`] and
/// `conv_transpose_scatter`, whose lanes are four weight vectors (four
/// output channels, or four of the scatter form's kernel offsets) over the
/// same input values.
#[cfg(any(test, tinyvae_dsp, tinyvae_armv6m))]
pub(crate) trait ChannelBackend<'w> {
    /// The listed runs' taps, once before their [`ChannelBackend::run`]s,
    /// which get them back: the backend may rewrite each into its own form
    /// (byte offsets, say). Each run's pixels read consecutive input pixels
    /// from its taps' `pixel` on.
    fn taps(&mut self, taps: &mut [PixelTap]);

    /// The next `lanes` (1 to 4) weight vectors: `weights` holds their
    /// `[taps][in_c]` one after the other.
    fn channels(&mut self, weights: &'w [i8], lanes: usize);

    /// For each pixel `p` of a run (`acc.len()` of them, at least one),
    /// sets `acc[p][j]` to `bias[j]` plus, for each of its `taps` (at least
    /// one, as [`ChannelBackend::taps`] left them), the dot product of lane
    /// `j`'s weights of the tap with input pixel `tap.pixel + p` minus the
    /// input zero point, wrapping. Lanes past the vectors' count are
    /// discarded.
    fn run(&mut self, taps: &[PixelTap], bias: [i32; LANES], acc: &mut [[i32; LANES]]);
}

/// A run of [`conv_transpose_channels`]: output pixels `s_x` apart on one
/// output row, with the same taps on consecutive input pixels.
#[cfg(any(test, tinyvae_dsp, tinyvae_armv6m))]
#[derive(Clone, Copy, Default)]
struct Run {
    /// The first output pixel's index.
    at: usize,
    pixels: usize,
    /// Its taps in the layer's tap list.
    taps: (usize, usize),
}

/// Appends the runs of phase `(py, px)` of `g` (at most `longest` pixels
/// each) and their taps (the first pixel's) to `runs[*run_count..]` and
/// `taps[*tap_count..]`; returns `false`, the counts unchanged, if they do
/// not fit.
#[cfg(any(test, tinyvae_dsp, tinyvae_armv6m))]
fn list_phase(
    g: &ConvGeometry,
    (py, px): (usize, usize),
    longest: usize,
    (runs, run_count): (&mut [Run], &mut usize),
    (taps, tap_count): (&mut [PixelTap], &mut usize),
) -> bool {
    let [s_y, s_x, p_y, p_x, kh, kw, ..] = dims(g);
    let [.., out_h, out_w, in_h, in_w, _, _] = dims(g);
    // As in `conv_transpose`: the phase's kernel rows and columns, and
    // q = (o + pad) / s of its first pixel.
    let (first_ky, first_kx) = ((py + p_y) % s_y, (px + p_x) % s_x);
    let rows = kh.saturating_sub(first_ky).div_ceil(s_y);
    let columns = kw.saturating_sub(first_kx).div_ceil(s_x);
    let (qy0, qx0) = ((py + p_y) / s_y, (px + p_x) / s_x);
    let phase_w = (out_w - px).div_ceil(s_x);
    // Which of the phase's kernel columns reach the input from phase
    // column `c`, a bit each: `mx <= qx` and `qx - mx < in_w`, with
    // `qx = qx0 + c`.
    let all = (1_u32 << columns) - 1;
    let reach = |c: usize| {
        let qx = qx0 + c;
        let low = if qx + 1 >= columns {
            all
        } else {
            (1 << (qx + 1)) - 1
        };
        let skip = (qx + 1).saturating_sub(in_w).min(columns);
        low & (all >> skip << skip)
    };
    let (mut run_at, mut tap_at) = (*run_count, *tap_count);
    let mut c = 0;
    while c < phase_w {
        // The run: from `c` while the same columns reach, the same on
        // every row of the phase.
        let mask = reach(c);
        let mut len = 1;
        while len < longest && c + len < phase_w && reach(c + len) == mask {
            len += 1;
        }
        for (oy, qy) in (py..out_h).step_by(s_y).zip(qy0..) {
            let first_tap = tap_at;
            for my in (0..rows).filter(|&my| qy.wrapping_sub(my) < in_h) {
                for mx in (0..columns).filter(|&mx| mask & 1 << mx != 0) {
                    let (ky, kx) = (first_ky + my * s_y, first_kx + mx * s_x);
                    let Some(slot) = taps.get_mut(tap_at) else {
                        return false;
                    };
                    *slot = PixelTap {
                        tap: ky * kw + kx,
                        pixel: (qy - my) * in_w + qx0 + c - mx,
                    };
                    tap_at += 1;
                }
            }
            let Some(slot) = runs.get_mut(run_at) else {
                return false;
            };
            *slot = Run {
                at: oy * out_w + px + c * s_x,
                pixels: len,
                taps: (first_tap, tap_at),
            };
            run_at += 1;
        }
        c += len;
    }
    (*run_count, *tap_count) = (run_at, tap_at);
    true
}

/// The transposed convolution `g`, four output channels at a time over
/// each output pixel's taps, listed by phase (no division per pixel): no
/// multiply-accumulate is spent on taps outside the input, only on the
/// lanes past the last channel of a layer whose channel count is not a
/// multiple of four. Along a phase row, consecutive output pixels with the
/// same taps read consecutive input pixels: the backend takes them as one
/// run (of at most `RUN` pixels). Runs are listed, phase by phase, into
/// buffers of `RUNS` runs and `TAPS` taps, and each full buffer serves
/// every channel. The same bytes
/// as the gather kernels for every geometry [`fits`] admits; returns
/// `false`, having written part of the output at most, when one phase
/// alone overflows the buffers.
#[cfg(any(test, tinyvae_dsp, tinyvae_armv6m))]
pub(crate) fn conv_transpose_channels<
    'w,
    const RUN: usize,
    const RUNS: usize,
    const TAPS: usize,
>(
    g: &ConvGeometry,
    weights: &'w [i8],
    requant: &Requantizer<'_>,
    backend: &mut impl ChannelBackend<'w>,
    output: &mut [i8],
) -> bool {
    let mut runs = [Run::default(); RUNS];
    let mut taps = [PixelTap::default(); TAPS];
    let (mut run_count, mut tap_count) = (0, 0);
    let [s_y, s_x, _, _, _, _, ..] = dims(g);
    let [.., out_h, out_w, _, _, _, _] = dims(g);
    let phases = (0..s_y.min(out_h)).flat_map(|py| (0..s_x.min(out_w)).map(move |px| (py, px)));
    for phase in phases {
        let mut flushed = false;
        while !list_phase(
            g,
            phase,
            RUN,
            (&mut runs, &mut run_count),
            (&mut taps, &mut tap_count),
        ) {
            // The buffers are full: run what they hold, then list again;
            // a phase that overflows empty buffers is declined.
            if flushed || run_count == 0 {
                return false;
            }
            let (runs, taps) = (&runs[..run_count], &mut taps[..tap_count]);
            run_channels::<RUN>(g, weights, requant, backend, runs, taps, output);
            (run_count, tap_count, flushed) = (0, 0, true);
        }
    }
    let (runs, taps) = (&runs[..run_count], &mut taps[..tap_count]);
    run_channels::<RUN>(g, weights, requant, backend, runs, taps, output);
    true
}

/// [`conv_transpose_channels`]' work on the listed `runs` (their taps in
/// `taps`), for every output channel.
#[cfg(any(test, tinyvae_dsp, tinyvae_armv6m))]
fn run_channels<'w, const RUN: usize>(
    g: &ConvGeometry,
    weights: &'w [i8],
    requant: &Requantizer<'_>,
    backend: &mut impl ChannelBackend<'w>,
    runs: &[Run],
    taps: &mut [PixelTap],
    output: &mut [i8],
) {
    if runs.is_empty() {
        return;
    }
    backend.taps(taps);
    let taps = &*taps;
    let [_, s_x, _, _, kh, kw, ..] = dims(g);
    let [.., _, _, _, _, in_c, out_c] = dims(g);
    let channel = kh * kw * in_c;
    // The run's outputs are `s_x` pixels apart.
    let step = s_x * out_c;
    let mut acc = [[0; LANES]; RUN];
    for first in (0..out_c).step_by(LANES) {
        let lanes = (out_c - first).min(LANES);
        backend.channels(&weights[first * channel..][..lanes * channel], lanes);
        let mut bias = [0; LANES];
        let mut scales = [Scale::default(); LANES];
        for j in 0..lanes {
            bias[j] = requant.bias(first + j);
            scales[j] = requant.scale(first + j);
        }
        for run in runs {
            let acc = &mut acc[..run.pixels];
            if run.taps.0 < run.taps.1 {
                backend.run(&taps[run.taps.0..run.taps.1], bias, acc);
            } else {
                acc.fill(bias);
            }
            let mut at = run.at * out_c + first;
            for acc in acc.iter() {
                let four = output[at..].first_chunk_mut::<LANES>();
                if let (Some(out), LANES) = (four, lanes) {
                    // Four lanes: one bounds check.
                    requant.apply_four(acc, &scales, out);
                } else {
                    let out = &mut output[at..at + lanes];
                    for ((out, &acc), &scale) in out.iter_mut().zip(acc).zip(&scales) {
                        *out = requant.apply(acc, scale);
                    }
                }
                at += step;
            }
        }
    }
}
