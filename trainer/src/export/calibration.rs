//! Activation ranges: the decoder inputs the chip will see (prior samples
//! and posterior samples of training images) run through the float decoder,
//! and the range of z and of every layer's output turned into an int8
//! quantization.

use tinyvae_shared::blob::Quant;

use crate::batch::{INFERENCE_BATCH, ImageBatcher, RowBatcher, batched, matrix, values};
use crate::data::Split;
use crate::model::Vae;
use crate::rng::Rng;

use super::layout::float_layers;

/// Logits beyond this magnitude give pixels 0 or 255 after the sigmoid
/// (`255 * sigmoid(-7) = 0.23`), so the output quantization spends its 256
/// codes on `[-7, 7]` at most.
pub const LOGIT_CLIP: f32 = 7.0;

/// `(mu, logvar)` of every image of `split`, flat `[n, latent]`.
pub fn encode(model: &Vae, split: &Split) -> (Vec<f32>, Vec<f32>) {
    let device = model.device();
    let (mut mu, mut logvar) = (Vec::new(), Vec::new());
    for x in batched(split.images(), INFERENCE_BATCH, &ImageBatcher, &device) {
        let (m, lv) = model.encode(x); // [batch, latent]
        mu.extend(values(m));
        logvar.extend(values(lv));
    }
    (mu, logvar)
}

/// Latents `[n, latent]` from the prior and from posteriors of `split`'s
/// first `n` images ([`Vae::reparameterize`]), each as a flat row-major
/// vector.
pub(super) fn latents(model: &Vae, split: &Split, n: usize, rng: &mut Rng) -> (Vec<f32>, Vec<f32>) {
    let device = model.device();
    let latent = model.latent();
    let prior = rng.normals(n * latent);
    let (mu, logvar) = encode(model, &split.clone().truncated(n));
    let e = rng.noise(mu.len() / latent, latent, &device);
    let mu = matrix(mu, latent, &device);
    let logvar = matrix(logvar, latent, &device);
    (prior, values(Vae::reparameterize(mu, logvar, e)))
}

/// The calibrated quantization of z and of every layer's output.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// z: symmetric (zero point 0), covering the largest |z| seen.
    pub z: Quant,
    /// Each layer's output.
    pub outputs: Vec<Quant>,
}

/// Measures the value ranges of z and of every layer output on `latents`
/// (flat `[n, latent]`), and turns them into int8 quantizations (TFLite's
/// asymmetric scheme; logits clipped to [`LOGIT_CLIP`]).
pub fn calibrate(model: &Vae, latents: &[f32]) -> Calibration {
    let device = model.device();
    let z_max = latents
        .iter()
        .fold(0.0_f32, |m, v| m.max(v.abs()))
        .max(1e-3);
    let layers = float_layers(&model.decoder).len();
    let mut ranges = vec![(f32::INFINITY, f32::NEG_INFINITY); layers];
    let rows = latents.chunks(model.latent());
    for z in batched(rows, INFERENCE_BATCH, &RowBatcher, &device) {
        for (range, out) in ranges.iter_mut().zip(model.decoder.forward_layers(z)) {
            let v = values(out);
            range.0 = v.iter().fold(range.0, |a, &b| a.min(b));
            range.1 = v.iter().fold(range.1, |a, &b| a.max(b));
        }
    }
    let last = layers - 1;
    let outputs = ranges
        .iter()
        .enumerate()
        .map(|(i, &(lo, hi))| {
            let (lo, hi) = if i == last {
                (lo.max(-LOGIT_CLIP), hi.min(LOGIT_CLIP))
            } else {
                (lo, hi)
            };
            Quant::from_range(lo, hi).expect("finite calibration range")
        })
        .collect();
    Calibration {
        z: Quant {
            scale: z_max / 127.0,
            zero_point: 0,
        },
        outputs,
    }
}
