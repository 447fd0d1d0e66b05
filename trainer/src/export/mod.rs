//! Post-training int8 quantization of a trained decoder into a blob, and the
//! fidelity of the int8 decoder against the float one.
//!
//! 1. The float decoder's parameters are read from burn into the blob's
//!    layouts ([`float_layers`], in `layout.rs`).
//! 2. Activation ranges are calibrated on decoder inputs from both regimes
//!    the chip will see: prior samples and posterior samples of training
//!    images ([`calibrate`], in `calibration.rs`).
//! 3. `tinyvae_shared::write` quantizes each layer (the quantization contract
//!    of README.md, "Key contracts") and encodes the blob, with the sigmoid
//!    table, per-class prototypes and metadata ([`export`], here).
//! 4. [`fidelity()`] (in `fidelity.rs`) compares the int8 decoder (the `shared`
//!    code the chip runs) with the float decoder on prior samples and test
//!    posteriors, and scores the test NELBO with the int8 decoder in place of
//!    the float one.

mod calibration;
mod fidelity;
mod layout;

use tinyvae_shared::Model;
use tinyvae_shared::blob::Hwc;
use tinyvae_shared::write::{
    OwnedLayer, OwnedModel, OwnedPrototypes, QuantizeError, sigmoid_table,
};

use crate::data::{SIDE, Split};
use crate::evaluation::test_nelbo;
use crate::model::{Decoder, Vae};
use crate::rng::Rng;

pub use calibration::{Calibration, LOGIT_CLIP, calibrate, encode};
pub use fidelity::{Agreement, Fidelity, float_images, int8_images};
pub use layout::{FloatLayer, float_layers};

use calibration::latents;
use layout::dim16;

/// Errors of the export.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A layer could not be quantized.
    #[error("quantizing layer {layer}: {source}")]
    Quantize {
        /// Index of the decoder layer.
        layer: usize,
        /// The cause.
        source: QuantizeError,
    },
    /// The encoded blob does not parse: a bug, reported rather than written.
    #[error("the exported blob does not validate: {0}")]
    Invalid(tinyvae_shared::Error),
    /// The data set has no images to calibrate or evaluate on.
    #[error("the {0} split is empty")]
    EmptySplit(&'static str),
}

/// Knobs of the export; the defaults are what `tinyvae export` uses.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Prior samples and training posteriors each used for calibration.
    pub calibration_samples: usize,
    /// Prior samples and test posteriors each used for the fidelity report.
    pub fidelity_samples: usize,
    /// Seed of the calibration and fidelity latents.
    pub seed: u64,
    /// Data set name for the metadata.
    pub dataset: String,
    /// Training epochs for the metadata.
    pub epochs: u32,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self {
            calibration_samples: 2000,
            fidelity_samples: 1000,
            seed: 0x5eed,
            dataset: "fashion-mnist".into(),
            epochs: 0,
        }
    }
}

/// Per-class mean and standard deviation of the aggregated posterior
/// `q(z | class) = mean_i N(mu_i, sigma_i^2)` over the images of each label:
/// mean `E[mu]`, variance `E[sigma^2 + mu^2] - E[mu]^2`. `None` when there
/// are no labels.
pub fn prototypes(model: &Vae, split: &Split) -> Option<OwnedPrototypes> {
    let classes = usize::from(*split.labels.iter().max()?) + 1;
    let latent = model.latent();
    let (mu, logvar) = encode(model, split);
    let mut count = vec![0usize; classes];
    let mut sum = vec![0.0f64; classes * latent];
    let mut second = vec![0.0f64; classes * latent];
    for (i, &label) in split.labels.iter().enumerate() {
        let c = usize::from(label);
        count[c] += 1;
        for d in 0..latent {
            let (m, lv) = (
                f64::from(mu[i * latent + d]),
                f64::from(logvar[i * latent + d]),
            );
            sum[c * latent + d] += m;
            second[c * latent + d] += lv.exp() + m * m;
        }
    }
    let (mut means, mut sigmas) = (Vec::new(), Vec::new());
    for c in 0..classes {
        let n = count[c].max(1) as f64;
        for d in 0..latent {
            let mean = sum[c * latent + d] / n;
            let var = (second[c * latent + d] / n - mean * mean).max(0.0);
            means.push(mean as f32);
            sigmas.push(var.sqrt() as f32);
        }
    }
    Some(OwnedPrototypes::new(
        u16::try_from(classes).ok()?,
        &means,
        &sigmas,
    ))
}

/// Quantizes `model`'s decoder into a blob: calibration on `train`,
/// prototypes from `train`'s labels, the float test NELBO on `test` in the
/// metadata.
pub fn export(
    model: &Vae,
    train: &Split,
    test: &Split,
    options: &ExportOptions,
) -> Result<Vec<u8>, ExportError> {
    if train.is_empty() {
        return Err(ExportError::EmptySplit("training"));
    }
    if test.is_empty() {
        return Err(ExportError::EmptySplit("test"));
    }
    let mut rng = Rng::new(options.seed);
    let (prior, posterior) = latents(model, train, options.calibration_samples, &mut rng);
    let calibration = calibrate(model, &[prior, posterior].concat());
    let float = float_layers(&model.decoder);
    let mut input = calibration.z;
    let mut layers = Vec::with_capacity(float.len());
    for (i, (layer, &output)) in float.iter().zip(&calibration.outputs).enumerate() {
        let q = OwnedLayer::quantize(
            layer.op,
            layer.activation,
            input,
            output,
            &layer.weights,
            &layer.bias,
        )
        .map_err(|source| ExportError::Quantize { layer: i, source })?;
        layers.push(q);
        input = output;
    }
    let arch = match model.decoder {
        Decoder::Mlp(_) => "mlp",
        Decoder::Conv(_) => "conv",
    };
    let owned = OwnedModel {
        latent_dim: dim16(model.latent()),
        image: Hwc {
            height: dim16(SIDE),
            width: dim16(SIDE),
            channels: 1,
        },
        layers,
        output_table: sigmoid_table(input),
        prototypes: prototypes(model, train),
        dataset: options.dataset.clone(),
        model: arch.into(),
        epochs: options.epochs,
        test_nelbo: test_nelbo(model, test, options.seed).nelbo as f32,
    };
    let blob = owned
        .to_blob()
        .map_err(|source| ExportError::Quantize { layer: 0, source })?;
    Model::from_bytes(&blob).map_err(ExportError::Invalid)?;
    Ok(blob)
}

/// Compares the blob's int8 decoder with the model's float decoder on
/// `options.fidelity_samples` prior and test posterior latents (the
/// report `tinyvae export` writes beside the blob).
pub fn fidelity(model: &Vae, blob: &Model<'_>, test: &Split, options: &ExportOptions) -> Fidelity {
    fidelity::measure(model, blob, test, options.fidelity_samples, options.seed)
}
