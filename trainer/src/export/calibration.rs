//! Activation ranges: the decoder inputs the chip will see (prior samples
//! and posterior samples of training images) run through the float decoder,
//! and the range of z and of every layer's output turned into an int8
//! quantization.

use tinyvae_shared::blob::Quant;

use crate::batch::{INFERENCE_BATCH, LabelledBatcher, RowBatcher, batched, matrix, values};
use crate::data::Split;
use crate::model::Vae;
use crate::rng::Rng;

use super::layout::float_layers;

/// Logits beyond this magnitude give pixels 0 or 255 after the sigmoid
/// (`255 * sigmoid(-7) = 0.23`), so the output quantization spends its 256
/// codes on `[-7, 7]` at most.
pub const LOGIT_CLIP: f32 = 7.0;

/// `(mu, logvar)` of every image of `split` (a conditional model's encoder
/// given each image's label), flat `[n, latent]`.
pub fn encode(model: &Vae, split: &Split) -> (Vec<f32>, Vec<f32>) {
    let device = model.device();
    let (mut mu, mut logvar) = (Vec::new(), Vec::new());
    for (x, labels) in batched(split.labelled(), INFERENCE_BATCH, &LabelledBatcher, &device) {
        let class = model.one_hot(&labels, &device); // [batch, classes]
        let (m, lv) = model.encode(x, class); // [batch, latent]
        mu.extend(values(m));
        logvar.extend(values(lv));
    }
    (mu, logvar)
}

/// Decoder inputs `[n, latent + classes]` (see [`Vae::decoder_input`]) from
/// the prior and from posteriors of `split`'s first `n` images
/// ([`Vae::reparameterize`]), each as a flat row-major vector. A
/// conditional model's rows carry the images' labels, the prior's too.
pub(super) fn latents(model: &Vae, split: &Split, n: usize, rng: &mut Rng) -> (Vec<f32>, Vec<f32>) {
    let device = model.device();
    let latent = model.latent();
    let split = split.clone().truncated(n);
    let prior = rng.normals(split.len() * latent);
    let (mu, logvar) = encode(model, &split);
    let e = rng.noise(mu.len() / latent, latent, &device);
    let mu = matrix(mu, latent, &device);
    let logvar = matrix(logvar, latent, &device);
    let posterior = values(Vae::reparameterize(mu, logvar, e));
    let inputs = |z: Vec<f32>| with_classes(&z, latent, &split.labels, model.classes());
    (inputs(prior), inputs(posterior))
}

/// Flat latents `[n, latent]` followed row by row by the one-hot of
/// `labels[i]` over `classes` (nothing when `classes` is 0): flat decoder
/// inputs `[n, latent + classes]`.
pub fn with_classes(z: &[f32], latent: usize, labels: &[u8], classes: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(z.len() / latent.max(1) * (latent + classes));
    for (row, &label) in z.chunks(latent).zip(labels) {
        out.extend_from_slice(row);
        out.extend((0..classes).map(|c| if c == usize::from(label) { 1.0 } else { 0.0 }));
    }
    out
}

/// The calibrated quantization of z and of every layer's output.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// z: symmetric (zero point 0), covering the largest |z| seen.
    pub z: Quant,
    /// Each layer's output.
    pub outputs: Vec<Quant>,
}

/// Measures the value ranges of z and of every layer output on decoder
/// inputs (flat `[n, latent + classes]`: a conditional model's one-hot
/// classes share z's quantization, so its range covers 1.0), and turns them
/// into int8 quantizations (TFLite's asymmetric scheme; logits clipped to
/// [`LOGIT_CLIP`]).
pub fn calibrate(model: &Vae, latents: &[f32]) -> Calibration {
    let device = model.device();
    let z_max = latents
        .iter()
        .fold(0.0_f32, |m, v| m.max(v.abs()))
        .max(1e-3);
    let layers = float_layers(&model.decoder).len();
    let mut ranges = vec![(f32::INFINITY, f32::NEG_INFINITY); layers];
    let rows = latents.chunks(model.decoder.input());
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
