//! The host's decoder (feature `std`): [`Model::decode`]'s bytes, several
//! times faster, for tools that decode many images.
//!
//! A blob stores dense weights in the order the Cortex-M4's SMLAD reads
//! them ([`crate::layout`]); a host compiler vectorizes that layout poorly.
//! [`HostDecoder`] therefore unpacks each dense layer once into int16 rows,
//! padded with zero weights to a multiple of [`LANES`] inputs, and widens
//! each layer's input to int16 likewise: the dot product of two such rows
//! is what SSE2's PMADDWD does (eight products, summed in pairs into four
//! int32 lanes, per instruction), and the compiler emits it from plain
//! Rust. On x86-64 the same code is also compiled for AVX2, which is taken
//! when the CPU has it (twice the lanes).
//!
//! The bytes are the chip's: a product of two int8 values fits in int16
//! and int32, and wrapping int32 addition is associative, so any order of
//! summation gives the portable kernel's wrapped sums; the bias,
//! requantization and output table are the shared code's
//! ([`crate::layers`]). Transposed convolutions run the portable kernel.

use crate::blob::{Layer, Op};
use crate::layers::{self, Kernels};
use crate::requant::Requantizer;
use crate::{Error, Model};

/// Inputs per step of the dense dot product: four SSE2 registers, two AVX2
/// ones, of int16 values.
const LANES: usize = 32;

/// A model's int8 decoder prepared for the host: dense weights unpacked
/// for vectorized dot products, and the activation buffers, allocated
/// once. Decodes exactly as [`Model::decode`] with any [`Kernels`].
pub struct HostDecoder<'a> {
    layers: Vec<Prepared<'a>>,
    table: [u8; 256],
    input_len: usize,
    image_len: usize,
    /// A layer's input, then (swapped with `output`) the next one's.
    input: Vec<i8>,
    output: Vec<i8>,
    dense: DenseScratch,
}

/// One layer, ready to run.
enum Prepared<'a> {
    Dense(Dense<'a>),
    /// Any other op: the portable kernel on the blob's own bytes.
    Portable(Layer<'a>),
}

impl Prepared<'_> {
    /// Elements of the layer's output.
    fn output_len(&self) -> usize {
        match self {
            Self::Dense(dense) => dense.outputs,
            Self::Portable(layer) => layer.op.output_len().unwrap_or(0),
        }
    }
}

/// A dense layer's weights as int16 rows of `stride` values (the inputs,
/// then zeros up to a multiple of [`LANES`]), one row per output.
struct Dense<'a> {
    rows: Vec<i16>,
    stride: usize,
    outputs: usize,
    requant: Requantizer<'a>,
}

impl<'a> HostDecoder<'a> {
    /// Prepares `model`'s layers (unpacking its dense weights: a few
    /// milliseconds for the MLP decoder).
    pub fn new(model: &Model<'a>) -> Self {
        let body = model.body();
        let mut widest = model.input_len();
        let layers = body
            .layers
            .iter()
            .map(|layer| {
                widest = widest.max(layer.op.output_len().unwrap_or(0));
                match layer.op {
                    Op::Dense { inputs, outputs } => Prepared::Dense(Dense::new(
                        layer,
                        usize::from(inputs),
                        usize::from(outputs),
                    )),
                    Op::ConvTranspose2d { .. } => Prepared::Portable(*layer),
                }
            })
            .collect();
        let mut table = [0; 256];
        // Validation proved the table has 256 entries.
        for (entry, &byte) in table.iter_mut().zip(body.output_table) {
            *entry = byte;
        }
        Self {
            layers,
            table,
            input_len: model.input_len(),
            image_len: model.image_len(),
            input: vec![0; widest],
            output: vec![0; widest],
            dense: DenseScratch::default(),
        }
    }

    /// Decodes one int8 decoder input `z` ([`Model::input_len`] codes)
    /// into `pixels` (u8, HWC, at least
    /// [`Model::image_len`] of them): [`Model::decode`]'s bytes.
    pub fn decode(&mut self, z: &[i8], pixels: &mut [u8]) -> Result<(), Error> {
        if pixels.len() < self.image_len {
            return Err(Error::BufferTooSmall {
                needed: self.image_len as u32,
                available: pixels.len() as u32,
            });
        }
        let table = self.table;
        for (pixel, &logit) in pixels.iter_mut().zip(self.decode_logits(z)?) {
            *pixel = table[usize::from((logit as u8) ^ 0x80)];
        }
        Ok(())
    }

    /// The int8 output logits of `z` (before the sigmoid table):
    /// [`Model::decode_logits`]'s values.
    pub fn decode_logits(&mut self, z: &[i8]) -> Result<&[i8], Error> {
        if z.len() != self.input_len {
            return Err(Error::LatentSize {
                found: z.len() as u32,
                expected: self.input_len as u32,
            });
        }
        let Self {
            layers,
            input,
            output,
            dense: scratch,
            ..
        } = self;
        let (mut from, mut to) = (input, output);
        from[..z.len()].copy_from_slice(z);
        let mut len = z.len();
        for layer in layers.iter() {
            let out_len = layer.output_len();
            let (input, output) = (&mut from[..len], &mut to[..out_len]);
            match layer {
                Prepared::Dense(dense) => dense.run(input, scratch, output),
                Prepared::Portable(layer) => layers::run(Kernels::Portable, layer, input, output),
            }
            core::mem::swap(&mut from, &mut to);
            len = out_len;
        }
        let logits: &[i8] = from;
        Ok(&logits[..len])
    }
}

impl<'a> Dense<'a> {
    /// Unpacks `layer`, an `inputs` -> `outputs` dense layer.
    fn new(layer: &Layer<'a>, inputs: usize, outputs: usize) -> Self {
        let stride = inputs.div_ceil(LANES) * LANES;
        let mut rows = vec![0; stride * outputs];
        for (r, row) in rows.chunks_exact_mut(stride).enumerate() {
            for (i, w) in row[..inputs].iter_mut().enumerate() {
                *w = i16::from(layer.weight(r * inputs + i));
            }
        }
        Self {
            rows,
            stride,
            outputs,
            requant: Requantizer::new(layer),
        }
    }

    /// `output = requantize(bias + rows . input)`.
    fn run(&self, input: &[i8], scratch: &mut DenseScratch, output: &mut [i8]) {
        let DenseScratch { x, sums } = scratch;
        x.clear();
        x.extend(input.iter().map(|&v| i16::from(v)));
        x.resize(self.stride, 0);
        sums.resize(self.outputs, 0);
        dot_rows(&self.rows, x, sums);
        for (c, (out, &sum)) in output.iter_mut().zip(sums.iter()).enumerate() {
            *out = self
                .requant
                .output(c, sum.wrapping_add(self.requant.bias(c)));
        }
    }
}

/// A dense layer's input widened to int16 (zero-padded to its row length)
/// and its int32 dot products.
#[derive(Default)]
struct DenseScratch {
    x: Vec<i16>,
    sums: Vec<i32>,
}

/// `sums[r]` is the dot product of row `r` of `rows` with `x`: with AVX2
/// where the CPU has it, else with the target's baseline (SSE2 on x86-64).
fn dot_rows(rows: &[i16], x: &[i16], sums: &mut [i32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: all that `dot_rows_avx2` requires of its caller is a CPU
        // with AVX2 (its `target_feature`), checked just above.
        #[allow(unsafe_code)]
        unsafe {
            dot_rows_avx2(rows, x, sums);
        }
        return;
    }
    dot_rows_baseline(rows, x, sums);
}

/// [`dot_rows_in_lanes`] for the target's baseline features. Not inlined:
/// the loop must be compiled on its own (see [`dot_rows_in_lanes`]).
#[inline(never)]
fn dot_rows_baseline(rows: &[i16], x: &[i16], sums: &mut [i32]) {
    dot_rows_in_lanes(rows, x, sums);
}

/// [`dot_rows_in_lanes`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_rows_avx2(rows: &[i16], x: &[i16], sums: &mut [i32]) {
    dot_rows_in_lanes(rows, x, sums);
}

/// [`dot_rows`] for `x.len()` a multiple of [`LANES`] (nothing for an
/// empty `x`), in [`LANES`] int32 partial sums per row, which the compiler
/// keeps in vector registers, multiplying and adding pairs with PMADDWD.
/// The form matters: Rust 1.95 (LLVM 22) vectorizes this one so, but
/// gave two to ten times slower code for variants (a `for` loop adding up
/// the partial sums, the requantization in the same loop); `tinyvae
/// sample` prints the speed.
#[inline(always)]
fn dot_rows_in_lanes(rows: &[i16], x: &[i16], sums: &mut [i32]) {
    let (x, _) = x.as_chunks::<LANES>();
    let stride = x.len() * LANES;
    if stride == 0 {
        return;
    }
    for (row, out) in rows.chunks_exact(stride).zip(sums) {
        let mut lanes = [0_i32; LANES];
        for (w, x) in row.as_chunks::<LANES>().0.iter().zip(x) {
            for ((lane, &w), &x) in lanes.iter_mut().zip(w).zip(x) {
                *lane = lane.wrapping_add(i32::from(w) * i32::from(x));
            }
        }
        *out = lanes
            .iter()
            .fold(0, |sum: i32, &lane| sum.wrapping_add(lane));
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::blob::{Activation, Quant};
    use crate::fixedpoint::{MAX_SHIFT, MIN_SHIFT};
    use crate::layout::DenseLayout;
    use crate::test_rng::SplitMix;

    /// The byte arrays of one dense layer, as a blob stores them.
    struct DenseBytes {
        weights: Vec<u8>,
        bias: Vec<u8>,
        multipliers: Vec<u8>,
        shifts: Vec<u8>,
        scales: Vec<u8>,
    }

    impl DenseBytes {
        /// Random weights (`extreme`: all -128, the largest sums), biases
        /// (a few at the int32 limits, where the sums wrap) and per-channel
        /// scales: multipliers in the normalized range `quantize_multiplier`
        /// gives or anywhere validation admits, shifts near `shift`.
        fn random(
            inputs: usize,
            outputs: usize,
            shift: i8,
            extreme: bool,
            rng: &mut SplitMix,
        ) -> Self {
            let layout = DenseLayout::new(inputs, outputs);
            let mut weights = vec![0; layout.stored_len().unwrap()];
            let logical: Vec<i8> = (0..inputs * outputs)
                .map(|_| if extreme { -128 } else { rng.i8() })
                .collect();
            layout.pack(&mut weights, |r, i| logical[r * inputs + i]);
            let (mut bias, mut multipliers, mut shifts) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..outputs {
                let b = match rng.within(0..=7) {
                    0 => i32::MIN + rng.within(0..=1000) as i32,
                    1 => i32::MAX - rng.within(0..=1000) as i32,
                    _ => rng.within(-(1 << 20)..=1 << 20) as i32,
                };
                let m = match rng.within(0..=3) {
                    0 => rng.within(0..=i64::from(i32::MAX)),
                    _ => rng.within(1 << 30..=i64::from(i32::MAX)),
                };
                let s = (i64::from(shift) + rng.within(-2..=2))
                    .clamp(i64::from(MIN_SHIFT), i64::from(MAX_SHIFT));
                bias.extend(b.to_le_bytes());
                multipliers.extend((m as i32).to_le_bytes());
                shifts.push(s as i8 as u8);
            }
            Self {
                weights,
                bias,
                multipliers,
                shifts,
                scales: vec![0; 4 * outputs],
            }
        }

        fn layer(&self, op: Op, activation: Activation, input: Quant, output: Quant) -> Layer<'_> {
            Layer {
                op,
                activation,
                input,
                output,
                weight_scales: &self.scales,
                bias: &self.bias,
                multipliers: &self.multipliers,
                shifts: &self.shifts,
                align: &[],
                weights: &self.weights,
            }
        }
    }

    fn zero_point() -> impl Strategy<Value = i8> {
        prop_oneof![Just(-128), Just(127), Just(0), any::<i8>()]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(150))]

        /// A prepared dense layer gives the portable kernel's bytes on
        /// random shapes (odd sizes and partial row quads included), zero
        /// points, activations, scales and wrapping sums; and the baseline
        /// dot product equals the one `dot_rows` picks for this CPU.
        #[test]
        fn dense_equals_portable_kernel(
            inputs in prop_oneof![1usize..=40, 1usize..=600],
            outputs in prop_oneof![1usize..=40, 1usize..=600],
            (input_zero_point, output_zero_point) in (zero_point(), zero_point()),
            relu in any::<bool>(),
            shift in prop_oneof![MIN_SHIFT..=MAX_SHIFT, -14i8..=-4],
            extreme in prop::bool::weighted(0.1),
            seed in any::<u64>(),
        ) {
            let mut rng = SplitMix::new(seed);
            let bytes = DenseBytes::random(inputs, outputs, shift, extreme, &mut rng);
            let op = Op::Dense { inputs: inputs as u16, outputs: outputs as u16 };
            let activation = if relu { Activation::Relu } else { Activation::Linear };
            let quant = |zero_point| Quant { scale: 0.05, zero_point };
            let layer = bytes.layer(op, activation, quant(input_zero_point), quant(output_zero_point));
            let x: Vec<i8> = (0..inputs).map(|_| if extreme { -128 } else { rng.i8() }).collect();

            let mut expected = vec![0; outputs];
            layers::run(Kernels::Portable, &layer, &mut x.clone(), &mut expected);
            let dense = Dense::new(&layer, inputs, outputs);
            // Stale contents from a larger layer must not leak in.
            let mut scratch = DenseScratch { x: vec![1; 700], sums: vec![-1; 700] };
            let mut got = vec![0; outputs];
            dense.run(&x, &mut scratch, &mut got);
            prop_assert_eq!(&got, &expected);

            let mut baseline = vec![0; outputs];
            dot_rows_baseline(&dense.rows, &scratch.x, &mut baseline);
            prop_assert_eq!(&baseline, &scratch.sums);
        }
    }
}
