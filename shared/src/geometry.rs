//! The shapes of a transposed convolution, in a module of their own: the
//! portable kernel (`layers`), the phase decomposition (`subpixel`) and the
//! chips' assembly (`dsp`, `armv6m`) all read them, and `layers` calls the
//! others, so the shapes live below all four (no import circle).

use crate::blob::Hwc;

/// Shapes of a transposed convolution.
pub(crate) struct ConvGeometry {
    pub input: Hwc,
    pub output: Hwc,
    pub kernel: [u8; 2],
    pub stride: [u8; 2],
    pub padding: [u8; 2],
}
