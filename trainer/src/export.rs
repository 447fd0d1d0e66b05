//! Post-training int8 quantization of a trained decoder into a blob, and the
//! fidelity of the int8 decoder against the float one.
//!
//! 1. The float decoder's parameters are read from burn into the blob's
//!    layouts ([`float_layers`]): dense weights `[out][in]`, transposed
//!    convolutions `[out_c][kh][kw][in_c]`, activations channels-last (the
//!    conv decoder's dense outputs are permuted from NCHW to HWC).
//! 2. Activation ranges are calibrated on decoder inputs from both regimes
//!    the chip will see: prior samples and posterior samples of training
//!    images ([`calibrate`]).
//! 3. `tinyvae_shared::write` quantizes each layer (the README's quantization contract) and encodes
//!    the blob, with the sigmoid table, per-class prototypes and metadata.
//! 4. [`fidelity`] compares the int8 decoder (the `shared` code the chip
//!    runs) with the float decoder on prior samples and test posteriors, and
//!    scores the test NELBO with the int8 decoder in place of the float one.

use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use tinyvae_shared::blob::{Activation, Hwc, Op, Quant};
use tinyvae_shared::write::{
    OwnedLayer, OwnedModel, OwnedPrototypes, QuantizeError, sigmoid_table,
};
use tinyvae_shared::{HostDecoder, Model};

use crate::data::{PIXELS, SIDE, Split};
use crate::evaluation::{Nelbo, test_nelbo, test_nelbo_with_decoder};
use crate::model::{CONV_DECODER_H0, Decoder, Vae};
use crate::training::{Rng, images_tensor};

/// Logits beyond this magnitude give pixels 0 or 255 after the sigmoid
/// (`255 * sigmoid(-7) = 0.23`), so the output quantization spends its 256
/// codes on `[-7, 7]` at most.
pub const LOGIT_CLIP: f32 = 7.0;

/// Images per batch when encoding or decoding with burn.
const BATCH: usize = 1000;

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

/// One decoder layer in float, in the blob's layouts.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatLayer {
    /// Operation and shapes.
    pub op: Op,
    /// ReLU or none.
    pub activation: Activation,
    /// Weights in the op's layout.
    pub weights: Vec<f32>,
    /// One bias per output channel.
    pub bias: Vec<f32>,
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 tensor data")
}

fn linear_parts(linear: &burn::nn::Linear) -> (usize, usize, Vec<f32>, Vec<f32>) {
    let [inputs, outputs] = linear.weight.dims();
    // burn stores `[d_input, d_output]`; the blob wants `[out][in]`.
    let w = values(linear.weight.val().transpose());
    let b = linear
        .bias
        .as_ref()
        .map_or_else(|| vec![0.0; outputs], |b| values(b.val()));
    (inputs, outputs, w, b)
}

fn dim16(n: usize) -> u16 {
    u16::try_from(n).expect("decoder dimensions fit in u16")
}

/// The decoder's layers in the blob's layouts and conventions.
pub fn float_layers(decoder: &Decoder) -> Vec<FloatLayer> {
    match decoder {
        Decoder::Mlp(m) => [(&m.fc3, Activation::Relu), (&m.fc4, Activation::Linear)]
            .into_iter()
            .map(|(linear, activation)| {
                let (inputs, outputs, weights, bias) = linear_parts(linear);
                FloatLayer {
                    op: Op::Dense {
                        inputs: dim16(inputs),
                        outputs: dim16(outputs),
                    },
                    activation,
                    weights,
                    bias,
                }
            })
            .collect(),
        Decoder::Conv(m) => {
            let (inputs, outputs, w, b) = linear_parts(&m.fc);
            let h0 = CONV_DECODER_H0;
            let c0 = outputs / (h0 * h0);
            // burn reshapes the dense output as NCHW: row `c*h0*h0 + p`
            // (p = y*h0 + x) becomes blob row `p*c0 + c` (HWC).
            let mut weights = vec![0.0; w.len()];
            let mut bias = vec![0.0; b.len()];
            for c in 0..c0 {
                for p in 0..h0 * h0 {
                    let (from, to) = (c * h0 * h0 + p, p * c0 + c);
                    weights[to * inputs..(to + 1) * inputs]
                        .copy_from_slice(&w[from * inputs..(from + 1) * inputs]);
                    bias[to] = b[from];
                }
            }
            let mut layers = vec![FloatLayer {
                op: Op::Dense {
                    inputs: dim16(inputs),
                    outputs: dim16(outputs),
                },
                activation: Activation::Relu,
                weights,
                bias,
            }];
            let mut side = h0;
            for (deconv, activation) in [
                (&m.deconv1, Activation::Relu),
                (&m.deconv2, Activation::Linear),
            ] {
                let [in_c, out_c] = deconv.channels;
                let [kh, kw] = deconv.kernel_size;
                let out_side = (side - 1) * deconv.stride[0] - 2 * deconv.padding[0]
                    + kh
                    + deconv.padding_out[0];
                // burn (like PyTorch) stores `[in_c, out_c, kh, kw]`; the
                // blob wants `[out_c][kh][kw][in_c]`.
                let w = values(deconv.weight.val().permute([1, 2, 3, 0]));
                let bias = deconv
                    .bias
                    .as_ref()
                    .map_or_else(|| vec![0.0; out_c], |b| values(b.val()));
                let byte = |v: usize| u8::try_from(v).expect("kernel geometry fits in u8");
                layers.push(FloatLayer {
                    op: Op::ConvTranspose2d {
                        input: Hwc {
                            height: dim16(side),
                            width: dim16(side),
                            channels: dim16(in_c),
                        },
                        output: Hwc {
                            height: dim16(out_side),
                            width: dim16(out_side),
                            channels: dim16(out_c),
                        },
                        kernel: [byte(kh), byte(kw)],
                        stride: [byte(deconv.stride[0]), byte(deconv.stride[1])],
                        padding: [byte(deconv.padding[0]), byte(deconv.padding[1])],
                    },
                    activation,
                    weights: w,
                    bias,
                });
                side = out_side;
            }
            layers
        }
    }
}

/// The output of every decoder layer (after its activation), each
/// `[batch, elements]`: what calibration measures. The last is the logits.
pub fn layer_outputs(decoder: &Decoder, z: Tensor<2>) -> Vec<Tensor<2>> {
    let [batch, _] = z.dims();
    match decoder {
        Decoder::Mlp(m) => {
            let h = relu(m.fc3.forward(z)); // [batch, 400]
            let logits = m.fc4.forward(h.clone()); // [batch, 784]
            vec![h, logits]
        }
        Decoder::Conv(m) => {
            let h0 = CONV_DECODER_H0;
            let c0 = m.deconv1.channels[0];
            let h = relu(m.fc.forward(z)); // [batch, C0*7*7]
            let g = relu(m.deconv1.forward(h.clone().reshape([batch, c0, h0, h0]))); // [batch, C1, 14, 14]
            let logits = m.deconv2.forward(g.clone()).reshape([batch, PIXELS]); // [batch, 784]
            vec![h, g.flatten::<2>(1, 3), logits]
        }
    }
}

/// Latents `[n, latent]` from the prior and from posteriors of `split`'s
/// first `n` images (`z = mu + sigma * e`), each as a flat row-major vector.
fn latents(model: &Vae, split: &Split, n: usize, rng: &mut Rng) -> (Vec<f32>, Vec<f32>) {
    let latent = model.latent();
    let prior = rng.normals(n * latent);
    let (mu, logvar) = encode(model, &split.clone().truncated(n));
    let e = rng.normals(mu.len());
    let posterior = mu
        .iter()
        .zip(&logvar)
        .zip(&e)
        .map(|((m, lv), e)| m + (0.5 * lv).exp() * e)
        .collect();
    (prior, posterior)
}

/// `(mu, logvar)` of every image of `split`, flat `[n, latent]`.
pub fn encode(model: &Vae, split: &Split) -> (Vec<f32>, Vec<f32>) {
    let device = model.device();
    let (mut mu, mut logvar) = (Vec::new(), Vec::new());
    for start in (0..split.len()).step_by(BATCH) {
        let end = (start + BATCH).min(split.len());
        let chunk = Split {
            pixels: split.pixels[start * PIXELS..end * PIXELS].to_vec(),
            labels: split.labels[start..end].to_vec(),
        };
        let (m, lv) = model.encode(images_tensor(&chunk, &device)); // [batch, latent]
        mu.extend(values(m));
        logvar.extend(values(lv));
    }
    (mu, logvar)
}

fn tensor(values: &[f32], rows: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(
        TensorData::new(values.to_vec(), [rows, values.len() / rows.max(1)]),
        device,
    )
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
    let latent = model.latent();
    let z_max = latents
        .iter()
        .fold(0.0_f32, |m, v| m.max(v.abs()))
        .max(1e-3);
    let layers = float_layers(&model.decoder).len();
    let mut ranges = vec![(f32::INFINITY, f32::NEG_INFINITY); layers];
    for chunk in latents.chunks(BATCH * latent) {
        let z = tensor(chunk, chunk.len() / latent, &device);
        for (range, out) in ranges.iter_mut().zip(layer_outputs(&model.decoder, z)) {
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

/// The int8 decoder of `blob` on float latents (flat `[n, latent]`): each
/// z is quantized with the blob's z quantization, then decoded by `shared`
/// (its host decoder: the chip's bytes).
pub fn int8_images(blob: &Model<'_>, latents: &[f32]) -> Vec<u8> {
    let q = blob.z_quant();
    let mut decoder = HostDecoder::new(blob);
    let mut pixels = vec![0u8; latents.len() / blob.latent_dim() * blob.image_len()];
    let mut z = vec![0i8; blob.latent_dim()];
    for (zf, image) in latents
        .chunks(blob.latent_dim())
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

/// The float decoder's pixels `255 * sigmoid(logits)` for flat latents.
pub fn float_images(model: &Vae, latents: &[f32]) -> Vec<f32> {
    let device = model.device();
    let latent = model.latent();
    latents
        .chunks(BATCH * latent)
        .flat_map(|chunk| {
            let z = tensor(chunk, chunk.len() / latent, &device);
            values(burn::tensor::activation::sigmoid(model.decode_logits(z)).mul_scalar(255.0))
        })
        .collect()
}

/// Compares the blob's int8 decoder with the model's float decoder.
pub fn fidelity(model: &Vae, blob: &Model<'_>, test: &Split, options: &ExportOptions) -> Fidelity {
    let n = options.fidelity_samples.min(test.len());
    let mut rng = Rng::new(options.seed ^ 0xf1de_1175);
    let (prior, posterior) = latents(model, test, n, &mut rng);
    let agree = |z: &[f32]| {
        Agreement::of(
            &int8_images(blob, z),
            &float_images(model, z),
            z.len() / model.latent(),
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
        tensor(&logits, rows, &device)
    };
    Fidelity {
        prior: agree(&prior),
        posterior: agree(&posterior),
        nelbo_float: test_nelbo(model, test, options.seed),
        nelbo_int8: test_nelbo_with_decoder(model, test, options.seed, int8_logits),
    }
}
