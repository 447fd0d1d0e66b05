//! Host side: quantizing float layers and encoding blobs (feature `std`).
//!
//! The exporter and the tests build an [`OwnedModel`] from float weights
//! with [`OwnedLayer::quantize`], then [`OwnedModel::to_blob`] writes the
//! bytes that [`crate::Model::from_bytes`] reads back.

use crate::blob::{
    self, Activation, Body, Condition, Density, FORMAT_VERSION, Header, Hwc, Layer,
    MAX_DENSITY_Q16, Metadata, Op, Quant, tril_len,
};
use crate::classes;
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
    /// The model has no layers (the first one quantizes z).
    #[error("the model has no layers")]
    NoLayers,
    /// The class condition cannot be encoded.
    #[error("class condition: {0}")]
    Condition(&'static str),
    /// The one-hot code `zero_point + round(1 / z_scale)` is not an int8
    /// code other than the zero point.
    #[error(
        "the one-hot code for 1.0 at z scale {scale} and zero point {zero_point} is {code}, \
         not an int8 code other than the zero point"
    )]
    OneCode {
        /// z's scale.
        scale: f32,
        /// z's zero point.
        zero_point: i8,
        /// `zero_point + round(1 / scale)`.
        code: f64,
    },
    /// A density component's array has the wrong length.
    #[error("density component {component}: {what} has {found} values, expected {expected}")]
    DensityShape {
        /// Index of the component.
        component: usize,
        /// Which array.
        what: &'static str,
        /// Values given.
        found: usize,
        /// Values the latent size implies.
        expected: usize,
    },
    /// A density component's value is unusable.
    #[error("density component {component}: {problem}")]
    DensityValue {
        /// Index of the component.
        component: usize,
        /// What is wrong.
        problem: &'static str,
    },
    /// The density as a whole cannot be encoded.
    #[error("density: {0}")]
    Density(&'static str),
    /// A class owns no component (or only components of weight 0).
    #[error("density: class {0} has no component of positive weight")]
    EmptyClass(u16),
    /// A class name cannot be stored: empty, too long, a control
    /// character, or the name of an earlier class.
    #[error("class {class}'s name {name:?} {problem}")]
    ClassName {
        /// The class.
        class: usize,
        /// Its name.
        name: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The names are not one per class.
    #[error("{names} class names for {classes} classes")]
    ClassNameCount {
        /// Names given.
        names: usize,
        /// The model's classes: the condition's, else the density's.
        classes: u16,
    },
    /// The names take more bytes than a blob holds.
    #[error(
        "the class names take {0} bytes with their separators, a blob holds at most {max}",
        max = classes::MAX_CLASS_NAMES
    )]
    ClassNamesTooLong(usize),
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

/// One component of a fitted density, in real units of z.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedComponent {
    /// Its class: `Some(k)` (`k < classes`) iff the density is tagged.
    pub class: Option<u16>,
    /// Mixture weight over all components (the writer normalises them).
    pub weight: f64,
    /// Mean, `latent_dim` values.
    pub mean: Vec<f32>,
    /// The rows of the lower-triangular Cholesky factor `L` (`cov = L
    /// L^T`): `latent_dim * (latent_dim + 1) / 2` values, row `i` holding
    /// `L[i][0..=i]`, with a positive diagonal.
    pub scale_tril: Vec<f32>,
}

/// A fitted density over z: a full-covariance Gaussian mixture, in real
/// units (the writer converts it to int8 steps of z).
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedDensity {
    /// Classes the components are tagged with (0: untagged).
    pub classes: u16,
    /// The components, in the order the blob keeps them.
    pub components: Vec<OwnedComponent>,
}

/// A density's blob arrays, little-endian.
#[derive(Debug, Clone, PartialEq)]
struct DensityBytes {
    components: u16,
    classes: u16,
    class_of: Vec<u8>,
    pick: Vec<u8>,
    pick_in_class: Vec<u8>,
    mean: Vec<u8>,
    scale_tril: Vec<u8>,
}

impl DensityBytes {
    fn as_density(&self) -> Density<'_> {
        Density {
            components: self.components,
            classes: self.classes,
            class_of: &self.class_of,
            pick: &self.pick,
            pick_in_class: &self.pick_in_class,
            mean: &self.mean,
            scale_tril: &self.scale_tril,
        }
    }
}

impl OwnedDensity {
    /// Checks the density and converts it to int8 steps of a z quantized
    /// with `z_scale`: Q16.16 means and Cholesky rows (a positive diagonal
    /// entry that rounds to 0 is stored as the smallest positive value,
    /// 2^-16 steps), and the cumulative pick thresholds
    /// `floor(2^32 * cumulative weight)`, the last of each sequence
    /// `u32::MAX`.
    fn encode(&self, latent: usize, z_scale: f32) -> Result<DensityBytes, QuantizeError> {
        let n = self.components.len();
        let components = u16::try_from(n)
            .ok()
            .filter(|&c| c > 0)
            .ok_or(QuantizeError::Density("needs 1 to 65535 components"))?;
        for (k, c) in self.components.iter().enumerate() {
            let value = |problem| QuantizeError::DensityValue {
                component: k,
                problem,
            };
            for (what, found, expected) in [
                ("mean", c.mean.len(), latent),
                ("scale_tril", c.scale_tril.len(), tril_len(latent)),
            ] {
                if found != expected {
                    return Err(QuantizeError::DensityShape {
                        component: k,
                        what,
                        found,
                        expected,
                    });
                }
            }
            if !(c.weight.is_finite() && c.weight >= 0.0) {
                return Err(value("weight is negative or not finite"));
            }
            if !c.mean.iter().chain(&c.scale_tril).all(|v| v.is_finite()) {
                return Err(value("mean or scale_tril has a NaN or infinite value"));
            }
            if (0..latent).any(|i| c.scale_tril[tril_len(i) + i] <= 0.0) {
                return Err(value(
                    "scale_tril has a diagonal entry that is not positive",
                ));
            }
            match (c.class, self.classes) {
                (None, 0) => {}
                (Some(class), classes) if class < classes => {}
                _ => {
                    return Err(value(
                        "class missing, out of range, or given to an untagged density",
                    ));
                }
            }
        }
        let total: f64 = self.components.iter().map(|c| c.weight).sum();
        if !(total > 0.0 && total.is_finite()) {
            return Err(QuantizeError::Density("the weights sum to 0 or overflow"));
        }
        let mut out = DensityBytes {
            components,
            classes: self.classes,
            class_of: Vec::new(),
            pick: thresholds(self.components.iter().map(|c| c.weight / total)),
            pick_in_class: vec![0; if self.classes > 0 { 4 * n } else { 0 }],
            mean: Vec::with_capacity(4 * n * latent),
            scale_tril: Vec::with_capacity(4 * n * tril_len(latent)),
        };
        for class in 0..self.classes {
            let members: Vec<usize> = (0..n)
                .filter(|&k| self.components[k].class == Some(class))
                .collect();
            let total: f64 = members.iter().map(|&k| self.components[k].weight).sum();
            if total <= 0.0 {
                return Err(QuantizeError::EmptyClass(class));
            }
            let pick = thresholds(members.iter().map(|&k| self.components[k].weight / total));
            for (&k, bytes) in members.iter().zip(pick.chunks_exact(4)) {
                out.pick_in_class[4 * k..][..4].copy_from_slice(bytes);
            }
        }
        let steps = |k: usize, v: f32, positive: bool| {
            let q = to_q16(v / z_scale);
            let q = if positive { q.max(1) } else { q };
            if (-MAX_DENSITY_Q16..=MAX_DENSITY_Q16).contains(&q) {
                Ok(q.to_le_bytes())
            } else {
                Err(QuantizeError::DensityValue {
                    component: k,
                    problem: "a mean or scale_tril value is beyond 256 steps of z",
                })
            }
        };
        for (k, c) in self.components.iter().enumerate() {
            out.class_of
                .extend(c.class.map(u16::to_le_bytes).unwrap_or_default());
            for &v in &c.mean {
                out.mean.extend(steps(k, v, false)?);
            }
            for i in 0..latent {
                for j in 0..=i {
                    out.scale_tril
                        .extend(steps(k, c.scale_tril[tril_len(i) + j], i == j)?);
                }
            }
        }
        Ok(out)
    }
}

/// Cumulative pick thresholds of normalised weights, u32 LE each:
/// `floor(2^32 * cumulative)`, saturated, the last `u32::MAX`.
fn thresholds(weights: impl ExactSizeIterator<Item = f64>) -> Vec<u8> {
    let n = weights.len();
    let mut cumulative = 0.0;
    weights
        .enumerate()
        .flat_map(|(k, w)| {
            cumulative += w;
            let t = if k + 1 == n {
                u32::MAX
            } else {
                // `as` saturates.
                (cumulative * 4_294_967_296.0).floor() as u32
            };
            t.to_le_bytes()
        })
        .collect()
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
    /// Classes of a class-conditional decoder (its first layer, dense,
    /// takes `latent_dim + condition_classes` inputs); 0: unconditional.
    pub condition_classes: u16,
    /// The fitted density over z, if any.
    pub density: Option<OwnedDensity>,
    /// One name per class (the condition's classes, else the density's,
    /// else none), class 0 first: what `--class` accepts and pictures
    /// show. At most 32 bytes each, none empty, none with a control
    /// character, no two alike.
    pub class_names: Vec<String>,
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
    /// The complete blob: header and postcard payload, the condition's
    /// one-hot code and the density's steps computed from z's quantization
    /// (the first layer's input).
    pub fn to_blob(&self) -> Result<Vec<u8>, QuantizeError> {
        let first = self.layers.first().ok_or(QuantizeError::NoLayers)?;
        let z = first.input;
        let condition = match self.condition_classes {
            0 => None,
            classes => {
                let inputs = u32::from(self.latent_dim) + u32::from(classes);
                if !matches!(first.op, Op::Dense { inputs: n, .. } if u32::from(n) == inputs) {
                    return Err(QuantizeError::Condition(
                        "the first layer must be dense over latent_dim + classes inputs",
                    ));
                }
                if self.density.as_ref().is_some_and(|d| d.classes != classes) {
                    return Err(QuantizeError::Condition(
                        "the density's classes differ from the condition's",
                    ));
                }
                Some(Condition {
                    classes,
                    one: one_code(z)?,
                })
            }
        };
        let density = self
            .density
            .as_ref()
            .map(|d| d.encode(usize::from(self.latent_dim), z.scale))
            .transpose()?;
        let class_names = self.class_names_text()?;
        let layers = self
            .layers
            .iter()
            .map(OwnedLayer::as_layer)
            .collect::<heapless::Vec<_, { blob::MAX_LAYERS }>>();
        if layers.len() != self.layers.len() {
            return Err(QuantizeError::TooManyLayers(self.layers.len()));
        }
        Ok(encode(&Body {
            latent_dim: self.latent_dim,
            image: self.image,
            z_inv_scale_q16: to_q16(1.0 / z.scale),
            layers,
            output_table: &self.output_table,
            condition,
            density: density.as_ref().map(DensityBytes::as_density),
            metadata: Metadata {
                dataset: &self.dataset,
                model: &self.model,
                epochs: self.epochs,
                test_nelbo: self.test_nelbo,
            },
            class_names: &class_names,
        }))
    }

    /// Classes of the model: the condition's, else the density's tags.
    fn classes(&self) -> u16 {
        match (self.condition_classes, &self.density) {
            (0, Some(density)) => density.classes,
            (classes, _) => classes,
        }
    }

    /// Checks the class names, one valid name per class, and joins them
    /// into the blob's names string.
    fn class_names_text(&self) -> Result<String, QuantizeError> {
        let classes = self.classes();
        if self.class_names.len() != usize::from(classes) {
            return Err(QuantizeError::ClassNameCount {
                names: self.class_names.len(),
                classes,
            });
        }
        for (class, name) in self.class_names.iter().enumerate() {
            let problem = classes::check_name(name).err().or_else(|| {
                self.class_names[..class]
                    .contains(name)
                    .then_some("is the name of an earlier class")
            });
            if let Some(problem) = problem {
                return Err(QuantizeError::ClassName {
                    class,
                    name: name.clone(),
                    problem,
                });
            }
        }
        let text = self.class_names.join("\n");
        if text.len() > classes::MAX_CLASS_NAMES {
            return Err(QuantizeError::ClassNamesTooLong(text.len()));
        }
        Ok(text)
    }
}

/// The one-hot code of a class: `zero_point + round(1 / scale)` for z's
/// quantization, which must be an int8 code other than the zero point.
pub fn one_code(z: Quant) -> Result<i8, QuantizeError> {
    let code = f64::from(z.zero_point) + (1.0 / f64::from(z.scale)).round();
    if code.is_finite() && code != f64::from(z.zero_point) && (-128.0..=127.0).contains(&code) {
        Ok(code as i8)
    } else {
        Err(QuantizeError::OneCode {
            scale: z.scale,
            zero_point: z.zero_point,
            code,
        })
    }
}

/// Encodes a body as a blob: header (magic, version, length, CRC-32) and
/// postcard payload (the derived fields, then the class names), with each
/// layer's `align` set by [`align_weights`].
pub fn encode(body: &Body<'_>) -> Vec<u8> {
    let mut body = body.clone();
    align_weights(&mut body);
    let mut payload =
        postcard::to_allocvec(&body).expect("postcard encodes into a Vec without failing");
    payload.extend(
        postcard::to_allocvec(body.class_names)
            .expect("postcard encodes into a Vec without failing"),
    );
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
