//! Four output pixels of a phase per pass, sharing each tap's weights:
//! the Cortex-M0's form for layers with fewer than four output channels.

use super::{LANES, MAX_PHASE_TAPS, dims};
use crate::geometry::ConvGeometry;
use crate::requant::Requantizer;

/// One tap of a lane group: where its weights start within an output
/// channel's `[kh][kw][in_c]`, and each lane's input pixel (its index in
/// the input's raster order), `None` where the tap falls outside the input.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct GroupTap {
    pub weights: usize,
    pub pixels: [Option<usize>; LANES],
}

/// The arithmetic of [`conv_transpose`]: a backend holds the layer's input
/// in whatever form its kernel reads.
pub(crate) trait LaneBackend {
    /// The taps of the next lane group (at least one), before its
    /// [`LaneBackend::dot`] calls, one per output channel.
    fn group(&mut self, taps: &[GroupTap]);

    /// Adds to `acc[j]`, for every tap of the group, the dot product of
    /// the tap's weights in `channel` (one output channel's
    /// `[kh][kw][in_c]`) with lane `j`'s input pixel minus the input zero
    /// point, wrapping.
    fn dot(&mut self, channel: &[i8], acc: &mut [i32; LANES]);
}

/// The transposed convolution `g` by phases: the same bytes as the gather
/// kernels for every geometry [`super::fits`] admits.
pub(crate) fn conv_transpose(
    g: &ConvGeometry,
    weights: &[i8],
    requant: &Requantizer<'_>,
    backend: &mut impl LaneBackend,
    output: &mut [i8],
) {
    let [s_y, s_x, p_y, p_x, kh, kw, ..] = dims(g);
    let [.., out_h, out_w, in_h, in_w, in_c, out_c] = dims(g);
    let channel = kh * kw * in_c;
    let mut taps = [GroupTap::default(); MAX_PHASE_TAPS];
    for py in 0..s_y.min(out_h) {
        for px in 0..s_x.min(out_w) {
            // The phase's kernel rows and columns: tap m of an axis has
            // kernel index `first + m * s` and reads input `q - m`.
            let (first_ky, first_kx) = ((py + p_y) % s_y, (px + p_x) % s_x);
            let rows = kh.saturating_sub(first_ky).div_ceil(s_y);
            let columns = kw.saturating_sub(first_kx).div_ceil(s_x);
            // The phase's pixels (oy, ox) in raster order, with
            // q = (o + pad) / s: `qy0 + r` on phase row r.
            let (qy0, qx0) = ((py + p_y) / s_y, (px + p_x) / s_x);
            let (phase_w, phase_h) = ((out_w - px).div_ceil(s_x), (out_h - py).div_ceil(s_y));
            let (mut r, mut c) = (0, 0);
            while r < phase_h {
                // Up to four pixels: (output index, qy, qx).
                let mut lanes = [(0, 0, 0); LANES];
                let mut count = 0;
                while count < LANES && r < phase_h {
                    let (oy, ox) = (py + r * s_y, px + c * s_x);
                    lanes[count] = (oy * out_w + ox, qy0 + r, qx0 + c);
                    count += 1;
                    c += 1;
                    if c == phase_w {
                        (r, c) = (r + 1, 0);
                    }
                }
                let mut n = 0;
                for my in 0..rows {
                    for mx in 0..columns {
                        let mut tap = GroupTap {
                            weights: ((first_ky + my * s_y) * kw + first_kx + mx * s_x) * in_c,
                            pixels: [None; LANES],
                        };
                        let mut any = false;
                        for (slot, &(_, qy, qx)) in tap.pixels.iter_mut().zip(&lanes[..count]) {
                            // `q - m` inside the input (wrapping below 0).
                            let (iy, ix) = (qy.wrapping_sub(my), qx.wrapping_sub(mx));
                            if iy < in_h && ix < in_w {
                                *slot = Some(iy * in_w + ix);
                                any = true;
                            }
                        }
                        if any {
                            taps[n] = tap;
                            n += 1;
                        }
                    }
                }
                if n > 0 {
                    backend.group(&taps[..n]);
                }
                for (co, channel) in weights.chunks_exact(channel).take(out_c).enumerate() {
                    let mut acc = [requant.bias(co); LANES];
                    if n > 0 {
                        backend.dot(channel, &mut acc);
                    }
                    let scale = requant.scale(co);
                    for (&(at, _, _), &acc) in lanes[..count].iter().zip(&acc) {
                        output[at * out_c + co] = requant.apply(acc, scale);
                    }
                }
            }
        }
    }
}
