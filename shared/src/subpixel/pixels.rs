//! Four output pixels of a phase per pass, sharing each tap's weights:
//! the Cortex-M0's form for layers with fewer than four output channels.
//!
//! A phase's pixels split into *blocks*, rectangles of phase rows and
//! columns over which the same taps reach the input: on the conv decoder's
//! last layer (4 x 4 kernel, stride 2, 14 x 14 pixels per phase) an inner
//! block of 13 x 13 pixels with four taps, two edges of 13 with two and a
//! corner with one. Tap `(my, mx)` of pixel `q = (qy, qx)` reads input
//! pixel `q - (my, mx)`, whose raster index is `my * in_w + mx` below
//! `q`'s, the same for every pixel of the block: four pixels of a block,
//! in raster order, share its taps and each tap's weights, no lane reads
//! outside the input, and the taps are listed once per block.

use super::{LANES, MAX_PHASE_TAPS, dims};
use crate::geometry::ConvGeometry;
use crate::requant::Requantizer;

/// One tap of a block: how far before each pixel's `q` (in the input's
/// raster order) its input pixel is, and where its weights start within
/// an output channel's `[kh][kw][in_c]`. The assembly reads a backend's
/// copy, in this order, as two `u32`s.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct BlockTap {
    pub back: usize,
    pub weights: usize,
}

/// The arithmetic of [`conv_transpose`]: a backend holds the layer's input
/// in whatever form its kernel reads.
pub(crate) trait LaneBackend<'w> {
    /// The taps of the next block (one to [`MAX_PHASE_TAPS`]), before its
    /// channels: the backend keeps them, in its own form.
    fn taps(&mut self, taps: &[BlockTap]);

    /// The output channel whose [`LaneBackend::dot`]s follow: `channel`
    /// holds its `[kh][kw][in_c]` weights. Returns what to add to the bias
    /// of the block's sums in this channel (a backend whose dot products
    /// leave out the zero point adds its share here, once per block).
    fn channel(&mut self, channel: &'w [i8]) -> i32;

    /// Adds to `acc[j]`, for every tap of the block, the dot product of
    /// the tap's weights in the channel with input pixel `lanes[j] -
    /// tap.back` minus the input zero point (or, with the share
    /// [`LaneBackend::channel`] returned, of what that gives), wrapping.
    fn dot(&mut self, lanes: [usize; LANES], acc: &mut [i32; LANES]);
}

/// The spans of phase coordinates `0..len` (rows or columns) over which
/// the same `taps` of one axis reach the input: `(start, end, mask)`, bit
/// `m` of `mask` set when tap `m` of coordinate `i` reads input `q0 + i -
/// m`, inside `0..n`.
fn spans(
    q0: usize,
    len: usize,
    taps: usize,
    n: usize,
) -> impl Iterator<Item = (usize, usize, u32)> {
    let mask = move |i: usize| {
        let q = q0 + i;
        (0..taps)
            .filter(|&m| m <= q && q - m < n)
            .fold(0, |mask, m| mask | 1 << m)
    };
    let mut start = 0;
    core::iter::from_fn(move || {
        (start < len).then(|| {
            let first = mask(start);
            let mut end = start + 1;
            while end < len && mask(end) == first {
                end += 1;
            }
            let span = (start, end, first);
            start = end;
            span
        })
    })
}

/// The set bits of `mask` among the low `n`.
fn bits(mask: u32, n: usize) -> impl Iterator<Item = usize> {
    (0..n).filter(move |&m| mask >> m & 1 != 0)
}

/// The transposed convolution `g` by phases and blocks, four pixels of a
/// block at a time (the last lanes of a block repeat its last pixel, their
/// sums discarded): the same bytes as the gather kernels for every
/// geometry [`super::fits`] admits.
pub(crate) fn conv_transpose<'w>(
    g: &ConvGeometry,
    weights: &'w [i8],
    requant: &Requantizer<'_>,
    backend: &mut impl LaneBackend<'w>,
    output: &mut [i8],
) {
    let [s_y, s_x, p_y, p_x, kh, kw, ..] = dims(g);
    let [.., out_h, out_w, in_h, in_w, in_c, out_c] = dims(g);
    let mut taps = [BlockTap::default(); MAX_PHASE_TAPS];
    for py in 0..s_y.min(out_h) {
        for px in 0..s_x.min(out_w) {
            // The phase's kernel rows and columns: tap m of an axis has
            // kernel index `first + m * s` and reads input `q - m`, with
            // q = (o + pad) / s: `q0 + i` on phase row or column i.
            let (first_ky, first_kx) = ((py + p_y) % s_y, (px + p_x) % s_x);
            let rows = kh.saturating_sub(first_ky).div_ceil(s_y);
            let columns = kw.saturating_sub(first_kx).div_ceil(s_x);
            let (qy0, qx0) = ((py + p_y) / s_y, (px + p_x) / s_x);
            let (phase_h, phase_w) = ((out_h - py).div_ceil(s_y), (out_w - px).div_ceil(s_x));
            for (r0, r1, row_mask) in spans(qy0, phase_h, rows, in_h) {
                for (c0, c1, column_mask) in spans(qx0, phase_w, columns, in_w) {
                    let mut n = 0;
                    for my in bits(row_mask, rows) {
                        for mx in bits(column_mask, columns) {
                            let (ky, kx) = (first_ky + my * s_y, first_kx + mx * s_x);
                            taps[n] = BlockTap {
                                back: my * in_w + mx,
                                weights: (ky * kw + kx) * in_c,
                            };
                            n += 1;
                        }
                    }
                    if n > 0 {
                        backend.taps(&taps[..n]);
                    }
                    let block = Block {
                        rows: (r0, r1),
                        columns: (c0, c1),
                        q0: (qy0, qx0),
                        phase: (py, px),
                    };
                    let channels = weights.chunks_exact(kh * kw * in_c).take(out_c);
                    for (co, channel) in channels.enumerate() {
                        let share = if n > 0 { backend.channel(channel) } else { 0 };
                        let bias = requant.bias(co).wrapping_add(share);
                        block.run(
                            g,
                            (co, bias),
                            requant,
                            (n > 0).then_some(&mut *backend),
                            output,
                        );
                    }
                }
            }
        }
    }
}

/// A block of a phase: its phase rows and columns (`start..end`), `q` of
/// the phase's first pixel, and the phase.
struct Block {
    rows: (usize, usize),
    columns: (usize, usize),
    q0: (usize, usize),
    phase: (usize, usize),
}

impl Block {
    /// Output channel `co` (whose sums start at `bias`) of the block's
    /// pixels, four at a time in raster order, from the backend's dot
    /// products over the block's taps (none without a backend: the bias
    /// alone). Each lane's `q` and output index step along the block's
    /// rows (no multiplication per pixel).
    fn run<'w>(
        &self,
        g: &ConvGeometry,
        (co, bias): (usize, i32),
        requant: &Requantizer<'_>,
        mut backend: Option<&mut impl LaneBackend<'w>>,
        output: &mut [i8],
    ) {
        let [s_y, s_x, ..] = dims(g);
        let [.., out_w, _, in_w, _, out_c] = dims(g);
        let scale = requant.scale(co);
        let ((r0, r1), (c0, c1)) = (self.rows, self.columns);
        let width = c1 - c0;
        // The first pixel's `q` and output index; a pixel's successor on
        // its row is one `q` and `s_x` output pixels on, the first pixel
        // of the next row `in_w - width` and `s_y` output rows further
        // (steps that may be negative, modulo 2^32 or 2^64: a block
        // without taps may be wider than the input, and `s_x` larger
        // than `s_y`).
        let mut q = (self.q0.0 + r0) * in_w + self.q0.1 + c0;
        let mut out = ((self.phase.0 + r0 * s_y) * out_w + self.phase.1 + c0 * s_x) * out_c + co;
        let (q_row, out_step) = (in_w.wrapping_sub(width), s_x * out_c);
        let out_row = (s_y * out_w * out_c).wrapping_sub(width * out_step);
        let (mut left, mut column) = ((r1 - r0) * width, 0);
        while left > 0 {
            let count = left.min(LANES);
            let (mut lanes, mut outs) = ([q; LANES], [out; LANES]);
            for (lane, at) in lanes.iter_mut().zip(&mut outs).take(count) {
                (*lane, *at) = (q, out);
                (q, out, column) = (q + 1, out + out_step, column + 1);
                if column == width {
                    (q, out) = (q.wrapping_add(q_row), out.wrapping_add(out_row));
                    column = 0;
                }
            }
            // Lanes past the block's last pixel repeat it.
            let last = lanes[count - 1];
            lanes[count..].fill(last);
            let mut acc = [bias; LANES];
            if let Some(backend) = backend.as_mut() {
                backend.dot(lanes, &mut acc);
            }
            for (&at, &acc) in outs[..count].iter().zip(&acc) {
                output[at] = requant.apply(acc, scale);
            }
            left -= count;
        }
    }
}
