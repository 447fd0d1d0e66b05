//! The VAE's loss terms: the Bernoulli reconstruction loss
//! ([`bce_with_logits_sum`]) and the KL divergence to the prior
//! ([`kl_sum`]), as tensor operations, and the reconstruction loss fused
//! into one pass on the CPU ([`bce_with_logits_fused`]).
//!
//! [`bce_with_logits_sum`] written with tensor operations takes nine
//! elementwise passes over `[batch, 784]` forward and as many backward, each
//! allocating, and flex runs them on one thread with scalar `expf`/`log1pf`
//! (~11% of the samples of an mlp epoch under `perf`, before the fused form).
//! Its gradient with respect to the logits is simply `sigmoid(l) - x`.
//! [`bce_with_logits_fused`] computes the loss and that gradient in one
//! parallel pass over host memory (one `exp` and one `log1p` per pixel) and
//! hands autodiff a surrogate `sum(l * g) + c` whose value is the loss and
//! whose gradient is `g`.

use burn::tensor::activation::relu;
use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;
use wide::f32x8;

/// Bernoulli negative log-likelihood of grayscale targets `x` in [0, 1] under
/// pixel logits `l`, summed over pixels and images, computed stably as
/// `max(l, 0) - x*l + ln(1 + exp(-|l|))`. Shapes `[batch, 784]`; returns `[1]`.
pub fn bce_with_logits_sum(logits: Tensor<2>, x: Tensor<2>) -> Tensor<1> {
    let softplus_neg_abs = logits.clone().abs().neg().exp().log1p(); // [batch, 784]
    (relu(logits.clone()) - x * logits + softplus_neg_abs).sum()
}

/// KL(q(z|x) || N(0, I)) = 0.5 * sum(exp(logvar) - 1 - logvar + mu^2), summed
/// over latent dimensions and images. Shapes `[batch, latent]`; returns `[1]`.
pub fn kl_sum(mu: Tensor<2>, logvar: Tensor<2>) -> Tensor<1> {
    (logvar.clone().exp() - logvar + mu.square())
        .sub_scalar(1.0)
        .sum()
        .mul_scalar(0.5)
}

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
            let (bce, dot) = bce_and_grad_slices(l, x, g);
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

/// Over a task's logits `l` and targets `x`: writes each pixel's gradient
/// into `g` and returns `(sum of bce, sum of l * g)`. Eight pixels at a
/// time in SIMD lanes ([`bce_and_grad_x8`]: the exponential and logarithm
/// of the `wide` crate, where scalar libm took a fifth of an mlp epoch),
/// the remainder one by one.
fn bce_and_grad_slices(l: &[f32], x: &[f32], g: &mut [f32]) -> (f32, f32) {
    let (mut bce, mut dot) = (f32x8::ZERO, f32x8::ZERO);
    let mut lanes = g
        .chunks_exact_mut(8)
        .zip(l.chunks_exact(8))
        .zip(x.chunks_exact(8));
    for ((g, l), x) in &mut lanes {
        let l = f32x8::from(<[f32; 8]>::try_from(l).expect("eight lanes"));
        let x = f32x8::from(<[f32; 8]>::try_from(x).expect("eight lanes"));
        let (loss, grad) = bce_and_grad_x8(l, x);
        g.copy_from_slice(&grad.to_array());
        bce += loss;
        dot += l * grad;
    }
    let (mut bce, mut dot) = (bce.reduce_add(), dot.reduce_add());
    let done = l.len() / 8 * 8;
    for ((g, &l), &x) in g[done..].iter_mut().zip(&l[done..]).zip(&x[done..]) {
        let (loss, grad) = bce_and_grad(l, x);
        *g = grad;
        bce += loss;
        dot += l * grad;
    }
    (bce, dot)
}

/// [`bce_and_grad`] on eight lanes. `ln(1 + e)` for `ln_1p(e)`: `e` lies
/// in (0, 1], where the two differ by less than an f32 rounding of 1.
fn bce_and_grad_x8(l: f32x8, x: f32x8) -> (f32x8, f32x8) {
    let e = (-l.abs()).exp();
    let r = f32x8::ONE / (f32x8::ONE + e);
    let sigmoid = l.simd_ge(f32x8::ZERO).select(r, e * r);
    let loss = l.max(f32x8::ZERO) - x * l + (f32x8::ONE + e).ln();
    (loss, sigmoid - x)
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
    use burn::module::{Module, Param};

    /// Tolerance for f32 sums of a few terms.
    const TOL: f32 = 1e-4;

    fn scalar(t: Tensor<1>) -> f32 {
        t.into_scalar::<f32>()
    }

    fn tensor(values: &[f32], cols: usize) -> Tensor<2> {
        Tensor::from_data(
            TensorData::new(values.to_vec(), [values.len() / cols, cols]),
            &Backend::default().device(),
        )
    }

    #[test]
    fn bce_matches_hand_computed_values() {
        // (logit, target, -[x ln s(l) + (1-x) ln(1-s(l))]) computed by hand:
        // l = 0: ln 2 whatever x; l = 2, x = 1: ln(1 + e^-2);
        // l = -3, x = 0.25: 0.25*3 + ln(1 + e^-3); l = 80, x = 0: 80 (no overflow);
        // l = -80, x = 1: 80.
        let cases: [(f32, f32, f32); 6] = [
            (0.0, 0.0, std::f32::consts::LN_2),
            (0.0, 0.7, std::f32::consts::LN_2),
            (2.0, 1.0, 0.126_928_01),
            (-3.0, 0.25, 0.75 + 0.048_587_35),
            (80.0, 0.0, 80.0),
            (-80.0, 1.0, 80.0),
        ];
        for (l, x, expected) in cases {
            let got = scalar(bce_with_logits_sum(tensor(&[l], 1), tensor(&[x], 1)));
            assert!(
                (got - expected).abs() <= TOL * expected.max(1.0),
                "bce(logit {l}, target {x}) = {got}, expected {expected}"
            );
        }
        let total = scalar(bce_with_logits_sum(
            tensor(&[0.0, 2.0, -3.0, 80.0], 2),
            tensor(&[0.7, 1.0, 0.25, 0.0], 2),
        ));
        let expected = std::f32::consts::LN_2 + 0.126_928_01 + 0.798_587_4 + 80.0;
        assert!(
            (total - expected).abs() <= TOL * expected,
            "{total} vs {expected}"
        );
    }

    #[test]
    fn kl_matches_hand_computed_values() {
        // mu = 0, logvar = 0: 0. mu = 1, logvar = 0: 0.5.
        // mu = 0, logvar = ln 2: 0.5 (2 - 1 - ln 2) = 0.153_426_4.
        // mu = -2, logvar = -1: 0.5 (e^-1 - 1 + 1 + 4) = 2.183_939_7.
        let cases: [(f32, f32, f32); 4] = [
            (0.0, 0.0, 0.0),
            (1.0, 0.0, 0.5),
            (0.0, std::f32::consts::LN_2, 0.153_426_4),
            (-2.0, -1.0, 2.183_939_7),
        ];
        for (mu, logvar, expected) in cases {
            let got = scalar(kl_sum(tensor(&[mu], 1), tensor(&[logvar], 1)));
            assert!(
                (got - expected).abs() <= TOL,
                "kl(mu {mu}, logvar {logvar}) = {got}, expected {expected}"
            );
        }
    }

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

    /// The SIMD lanes give the scalar form's loss and gradient over the
    /// logits a decoder produces and beyond, for targets 0, 1 and between.
    #[test]
    fn eight_lanes_equal_the_scalar_form() {
        let logits: Vec<f32> = (-4000..=4000)
            .map(|i| i as f32 * 0.01)
            .chain([-88.0, 88.0, 0.0, -0.0])
            .collect();
        for x in [0.0f32, 0.25, 1.0] {
            for chunk in logits.chunks(8).filter(|c| c.len() == 8) {
                let l = f32x8::from(<[f32; 8]>::try_from(chunk).unwrap());
                let (loss, grad) = bce_and_grad_x8(l, f32x8::splat(x));
                for ((&l, loss), grad) in chunk.iter().zip(loss.to_array()).zip(grad.to_array()) {
                    let (want_loss, want_grad) = bce_and_grad(l, x);
                    assert!(
                        (loss - want_loss).abs() <= 2e-6 * want_loss.abs().max(1.0),
                        "bce({l}, {x}): {loss} vs {want_loss}"
                    );
                    assert!(
                        (grad - want_grad).abs() <= 1e-6,
                        "grad({l}, {x}): {grad} vs {want_grad}"
                    );
                }
            }
        }
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
