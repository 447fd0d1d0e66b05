//! The kernel-4 stride-2 padding-1 layers' two data movements as single
//! passes over host memory, and their autodiff on burn-flex.
//!
//! - [`patches`] (im2col): a map `[B, H, W, C]` (channels last, `H`, `W`
//!   even) to its patch matrix `[B*(H/2)*(W/2), 16*C]`: row `(b, y, x)`,
//!   column `(ky*4 + kx)*C + c` holds `map[b, 2y - 1 + ky, 2x - 1 + kx, c]`
//!   (0 outside the map). A convolution is then `patches(x) * W`.
//! - [`overlap`] (col2im): its adjoint, a patch matrix back to the map,
//!   adding every entry into the pixel it came from. A transposed
//!   convolution is `overlap(x * W')`: each input pixel's 4x4 footprint of
//!   outputs, added where footprints overlap.
//!
//! Each is the other's backward pass, so the custom autodiff operations
//! ([`patches_tensor`], [`overlap_tensor`]) are one small `Backward` each.
//! Both are gathers (every output element is written once, by one
//! thread): rows of the output run in parallel on the rayon pool.

use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::flex::FlexTensor;
use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;

use crate::flex::{FlexAutodiff, values};

/// A map's shape `[B, H, W, C]`, channels last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MapShape {
    pub batch: usize,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
}

impl MapShape {
    /// Rows of its patch matrix: `B * H/2 * W/2`.
    fn rows(self) -> usize {
        self.batch * (self.height / 2) * (self.width / 2)
    }

    /// Columns of its patch matrix: `16 * C`.
    fn columns(self) -> usize {
        16 * self.channels
    }
}

/// For map coordinate `at` (a row or column), the two patch positions and
/// kernel taps that read it: `(p, k)` with `at = 2p - 1 + k`, `p` in
/// `0..half`. Outside positions are `None`.
fn taps(at: usize, half: usize) -> [Option<(usize, usize)>; 2] {
    // k = at + 1 - 2p in 0..4: p = (at + 1) / 2 (k = 0 or 1) and p - 1 (k = 2 or 3).
    let p = at.div_ceil(2);
    let k = at + 1 - 2 * p;
    [
        (p < half).then_some((p, k)),
        (p >= 1 && p - 1 < half).then(|| (p - 1, k + 2)),
    ]
}

/// im2col: `map` `[B, H, W, C]` to its patch matrix (module docs).
pub(crate) fn patches(map: &[f32], shape: MapShape) -> Vec<f32> {
    let MapShape {
        height,
        width,
        channels: c,
        ..
    } = shape;
    let (ho, wo) = (height / 2, width / 2);
    let mut out = vec![0.0f32; shape.rows() * shape.columns()];
    // One chunk per patch-matrix row block (b, y): wo rows of 16C.
    out.par_chunks_mut(wo * 16 * c)
        .with_min_len(4)
        .enumerate()
        .for_each(|(by, block)| {
            let (b, y) = (by / ho, by % ho);
            for (x, row) in block.chunks_exact_mut(16 * c).enumerate() {
                for ky in 0..4 {
                    let Some(my) = (2 * y + ky).checked_sub(1).filter(|&m| m < height) else {
                        continue;
                    };
                    let line = &map[(b * height + my) * width * c..][..width * c];
                    let taps = &mut row[ky * 4 * c..][..4 * c];
                    // Map columns 2x - 1 ..= 2x + 2, clipped: one copy.
                    let first = (2 * x).saturating_sub(1);
                    let last = (2 * x + 3).min(width);
                    let skip = first + 1 - 2 * x;
                    taps[skip * c..(skip + last - first) * c]
                        .copy_from_slice(&line[first * c..last * c]);
                }
            }
        });
    out
}

/// col2im: a patch matrix of a `shape` map back to the map, summing the
/// entries that read the same pixel (the adjoint of [`patches`]).
pub(crate) fn overlap(columns: &[f32], shape: MapShape) -> Vec<f32> {
    let MapShape {
        height,
        width,
        channels: c,
        ..
    } = shape;
    let (ho, wo) = (height / 2, width / 2);
    let mut out = vec![0.0f32; shape.batch * height * width * c];
    // One chunk per map row (b, my).
    out.par_chunks_mut(width * c)
        .with_min_len(4)
        .enumerate()
        .for_each(|(bm, line)| {
            let (b, my) = (bm / height, bm % height);
            for (mx, pixel) in line.chunks_exact_mut(c).enumerate() {
                for (y, ky) in taps(my, ho).into_iter().flatten() {
                    for (x, kx) in taps(mx, wo).into_iter().flatten() {
                        let from = ((b * ho + y) * wo + x) * 16 * c + (ky * 4 + kx) * c;
                        for (p, &v) in pixel.iter_mut().zip(&columns[from..from + c]) {
                            *p += v;
                        }
                    }
                }
            }
        });
    out
}

fn flex_patches(map: &FlexTensor, shape: MapShape) -> FlexTensor {
    let out = patches(&values(map), shape);
    FlexTensor::from_data(TensorData::new(out, [shape.rows(), shape.columns()]))
}

fn flex_overlap(columns: &FlexTensor, shape: MapShape) -> FlexTensor {
    let out = overlap(&values(columns), shape);
    let MapShape {
        batch,
        height,
        width,
        channels,
    } = shape;
    FlexTensor::from_data(TensorData::new(out, [batch, height, width, channels]))
}

/// A map function of flex tensors with the map's shape.
type MapFn = fn(&FlexTensor, MapShape) -> FlexTensor;

/// [`patches`] or [`overlap`] as an autodiff operation: its backward is
/// the other, the adjoint, carried in its state with the map's shape.
#[derive(Debug)]
struct MapOp;

impl Backward<Flex, 1> for MapOp {
    type State = (MapShape, MapFn);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (shape, adjoint) = ops.state;
        unary::<Flex, _>(ops.parents, ops.node, grads, |grad| adjoint(&grad, shape));
    }
}

/// Runs `forward` on a flex tensor as an autodiff operation whose
/// backward is `adjoint`, or plainly on a flex tensor without autodiff.
fn flex_op<const D: usize, const E: usize>(
    tensor: Tensor<D>,
    shape: MapShape,
    forward: MapFn,
    adjoint: MapFn,
) -> Tensor<E> {
    match tensor.clone().try_into_primitive::<FlexAutodiff>() {
        Ok(x) => {
            let out = match MapOp
                .prepare::<NoCheckpointing>([x.node()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => {
                    prep.finish((shape, adjoint), forward(x.primitive(), shape))
                }
                OpsKind::UnTracked(prep) => prep.finish(forward(x.primitive(), shape)),
            };
            Tensor::from_primitive::<FlexAutodiff>(out)
        }
        Err(_) => {
            let x = tensor
                .try_into_primitive::<Flex>()
                .expect("the caller checked flex::on_flex");
            Tensor::from_primitive::<Flex>(forward(&x, shape))
        }
    }
}

/// The patch matrix `[B*(H/2)*(W/2), 16*C]` of `map` `[B, H, W, C]` on
/// burn-flex ([`crate::flex::on_flex`]), differentiable.
pub(crate) fn patches_tensor(map: Tensor<4>) -> Tensor<2> {
    let [batch, height, width, channels] = map.dims();
    let shape = MapShape {
        batch,
        height,
        width,
        channels,
    };
    flex_op(map, shape, flex_patches, flex_overlap)
}

/// The map of `shape` whose patch matrix `columns` `[B*(H/2)*(W/2), 16*C]`
/// is, entries that read the same pixel summed, on burn-flex
/// ([`crate::flex::on_flex`]), differentiable.
pub(crate) fn overlap_tensor(columns: Tensor<2>, shape: MapShape) -> Tensor<4> {
    flex_op(columns, shape, flex_overlap, flex_patches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn random(n: usize, rng: &mut Rng) -> Vec<f32> {
        (0..n).map(|_| rng.uniform() as f32 - 0.5).collect()
    }

    /// `<patches(x), y> = <x, overlap(y)>` for every x, y: overlap is
    /// patches' adjoint (so each is the other's gradient), and patches
    /// puts each pixel where the module docs say.
    #[test]
    fn overlap_is_the_adjoint_of_patches() {
        let mut rng = Rng::new(3);
        for shape in [
            MapShape {
                batch: 2,
                height: 4,
                width: 6,
                channels: 3,
            },
            MapShape {
                batch: 1,
                height: 28,
                width: 28,
                channels: 1,
            },
            MapShape {
                batch: 3,
                height: 2,
                width: 2,
                channels: 5,
            },
        ] {
            let x = random(
                shape.batch * shape.height * shape.width * shape.channels,
                &mut rng,
            );
            let y = random(shape.rows() * shape.columns(), &mut rng);
            let px = patches(&x, shape);
            let oy = overlap(&y, shape);
            let dot =
                |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(a, b)| f64::from(a * b)).sum::<f64>();
            let (left, right) = (dot(&px, &y), dot(&x, &oy));
            assert!(
                (left - right).abs() < 1e-4 * left.abs().max(1.0),
                "{shape:?}: {left} vs {right}"
            );
            // Row (b, y, x), column (ky, kx, c) = map[b, 2y-1+ky, 2x-1+kx, c].
            let MapShape {
                height: h,
                width: w,
                channels: c,
                ..
            } = shape;
            for b in 0..shape.batch {
                for (py, pxx, ky, kx, ch) in [
                    (0, 0, 1, 1, 0),
                    (h / 2 - 1, w / 2 - 1, 2, 2, c - 1),
                    (0, 0, 0, 0, 0),
                ] {
                    let row = (b * (h / 2) + py) * (w / 2) + pxx;
                    let got = px[row * 16 * c + (ky * 4 + kx) * c + ch];
                    let (my, mx) = ((2 * py + ky) as isize - 1, (2 * pxx + kx) as isize - 1);
                    let want = if my < 0 || mx < 0 || my >= h as isize || mx >= w as isize {
                        0.0
                    } else {
                        x[((b * h + my as usize) * w + mx as usize) * c + ch]
                    };
                    assert_eq!(
                        got, want,
                        "{shape:?} b {b} ({py},{pxx}) tap ({ky},{kx}) c {ch}"
                    );
                }
            }
        }
    }
}
