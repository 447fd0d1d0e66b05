//! The float decoder's parameters read from burn into the blob's layouts:
//! dense weights `[out][in]`, transposed convolutions `[out_c][kh][kw][in_c]`,
//! activations channels-last (the conv decoder's dense outputs are permuted
//! from NCHW to HWC).

use tinyvae_shared::blob::{Activation, Hwc, Op};

use crate::batch::values;
use crate::model::Decoder;

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

/// A decoder dimension as the blob stores it.
pub(super) fn dim16(n: usize) -> u16 {
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
            let (h0, w0) = (m.height, m.width);
            let c0 = outputs / (h0 * w0);
            // burn reshapes the dense output as NCHW: row `c*h0*w0 + p`
            // (p = y*w0 + x) becomes blob row `p*c0 + c` (HWC).
            let mut weights = vec![0.0; w.len()];
            let mut bias = vec![0.0; b.len()];
            for c in 0..c0 {
                for p in 0..h0 * w0 {
                    let (from, to) = (c * h0 * w0 + p, p * c0 + c);
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
            let (mut height, mut width) = (h0, w0);
            for (deconv, activation) in [
                (&m.deconv1, Activation::Relu),
                (&m.deconv2, Activation::Linear),
            ] {
                let [in_c, out_c] = deconv.channels;
                let [kh, kw] = deconv.kernel_size;
                let out_height = (height - 1) * deconv.stride[0] - 2 * deconv.padding[0]
                    + kh
                    + deconv.padding_out[0];
                let out_width = (width - 1) * deconv.stride[1] - 2 * deconv.padding[1]
                    + kw
                    + deconv.padding_out[1];
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
                            height: dim16(height),
                            width: dim16(width),
                            channels: dim16(in_c),
                        },
                        output: Hwc {
                            height: dim16(out_height),
                            width: dim16(out_width),
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
                (height, width) = (out_height, out_width);
            }
            layers
        }
    }
}
