//! The Bernoulli reconstruction loss of a training step, fused into one pass
//! on the CPU.
//!
//! [`bce_with_logits_sum`](crate::model::bce_with_logits_sum) written with
//! tensor operations takes nine elementwise passes over `[batch, 784]`
//! forward and as many backward, each allocating, and flex runs them on one
//! thread with scalar `expf`/`log1pf` (~11% of the samples of an mlp epoch
//! under `perf`, before this module). Its gradient
//! with respect to the logits is simply `sigmoid(l) - x`. [`bce_with_logits_fused`]
//! computes the loss and that gradient in one parallel pass over host memory
//! (one `exp` and one `log1p` per pixel) and hands autodiff a surrogate
//! `sum(l * g) + c` whose value is the loss and whose gradient is `g`.

use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;

/// Images per parallel task. Tasks are fixed slices of the batch, so the
/// per-task sums (and with them the loss value) do not depend on how rayon
/// schedules them.
const ROWS_PER_TASK: usize = 16;

/// `sum(bce(l, x))` over `[batch, pixels]` logits and targets in [0, 1], as a
/// scalar tensor whose gradient with respect to `logits` is the derivative
/// `sigmoid(logits) - x` (autodiff of the tensor form agrees everywhere but at
/// a logit of exactly 0, where it takes a subgradient). It reads both tensors
/// back to the host, which pays on flex only: see
/// [`Backend::fuses_loss`](crate::backend::Backend::fuses_loss).
pub fn bce_with_logits_fused(logits: Tensor<2>, x: Tensor<2>) -> Tensor<1> {
    let device = logits.device();
    let shape = logits.shape();
    let cols = shape.dims::<2>()[1].max(1);
    let l = floats(logits.clone().detach());
    let x = floats(x);
    let mut grad = vec![0.0f32; l.len()];
    // Per task: (sum of bce, sum of l * g), summed in f32 within a task (as
    // the tensor form sums) and in f64 across tasks.
    let sums: Vec<(f64, f64)> = grad
        .par_chunks_mut(ROWS_PER_TASK * cols)
        .zip(l.par_chunks(ROWS_PER_TASK * cols))
        .zip(x.par_chunks(ROWS_PER_TASK * cols))
        .map(|((g, l), x)| {
            let (mut bce, mut dot) = (0.0f32, 0.0f32);
            for ((g, &l), &x) in g.iter_mut().zip(l).zip(x) {
                let (loss, grad) = bce_and_grad(l, x);
                *g = grad;
                bce += loss;
                dot += l * grad;
            }
            (f64::from(bce), f64::from(dot))
        })
        .collect();
    let (bce, dot) = sums
        .iter()
        .fold((0.0, 0.0), |(b, d), &(bi, di)| (b + bi, d + di));
    let grad = Tensor::<2>::from_data(TensorData::new(grad, shape), &device);
    // d/dl (sum(l * g) + c) = g, and its value is bce once c = bce - sum(l * g).
    (logits * grad).sum().add_scalar(bce - dot)
}

/// `bce(l, x) = max(l, 0) - x l + ln(1 + e^-|l|)` and its derivative
/// `sigmoid(l) - x`, sharing one exponential.
fn bce_and_grad(l: f32, x: f32) -> (f32, f32) {
    let e = (-l.abs()).exp();
    let sigmoid = if l >= 0.0 {
        1.0 / (1.0 + e)
    } else {
        e / (1.0 + e)
    };
    (l.max(0.0) - x * l + e.ln_1p(), sigmoid - x)
}

fn floats(t: Tensor<2>) -> Vec<f32> {
    t.into_data()
        .try_into_vec::<f32>()
        .expect("the loss works on f32 tensors")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;
    use crate::model::bce_with_logits_sum;
    use burn::module::{Module, Param};

    #[derive(Module, Debug)]
    struct Logits {
        l: Param<Tensor<2>>,
    }

    /// Value and gradient of `loss` at `logits`.
    fn value_and_grad(
        loss: fn(Tensor<2>, Tensor<2>) -> Tensor<1>,
        logits: &[f32],
        x: &[f32],
        cols: usize,
    ) -> (f32, Vec<f32>) {
        let device = Backend::default().device().autodiff();
        let rows = logits.len() / cols;
        let model = Logits {
            l: Param::from_tensor(Tensor::from_data(
                TensorData::new(logits.to_vec(), [rows, cols]),
                &device,
            )),
        };
        let x = Tensor::from_data(TensorData::new(x.to_vec(), [rows, cols]), &device);
        let value = loss(model.l.val(), x);
        let grads = value.backward();
        let grad = model
            .l
            .val()
            .grad(&grads)
            .expect("the logits get a gradient");
        (
            value.into_scalar::<f32>(),
            grad.into_data().try_into_vec::<f32>().unwrap(),
        )
    }

    #[test]
    fn equals_the_tensor_form_in_value_and_gradient() {
        // 40 images of 50 pixels (several parallel tasks, a short last one),
        // logits from -89.95 to 90.05 (both saturated ends) and targets in
        // [0, 1]. Not at l = 0 exactly: there the tensor form's autodiff
        // takes the subgradient 0 of |l| and max(l, 0) and gives -x, where
        // the derivative (and the fused gradient) is 1/2 - x.
        let cols = 50;
        let n = 40 * cols;
        let logits: Vec<f32> = (0..n)
            .map(|i| ((i * 7919) % 1801) as f32 * 0.1 - 89.95)
            .collect();
        let x: Vec<f32> = (0..n).map(|i| ((i * 31) % 256) as f32 / 255.0).collect();
        let (fused, fused_grad) = value_and_grad(bce_with_logits_fused, &logits, &x, cols);
        let (tensor, tensor_grad) = value_and_grad(bce_with_logits_sum, &logits, &x, cols);
        assert!(
            (fused - tensor).abs() <= 1e-5 * tensor,
            "loss: fused {fused}, tensor form {tensor}"
        );
        for (i, (a, b)) in fused_grad.iter().zip(&tensor_grad).enumerate() {
            assert!(
                (a - b).abs() <= 1e-6,
                "gradient {i} (logit {}, target {}): fused {a}, tensor form {b}",
                logits[i],
                x[i]
            );
        }
    }

    #[test]
    fn hand_computed_values() {
        // bce(0, x) = ln 2, gradient 1/2 - x; bce(80, 0) = 80, gradient 1;
        // bce(-80, 1) = 80, gradient -1; bce(2, 1) = ln(1 + e^-2).
        let (value, grad) = value_and_grad(
            bce_with_logits_fused,
            &[0.0, 80.0, -80.0, 2.0],
            &[0.7, 0.0, 1.0, 1.0],
            2,
        );
        let expected = std::f32::consts::LN_2 + 160.0 + 0.126_928_01;
        assert!((value - expected).abs() <= 1e-4, "{value} vs {expected}");
        let sigmoid_2 = 1.0 / (1.0 + (-2.0f32).exp());
        let expected_grad = [-0.2, 1.0, -1.0, sigmoid_2 - 1.0];
        for (a, b) in grad.iter().zip(expected_grad) {
            assert!((a - b).abs() <= 1e-6, "{grad:?} vs {expected_grad:?}");
        }
    }
}
