//! `bench` only: a float32 decoder with the blob's dequantized weights, on
//! the M4F's FPU, as the baseline the int8 kernels are measured against.
//! `w = q * w_scale[c]`, `b = unfolded_bias[c] * in_scale * w_scale[c]`
//! (`Layer::unfolded_bias`: the dense layers' zero-point fold undone);
//! activations stay f32 between layers; the output is `round(255 *
//! sigmoid(logit))` with micromath's `exp`. The arrays live
//! in PSRAM above the blob (`boards::MPS2_AN386_FLOAT_ARENA`, linked with
//! nothing), filled once at boot.

use micromath::F32Ext;
use tinyvae_shared::Model;
use tinyvae_shared::blob::{Activation, Op, tap};
use tinyvae_shared::boards;

/// The arena's first byte.
const ARENA: usize = boards::MPS2_AN386_FLOAT_ARENA.start as usize;
/// One past the arena's last byte.
const ARENA_END: usize = boards::MPS2_AN386_FLOAT_ARENA.end as usize;

struct FloatLayer {
    op: Op,
    relu: bool,
    weights: &'static [f32],
    bias: &'static [f32],
}

/// The dequantized decoder.
pub struct FloatModel {
    z_scale: f32,
    z_zero_point: f32,
    layers: heapless::Vec<FloatLayer, 8>,
    a: &'static mut [f32],
    b: &'static mut [f32],
}

/// Hands out f32 arrays from the arena (never freed).
struct Arena(usize);

impl Arena {
    fn take(&mut self, len: usize) -> &'static mut [f32] {
        let start = self.0;
        self.0 += len * 4;
        assert!(self.0 <= ARENA_END, "float model does not fit in PSRAM");
        // SAFETY: PSRAM that exists on this machine, that nothing is linked
        // into and that no other code touches; each range is handed out once.
        unsafe { core::slice::from_raw_parts_mut(start as *mut f32, len) }
    }
}

impl FloatModel {
    pub fn new(model: &Model<'_>) -> Self {
        let mut arena = Arena(ARENA);
        let mut layers = heapless::Vec::new();
        let mut max_act = model.input_len();
        for layer in &model.body().layers {
            let channels = layer.op.channels();
            let count = layer.op.weight_count().unwrap_or(0);
            let per = count / channels;
            let s_in = layer.input.scale;
            let weights = arena.take(count);
            let bias = arena.take(channels);
            for c in 0..channels {
                let s_w = layer.weight_scale(c);
                for k in 0..per {
                    weights[c * per + k] = f32::from(layer.weight(c * per + k)) * s_w;
                }
                bias[c] = layer.unfolded_bias(c) as f32 * s_in * s_w;
            }
            max_act = max_act.max(layer.op.output_len().unwrap_or(0));
            let _ = layers.push(FloatLayer {
                op: layer.op,
                relu: layer.activation == Activation::Relu,
                weights,
                bias,
            });
        }
        let z = model.z_quant();
        Self {
            z_scale: z.scale,
            z_zero_point: f32::from(z.zero_point),
            layers,
            a: arena.take(max_act),
            b: arena.take(max_act),
        }
    }

    /// Decodes the decoder input `z` (z and any one-hot codes) into
    /// `pixels`, calling `hook(i)` after layer `i` and
    /// after the sigmoid, like `Model::decode_with`.
    pub fn decode(&mut self, z: &[i8], pixels: &mut [u8], mut hook: impl FnMut(usize)) {
        let (mut x, mut y) = (&mut *self.a, &mut *self.b);
        for (x, &q) in x.iter_mut().zip(z) {
            *x = self.z_scale * (f32::from(q) - self.z_zero_point);
        }
        for (i, layer) in self.layers.iter().enumerate() {
            let out_len = layer.op.output_len().unwrap_or(0);
            match layer.op {
                Op::Dense { inputs, .. } => {
                    let n = usize::from(inputs);
                    for (c, out) in y[..out_len].iter_mut().enumerate() {
                        let row = &layer.weights[c * n..(c + 1) * n];
                        *out = row
                            .iter()
                            .zip(&x[..n])
                            .fold(layer.bias[c], |acc, (&w, &v)| acc + w * v);
                    }
                }
                Op::ConvTranspose2d {
                    input,
                    output,
                    kernel,
                    stride,
                    padding,
                } => {
                    let (in_c, out_c) = (usize::from(input.channels), usize::from(output.channels));
                    let (kh, kw) = (usize::from(kernel[0]), usize::from(kernel[1]));
                    let mut at = 0;
                    for oy in 0..output.height {
                        for ox in 0..output.width {
                            for co in 0..out_c {
                                let mut acc = layer.bias[co];
                                for ky in 0..kernel[0] {
                                    let Some(iy) = tap(oy, ky, stride[0], padding[0])
                                        .filter(|&i| i < input.height)
                                    else {
                                        continue;
                                    };
                                    for kx in 0..kernel[1] {
                                        let Some(ix) = tap(ox, kx, stride[1], padding[1])
                                            .filter(|&i| i < input.width)
                                        else {
                                            continue;
                                        };
                                        let xa = (usize::from(iy) * usize::from(input.width)
                                            + usize::from(ix))
                                            * in_c;
                                        let wa = ((co * kh + usize::from(ky)) * kw
                                            + usize::from(kx))
                                            * in_c;
                                        acc = layer.weights[wa..wa + in_c]
                                            .iter()
                                            .zip(&x[xa..xa + in_c])
                                            .fold(acc, |acc, (&w, &v)| acc + w * v);
                                    }
                                }
                                y[at] = acc;
                                at += 1;
                            }
                        }
                    }
                }
            }
            if layer.relu {
                for v in &mut y[..out_len] {
                    *v = v.max(0.0);
                }
            }
            core::mem::swap(&mut x, &mut y);
            hook(i);
        }
        for (p, &l) in pixels.iter_mut().zip(x.iter()) {
            *p = (255.0 / (1.0 + (-l).exp()) + 0.5) as u8;
        }
        hook(self.layers.len());
    }
}
