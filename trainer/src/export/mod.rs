//! Post-training int8 quantization of a trained decoder into a blob, and the
//! fidelity of the int8 decoder against the float one.
//!
//! 1. The float decoder's parameters are read from burn into the blob's
//!    layouts ([`float_layers`], in `layout.rs`).
//! 2. Activation ranges are calibrated on decoder inputs from both regimes
//!    the chip will see: prior samples and posterior samples of training
//!    images ([`calibrate`], in `calibration.rs`).
//! 3. The latent density the chip draws from is fitted to the encoder's
//!    latents of the training images ([`fit_density`], in `density.rs`).
//! 4. `tinyvae_shared::write` quantizes each layer (the quantization contract
//!    of README.md, "Key contracts") and encodes the blob, with the sigmoid
//!    table, the density, the condition of a class-conditional decoder and
//!    metadata ([`export`], here).
//! 5. [`fidelity()`] (in `fidelity.rs`) compares the int8 decoder (the `shared`
//!    code the chip runs) with the float decoder on prior samples and test
//!    posteriors, and scores the test NELBO with the int8 decoder in place of
//!    the float one.

mod calibration;
mod density;
mod fidelity;
mod layout;

use tinyvae_shared::Model;
use tinyvae_shared::blob::{Hwc, Quant};
use tinyvae_shared::classes::ClassName;
use tinyvae_shared::write::{OwnedLayer, OwnedModel, QuantizeError, one_code, sigmoid_table};

use crate::data::Split;
use crate::evaluation::test_nelbo;
use crate::model::{Decoder, Vae};
use crate::rng::Rng;

pub use calibration::{Calibration, LOGIT_CLIP, calibrate, encode, with_classes};
pub use density::{DEFAULT_COMPONENTS_PER_CLASS, DensityOptions, cholesky_lower, fit_density};
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
    /// The latent density cannot be fitted (too few images of a class, a
    /// covariance beyond repair).
    #[error("fitting the latent density: {0}")]
    Density(String),
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
    /// How the latent density is fitted.
    pub density: DensityOptions,
    /// The name of each label, label 0 first (`DataSet::class_names`):
    /// the blob names its classes with them, and a label without one
    /// `class k`.
    pub class_names: Vec<String>,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self {
            calibration_samples: 2000,
            fidelity_samples: 1000,
            seed: 0x5eed,
            dataset: "fashion-mnist".into(),
            epochs: 0,
            density: DensityOptions::default(),
            class_names: Vec::new(),
        }
    }
}

/// Quantizes `model`'s decoder into a blob: calibration on `train`, the
/// latent density fitted on `train` (per label), the float test NELBO on
/// `test` in the metadata, a name for each class (`options.class_names`).
/// A conditional model's blob says so, and its first layer reads the
/// one-hot class after z.
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
    let mut float = float_layers(&model.decoder);
    if model.classes() > 0 {
        scale_class_columns(&mut float[0], model.latent(), calibration.z)?;
    }
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
    let density = fit_density(model, train, &options.density)?;
    let class_names = (0..density.classes)
        .map(|class| match options.class_names.get(usize::from(class)) {
            Some(name) => name.clone(),
            None => ClassName::Numbered(class).to_string(),
        })
        .collect();
    let owned = OwnedModel {
        latent_dim: dim16(model.latent()),
        image: Hwc {
            height: dim16(train.shape.height),
            width: dim16(train.shape.width),
            channels: dim16(train.shape.channels),
        },
        layers,
        output_table: sigmoid_table(input),
        condition_classes: dim16(model.classes()),
        density: Some(density),
        class_names,
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

/// The chip feeds a conditional decoder's class as the int8 code the
/// writer puts in the blob ([`one_code`]), whose real value is only close
/// to 1.0: the first layer's class columns (inputs `latent..` of each row
/// of its dense weights `[out][in]`) are divided by that value, so the
/// product is exactly what the float model adds.
fn scale_class_columns(layer: &mut FloatLayer, latent: usize, z: Quant) -> Result<(), ExportError> {
    let code = one_code(z).map_err(|source| ExportError::Quantize { layer: 0, source })?;
    let real_one = z.dequantize(code);
    let inputs = layer.op.input_len().unwrap_or(0).max(1);
    for row in layer.weights.chunks_mut(inputs) {
        row[latent..].iter_mut().for_each(|w| *w /= real_one);
    }
    Ok(())
}

/// Compares the blob's int8 decoder with the model's float decoder on
/// `options.fidelity_samples` prior and test posterior latents (the
/// report `tinyvae export` writes beside the blob).
pub fn fidelity(model: &Vae, blob: &Model<'_>, test: &Split, options: &ExportOptions) -> Fidelity {
    fidelity::measure(model, blob, test, options.fidelity_samples, options.seed)
}
