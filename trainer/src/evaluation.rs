//! The test-set negative ELBO in nats per image, with its reconstruction
//! (BCE) and KL parts.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::data::{PIXELS, Split};
use crate::model::{Vae, bce_with_logits_sum, kl_sum};
use crate::training::{Rng, images_tensor, noise};

/// Images per forward pass of the evaluation.
const EVAL_BATCH: usize = 1000;

/// Negative ELBO per image = BCE + KL (the KL at weight 1, whatever beta the
/// run trained with), in nats. A single-sample estimate, as pytorch/examples
/// reports it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Nelbo {
    /// BCE + KL.
    pub nelbo: f64,
    /// Reconstruction term: Bernoulli cross-entropy summed over pixels.
    pub bce: f64,
    /// KL(q(z|x) || N(0, I)).
    pub kl: f64,
}

/// The negative ELBO of `model` on `split`, with the noise drawn from a
/// stream fixed by `seed` (the same in every epoch).
pub fn test_nelbo(model: &Vae, split: &Split, seed: u64) -> Nelbo {
    test_nelbo_with_decoder(model, split, seed, |z| model.decode_logits(z))
}

/// Like [`test_nelbo`], but decoding with `decode` (latents `[batch, latent]`
/// to pixel logits `[batch, 784]`): for comparing a replaced (e.g. int8)
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
    for start in (0..split.len()).step_by(EVAL_BATCH) {
        let end = (start + EVAL_BATCH).min(split.len());
        let chunk = Split {
            pixels: split.pixels[start * PIXELS..end * PIXELS].to_vec(),
            labels: split.labels[start..end].to_vec(),
        };
        let x = images_tensor(&chunk, &device); // [batch, 784]
        let (mu, logvar) = model.encode(x.clone()); // [batch, latent]
        let eps = noise(&mut rng, end - start, latent, &device);
        let z = mu.clone() + logvar.clone().mul_scalar(0.5).exp() * eps; // [batch, latent]
        bce += f64::from(bce_with_logits_sum(decode(z), x).into_scalar::<f32>());
        kl += f64::from(kl_sum(mu, logvar).into_scalar::<f32>());
    }
    let n = split.len() as f64;
    Nelbo {
        nelbo: (bce + kl) / n,
        bce: bce / n,
        kl: kl / n,
    }
}
