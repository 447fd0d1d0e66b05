//! The model blob: a 16-byte header and a postcard body.
//!
//! The byte layout is specified in `shared/BLOB-FORMAT.md`. Everything large
//! (weights, biases, requantization arrays, tables) is a borrowed byte slice,
//! so parsing a blob that sits in flash copies nothing and allocates nothing:
//! serde borrows only `&[u8]` and `&str`, which is why multi-byte arrays are
//! stored as little-endian bytes and read through the accessors of [`Layer`] and [`Density`].
//!
//! This module only decodes; [`crate::Model`] checks that a decoded body is
//! consistent, and `write` (feature `std`) encodes.

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::layout::DenseLayout;

/// First four bytes of every blob.
pub const MAGIC: [u8; 4] = *b"TVAE";
/// Version of the layout in `BLOB-FORMAT.md` that this build writes (and
/// reads).
pub const FORMAT_VERSION: u16 = 4;
/// The oldest version this build still reads: version 3, the same body
/// without [`Body::class_names`] (its classes are called `class k`).
pub const OLDEST_READABLE_VERSION: u16 = 3;
/// The first version whose body ends with [`Body::class_names`].
pub const CLASS_NAMES_VERSION: u16 = 4;
/// Size of the fixed header before the postcard payload.
pub const HEADER_LEN: usize = 16;
/// Most layers a decoder may have (the capacity of [`Body::layers`]).
/// Every slot costs ~0.1 KB in each of the few copies of the body that
/// parsing makes on the stack; four keeps a Cortex-M0 with 16 KB of RAM
/// (and the conv decoder's 9.4 KB of scratch) clear of a stack overflow.
pub const MAX_LAYERS: usize = 4;
/// Largest decoder input a blob may declare: the latent size plus, for a
/// class-conditional decoder, its classes ([`Condition`]).
pub const MAX_LATENT: u16 = 256;
/// Largest magnitude of a [`Density`] mean or Cholesky entry, in Q16.16
/// int8 steps: 2^24, i.e. 256 steps, the whole int8 range. It bounds the
/// sampler's 64-bit sums: `2^24 * 2^40` for a mean plus at most 256
/// products `2^24 * 2^27` (|e| < 6.3 in Q24) stay below `2^63`.
pub const MAX_DENSITY_Q16: i32 = 1 << 24;

/// CRC-32 of the payload: the common CRC-32/ISO-HDLC (zlib, PNG, Ethernet).
pub const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// The decoded fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Format version, [`OLDEST_READABLE_VERSION`] to [`FORMAT_VERSION`].
    pub version: u16,
    /// Length of the postcard payload after the header.
    pub payload_len: u32,
    /// CRC-32 of the payload.
    pub crc32: u32,
}

impl Header {
    /// Encodes the header: magic, version, reserved flags (0), payload
    /// length and CRC-32, integers little-endian.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0; HEADER_LEN];
        out[0..4].copy_from_slice(&MAGIC);
        out[4..6].copy_from_slice(&self.version.to_le_bytes());
        // out[6..8]: reserved flags, zero.
        out[8..12].copy_from_slice(&self.payload_len.to_le_bytes());
        out[12..16].copy_from_slice(&self.crc32.to_le_bytes());
        out
    }

    /// Decodes and checks the header at the start of `bytes`: length, magic,
    /// version and reserved flags. The payload is not looked at.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let Some(head) = bytes.first_chunk::<HEADER_LEN>() else {
            return Err(Error::Truncated {
                needed: HEADER_LEN as u32,
                available: bytes.len() as u32,
            });
        };
        if head[0..4] != MAGIC {
            return Err(Error::BadMagic);
        }
        let version = u16::from_le_bytes([head[4], head[5]]);
        if version < OLDEST_READABLE_VERSION {
            return Err(Error::OutdatedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if version > FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let flags = u16::from_le_bytes([head[6], head[7]]);
        if flags != 0 {
            return Err(Error::ReservedFlags(flags));
        }
        Ok(Self {
            version,
            payload_len: u32::from_le_bytes([head[8], head[9], head[10], head[11]]),
            crc32: u32::from_le_bytes([head[12], head[13], head[14], head[15]]),
        })
    }

    /// Total blob length, header included.
    pub fn blob_len(&self) -> usize {
        HEADER_LEN + self.payload_len as usize
    }
}

/// Splits a blob into header and checksummed payload. Bytes after the
/// payload are returned as the third element for the caller to judge
/// (an error in a file, erased flash in a flash region).
pub fn split(bytes: &[u8]) -> Result<(Header, &[u8], &[u8]), Error> {
    let header = Header::parse(bytes)?;
    let rest = &bytes[HEADER_LEN..];
    let payload_len = header.payload_len as usize;
    if rest.len() < payload_len {
        return Err(Error::Truncated {
            needed: u32::try_from(header.blob_len()).unwrap_or(u32::MAX),
            available: bytes.len() as u32,
        });
    }
    let (payload, trailing) = rest.split_at(payload_len);
    let actual = CRC.checksum(payload);
    if actual != header.crc32 {
        return Err(Error::Checksum {
            expected: header.crc32,
            actual,
        });
    }
    Ok((header, payload, trailing))
}

/// Decodes a checksummed payload of format `version` (checked by
/// [`Header::parse`]) into a [`Body`]; every byte must be used. From
/// [`CLASS_NAMES_VERSION`] the class names follow the derived fields; an
/// older body has none (an empty [`Body::class_names`]).
pub fn decode_body(version: u16, payload: &[u8]) -> Result<Body<'_>, Error> {
    let (mut body, mut rest) =
        postcard::take_from_bytes::<Body<'_>>(payload).map_err(|_| Error::Malformed)?;
    if version >= CLASS_NAMES_VERSION {
        (body.class_names, rest) =
            postcard::take_from_bytes::<&str>(rest).map_err(|_| Error::Malformed)?;
    }
    if !rest.is_empty() {
        return Err(Error::TrailingPayload(rest.len() as u32));
    }
    Ok(body)
}

/// Height, width and channels of an activation or image, stored row-major
/// with channels last (HWC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hwc {
    /// Rows.
    pub height: u16,
    /// Columns.
    pub width: u16,
    /// Channels per pixel.
    pub channels: u16,
}

impl Hwc {
    /// Number of elements, or `None` if it overflows `usize`.
    pub fn elements(&self) -> Option<usize> {
        usize::from(self.height)
            .checked_mul(usize::from(self.width))?
            .checked_mul(usize::from(self.channels))
    }
}

/// Affine int8 quantization: `real = scale * (q - zero_point)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quant {
    /// Real value of one step.
    pub scale: f32,
    /// The int8 code of real zero.
    pub zero_point: i8,
}

/// What a layer computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Fully connected: `out[c] = sum_k w[c][k] * in[k] + bias[c]`, weights
    /// in the row-quad layout of [`crate::layout`] (the order the kernels
    /// read them). The input zero point is folded into
    /// the bias at export (`bias[c] -= zp_in * sum_k w[c][k]`), so the kernel
    /// multiplies raw int8 codes.
    Dense {
        /// Input length.
        inputs: u16,
        /// Output length (= output channels).
        outputs: u16,
    },
    /// Transposed 2-D convolution (PyTorch's `ConvTranspose2d` semantics,
    /// with `output_padding = out - ((in - 1) * stride - 2 * padding + kernel)`
    /// in `0..stride`), NHWC activations, weights `[out_c][kh][kw][in_c]`.
    /// The input zero point is subtracted in the kernel (folding it into the
    /// bias would be wrong at the borders, where fewer taps contribute).
    ConvTranspose2d {
        /// Input shape.
        input: Hwc,
        /// Output shape.
        output: Hwc,
        /// Kernel height and width.
        kernel: [u8; 2],
        /// Stride along height and width.
        stride: [u8; 2],
        /// Padding cropped from top/bottom and left/right.
        padding: [u8; 2],
    },
}

impl Op {
    /// Elements of the input activation.
    pub fn input_len(&self) -> Option<usize> {
        match self {
            Op::Dense { inputs, .. } => Some(usize::from(*inputs)),
            Op::ConvTranspose2d { input, .. } => input.elements(),
        }
    }

    /// Elements of the output activation.
    pub fn output_len(&self) -> Option<usize> {
        match self {
            Op::Dense { outputs, .. } => Some(usize::from(*outputs)),
            Op::ConvTranspose2d { output, .. } => output.elements(),
        }
    }

    /// Output channels: the length of every per-channel array.
    pub fn channels(&self) -> usize {
        match self {
            Op::Dense { outputs, .. } => usize::from(*outputs),
            Op::ConvTranspose2d { output, .. } => usize::from(output.channels),
        }
    }

    /// Bytes of stored weights (a dense layer's layout pads), or `None` on
    /// overflow.
    pub fn weight_bytes(&self) -> Option<usize> {
        match self {
            Op::Dense { inputs, outputs } => {
                DenseLayout::new(usize::from(*inputs), usize::from(*outputs)).stored_len()
            }
            Op::ConvTranspose2d { .. } => self.weight_count(),
        }
    }

    /// Number of int8 weights (without padding), or `None` on overflow.
    pub fn weight_count(&self) -> Option<usize> {
        match self {
            Op::Dense { inputs, outputs } => {
                usize::from(*inputs).checked_mul(usize::from(*outputs))
            }
            Op::ConvTranspose2d {
                input,
                output,
                kernel,
                ..
            } => usize::from(output.channels)
                .checked_mul(usize::from(kernel[0]))?
                .checked_mul(usize::from(kernel[1]))?
                .checked_mul(usize::from(input.channels)),
        }
    }

    /// Multiply-accumulates one evaluation performs (interior taps only for
    /// a transposed convolution: exactly the products the kernel computes).
    pub fn macs(&self) -> u64 {
        match self {
            Op::Dense { inputs, outputs } => u64::from(*inputs) * u64::from(*outputs),
            Op::ConvTranspose2d {
                input,
                output,
                kernel,
                stride,
                padding,
            } => {
                let taps = |out: u16, inp: u16, k: u8, s: u8, p: u8| -> u64 {
                    (0..out)
                        .map(|o| {
                            (0..k)
                                .filter(|&kk| tap(o, kk, s, p).is_some_and(|i| i < inp))
                                .count() as u64
                        })
                        .sum()
                };
                taps(
                    output.height,
                    input.height,
                    kernel[0],
                    stride[0],
                    padding[0],
                ) * taps(output.width, input.width, kernel[1], stride[1], padding[1])
                    * u64::from(input.channels)
                    * u64::from(output.channels)
            }
        }
    }
}

/// The input row (or column) that kernel tap `k` of a transposed
/// convolution reads for output row `o`: `i` with `i * stride - pad + k = o`,
/// if there is one (it may still be past the input's end).
#[inline]
pub fn tap(o: u16, k: u8, stride: u8, pad: u8) -> Option<u16> {
    let shifted = (u32::from(o) + u32::from(pad)).checked_sub(u32::from(k))?;
    let stride = u32::from(stride);
    (shifted % stride == 0).then_some((shifted / stride) as u16)
}

/// The non-linearity applied after requantization, as a clamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// No clamp beyond the int8 range.
    Linear,
    /// ReLU: clamp below at the output zero point.
    Relu,
}

/// One int8 layer: operation, quantization and borrowed parameter bytes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Layer<'a> {
    /// What the layer computes, with its shapes.
    pub op: Op,
    /// The clamp after requantization.
    pub activation: Activation,
    /// Quantization of the input activation.
    pub input: Quant,
    /// Quantization of the output activation.
    pub output: Quant,
    /// Per-output-channel weight scales, f32 little-endian. Not used by the
    /// int8 kernels: kept so the host can dequantize and compare.
    pub weight_scales: &'a [u8],
    /// Per-channel int32 bias, little-endian, scale `input.scale * w_scale[c]`.
    pub bias: &'a [u8],
    /// Per-channel Q31 requantization multipliers, i32 little-endian.
    pub multipliers: &'a [u8],
    /// Per-channel requantization shifts, one i8 each.
    pub shifts: &'a [u8],
    /// 0..=3 zero bytes that put `weights` at a multiple of 4 bytes from the
    /// blob's start, so a blob loaded at a word boundary can be read with
    /// word loads (`write::encode` chooses them).
    pub align: &'a [u8],
    /// int8 weights (as bytes), layout given by [`Op`]. Last, so that
    /// `align` alone decides where they start.
    pub weights: &'a [u8],
}

impl Layer<'_> {
    /// Weight `i` in the op's logical order (dense `[outputs][inputs]`,
    /// transposed convolution `[out_c][kh][kw][in_c]`), whatever the
    /// stored layout; `i` below [`Op::weight_count`].
    pub fn weight(&self, i: usize) -> i8 {
        match self.op {
            Op::Dense { inputs, outputs } => {
                let inputs = usize::from(inputs);
                DenseLayout::new(inputs, usize::from(outputs)).weight(
                    self.weights,
                    i / inputs,
                    i % inputs,
                )
            }
            Op::ConvTranspose2d { .. } => self.weights[i] as i8,
        }
    }

    /// Weight scale of output channel `c` (`c < op.channels()`).
    pub fn weight_scale(&self, c: usize) -> f32 {
        Le::f32(self.weight_scales, c)
    }

    /// int32 bias of output channel `c` as stored: for a dense layer with
    /// the input zero point folded in (see [`Layer::unfolded_bias`]).
    pub fn bias(&self, c: usize) -> i32 {
        Le::i32(self.bias, c)
    }

    /// The bias of output channel `c` in TFLite's convention: the real bias
    /// at scale `input.scale * w_scale[c]`, without the input zero point.
    /// A dense layer stores `bias - input.zero_point * sum(w[c])` (the fold
    /// saves its kernel a subtraction per input), so this adds the product
    /// back; a transposed convolution stores the bias unfolded (its kernels
    /// subtract the zero point from the input), so this is [`Layer::bias`].
    /// In i64, exact for any blob; it equals what export quantized unless
    /// the folded value had to be clamped to i32.
    pub fn unfolded_bias(&self, c: usize) -> i64 {
        let stored = i64::from(self.bias(c));
        match self.op {
            Op::Dense { inputs, .. } => {
                let n = usize::from(inputs);
                let sum: i64 = (c * n..(c + 1) * n)
                    .map(|i| i64::from(self.weight(i)))
                    .sum();
                stored + i64::from(self.input.zero_point) * sum
            }
            Op::ConvTranspose2d { .. } => stored,
        }
    }

    /// Q31 requantization multiplier of output channel `c`.
    pub fn multiplier(&self, c: usize) -> i32 {
        Le::i32(self.multipliers, c)
    }

    /// Requantization shift of output channel `c`.
    pub fn shift(&self, c: usize) -> i8 {
        self.shifts[c] as i8
    }
}

/// A class-conditional decoder: its first layer (a Dense layer) takes the
/// decoder input `[z (latent_dim codes) ; one-hot(class) (classes codes)]`.
///
/// The one-hot codes use z's quantization (the first layer's input): the
/// chosen class gets the code `one`, every other class the zero point
/// (real 0.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// Number of classes, at least 1.
    pub classes: u16,
    /// The code of the chosen class: `zero_point + round(1 / z_scale)`,
    /// never the zero point.
    pub one: i8,
}

/// A full-covariance Gaussian mixture over z, fitted to the encoder's
/// latents at export ("the fitted density"), in int8 steps of z.
///
/// Component `k` has mean `mean[k]` and covariance `L L^T` with `L` its
/// lower-triangular Cholesky factor `scale_tril[k]`, both in units of one
/// int8 step of z (real value / z_scale), Q16.16. Every array is borrowed
/// little-endian bytes; [`crate::Model`] validates their lengths and values
/// once, so the accessors below may index freely within them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Density<'a> {
    /// Mixture components, at least 1.
    pub components: u16,
    /// Classes the components are tagged with (0: untagged).
    pub classes: u16,
    /// u16 LE per component: its class, below `classes`; empty when
    /// `classes` is 0.
    pub class_of: &'a [u8],
    /// u32 LE per component: `floor(2^32 * cumulative weight)` over all
    /// components (the last one `u32::MAX`), non-decreasing.
    pub pick: &'a [u8],
    /// u32 LE per component: the same cumulative threshold among the
    /// components of its class (weights renormalised within the class);
    /// empty when `classes` is 0.
    pub pick_in_class: &'a [u8],
    /// i32 LE `[components][latent_dim]`: `mu / z_scale`, Q16.16 steps.
    pub mean: &'a [u8],
    /// i32 LE `[components][latent_dim * (latent_dim + 1) / 2]`: the rows
    /// of `L / z_scale` (`cov = L L^T`), Q16.16 steps; row `i` holds
    /// `L[i][0..=i]`, its last entry (the diagonal) positive.
    pub scale_tril: &'a [u8],
}

impl Density<'_> {
    /// Latent dimensions of each component.
    pub fn latent_dim(&self) -> usize {
        match usize::from(self.components) {
            0 => 0,
            components => self.mean.len() / 4 / components,
        }
    }

    /// Entries of one component's packed Cholesky factor: `d (d + 1) / 2`.
    pub fn tril_len(&self) -> usize {
        tril_len(self.latent_dim())
    }

    /// The class of component `k` (0 when the components are untagged).
    pub fn class_of(&self, k: usize) -> u16 {
        if self.classes == 0 {
            0
        } else {
            Le::u16(self.class_of, k)
        }
    }

    /// The cumulative threshold of component `k` over all components.
    pub fn pick_threshold(&self, k: usize) -> u32 {
        Le::u32(self.pick, k)
    }

    /// The cumulative threshold of component `k` among its class's.
    pub fn pick_in_class_threshold(&self, k: usize) -> u32 {
        Le::u32(self.pick_in_class, k)
    }

    /// The component a random word `word` picks over all components: the
    /// first `k` with `word < pick[k]`, else the last.
    pub fn pick(&self, word: u32) -> usize {
        let last = usize::from(self.components).saturating_sub(1);
        (0..last)
            .find(|&k| word < self.pick_threshold(k))
            .unwrap_or(last)
    }

    /// The component a random word `word` picks among class `class`'s: the
    /// first such `k` (in order) with `word < pick_in_class[k]`, else the
    /// class's last; `None` when no component has that class (or the
    /// components are untagged).
    pub fn pick_in_class(&self, class: u16, word: u32) -> Option<usize> {
        if self.classes == 0 {
            return None;
        }
        let mut last = None;
        for k in (0..usize::from(self.components)).filter(|&k| self.class_of(k) == class) {
            if word < self.pick_in_class_threshold(k) {
                return Some(k);
            }
            last = Some(k);
        }
        last
    }

    /// Mean of component `k` in dimension `i`, Q16.16 int8 steps.
    pub fn mean_q16(&self, k: usize, i: usize) -> i32 {
        Le::i32(self.mean, k * self.latent_dim() + i)
    }

    /// Entry `L[i][j]` (`j <= i`) of component `k`'s Cholesky factor,
    /// Q16.16 int8 steps.
    pub fn scale_tril_q16(&self, k: usize, i: usize, j: usize) -> i32 {
        Le::i32(self.scale_tril, k * self.tril_len() + tril_len(i) + j)
    }

    /// Component `k`'s mean in real units of z (`z_scale` is the first
    /// layer's input scale, [`crate::Model::z_quant`]): the host's view,
    /// for tests and export reports.
    pub fn mean_real(&self, k: usize, z_scale: f32) -> impl Iterator<Item = f64> + '_ {
        let scale = f64::from(z_scale) / 65536.0;
        (0..self.latent_dim()).map(move |i| f64::from(self.mean_q16(k, i)) * scale)
    }

    /// Component `k`'s Cholesky factor in real units of z, packed by rows
    /// as stored (`L[0][0], L[1][0], L[1][1], L[2][0], ...`).
    pub fn scale_tril_real(&self, k: usize, z_scale: f32) -> impl Iterator<Item = f64> + '_ {
        let scale = f64::from(z_scale) / 65536.0;
        self.tril_bytes(k)
            .chunks_exact(4)
            .map(move |b| f64::from(Le::i32(b, 0)) * scale)
    }

    /// Component `k`'s mean as stored (i32 LE).
    pub(crate) fn mean_bytes(&self, k: usize) -> &[u8] {
        let len = 4 * self.latent_dim();
        &self.mean[k * len..][..len]
    }

    /// Component `k`'s packed Cholesky rows as stored (i32 LE).
    pub(crate) fn tril_bytes(&self, k: usize) -> &[u8] {
        let len = 4 * self.tril_len();
        &self.scale_tril[k * len..][..len]
    }

    /// Component `k`'s mixture weight over all components, from the
    /// thresholds: `(pick[k] - pick[k - 1]) / 2^32`, the last component
    /// taking the rest up to 1 (what [`Density::pick`] gives it).
    pub fn weight(&self, k: usize) -> f64 {
        share(k, 0..usize::from(self.components), |j| {
            self.pick_threshold(j)
        })
    }

    /// Component `k`'s weight within its class, from the thresholds, as
    /// [`Density::pick_in_class`] gives it (0 when the components are
    /// untagged: no class draw picks them).
    pub fn weight_in_class(&self, k: usize) -> f64 {
        if self.classes == 0 {
            return 0.0;
        }
        let class = self.class_of(k);
        let members = (0..usize::from(self.components)).filter(|&j| self.class_of(j) == class);
        share(k, members, |j| self.pick_in_class_threshold(j))
    }
}

/// Entries of a packed lower-triangular `d x d` matrix (and the offset of
/// row `d` in a larger one): `d (d + 1) / 2`.
pub const fn tril_len(d: usize) -> usize {
    d * (d + 1) / 2
}

/// The probability that a uniform u32 word picks `k` from the pick
/// sequence `members` (in order) with cumulative thresholds `threshold`:
/// the first member whose threshold exceeds the word, else the last.
fn share(k: usize, members: impl Iterator<Item = usize>, threshold: impl Fn(usize) -> u32) -> f64 {
    let mut previous = 0_u64;
    let mut members = members.peekable();
    while let Some(j) = members.next() {
        let end = u64::from(threshold(j));
        if j == k {
            let end = if members.peek().is_some() {
                end
            } else {
                1 << 32
            };
            return end.saturating_sub(previous) as f64 / (1_u64 << 32) as f64;
        }
        previous = previous.max(end);
    }
    0.0
}

/// Where a blob came from; informational only.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metadata<'a> {
    /// Data set name, e.g. `fashion-mnist`.
    pub dataset: &'a str,
    /// Model name, e.g. `mlp` or `conv`.
    pub model: &'a str,
    /// Training epochs.
    pub epochs: u32,
    /// Test-set negative ELBO of the float model, nats per image.
    pub test_nelbo: f32,
}

/// The postcard payload of a blob.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Body<'a> {
    /// Dimensions of z.
    pub latent_dim: u16,
    /// Shape of a generated image.
    pub image: Hwc,
    /// `round(2^16 / z_scale)`: the sampler's integer-only conversion from
    /// a Q16.16 real latent value to int8 steps of the first layer's input.
    pub z_inv_scale_q16: i32,
    /// The decoder, first layer first; the first layer's input quantization
    /// is the quantization of z.
    #[serde(borrow)]
    pub layers: heapless::Vec<Layer<'a>, MAX_LAYERS>,
    /// 256 u8 pixels: `table[q + 128]` is the pixel for output logit code `q`.
    pub output_table: &'a [u8],
    /// A class-conditional decoder's condition: `None` for an
    /// unconditional one.
    pub condition: Option<Condition>,
    /// The fitted density over z, when export fitted one.
    #[serde(borrow)]
    pub density: Option<Density<'a>>,
    /// Provenance.
    pub metadata: Metadata<'a>,
    /// The class names, in class order, separated by `\n`; empty for a
    /// model without classes (and in a version-3 body, which has no names:
    /// [`crate::Model::class_names`] calls them `class k`). Encoded after
    /// `metadata` by `write::encode` and decoded by [`decode_body`], not by
    /// serde's derive: postcard has no optional trailing field, and a
    /// version-3 payload ends before it.
    #[serde(skip)]
    pub class_names: &'a str,
}

/// Little-endian element access into the byte arrays of a [`Layer`] or
/// a [`Density`]. Callers index within lengths checked by validation.
pub(crate) struct Le;

impl Le {
    #[inline]
    pub(crate) fn i32(bytes: &[u8], index: usize) -> i32 {
        let at = index * 4;
        i32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
    }

    #[inline]
    pub(crate) fn u32(bytes: &[u8], index: usize) -> u32 {
        Le::i32(bytes, index) as u32
    }

    #[inline]
    pub(crate) fn u16(bytes: &[u8], index: usize) -> u16 {
        let at = index * 2;
        u16::from_le_bytes([bytes[at], bytes[at + 1]])
    }

    #[inline]
    pub(crate) fn f32(bytes: &[u8], index: usize) -> f32 {
        f32::from_bits(Le::i32(bytes, index) as u32)
    }
}
