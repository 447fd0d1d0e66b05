//! The fidelity report: the int8 decoder (the `shared` code the chip runs)
//! against the float decoder on prior samples and test posteriors, and the
//! test NELBO with the int8 decoder in place of the float one.

use burn::tensor::Tensor;
use burn::tensor::activation::sigmoid;
use serde::{Deserialize, Serialize};
use tinyvae_shared::{HostDecoder, Model};

use crate::batch::{INFERENCE_BATCH, RowBatcher, batched, matrix, values};
use crate::data::Split;
use crate::evaluation::{Nelbo, test_nelbo, test_nelbo_with_decoder};
use crate::model::Vae;
use crate::rng::Rng;

use super::calibration::latents;

/// How closely two sets of images agree, in gray levels (0..=255).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    /// Images compared.
    pub images: usize,
    /// `10 log10(255^2 / MSE)` over all pixels.
    pub psnr_db: f64,
    /// Mean absolute difference.
    pub mean_abs: f64,
    /// Largest absolute difference.
    pub max_abs: f64,
}

impl Agreement {
    /// Compares the int8 decoder's pixels with the float decoder's (real
    /// values in [0, 255]).
    pub fn of(int8: &[u8], float: &[f32], images: usize) -> Self {
        let (mut sq, mut abs, mut max) = (0.0f64, 0.0f64, 0.0f64);
        for (&q, &f) in int8.iter().zip(float) {
            let d = (f64::from(q) - f64::from(f)).abs();
            sq += d * d;
            abs += d;
            max = max.max(d);
        }
        let n = int8.len().max(1) as f64;
        let mse = sq / n;
        Self {
            images,
            psnr_db: if mse > 0.0 {
                10.0 * (255.0 * 255.0 / mse).log10()
            } else {
                f64::INFINITY
            },
            mean_abs: abs / n,
            max_abs: max,
        }
    }
}

/// The fidelity report of an exported decoder.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fidelity {
    /// On latents drawn from the prior.
    pub prior: Agreement,
    /// On posterior samples of test images.
    pub posterior: Agreement,
    /// Test NELBO with the float decoder.
    pub nelbo_float: Nelbo,
    /// Test NELBO with the int8 decoder (same encoder and noise).
    pub nelbo_int8: Nelbo,
}

/// The int8 decoder of `blob` on float decoder inputs (flat `[n, latent +
/// classes]`, see [`Vae::decoder_input`]): each is quantized with the
/// blob's z quantization (a one-hot 1.0 becomes exactly the code the chip
/// uses), then decoded by `shared` (its host decoder: the chip's bytes).
pub fn int8_images(blob: &Model<'_>, latents: &[f32]) -> Vec<u8> {
    let q = blob.z_quant();
    let mut decoder = HostDecoder::new(blob);
    let mut pixels = vec![0u8; latents.len() / blob.input_len() * blob.image_len()];
    let mut z = vec![0i8; blob.input_len()];
    for (zf, image) in latents
        .chunks(blob.input_len())
        .zip(pixels.chunks_mut(blob.image_len()))
    {
        z.iter_mut()
            .zip(zf)
            .for_each(|(q8, &v)| *q8 = q.quantize(v));
        decoder
            .decode(&z, image)
            .expect("buffers sized from the model");
    }
    pixels
}

/// The float decoder's pixels `255 * sigmoid(logits)` for flat decoder
/// inputs.
pub fn float_images(model: &Vae, latents: &[f32]) -> Vec<f32> {
    let device = model.device();
    batched(
        latents.chunks(model.decoder.input()),
        INFERENCE_BATCH,
        &RowBatcher,
        &device,
    )
    .flat_map(|z| values(sigmoid(model.decode_logits(z)).mul_scalar(255.0)))
    .collect()
}

/// Compares the blob's int8 decoder with the model's float decoder on
/// `samples` prior and test posterior latents (at most all of `test`), the
/// latents and the NELBO noise drawn from streams fixed by `seed`.
pub(super) fn measure(
    model: &Vae,
    blob: &Model<'_>,
    test: &Split,
    samples: usize,
    seed: u64,
) -> Fidelity {
    let n = samples.min(test.len());
    let mut rng = Rng::new(seed ^ 0xf1de_1175);
    let (prior, posterior) = latents(model, test, n, &mut rng);
    let agree = |z: &[f32]| {
        Agreement::of(
            &int8_images(blob, z),
            &float_images(model, z),
            z.len() / model.decoder.input(),
        )
    };
    let device = model.device();
    let out_quant = blob
        .body()
        .layers
        .last()
        .map(|l| l.output)
        .expect("validated blob has layers");
    let mut decoder = HostDecoder::new(blob);
    let int8_logits = |z: Tensor<2>| {
        let [rows, latent] = z.dims();
        let zq: Vec<i8> = values(z)
            .iter()
            .map(|&v| blob.z_quant().quantize(v))
            .collect();
        let mut logits = Vec::with_capacity(rows * blob.image_len());
        for row in zq.chunks(latent) {
            let out = decoder
                .decode_logits(row)
                .expect("buffers sized from the model");
            logits.extend(out.iter().map(|&q| out_quant.dequantize(q)));
        }
        matrix(logits, blob.image_len(), &device)
    };
    Fidelity {
        prior: agree(&prior),
        posterior: agree(&posterior),
        nelbo_float: test_nelbo(model, test, seed),
        nelbo_int8: test_nelbo_with_decoder(model, test, seed, int8_logits),
    }
}
