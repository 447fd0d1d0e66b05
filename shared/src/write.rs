//! Host side: quantizing float layers and encoding blobs (feature `std`).
//!
//! The exporter and the tests build an [`OwnedModel`] from float weights
//! with [`OwnedLayer::quantize`], then [`OwnedModel::to_blob`] writes the
//! bytes that [`crate::Model::from_bytes`] reads back.

use crate::blob::{
    self, Activation, Body, FORMAT_VERSION, Header, Hwc, Layer, Metadata, Op, Prototypes, Quant,
};
use crate::fixedpoint::quantize_multiplier;
use crate::layout::DenseLayout;
use crate::sampler::to_q16;

/// Why a float model cannot be quantized.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum QuantizeError {
    /// A weight or bias array does not match the op's shape.
    #[error("{what} has {found} values, the layer shape needs {expected}")]
    Shape {
        /// Which array.
        what: &'static str,
        /// Values given.
        found: usize,
        /// Values the shape implies.
        expected: usize,
    },
    /// A value is NaN or infinite.
    #[error("{0} contains a NaN or infinite value")]
    NotFinite(&'static str),
    /// A scale is not positive and finite.
    #[error("quantization scale {0} is not positive and finite")]
    Scale(f32),
    /// More layers than a blob holds.
    #[error("{0} layers, a blob holds at most {max}", max = blob::MAX_LAYERS)]
    TooManyLayers(usize),
}

impl Quant {
    /// TFLite's asymmetric int8 quantization of the real range `[min, max]`
    /// (widened to include 0, so that 0 is exact): `scale = (max - min) / 255`,
    /// zero point rounded into `-128..=127`.
    pub fn from_range(min: f32, max: f32) -> Result<Self, QuantizeError> {
        if !min.is_finite() || !max.is_finite() {
            return Err(QuantizeError::NotFinite("activation range"));
        }
        let (min, max) = (min.min(0.0), max.max(0.0));
        let range = if max > min { max - min } else { 1.0 };
        let scale = range / 255.0;
        let zero_point = (-128.0 - min / scale).round().clamp(-128.0, 127.0) as i8;
        Ok(Self { scale, zero_point })
    }

    /// The real value of code `q`.
    pub fn dequantize(&self, q: i8) -> f32 {
        self.scale * (f32::from(q) - f32::from(self.zero_point))
    }

    /// The code nearest to `x`, saturated.
    pub fn quantize(&self, x: f32) -> i8 {
        (x / self.scale + f32::from(self.zero_point))
            .round()
            .clamp(-128.0, 127.0) as i8
    }
}

/// An owned [`Layer`]: the parameter arrays already in their blob encoding.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedLayer {
    /// Operation and shapes.
    pub op: Op,
    /// Clamp after requantization.
    pub activation: Activation,
    /// Input quantization.
    pub input: Quant,
    /// Output quantization.
    pub output: Quant,
    weights: Vec<u8>,
    weight_scales: Vec<u8>,
    bias: Vec<u8>,
    multipliers: Vec<u8>,
    shifts: Vec<u8>,
}

impl OwnedLayer {
    /// Quantizes a float layer by the README's quantization contract (its
    /// "Key contracts"): weights int8
    /// symmetric per output channel (`scale = max|w| / 127`), bias int32 at
    /// scale `input.scale * w_scale[c]` (a dense layer's input zero point
    /// folded in), requantization multiplier and shift from
    /// `f64(in) * f64(w[c]) / f64(out)`.
    ///
    /// `weights` are in the op's layout (dense `[out][in]`, transposed
    /// convolution `[out_c][kh][kw][in_c]`), `bias` has one value per output
    /// channel.
    pub fn quantize(
        op: Op,
        activation: Activation,
        input: Quant,
        output: Quant,
        weights: &[f32],
        bias: &[f32],
    ) -> Result<Self, QuantizeError> {
        for scale in [input.scale, output.scale] {
            if !(scale.is_finite() && scale > 0.0) {
                return Err(QuantizeError::Scale(scale));
            }
        }
        let channels = op.channels();
        let expected = op.weight_count().unwrap_or(usize::MAX);
        if weights.len() != expected || channels == 0 {
            return Err(QuantizeError::Shape {
                what: "weights",
                found: weights.len(),
                expected,
            });
        }
        if bias.len() != channels {
            return Err(QuantizeError::Shape {
                what: "bias",
                found: bias.len(),
                expected: channels,
            });
        }
        if !weights.iter().all(|w| w.is_finite()) {
            return Err(QuantizeError::NotFinite("weights"));
        }
        if !bias.iter().all(|b| b.is_finite()) {
            return Err(QuantizeError::NotFinite("bias"));
        }
        let per_channel = expected / channels;
        let mut layer = Self {
            op,
            activation,
            input,
            output,
            weights: Vec::with_capacity(op.weight_bytes().unwrap_or(expected)),
            weight_scales: Vec::with_capacity(4 * channels),
            bias: Vec::with_capacity(4 * channels),
            multipliers: Vec::with_capacity(4 * channels),
            shifts: Vec::with_capacity(channels),
        };
        for (row, &b) in weights.chunks_exact(per_channel).zip(bias) {
            let max_abs = row.iter().fold(0.0_f32, |m, w| m.max(w.abs()));
            let w_scale = if max_abs > 0.0 { max_abs / 127.0 } else { 1.0 };
            let q: Vec<i8> = row
                .iter()
                .map(|w| (w / w_scale).round().clamp(-127.0, 127.0) as i8)
                .collect();
            let bias_scale = f64::from(input.scale) * f64::from(w_scale);
            let mut b_q = (f64::from(b) / bias_scale)
                .round()
                .clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i64;
            if matches!(op, Op::Dense { .. }) {
                b_q -= i64::from(input.zero_point) * q.iter().map(|&w| i64::from(w)).sum::<i64>();
            }
            let b_q = b_q.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
            let (m, shift) = quantize_multiplier(bias_scale / f64::from(output.scale))
                .ok_or(QuantizeError::Scale(w_scale))?;
            layer.weights.extend(q.iter().map(|&w| w as u8));
            layer.weight_scales.extend(w_scale.to_le_bytes());
            layer.bias.extend(b_q.to_le_bytes());
            layer.multipliers.extend(m.to_le_bytes());
            layer.shifts.push(shift as i8 as u8);
        }
        if let Op::Dense { inputs, outputs } = op {
            // Row-major so far; store in the kernels' order.
            let inputs = usize::from(inputs);
            let layout = DenseLayout::new(inputs, usize::from(outputs));
            let row_major = core::mem::take(&mut layer.weights);
            layer.weights = vec![0; layout.stored_len().unwrap_or(0)];
            layout.pack(&mut layer.weights, |r, i| row_major[r * inputs + i] as i8);
        }
        Ok(layer)
    }

    /// The borrowed view that goes into a [`Body`].
    pub fn as_layer(&self) -> Layer<'_> {
        Layer {
            op: self.op,
            activation: self.activation,
            input: self.input,
            output: self.output,
            weight_scales: &self.weight_scales,
            bias: &self.bias,
            multipliers: &self.multipliers,
            shifts: &self.shifts,
            align: &[],
            weights: &self.weights,
        }
    }
}

/// Class prototypes as Q16.16 little-endian bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedPrototypes {
    classes: u16,
    mu_q16: Vec<u8>,
    sigma_q16: Vec<u8>,
}

impl OwnedPrototypes {
    /// From per-class means and standard deviations, `[classes][latent]`
    /// row-major.
    pub fn new(classes: u16, mu: &[f32], sigma: &[f32]) -> Self {
        let encode = |v: &[f32]| v.iter().flat_map(|&x| to_q16(x).to_le_bytes()).collect();
        Self {
            classes,
            mu_q16: encode(mu),
            sigma_q16: encode(sigma),
        }
    }
}

/// Everything a blob holds, owned; [`OwnedModel::to_blob`] encodes it.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedModel {
    /// Dimensions of z.
    pub latent_dim: u16,
    /// Generated image shape.
    pub image: Hwc,
    /// The decoder, first layer first.
    pub layers: Vec<OwnedLayer>,
    /// The 256-entry logit-to-pixel table.
    pub output_table: [u8; 256],
    /// Optional class prototypes.
    pub prototypes: Option<OwnedPrototypes>,
    /// Data set name.
    pub dataset: String,
    /// Model name.
    pub model: String,
    /// Training epochs.
    pub epochs: u32,
    /// Float model's test NELBO, nats per image.
    pub test_nelbo: f32,
}

impl OwnedModel {
    /// The borrowed [`Body`] for this model, its weights aligned as
    /// [`encode`] writes them.
    pub fn body(&self) -> Result<Body<'_>, QuantizeError> {
        let first = self.layers.first().map_or(1.0, |l| l.input.scale);
        let layers = self
            .layers
            .iter()
            .map(OwnedLayer::as_layer)
            .collect::<heapless::Vec<_, { blob::MAX_LAYERS }>>();
        if layers.len() != self.layers.len() {
            return Err(QuantizeError::TooManyLayers(self.layers.len()));
        }
        let mut body = Body {
            latent_dim: self.latent_dim,
            image: self.image,
            z_inv_scale_q16: to_q16(1.0 / first),
            layers,
            output_table: &self.output_table,
            prototypes: self.prototypes.as_ref().map(|p| Prototypes {
                classes: p.classes,
                mu_q16: &p.mu_q16,
                sigma_q16: &p.sigma_q16,
            }),
            metadata: Metadata {
                dataset: &self.dataset,
                model: &self.model,
                epochs: self.epochs,
                test_nelbo: self.test_nelbo,
            },
        };
        align_weights(&mut body);
        Ok(body)
    }

    /// The complete blob: header and postcard payload.
    pub fn to_blob(&self) -> Result<Vec<u8>, QuantizeError> {
        Ok(encode(&self.body()?))
    }
}

/// Encodes a body as a blob: header (magic, version, length, CRC-32) and
/// postcard payload, with each layer's `align` set by [`align_weights`].
pub fn encode(body: &Body<'_>) -> Vec<u8> {
    let mut body = body.clone();
    align_weights(&mut body);
    let payload =
        postcard::to_allocvec(&body).expect("postcard encodes into a Vec without failing");
    seal(&payload)
}

/// Sets each layer's `align` padding (0..=3 zero bytes) so that its weights
/// start at a multiple of 4 bytes from the start of the blob.
pub fn align_weights(body: &mut Body<'_>) {
    const ZEROS: [u8; 3] = [0; 3];
    // Everything before the first layer: the body's leading fields and the
    // layer count (a varint, as postcard writes a sequence length).
    let mut offset = blob::HEADER_LEN
        + encoded_len(&(
            body.latent_dim,
            body.image,
            body.z_inv_scale_q16,
            body.layers.len() as u32,
        ));
    for layer in body.layers.iter_mut() {
        layer.align = &[];
        // `weights` is a layer's last field: its bytes end the encoding.
        let weights_at = offset + encoded_len(&*layer) - layer.weights.len();
        layer.align = &ZEROS[..(4 - weights_at % 4) % 4];
        offset += encoded_len(&*layer);
    }
}

/// Bytes of `value`'s postcard encoding.
fn encoded_len(value: &impl serde::Serialize) -> usize {
    postcard::to_allocvec(value)
        .expect("postcard encodes into a Vec without failing")
        .len()
}

/// Puts the header in front of a payload: the blob for any payload bytes
/// (tests and the fuzz target use it to reach the body parser behind the
/// checksum).
pub fn seal(payload: &[u8]) -> Vec<u8> {
    let header = Header {
        version: FORMAT_VERSION,
        payload_len: u32::try_from(payload.len()).expect("a blob payload fits in 4 GiB"),
        crc32: blob::CRC.checksum(payload),
    };
    let mut out = Vec::with_capacity(blob::HEADER_LEN + payload.len());
    out.extend_from_slice(&header.to_bytes());
    out.extend_from_slice(payload);
    out
}

/// The output table for logits quantized as `logits`:
/// `table[q + 128] = round(255 * sigmoid(logits.dequantize(q)))`.
pub fn sigmoid_table(logits: Quant) -> [u8; 256] {
    core::array::from_fn(|i| {
        let x = f64::from(logits.dequantize((i as i32 - 128) as i8));
        (255.0 / (1.0 + (-x).exp())).round() as u8
    })
}
