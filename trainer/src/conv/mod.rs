//! The conv model's two kinds of layer, kernel 4, stride 2, padding 1, on
//! channels-last (NHWC) maps, as matrix products: what the conv model
//! trains and evaluates with.
//!
//! burn's `Conv2d` and `ConvTranspose2d` keep the parameters (and their
//! layouts: `[out, in, 4, 4]` and `[in, out, 4, 4]`, so checkpoints and the
//! export are as before); these functions compute the same layers from
//! them. Why: on the CPU backend, burn's transposed convolution runs a
//! direct (not matrix-product) loop, and the backward passes of both kinds
//! are convolutions with the batch as channels and the output as a 14x14
//! kernel; at the conv recipe's batch of 16 those took most of a step.
//!
//! On burn-flex (the default backend) a layer is one matrix product
//! ([`crate::linear::affine`]) and one pass over memory (`patches.rs`):
//! - [`conv_k4s2`]: the input's patch matrix (im2col, `[B*H/2*W/2, 16*C]`)
//!   times the weights `[16*C, O]`;
//! - [`conv_transpose_k4s2`]: the input `[B*H*W, C]` times the weights
//!   `[C, 16*O]` gives each input pixel's 4x4 footprint of outputs, added
//!   into the output map where footprints overlap (col2im).
//!
//! im2col and col2im are each other's adjoint, hence each other's backward
//! pass. On other backends the same layers are ordinary tensor operations
//! (`*_by_ops`), whose backward autodiff derives:
//! - the convolution: pad by 1, fold each 2x2 block of pixels into the
//!   channels (space to depth), so the kernel-4 stride-2 convolution
//!   becomes a kernel-2 stride-1 one over `(H/2 + 1) x (W/2 + 1)` blocks;
//!   its four taps side by side are the im2col matrix;
//! - the transposed convolution: output pixel `(2m + r, 2n + s)` (phase
//!   `(r, s)`) sums the 2x2 input pixels `m - 1 + r..=m + r`, `n - 1 +
//!   s..=n + s` through kernel taps `3 + r - 2t`, `3 + s - 2u`: four
//!   kernel-2 convolutions of the input padded by 1 (sub-pixel
//!   decomposition: no multiply by an inserted zero), interleaved.
//!
//! `tests` check both forms against burn's own modules, values and
//! gradients.

#[cfg(feature = "flex")]
mod patches;

use burn::tensor::Tensor;
use burn::tensor::ops::PadMode;

#[cfg(feature = "flex")]
use crate::flex::on_flex;
#[cfg(feature = "flex")]
use crate::linear::affine;

#[cfg(feature = "flex")]
use patches::{MapShape, overlap_tensor, patches_tensor};

/// Convolution with kernel 4, stride 2, padding 1: `x` `[B, H, W, C]`
/// (channels last, `H` and `W` even), `weight` `[O, C, 4, 4]` (burn's
/// `Conv2d` layout), `bias` `[O]`; returns `[B, H/2, W/2, O]`.
pub fn conv_k4s2(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if on_flex(&x) {
        return conv_k4s2_by_patches(x, weight, bias);
    }
    conv_k4s2_by_ops(x, weight, bias)
}

/// [`conv_k4s2`] on burn-flex: the patch matrix times the weights.
#[cfg(feature = "flex")]
fn conv_k4s2_by_patches(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>) -> Tensor<4> {
    let [batch, height, width, _] = x.dims();
    let [outputs, channels, _, _] = weight.dims();
    // weight[o, c, ky, kx] at row (ky*4 + kx)*C + c, the patches' column.
    let matrix = weight
        .permute([2, 3, 1, 0])
        .reshape([16 * channels, outputs]);
    affine(patches_tensor(x), matrix, bias).reshape([batch, height / 2, width / 2, outputs])
}

/// Transposed convolution with kernel 4, stride 2, padding 1: `x` `[B, H,
/// W, C]` (channels last), `weight` `[C, O, 4, 4]` (burn's
/// `ConvTranspose2d` layout), `bias` `[O]`; returns `[B, 2H, 2W, O]`.
pub fn conv_transpose_k4s2(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if on_flex(&x) {
        return conv_transpose_k4s2_by_patches(x, weight, bias);
    }
    conv_transpose_k4s2_by_ops(x, weight, bias)
}

/// [`conv_transpose_k4s2`] on burn-flex: each input pixel's footprint
/// (the input times the weights), overlapped into the output map.
#[cfg(feature = "flex")]
fn conv_transpose_k4s2_by_patches(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
) -> Tensor<4> {
    let [batch, height, width, channels] = x.dims();
    let outputs = weight.dims()[1];
    // Each input pixel's 4x4 footprint: column (ky*4 + kx)*O + o.
    let matrix = weight
        .permute([0, 2, 3, 1])
        .reshape([channels, 16 * outputs]);
    let footprints = affine(x.reshape([batch * height * width, channels]), matrix, None);
    let shape = MapShape {
        batch,
        height: 2 * height,
        width: 2 * width,
        channels: outputs,
    };
    let map = overlap_tensor(footprints, shape);
    match bias {
        Some(bias) => map + bias.reshape([1, 1, 1, outputs]),
        None => map,
    }
}

/// [`conv_k4s2`] by tensor operations (any backend): the space-to-depth
/// form.
fn conv_k4s2_by_ops(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>) -> Tensor<4> {
    let [batch, height, width, channels] = x.dims();
    let outputs = weight.dims()[0];
    let (ho, wo) = (height / 2, width / 2);
    // [B, H+2, W+2, C] -> blocks [B, H/2+1, W/2+1, (dy, dx, c)].
    let blocks = x
        .pad([(1, 1), (1, 1), (0, 0)], PadMode::Constant(0.0))
        .reshape([batch, ho + 1, 2, wo + 1, 2, channels])
        .permute([0, 1, 3, 2, 4, 5])
        .reshape([batch, ho + 1, wo + 1, 4 * channels]);
    // The four block taps (a, b), each [B, H/2, W/2, 4C], side by side.
    let taps = [(0, 0), (0, 1), (1, 0), (1, 1)]
        .map(|(a, b)| {
            blocks
                .clone()
                .slice([0..batch, a..a + ho, b..b + wo, 0..4 * channels])
        })
        .to_vec();
    let columns = Tensor::cat(taps, 3).reshape([batch * ho * wo, 16 * channels]);
    // weight[o, c, 2a + dy, 2b + dx] as rows (a, b, dy, dx, c).
    let matrix = weight
        .reshape([outputs, channels, 2, 2, 2, 2])
        .permute([2, 4, 3, 5, 1, 0])
        .reshape([16 * channels, outputs]);
    with_bias(columns.matmul(matrix), bias).reshape([batch, ho, wo, outputs])
}

/// [`conv_transpose_k4s2`] by tensor operations (any backend): the
/// sub-pixel form.
fn conv_transpose_k4s2_by_ops(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
) -> Tensor<4> {
    let [batch, height, width, channels] = x.dims();
    let outputs = weight.dims()[1];
    let padded = x.pad([(1, 1), (1, 1), (0, 0)], PadMode::Constant(0.0));
    // The input pixels (m - 1 + t, n - 1 + u) for every output (m, n).
    let window = |t: usize, u: usize| {
        padded
            .clone()
            .slice([0..batch, t..t + height, u..u + width, 0..channels])
    };
    // Kernel tap (ky, kx) as a [C, O] matrix.
    let tap = |ky: usize, kx: usize| {
        weight
            .clone()
            .slice([0..channels, 0..outputs, ky..ky + 1, kx..kx + 1])
            .reshape([channels, outputs])
    };
    let phase = |r: usize, s: usize| {
        let pairs = [(r, s), (r, s + 1), (r + 1, s), (r + 1, s + 1)];
        let columns = Tensor::cat(pairs.map(|(t, u)| window(t, u)).to_vec(), 3)
            .reshape([batch * height * width, 4 * channels]);
        let matrix = Tensor::cat(
            pairs
                .map(|(t, u)| tap(3 + r - 2 * t, 3 + s - 2 * u))
                .to_vec(),
            0,
        );
        with_bias(columns.matmul(matrix), bias.clone()).reshape([batch, height, width, outputs])
    };
    // Interleave: phase (r, s) is output (2m + r, 2n + s).
    let row = |r: usize| {
        Tensor::stack::<5>(vec![phase(r, 0), phase(r, 1)], 3).reshape([
            batch,
            height,
            2 * width,
            outputs,
        ])
    };
    Tensor::stack::<5>(vec![row(0), row(1)], 2).reshape([batch, 2 * height, 2 * width, outputs])
}

/// `y` `[N, O]` plus `bias` `[O]` on every row.
fn with_bias(y: Tensor<2>, bias: Option<Tensor<1>>) -> Tensor<2> {
    match bias {
        Some(bias) => {
            let outputs = bias.dims()[0];
            y + bias.reshape([1, outputs])
        }
        None => y,
    }
}

#[cfg(test)]
mod tests {
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::{Conv2dConfig, ConvTranspose2dConfig};
    use burn::tensor::{Distribution, Tensor};

    use super::*;
    use crate::backend::Backend;
    use crate::testing::BothGradients;

    type Layer = fn(Tensor<4>, Tensor<4>, Option<Tensor<1>>) -> Tensor<4>;

    /// On flex (the default backend) the layers take the patch-matrix path.
    #[cfg(feature = "flex")]
    #[test]
    fn flex_takes_the_patch_path() {
        let device = Backend::default().device();
        let x = Tensor::<4>::zeros([1, 4, 4, 2], &device);
        assert!(on_flex(&x));
        assert!(on_flex(&Tensor::<4>::zeros(
            [1, 4, 4, 2],
            &device.autodiff()
        )));
    }

    /// A random input `[2, C, H, W]` (burn's NCHW) that takes gradients.
    fn input(c: usize, h: usize, w: usize, device: &burn::tensor::Device) -> Tensor<4> {
        Tensor::<4>::random([2, c, h, w], Distribution::Normal(0.0, 1.0), device).require_grad()
    }

    /// Runs `layer` on `x` (NCHW, as burn's module took it, to NHWC and
    /// back) with the module's `weight` and `bias`, and checks it against
    /// the module's output `theirs`: values and the gradients of the
    /// weight, the bias and the input.
    fn assert_equals_burns(
        layer: Layer,
        x: &Tensor<4>,
        theirs: Tensor<4>,
        weight: Tensor<4>,
        bias: Tensor<1>,
        what: &str,
    ) {
        let ours = layer(
            x.clone().permute([0, 2, 3, 1]),
            weight.clone(),
            Some(bias.clone()),
        )
        .permute([0, 3, 1, 2]);
        let grads = BothGradients::of(ours, theirs, what);
        grads.agree(&weight, "weight");
        grads.agree(&bias, "bias");
        grads.agree(x, "input");
    }

    /// Values and every gradient (input, weight, bias) equal burn's
    /// `Conv2d`, for odd channel counts and a non-square map, on both
    /// paths.
    #[test]
    fn conv_equals_burns() {
        let device = Backend::default().device().autodiff();
        for (c, o, h, w) in [(1, 32, 28, 28), (3, 5, 8, 12), (32, 7, 14, 14)] {
            let conv = Conv2dConfig::new([c, o], [4, 4])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(&device);
            let layers: [(&str, Layer); 2] =
                [("patches", conv_k4s2), ("tensor ops", conv_k4s2_by_ops)];
            for (path, layer) in layers {
                let x = input(c, h, w, &device);
                let (weight, bias) = (conv.weight.val(), conv.bias.as_ref().unwrap().val());
                let theirs = conv.forward(x.clone());
                assert_equals_burns(layer, &x, theirs, weight, bias, &format!("{path}: conv"));
            }
        }
    }

    /// The same for `ConvTranspose2d`.
    #[test]
    fn conv_transpose_equals_burns() {
        let device = Backend::default().device().autodiff();
        for (c, o, h, w) in [(32, 40, 7, 7), (40, 1, 14, 14), (5, 3, 3, 6)] {
            let conv = ConvTranspose2dConfig::new([c, o], [4, 4])
                .with_stride([2, 2])
                .with_padding([1, 1])
                .init(&device);
            let layers: [(&str, Layer); 2] = [
                ("patches", conv_transpose_k4s2),
                ("tensor ops", conv_transpose_k4s2_by_ops),
            ];
            for (path, layer) in layers {
                let x = input(c, h, w, &device);
                let (weight, bias) = (conv.weight.val(), conv.bias.as_ref().unwrap().val());
                let theirs = conv.forward(x.clone());
                assert_equals_burns(layer, &x, theirs, weight, bias, &format!("{path}: convT"));
            }
        }
    }
}
