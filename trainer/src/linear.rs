//! The conv model's matrix products `y = x W (+ b)` as one autodiff
//! operation on burn-flex, computed by [`crate::matmul`]: its dense layers,
//! and the matrix products of its convolutions ([`crate::conv`]).
//!
//! burn's own product computes the input gradient as `dy W^T`; with the
//! conv encoder's `W` of 3,146 x 512 and a batch of 16 the `gemm` crate
//! then packs all of `W^T` for a 16-row product (measured 2.5 ms per step
//! through burn-flex, 0.8 ms as `(W dy^T)^T` with `W` read in place), and
//! flex adds an aligning copy and a zeroing of every product's output.
//! Here the backward pass computes `dx` (as `(W dy^T)^T` when `x` has few
//! rows), `dW = x^T dy` and `db` = the column sums of `dy`, each straight
//! into its buffer. Elsewhere than on flex, burn's operations compute it.

use burn::nn::Linear;
use burn::tensor::Tensor;

#[cfg(feature = "flex")]
use flex_ops::{flex_affine, plain_affine};

/// `layer`'s output for `x` `[batch, inputs]`: `[batch, outputs]`.
pub fn linear(layer: &Linear, x: Tensor<2>) -> Tensor<2> {
    affine(x, layer.weight.val(), layer.bias.as_ref().map(|b| b.val()))
}

/// `x W + b`: `x` `[rows, inputs]`, `weight` `[inputs, outputs]`, `bias`
/// `[outputs]`; returns `[rows, outputs]`.
pub fn affine(x: Tensor<2>, weight: Tensor<2>, bias: Option<Tensor<1>>) -> Tensor<2> {
    #[cfg(feature = "flex")]
    if let Some(y) = flex_affine(&x, &weight, bias.as_ref()) {
        return y;
    }
    #[cfg(feature = "flex")]
    if let Some(y) = plain_affine(&x, &weight, bias.as_ref()) {
        return y;
    }
    let y = x.matmul(weight);
    match bias {
        Some(bias) => {
            let outputs = bias.dims()[0];
            y + bias.reshape([1, outputs])
        }
        None => y,
    }
}

/// The operation on burn-flex (module docs).
#[cfg(feature = "flex")]
mod flex_ops {
    use burn::backend::Flex;
    use burn::backend::TensorMetadata;
    use burn::backend::autodiff::NodeId;
    use burn::backend::autodiff::checkpoint::base::Checkpointer;
    use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::flex::FlexTensor;
    use burn::tensor::{Tensor, TensorData};

    use crate::flex::{FlexAutodiff, values};
    use crate::matmul::{Matrix, product};

    /// Why a parameter's conversion cannot fail once its input's did not.
    const SAME_DEVICE: &str = "a layer's parameters live on its input's device";

    /// [`super::affine`] as an autodiff operation, for `x` on flex with
    /// autodiff; `None` elsewhere.
    pub(super) fn flex_affine(
        x: &Tensor<2>,
        weight: &Tensor<2>,
        bias: Option<&Tensor<1>>,
    ) -> Option<Tensor<2>> {
        let input = x.clone().try_into_primitive::<FlexAutodiff>().ok()?;
        let weight = weight
            .clone()
            .try_into_primitive::<FlexAutodiff>()
            .expect(SAME_DEVICE);
        let state = || (input.primitive().clone(), weight.primitive().clone());
        let bias = bias.map(|b| {
            b.clone()
                .try_into_primitive::<FlexAutodiff>()
                .expect(SAME_DEVICE)
        });
        let out = match bias {
            Some(bias) => {
                let y = forward(
                    input.primitive(),
                    weight.primitive(),
                    Some(bias.primitive()),
                );
                match AffineOp
                    .prepare::<NoCheckpointing>([input.node(), weight.node(), bias.node()])
                    .compute_bound()
                    .stateful()
                {
                    OpsKind::Tracked(prep) => prep.finish(state(), y),
                    OpsKind::UnTracked(prep) => prep.finish(y),
                }
            }
            None => {
                let y = forward(input.primitive(), weight.primitive(), None);
                match ProductOp
                    .prepare::<NoCheckpointing>([input.node(), weight.node()])
                    .compute_bound()
                    .stateful()
                {
                    OpsKind::Tracked(prep) => prep.finish(state(), y),
                    OpsKind::UnTracked(prep) => prep.finish(y),
                }
            }
        };
        Some(Tensor::from_primitive::<FlexAutodiff>(out))
    }

    /// [`super::affine`] for `x` on flex without autodiff (evaluation);
    /// `None` elsewhere.
    pub(super) fn plain_affine(
        x: &Tensor<2>,
        weight: &Tensor<2>,
        bias: Option<&Tensor<1>>,
    ) -> Option<Tensor<2>> {
        let input = x.clone().try_into_primitive::<Flex>().ok()?;
        let weight = weight
            .clone()
            .try_into_primitive::<Flex>()
            .expect(SAME_DEVICE);
        let bias = bias.map(|b| b.clone().try_into_primitive::<Flex>().expect(SAME_DEVICE));
        let y = forward(&input, &weight, bias.as_ref());
        Some(Tensor::from_primitive::<Flex>(y))
    }

    /// A row-major `[rows, cols]` flex tensor holding `data`.
    fn tensor(data: Vec<f32>, rows: usize, cols: usize) -> FlexTensor {
        FlexTensor::from_data(TensorData::new(data, [rows, cols]))
    }

    /// `[rows, cols]` of a 2-d flex tensor.
    fn dims(t: &FlexTensor) -> (usize, usize) {
        let shape = t.shape();
        (shape[0], shape[1])
    }

    /// `x W (+ b)` on flex primitives.
    fn forward(x: &FlexTensor, weight: &FlexTensor, bias: Option<&FlexTensor>) -> FlexTensor {
        let ((rows, inputs), (_, outputs)) = (dims(x), dims(weight));
        let (x, w) = (values(x), values(weight));
        let bias = bias.map(values);
        let y = product(
            Matrix::rows(&x, rows, inputs),
            Matrix::rows(&w, inputs, outputs),
            bias.as_deref(),
        );
        tensor(y, rows, outputs)
    }

    /// Rows of `x` below which its gradient is computed transposed.
    const FEW_ROWS: usize = 64;

    /// The gradients of `x` and `W` (when their nodes ask) for `dy`.
    fn backward_product(
        (x, weight): (FlexTensor, FlexTensor),
        dy: &[f32],
        wants: (bool, bool),
    ) -> (Option<FlexTensor>, Option<FlexTensor>) {
        let ((rows, inputs), (_, outputs)) = (dims(&x), dims(&weight));
        let dy = Matrix::rows(dy, rows, outputs);
        let dx = wants.0.then(|| {
            let w = values(&weight);
            let w = Matrix::rows(&w, inputs, outputs);
            if rows < FEW_ROWS {
                // (W dy^T)^T: W read in place, then a transpose of a few rows.
                let dxt = product(w, dy.t(), None);
                let mut dx = vec![0.0f32; rows * inputs];
                for (i, column) in dxt.chunks_exact(rows).enumerate() {
                    for (r, &v) in column.iter().enumerate() {
                        dx[r * inputs + i] = v;
                    }
                }
                tensor(dx, rows, inputs)
            } else {
                tensor(product(dy, w.t(), None), rows, inputs)
            }
        });
        let dw = wants.1.then(|| {
            let x = values(&x);
            tensor(
                product(Matrix::rows(&x, rows, inputs).t(), dy, None),
                inputs,
                outputs,
            )
        });
        (dx, dw)
    }

    /// Registers the gradients of `x` and `W` in `x W` for `dy`, for the
    /// parents that want them.
    fn register_product_grads(
        grads: &mut Gradients,
        [node_x, node_weight]: [Option<NodeId>; 2],
        state: (FlexTensor, FlexTensor),
        dy: &[f32],
    ) {
        let (dx, dw) = backward_product(state, dy, (node_x.is_some(), node_weight.is_some()));
        if let (Some(node), Some(dx)) = (node_x, dx) {
            grads.register::<Flex>(node, dx);
        }
        if let (Some(node), Some(dw)) = (node_weight, dw) {
            grads.register::<Flex>(node, dw);
        }
    }

    /// `x W + b` as an autodiff operation: parents `[x, W, b]`, state `(x, W)`.
    #[derive(Debug)]
    struct AffineOp;

    impl Backward<Flex, 3> for AffineOp {
        type State = (FlexTensor, FlexTensor);

        fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
            let [node_x, node_weight, node_bias] = ops.parents;
            let dy = grads.consume::<Flex>(&ops.node); // [rows, outputs]
            let (rows, outputs) = dims(&dy);
            let dy = values(&dy);
            register_product_grads(
                grads,
                [node_x, node_weight].map(|n| n.map(|n| n.id)),
                ops.state,
                &dy,
            );
            if let Some(node) = node_bias {
                let mut db = vec![0.0f32; outputs];
                for row in dy.chunks_exact(outputs).take(rows) {
                    for (d, &g) in db.iter_mut().zip(row) {
                        *d += g;
                    }
                }
                grads.register::<Flex>(
                    node.id,
                    FlexTensor::from_data(TensorData::new(db, [outputs])),
                );
            }
        }
    }

    /// `x W` as an autodiff operation: parents `[x, W]`, state `(x, W)`.
    #[derive(Debug)]
    struct ProductOp;

    impl Backward<Flex, 2> for ProductOp {
        type State = (FlexTensor, FlexTensor);

        fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
            let dy = grads.consume::<Flex>(&ops.node);
            register_product_grads(
                grads,
                ops.parents.map(|n| n.map(|n| n.id)),
                ops.state,
                &values(&dy),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::module::Module;
    use burn::nn::LinearConfig;
    use burn::tensor::{Distribution, Tensor};

    use super::*;
    use crate::backend::Backend;
    use crate::testing::{BothGradients, close};

    /// Values and the gradients of x, W and b equal burn's `Linear`, for
    /// few rows (transposed input gradient) and many, with and without a
    /// bias.
    #[test]
    fn equals_burns_linear() {
        let device = Backend::default().device().autodiff();
        for (batch, inputs, outputs, bias) in [
            (16, 3146, 512, true),
            (3, 5, 7, true),
            (1, 30, 1568, true),
            (100, 9, 4, true),
            (70, 6, 11, false),
        ] {
            let layer = LinearConfig::new(inputs, outputs)
                .with_bias(bias)
                .init(&device);
            let x = Tensor::<2>::random([batch, inputs], Distribution::Normal(0.0, 1.0), &device)
                .require_grad();
            let theirs = layer.forward(x.clone());
            let ours = linear(&layer, x.clone());
            let grads = BothGradients::of(ours, theirs, &format!("{batch}x{inputs}->{outputs}"));
            grads.agree(&layer.weight.val(), "dW");
            if let Some(bias) = &layer.bias {
                grads.agree(&bias.val(), "db");
            }
            grads.agree(&x, "dx");
        }
        // Without autodiff (evaluation): the same values.
        let layer = LinearConfig::new(4, 3).init(&device).valid();
        let x = Tensor::<2>::random([2, 4], Distribution::Default, &layer.devices()[0]);
        close(linear(&layer, x.clone()), layer.forward(x), "valid");
    }
}
