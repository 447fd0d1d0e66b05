//! What a run measures: the test-set negative ELBO in nats per image, with
//! its reconstruction (BCE) and KL parts, and the record of each epoch.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::batch::{INFERENCE_BATCH, LabelledBatcher, batched};
use crate::data::Split;
use crate::loss::{bce_with_logits_sum, kl_sum};
use crate::model::Vae;
use crate::rng::Rng;

/// Negative ELBO per image = BCE + KL (the KL at weight 1, whatever beta the
/// run trained with), in nats. A single-sample estimate, as pytorch/examples
/// reports it. For a conditional model it bounds `-log p(x | class)`: the
/// encoder and the decoder are both given the image's label.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Nelbo {
    /// BCE + KL.
    pub nelbo: f64,
    /// Reconstruction term: Bernoulli cross-entropy summed over pixels.
    pub bce: f64,
    /// KL(q(z|x) || N(0, I)).
    pub kl: f64,
}

/// One epoch of a run: a line of `metrics.jsonl`, and part of every
/// checkpoint's `state.json`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based.
    pub epoch: usize,
    /// Mean training loss (BCE + beta * KL) per image over the epoch.
    pub train_loss: f64,
    /// Test negative ELBO and its parts, nats per image.
    pub test: Nelbo,
    /// Seconds of training (without the test pass).
    pub train_seconds: f64,
    /// Training images per second.
    pub images_per_second: f64,
}

/// The negative ELBO of `model` on `split`, with the noise drawn from a
/// stream fixed by `seed` (the same in every epoch).
pub fn test_nelbo(model: &Vae, split: &Split, seed: u64) -> Nelbo {
    test_nelbo_with_decoder(model, split, seed, |z| model.decode_logits(z))
}

/// Like [`test_nelbo`], but decoding with `decode` (decoder inputs `[batch,
/// latent + classes]`, see [`Vae::decoder_input`], to pixel logits `[batch,
/// 784]`): for comparing a replaced (e.g. int8)
/// decoder with the float one under the same encoder and noise.
pub fn test_nelbo_with_decoder(
    model: &Vae,
    split: &Split,
    seed: u64,
    mut decode: impl FnMut(Tensor<2>) -> Tensor<2>,
) -> Nelbo {
    let device = model.device();
    let latent = model.latent();
    let mut rng = Rng::new(seed ^ 0x7e57_5eed);
    let (mut bce, mut kl) = (0.0, 0.0);
    for (x, labels) in batched(split.labelled(), INFERENCE_BATCH, &LabelledBatcher, &device) {
        let [rows, _] = x.dims(); // [batch, 784]
        let class = model.one_hot(&labels, &device); // [batch, classes]
        let (mu, logvar) = model.encode(x.clone(), class.clone()); // [batch, latent]
        let eps = rng.noise(rows, latent, &device);
        let z = Vae::reparameterize(mu.clone(), logvar.clone(), eps); // [batch, latent]
        let logits = decode(Vae::decoder_input(z, class)); // [batch, 784]
        bce += f64::from(bce_with_logits_sum(logits, x).into_scalar::<f32>());
        kl += f64::from(kl_sum(mu, logvar).into_scalar::<f32>());
    }
    let n = split.len() as f64;
    Nelbo {
        nelbo: (bce + kl) / n,
        bce: bce / n,
        kl: kl / n,
    }
}
