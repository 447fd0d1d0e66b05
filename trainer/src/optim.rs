//! The optimizer of a run ([`adam`]): a fused, in-place Adam on the CPU
//! backends, burn's `Adam` on the GPU ones.
//!
//! burn's `Adam` runs about 13 tensor operations per parameter per step, each
//! allocating a new buffer. This one updates the parameter and both moments
//! in one pass over memory that it owns (on flex, moving a uniquely held
//! tensor to `TensorData` and back copies nothing), split across the rayon
//! pool. Its state is burn's `AdamState`, so checkpoints are interchangeable
//! with burn's `Adam` (which the GPU backends use).

use burn::optim::{
    AdamConfig, AdamState, AdaptiveMomentumState, LearningRate, ModuleOptimizer, Optimizer,
};
use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;

use crate::backend::Backend;

/// PyTorch's Adam (epsilon 1e-8; burn's default is 1e-5): fused and in place
/// on the CPU backends, burn's `Adam` on the GPU ones. Both keep the same
/// state, so their checkpoints are interchangeable.
pub fn adam(backend: Backend) -> ModuleOptimizer {
    if backend.is_cpu() {
        ModuleOptimizer::from(FusedAdam::default())
    } else {
        AdamConfig::new().with_epsilon(1e-8).init()
    }
}

/// Elements per parallel task.
const CHUNK: usize = 16 * 1024;

/// Adam (Kingma & Ba), with PyTorch's update order and bias correction.
#[derive(Debug, Clone, Copy)]
pub struct FusedAdam {
    /// Decay of the first moment.
    pub beta_1: f32,
    /// Decay of the second moment.
    pub beta_2: f32,
    /// Added to the corrected root of the second moment.
    pub epsilon: f32,
}

impl Default for FusedAdam {
    /// PyTorch's defaults: betas (0.9, 0.999), epsilon 1e-8.
    fn default() -> Self {
        FusedAdam {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-8,
        }
    }
}

fn f32_slice(data: &mut TensorData) -> &mut [f32] {
    data.as_mut_slice::<f32>()
        .expect("FusedAdam works on f32 parameters")
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<AdamState<D>>,
    ) -> (Tensor<D>, Option<AdamState<D>>) {
        let device = tensor.device();
        let shape = tensor.shape();
        let (time, mut m, mut v) = match state {
            Some(state) => (
                state.momentum.time + 1,
                state.momentum.moment_1.into_data(),
                state.momentum.moment_2.into_data(),
            ),
            None => (
                1,
                TensorData::zeros::<f32, _>(shape.clone()),
                TensorData::zeros::<f32, _>(shape),
            ),
        };
        let mut p = tensor.into_data();
        let mut g = grad.into_data();
        let (b1, b2, eps) = (self.beta_1, self.beta_2, self.epsilon);
        // p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
        let correction_1 = 1.0 - f64::from(b1).powi(time as i32);
        let correction_2 = 1.0 - f64::from(b2).powi(time as i32);
        let step = (lr / correction_1) as f32;
        let inverse_root_2 = (1.0 / correction_2.sqrt()) as f32;
        f32_slice(&mut p)
            .par_chunks_mut(CHUNK)
            .zip(f32_slice(&mut m).par_chunks_mut(CHUNK))
            .zip(f32_slice(&mut v).par_chunks_mut(CHUNK))
            .zip(f32_slice(&mut g).par_chunks(CHUNK))
            .for_each(|(((p, m), v), g)| {
                for (((p, m), v), &g) in p.iter_mut().zip(m).zip(v).zip(g) {
                    *m = b1 * *m + (1.0 - b1) * g;
                    *v = b2 * *v + (1.0 - b2) * g * g;
                    *p -= step * *m / (v.sqrt() * inverse_root_2 + eps);
                }
            });
        let momentum = AdaptiveMomentumState {
            time,
            moment_1: Tensor::from_data(m, &device),
            moment_2: Tensor::from_data(v, &device),
            max_moment_2: None,
        };
        (Tensor::from_data(p, &device), Some(AdamState { momentum }))
    }

    fn to_device<const D: usize>(mut state: AdamState<D>, device: &Device) -> AdamState<D> {
        state.momentum = state.momentum.to_device(device);
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::{Module, Param};
    use burn::optim::GradientsParams;

    #[derive(Module, Debug)]
    struct Weights {
        w: Param<Tensor<2>>,
    }

    fn loss(model: &Weights, x: &Tensor<2>) -> Tensor<1> {
        (model.w.val() * x.clone()).square().sum()
    }

    /// Agreement of f32 Adam implementations after a few steps.
    const TOL: f32 = 1e-5;

    #[test]
    fn matches_burns_adam() {
        let device = Backend::default().device().autodiff();
        let init: Vec<f32> = (0..40).map(|i| (i as f32 * 0.37).sin()).collect();
        let x = Tensor::<2>::from_data(
            TensorData::new((0..40).map(|i| (i % 7) as f32 - 3.0).collect(), [5, 8]),
            &device,
        );
        let start = || Weights {
            w: Param::from_tensor(Tensor::from_data(
                TensorData::new(init.clone(), [5, 8]),
                &device,
            )),
        };
        let run = |mut optim: ModuleOptimizer| {
            let mut model = start();
            for _ in 0..5 {
                let grads = GradientsParams::from_grads(loss(&model, &x).backward(), &model);
                model = optim.step(1e-2, model, grads);
            }
            model.w.val().into_data().try_into_vec::<f32>().unwrap()
        };
        let ours = run(ModuleOptimizer::from(FusedAdam::default()));
        let burns = run(AdamConfig::new().with_epsilon(1e-8).init());
        for (i, (a, b)) in ours.iter().zip(&burns).enumerate() {
            assert!((a - b).abs() <= TOL, "weight {i}: fused {a}, burn {b}");
        }
    }
}
