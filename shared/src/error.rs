//! The one error type of the crate.

/// Everything that can go wrong when parsing a blob or running a decoder.
///
/// Each variant's doc comment is its `Display` text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, displaydoc::Display)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// blob is truncated: {needed} bytes needed, {available} present
    Truncated {
        /// Bytes the header or payload needs.
        needed: u32,
        /// Bytes actually present.
        available: u32,
    },
    /// not a tinyvae blob (bad magic)
    BadMagic,
    /// blob format version {found} is older than this tinyvae's {supported}: re-export the model with `tinyvae export`
    OutdatedVersion {
        /// Version written in the header.
        found: u16,
        /// The version this build reads.
        supported: u16,
    },
    /// blob format version {found} is newer than this tinyvae's {supported}: use the tinyvae that wrote it
    UnsupportedVersion {
        /// Version written in the header.
        found: u16,
        /// The version this build reads.
        supported: u16,
    },
    /// reserved header flags {0:#06x} are set
    ReservedFlags(u16),
    /// blob has {0} bytes after its payload
    TrailingBytes(u32),
    /// payload checksum mismatch: header says {expected:#010x}, payload has {actual:#010x}
    Checksum {
        /// CRC-32 stored in the header.
        expected: u32,
        /// CRC-32 of the payload as read.
        actual: u32,
    },
    /// payload is not a valid model body (postcard decoding failed)
    Malformed,
    /// payload has {0} bytes left over after the model body
    TrailingPayload(u32),
    /// the model has no layers
    NoLayers,
    /// layer {layer}: {problem}
    Layer {
        /// Index of the offending layer.
        layer: u8,
        /// What is wrong with it.
        problem: LayerProblem,
    },
    /// inconsistent model: {0}
    Inconsistent(ModelProblem),
    /// buffer too small: {needed} elements needed, {available} given
    BufferTooSmall {
        /// Elements the operation needs.
        needed: u32,
        /// Elements the caller's buffer holds.
        available: u32,
    },
    /// latent or decoder input vector has {found} codes, the model takes {expected}
    LatentSize {
        /// Codes given.
        found: u32,
        /// What the model takes: `Model::input_len` for a decoder input,
        /// `Model::latent_dim` for a posterior's means and deviations.
        expected: u32,
    },
    /// class {class} requested, the model has {classes} classes
    NoSuchClass {
        /// Class requested.
        class: u16,
        /// The model's classes (`Model::classes`, 0 when it has none).
        classes: u16,
    },
    /// the blob has no fitted density to draw from
    NoDensity,
    /// the decoder is class-conditional: a posterior latent needs its class
    ClassNeeded,
    /// the decoder is not class-conditional: a posterior latent takes no class
    NotConditional,
    /// the blob names {names} classes, the model has {classes}
    ClassNameCount {
        /// Names stored.
        names: u32,
        /// The model's classes (`Model::classes`).
        classes: u16,
    },
}

/// What is wrong with one layer of a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, displaydoc::Display)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum LayerProblem {
    /// a dimension is zero or too large
    BadDimension,
    /// its input size {found} does not match the previous output size {expected}
    InputSize {
        /// Input size of this layer.
        found: u32,
        /// Output size of the layer before it (or the latent size).
        expected: u32,
    },
    /// weights are {found} bytes, its shape needs {expected}
    WeightBytes {
        /// Bytes present.
        found: u32,
        /// Bytes the shape implies.
        expected: u32,
    },
    /// a per-channel array ({0}) has the wrong length
    ChannelArray(&'static str),
    /// a requantization shift is outside -31..=30
    Shift,
    /// a requantization multiplier is negative
    Multiplier,
    /// transposed convolution geometry is impossible (stride, padding or output size)
    Geometry,
    /// its input zero point differs from the previous layer's output zero point
    ZeroPoint,
    /// its alignment padding is longer than 3 bytes or not zero
    Align,
}

/// What is inconsistent in a blob's model as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, displaydoc::Display)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ModelProblem {
    /// latent size is zero or above the supported maximum
    LatentSize,
    /// image shape has a zero or too large dimension
    ImageShape,
    /// the last layer's output size is not the image size
    OutputSize,
    /// the sigmoid output table does not have 256 entries
    OutputTable,
    /// the latent scale is not positive
    LatentScale,
    /// the class condition is inconsistent (no classes, a first layer that is not dense over latent and classes, or a one-hot code equal to the zero point)
    Condition,
    /// the fitted density is inconsistent (sizes, thresholds, classes, magnitudes or a non-positive Cholesky diagonal)
    Density,
    /// a class name is empty, longer than 32 bytes or holds a control character, or the names take more than 8448 bytes
    ClassName,
}

impl core::error::Error for Error {}
impl core::error::Error for LayerProblem {}
impl core::error::Error for ModelProblem {}
