use proptest::prelude::*;

use super::*;
use crate::blob::{Activation, Hwc, Quant};
use crate::fixedpoint::multiply_by_quantized_multiplier;
use crate::fixedpoint::quantize_multiplier;
use crate::requant::{DoubledScale, high_product_halves, requantize, requantize_doubled};
use crate::test_rng::SplitMix;

/// Largest difference in int8 steps allowed between the integer kernels
/// and an f64 evaluation of the same quantized math: the Q31 multiplier
/// and the two roundings of the integer path can move a result that
/// sits near a rounding boundary by one step.
const TOLERANCE_STEPS: i32 = 1;

/// A layer's parameters as owned vectors, for building test layers.
struct Params {
    op: Op,
    /// Stored bytes: a dense layer's packed into its layout.
    weights: Vec<u8>,
    scales: Vec<f32>,
    input: Quant,
    output: Quant,
    activation: Activation,
    multipliers: Vec<u8>,
    shifts: Vec<u8>,
    bias_bytes: Vec<u8>,
    scale_bytes: Vec<u8>,
}

impl Params {
    fn new(
        op: Op,
        weights: Vec<i8>,
        scales: Vec<f32>,
        bias: Vec<i32>,
        input: Quant,
        output: Quant,
        relu: bool,
    ) -> Self {
        let (mut multipliers, mut shifts) = (Vec::new(), Vec::new());
        for &s in &scales {
            let real = f64::from(input.scale) * f64::from(s) / f64::from(output.scale);
            let (m, sh) = quantize_multiplier(real).unwrap();
            multipliers.extend(m.to_le_bytes());
            shifts.push(sh as i8 as u8);
        }
        let stored = match op {
            Op::Dense { inputs, outputs } => {
                let n = usize::from(inputs);
                let layout = DenseLayout::new(n, usize::from(outputs));
                let mut stored = vec![0; layout.stored_len().unwrap()];
                layout.pack(&mut stored, |r, i| weights[r * n + i]);
                stored
            }
            Op::ConvTranspose2d { .. } => weights.iter().map(|&w| w as u8).collect(),
        };
        Self {
            op,
            weights: stored,
            bias_bytes: bias.iter().flat_map(|b| b.to_le_bytes()).collect(),
            scale_bytes: scales.iter().flat_map(|s| s.to_le_bytes()).collect(),
            scales,
            input,
            output,
            activation: if relu {
                Activation::Relu
            } else {
                Activation::Linear
            },
            multipliers,
            shifts,
        }
    }

    fn layer(&self) -> Layer<'_> {
        Layer {
            op: self.op,
            activation: self.activation,
            input: self.input,
            output: self.output,
            weight_scales: &self.scale_bytes,
            bias: &self.bias_bytes,
            multipliers: &self.multipliers,
            shifts: &self.shifts,
            align: &[],
            weights: &self.weights,
        }
    }

    /// f64 requantization of a real-valued accumulator of channel `c`.
    fn reference_output(&self, c: usize, acc_steps: f64) -> i32 {
        let real = acc_steps * f64::from(self.input.scale) * f64::from(self.scales[c]);
        let q = (real / f64::from(self.output.scale)).round() + f64::from(self.output.zero_point);
        let min = match self.activation {
            Activation::Linear => -128.0,
            Activation::Relu => f64::from(self.output.zero_point),
        };
        q.clamp(min, 127.0) as i32
    }
}

fn quant() -> impl Strategy<Value = Quant> {
    (0.001f32..0.2, any::<i8>()).prop_map(|(scale, zero_point)| Quant { scale, zero_point })
}

fn assert_close(got: &[i8], expected: &[i32]) {
    for (i, (&g, &e)) in got.iter().zip(expected).enumerate() {
        assert!(
            (i32::from(g) - e).abs() <= TOLERANCE_STEPS,
            "output {i}: int8 kernel gave {g}, f64 reference {e} (tolerance {TOLERANCE_STEPS})"
        );
    }
}

/// The inputs where rounding and saturation edges live.
fn edgy_i32() -> impl Strategy<Value = i32> {
    prop_oneof![
        any::<i32>(),
        Just(i32::MIN),
        Just(i32::MAX),
        Just(0),
        Just(1 << 30),
        Just(-(1 << 30)),
        -300i32..300,
        // Around the ARMv6-M high half's 16-bit form (|a| <= 2^15).
        Just(1 << 15),
        Just((1 << 15) - 1),
        Just(-(1 << 15)),
        Just(-(1 << 15) - 1),
        -(1i32 << 17)..(1 << 17),
    ]
}

/// The ARMv6-M high half's 16-bit form, for every accumulator it takes
/// (and two past each end), at multipliers across `0..=i32::MAX`.
#[test]
fn high_product_halves_16_bit_form_is_exact() {
    for m in [
        0,
        1,
        0xffff,
        0x1_0000,
        0x3fff_ffff,
        1 << 30,
        0x5a5a_a5a5,
        i32::MAX,
    ] {
        for a in -(1 << 15) - 2..(1 << 15) + 2 {
            let wide = ((i64::from(a) * i64::from(m) + (1 << 30)) >> 31) as i32;
            assert_eq!(high_product_halves(a, m), wide, "a {a} m {m}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The kernels' requantization equals fixedpoint's TFLM-literal one.
    #[test]
    fn requantize_equals_multiply_by_quantized_multiplier(
        acc in edgy_i32(),
        multiplier in edgy_i32().prop_map(|m| m.checked_abs().unwrap_or(i32::MAX)),
        shift in -31i32..=30,
    ) {
        prop_assert_eq!(
            requantize(acc, multiplier, shift),
            multiply_by_quantized_multiplier(acc, multiplier, shift),
            "acc {} multiplier {} shift {}", acc, multiplier, shift
        );
    }

    /// The Cortex-M4's SMMLAR form, with a 64-bit model of the
    /// instruction, equals the portable requantization for every
    /// multiplier validation admits (on both sides of 2^30) and shift.
    #[test]
    fn requantize_doubled_equals_requantize(
        acc in edgy_i32(),
        multiplier in edgy_i32().prop_map(|m| m.checked_abs().unwrap_or(i32::MAX)),
        shift in -31i8..=30,
    ) {
        let smmlar = |a: i32, b: i32, c: i32| {
            let sum = (i64::from(c) << 32).wrapping_add(i64::from(a) * i64::from(b));
            (sum.wrapping_add(1 << 31) >> 32) as i32
        };
        let scale = DoubledScale::from((multiplier, shift));
        prop_assert_eq!(
            requantize_doubled(acc, scale, smmlar),
            requantize(acc, multiplier, i32::from(shift)),
            "acc {} multiplier {} shift {}", acc, multiplier, shift
        );
    }

    /// The ARMv6-M high half equals the 64-bit one for every
    /// multiplier validation admits.
    #[test]
    fn high_product_halves_equals_64_bit(
        a in edgy_i32(),
        m in edgy_i32().prop_map(|m| m.checked_abs().unwrap_or(i32::MAX)),
    ) {
        let wide = ((i64::from(a) * i64::from(m) + (1 << 30)) >> 31) as i32;
        prop_assert_eq!(high_product_halves(a, m), wide, "a {} m {}", a, m);
    }

    /// Dense: integer kernel vs f64 evaluation of the same quantized math
    /// (unfolded zero point, exact real requantization).
    #[test]
    fn dense_matches_f64_reference(
        (inputs, outputs) in (1usize..48, 1usize..24),
        seed in any::<u64>(),
        input_q in quant(),
        output_q in quant(),
        relu in any::<bool>(),
    ) {
        let mut rng = SplitMix::new(seed);
        let weights: Vec<i8> = (0..inputs * outputs).map(|_| rng.i8()).collect();
        let x: Vec<i8> = (0..inputs).map(|_| rng.i8()).collect();
        let scales: Vec<f32> = (0..outputs).map(|_| 0.001 + rng.unit() * 0.05).collect();
        let raw_bias: Vec<i32> = (0..outputs).map(|_| rng.i8() as i32 * 50).collect();
        let zp = i32::from(input_q.zero_point);
        // Export folds the input zero point into the bias.
        let folded: Vec<i32> = (0..outputs)
            .map(|c| raw_bias[c] - zp * weights[c * inputs..(c + 1) * inputs].iter().map(|&w| i32::from(w)).sum::<i32>())
            .collect();
        let op = Op::Dense { inputs: inputs as u16, outputs: outputs as u16 };
        let p = Params::new(op, weights.clone(), scales, folded, input_q, output_q, relu);
        let layer = p.layer();
        let mut out = vec![0i8; outputs];
        run(Kernels::Portable, &layer, &mut x.clone(), &mut out);
        let expected: Vec<i32> = (0..outputs)
            .map(|c| {
                let acc: f64 = (0..inputs)
                    .map(|k| f64::from(weights[c * inputs + k]) * (f64::from(x[k]) - f64::from(zp)))
                    .sum::<f64>() + f64::from(raw_bias[c]);
                p.reference_output(c, acc)
            })
            .collect();
        assert_close(&out, &expected);
    }

    /// Transposed convolution: integer gather kernel vs an f64 scatter
    /// evaluation (the textbook definition), on random geometry.
    #[test]
    fn conv_transpose_matches_f64_reference(
        (in_h, in_w, in_c, out_c) in (1u16..6, 1u16..6, 1u16..5, 1u16..5),
        (k, s) in (1u8..5, 1u8..4),
        pad_seed in any::<u8>(),
        out_pad_seed in any::<u8>(),
        seed in any::<u64>(),
        input_q in quant(),
        output_q in quant(),
        relu in any::<bool>(),
    ) {
        let pad = pad_seed % k; // padding < kernel
        let out_pad = out_pad_seed % s; // output_padding < stride
        let full = |i: u16| (i32::from(i) - 1) * i32::from(s) + i32::from(k) - 2 * i32::from(pad) + i32::from(out_pad);
        let (out_h, out_w) = (full(in_h), full(in_w));
        prop_assume!(out_h > 0 && out_w > 0);
        let (out_h, out_w) = (out_h as u16, out_w as u16);
        let mut rng = SplitMix::new(seed);
        let (ic, oc) = (usize::from(in_c), usize::from(out_c));
        let (ku, kk) = (usize::from(k), usize::from(k));
        let weights: Vec<i8> = (0..oc * ku * kk * ic).map(|_| rng.i8()).collect();
        let x: Vec<i8> = (0..usize::from(in_h) * usize::from(in_w) * ic).map(|_| rng.i8()).collect();
        let scales: Vec<f32> = (0..oc).map(|_| 0.001 + rng.unit() * 0.05).collect();
        let bias: Vec<i32> = (0..oc).map(|_| rng.i8() as i32 * 50).collect();
        let op = Op::ConvTranspose2d {
            input: Hwc { height: in_h, width: in_w, channels: in_c },
            output: Hwc { height: out_h, width: out_w, channels: out_c },
            kernel: [k, k],
            stride: [s, s],
            padding: [pad, pad],
        };
        let p = Params::new(op, weights.clone(), scales, bias.clone(), input_q, output_q, relu);
        let layer = p.layer();
        let mut out = vec![0i8; usize::from(out_h) * usize::from(out_w) * oc];
        run(Kernels::Portable, &layer, &mut x.clone(), &mut out);

        // Scatter: every input pixel adds its kernel to the output.
        let (oh, ow) = (usize::from(out_h), usize::from(out_w));
        let mut acc = vec![0f64; oh * ow * oc];
        let zp = f64::from(input_q.zero_point);
        for iy in 0..usize::from(in_h) {
            for ix in 0..usize::from(in_w) {
                for ky in 0..ku {
                    for kx in 0..kk {
                        let y = (iy * usize::from(s) + ky) as i64 - i64::from(pad);
                        let xo = (ix * usize::from(s) + kx) as i64 - i64::from(pad);
                        if y < 0 || xo < 0 || y >= oh as i64 || xo >= ow as i64 {
                            continue;
                        }
                        for co in 0..oc {
                            for ci in 0..ic {
                                let w = f64::from(weights[((co * ku + ky) * kk + kx) * ic + ci]);
                                let v = f64::from(x[(iy * usize::from(in_w) + ix) * ic + ci]) - zp;
                                acc[(y as usize * ow + xo as usize) * oc + co] += w * v;
                            }
                        }
                    }
                }
            }
        }
        let expected: Vec<i32> = acc
            .iter()
            .enumerate()
            .map(|(i, &a)| p.reference_output(i % oc, a + f64::from(bias[i % oc])))
            .collect();
        assert_close(&out, &expected);
        // The MAC count used for benchmarks is the number of products
        // the scatter form performs.
        let scatter_macs: u64 = (0..usize::from(in_h))
            .flat_map(|iy| (0..ku).map(move |ky| (iy * usize::from(s) + ky) as i64 - i64::from(pad)))
            .filter(|&y| y >= 0 && y < oh as i64)
            .count() as u64
            * (0..usize::from(in_w))
                .flat_map(|ix| (0..kk).map(move |kx| (ix * usize::from(s) + kx) as i64 - i64::from(pad)))
                .filter(|&x| x >= 0 && x < ow as i64)
                .count() as u64
            * (ic * oc) as u64;
        prop_assert_eq!(op.macs(), scatter_macs);
    }
}

proptest! {
    /// The tap-listing kernel and the decompositions of
    /// `crate::subpixel` (by phases four pixels or four channels at a
    /// time, by blocks, and scatter) give the gather reference's bytes,
    /// for odd and even channel counts, any padding, strides that differ
    /// between the axes, and kernels with more taps per axis than they
    /// take (which go to the reference).
    #[test]
    fn conv_transpose_equals_gather(
        (in_h, in_w, in_c, out_c) in (1u16..5, 1u16..5, 1u16..10, 1u16..6),
        (kh, kw, s, s_x) in (1u8..13, 1u8..6, 1u8..4, 1u8..4),
        pad_seed in any::<u8>(),
        seed in any::<u64>(),
        input_q in quant(),
        output_q in quant(),
        relu in any::<bool>(),
    ) {
        let (ph, pw) = (pad_seed % kh, (pad_seed / 16) % kw);
        let full = |i: u16, k: u8, p: u8, s: u8| (i32::from(i) - 1) * i32::from(s) + i32::from(k) - 2 * i32::from(p);
        let (out_h, out_w) = (full(in_h, kh, ph, s), full(in_w, kw, pw, s_x));
        prop_assume!(out_h > 0 && out_w > 0);
        let (out_h, out_w) = (out_h as u16, out_w as u16);
        let mut rng = SplitMix::new(seed);
        let (ic, oc) = (usize::from(in_c), usize::from(out_c));
        let weights: Vec<i8> = (0..oc * usize::from(kh) * usize::from(kw) * ic).map(|_| rng.i8()).collect();
        let x: Vec<i8> = (0..usize::from(in_h) * usize::from(in_w) * ic).map(|_| rng.i8()).collect();
        let scales: Vec<f32> = (0..oc).map(|_| 0.001 + rng.unit() * 0.05).collect();
        let bias: Vec<i32> = (0..oc).map(|_| rng.i8() as i32 * 50).collect();
        let geometry = ConvGeometry {
            input: Hwc { height: in_h, width: in_w, channels: in_c },
            output: Hwc { height: out_h, width: out_w, channels: out_c },
            kernel: [kh, kw],
            stride: [s, s_x],
            padding: [ph, pw],
        };
        let op = Op::ConvTranspose2d {
            input: geometry.input,
            output: geometry.output,
            kernel: geometry.kernel,
            stride: geometry.stride,
            padding: geometry.padding,
        };
        let p = Params::new(op, weights.clone(), scales, bias, input_q, output_q, relu);
        let layer = p.layer();
        let requant = Requantizer::new(&layer);
        let zp = i32::from(input_q.zero_point);
        let len = usize::from(out_h) * usize::from(out_w) * oc;
        let (mut fast, mut gather) = (vec![0i8; len], vec![0i8; len]);
        conv_transpose_2d(&geometry, &weights, &requant, zp, &x, &mut fast);
        conv_transpose_2d_gather(&geometry, &weights, &requant, zp, &x, &mut gather);
        prop_assert_eq!(&fast, &gather);
        // The decompositions the chips' assembly runs (`crate::subpixel`).
        if crate::subpixel::fits(&geometry) {
            let mut phases = vec![0i8; len];
            let mut backend = crate::subpixel::Portable::new(&x, ic, zp);
            crate::subpixel::conv_transpose(&geometry, &weights, &requant, &mut backend, &mut phases);
            prop_assert_eq!(&phases, &gather);
            // With buffers that hold the whole layer, and with small
            // ones that are flushed phase by phase (or decline a layer
            // whose one phase overflows them).
            let mut backend = crate::subpixel::PortableChannels::new(&x, ic, zp);
            if crate::subpixel::conv_transpose_channels::<32, 512, 4096>(&geometry, &weights, &requant, &mut backend, &mut phases) {
                prop_assert_eq!(&phases, &gather);
            }
            let mut small = vec![0i8; len];
            if crate::subpixel::conv_transpose_channels::<3, 6, 24>(&geometry, &weights, &requant, &mut backend, &mut small) {
                prop_assert_eq!(&small, &gather);
            }
        }
        // The block form (at most four lanes, phases times channels).
        if crate::subpixel::block_taps(&geometry).is_some() {
            let mut blocks = vec![0i8; len];
            let mut rearranged = vec![0i8; 4 * 16 * ic];
            let mut backend = crate::subpixel::PortableChannels::new(&x, ic, zp);
            prop_assert!(crate::subpixel::conv_transpose_blocks::<3>(&geometry, &weights, &requant, &mut rearranged, &mut backend, &mut blocks));
            prop_assert_eq!(&blocks, &gather);
        }
        // The scatter form (any geometry).
        {
            let mut scatter = vec![0i8; len];
            let mut sums = vec![0i32; len];
            let mut backend = crate::subpixel::PortableChannels::new(&x, ic, zp);
            prop_assert!(crate::subpixel::conv_transpose_scatter(&geometry, &weights, &requant, &mut backend, &mut sums, &mut scatter));
            prop_assert_eq!(scatter, gather);
        }
    }
}

/// A known dense case worked by hand: 2 inputs, 2 outputs, M = 0.5.
#[test]
fn dense_by_hand() {
    let q = Quant {
        scale: 1.0,
        zero_point: 0,
    };
    let half = Quant {
        scale: 2.0,
        zero_point: 3,
    };
    // M = in_scale * w_scale / out_scale = 1 * 1 / 2 = 0.5.
    let op = Op::Dense {
        inputs: 2,
        outputs: 2,
    };
    let p = Params::new(
        op,
        vec![1, 2, -3, 4],
        vec![1.0, 1.0],
        vec![10, -10],
        q,
        half,
        true,
    );
    let layer = p.layer();
    let mut out = [0i8; 2];
    run(Kernels::Portable, &layer, &mut [5, -7], &mut out);
    // c0: 1*5 + 2*-7 + 10 = 1; 0.5 -> round away = 1; + 3 = 4.
    // c1: -3*5 + 4*-7 - 10 = -53; -26.5 -> -27; + 3 = -24; ReLU clamps at zp 3.
    assert_eq!(out, [4, 3]);
}
