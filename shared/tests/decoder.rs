//! The decoder and the sampler through the public `Model` API.

mod common;

use tinyvae_shared::blob::{Activation, Layer, Op};
use tinyvae_shared::sampler::{ONE_Q16, to_q16};
use tinyvae_shared::{Error, HostDecoder, Kernels, Latent, Model, seeded_rng};

use common::{LATENT, fixture_blob};

fn generate(model: &Model<'_>, seed: u64, latent: Latent<'_>, count: usize) -> (Vec<i8>, Vec<u8>) {
    let mut rng = seeded_rng(seed);
    let mut scratch = vec![0i8; model.scratch_len()];
    let (mut zs, mut images) = (Vec::new(), Vec::new());
    for _ in 0..count {
        let mut z = vec![0i8; model.latent_dim()];
        let mut pixels = vec![0u8; model.image_len()];
        model
            .generate(latent, &mut rng, &mut z, &mut scratch, &mut pixels)
            .unwrap();
        zs.extend(z);
        images.extend(pixels);
    }
    (zs, images)
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let blob = fixture_blob();
    let model = Model::from_bytes(&blob).unwrap();
    let a = generate(&model, 5, Latent::Prior, 16);
    assert_eq!(a, generate(&model, 5, Latent::Prior, 16));
    let b = generate(&model, 6, Latent::Prior, 16);
    assert_ne!(a.0, b.0, "latents of seeds 5 and 6 coincide");
    assert_ne!(a.1, b.1, "images of seeds 5 and 6 coincide");
}

/// Prior latents, dequantized, have mean ~0 and sd ~1 per dimension
/// (5,000 draws: 5 standard errors are 0.07 for the mean, 0.05 for the sd,
/// plus half a quantization step, 0.016).
#[test]
fn prior_latents_are_standard_normal() {
    let blob = fixture_blob();
    let model = Model::from_bytes(&blob).unwrap();
    let n = 5000;
    let (zs, _) = generate(&model, 9, Latent::Prior, n);
    let q = model.z_quant();
    for d in 0..model.latent_dim() {
        let values: Vec<f64> = zs
            .iter()
            .skip(d)
            .step_by(model.latent_dim())
            .map(|&z| f64::from(q.dequantize(z)))
            .collect();
        let mean = values.iter().sum::<f64>() / n as f64;
        let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        assert!(mean.abs() < 0.09, "dim {d}: mean {mean}");
        assert!((sd - 1.0).abs() < 0.07, "dim {d}: sd {sd}");
    }
}

/// Class-conditional latents follow that class's prototype.
#[test]
fn class_latents_follow_their_prototype() {
    let owned = common::fixture_model();
    let blob = owned.to_blob().unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    let prototypes = model.body().prototypes.unwrap();
    let q = model.z_quant();
    let n = 5000;
    let dims = model.latent_dim();
    for class in 0..model.classes() {
        let (zs, _) = generate(&model, 3, Latent::Class(class), n);
        for d in 0..dims {
            let mu = f64::from(prototypes.mu_q16(dims, usize::from(class), d)) / f64::from(ONE_Q16);
            let sigma =
                f64::from(prototypes.sigma_q16(dims, usize::from(class), d)) / f64::from(ONE_Q16);
            let values: Vec<f64> = zs
                .iter()
                .skip(d)
                .step_by(dims)
                .map(|&z| f64::from(q.dequantize(z)))
                .collect();
            let mean = values.iter().sum::<f64>() / n as f64;
            let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
            let step = f64::from(q.scale);
            assert!(
                (mean - mu).abs() < 5.0 * sigma / (n as f64).sqrt() + step,
                "class {class} dim {d}: mean {mean} vs {mu}"
            );
            assert!(
                (sd - sigma).abs() < 0.1 * sigma + step,
                "class {class} dim {d}: sd {sd} vs {sigma}"
            );
        }
    }
}

#[test]
fn posterior_with_zero_sigma_is_the_quantized_mean() {
    let blob = fixture_blob();
    let model = Model::from_bytes(&blob).unwrap();
    let mu = [0.5f32, -1.0, 2.0, -3.9];
    let mu_q16: Vec<i32> = mu.iter().map(|&m| to_q16(m)).collect();
    let sigma_q16 = [0; LATENT as usize];
    let mut z = [0i8; LATENT as usize];
    model
        .sample_latent(
            Latent::Posterior {
                mu_q16: &mu_q16,
                sigma_q16: &sigma_q16,
            },
            &mut seeded_rng(1),
            &mut z,
        )
        .unwrap();
    let expected: Vec<i8> = mu.iter().map(|&m| model.z_quant().quantize(m)).collect();
    assert_eq!(z.to_vec(), expected);
}

#[test]
fn api_errors() {
    let blob = fixture_blob();
    let model = Model::from_bytes(&blob).unwrap();
    let mut scratch = vec![0i8; model.scratch_len()];
    let mut pixels = vec![0u8; model.image_len()];
    let mut z = vec![0i8; model.latent_dim()];
    let mut rng = seeded_rng(0);
    assert_eq!(
        model.generate(
            Latent::Class(3),
            &mut rng,
            &mut z,
            &mut scratch,
            &mut pixels
        ),
        Err(Error::NoSuchClass {
            class: 3,
            classes: 3
        })
    );
    assert_eq!(
        model.decode(&z[1..], &mut scratch, &mut pixels),
        Err(Error::LatentSize {
            found: 3,
            expected: 4
        })
    );
    let short = model.scratch_len() - 1;
    assert_eq!(
        model.decode(&z, &mut scratch[..short], &mut pixels),
        Err(Error::BufferTooSmall {
            needed: short as u32 + 1,
            available: short as u32
        })
    );
    assert!(matches!(
        model.decode(&z, &mut scratch, &mut pixels[..35]),
        Err(Error::BufferTooSmall { .. })
    ));
    let posterior = Latent::Posterior {
        mu_q16: &[0; 3],
        sigma_q16: &[0; 4],
    };
    assert!(matches!(
        model.sample_latent(posterior, &mut rng, &mut z),
        Err(Error::LatentSize { .. })
    ));
}

/// The host decoder gives `Model`'s pixels and logits (dense and
/// transposed convolution, latents over the whole int8 range) and refuses
/// what `Model::decode` refuses.
#[test]
fn host_decoder_equals_model_decode_with_the_same_errors() {
    let blob = fixture_blob();
    let model = Model::from_bytes(&blob).unwrap();
    let mut decoder = HostDecoder::new(&model);
    let mut scratch = vec![0i8; model.scratch_len()];
    let (mut expected, mut got) = (vec![0u8; model.image_len()], vec![0u8; model.image_len()]);
    let mut rng = tinyvae_shared::splitmix::SplitMix64::new(3);
    for _ in 0..2000 {
        let z: Vec<i8> = (0..model.latent_dim())
            .map(|_| rng.next_u64() as i8)
            .collect();
        model
            .decode_using(Kernels::Portable, &z, &mut scratch, &mut expected, |_| {})
            .unwrap();
        decoder.decode(&z, &mut got).unwrap();
        assert_eq!(got, expected, "z {z:?}");
        let logits = model.decode_logits(&z, &mut scratch).unwrap().to_vec();
        assert_eq!(decoder.decode_logits(&z).unwrap(), logits, "z {z:?}");
    }
    let z = vec![0i8; model.latent_dim()];
    // A short latent, then a short pixel buffer.
    for (z, pixels) in [(&z[1..], model.image_len()), (&z[..], 35)] {
        let refused = model.decode(z, &mut scratch, &mut got[..pixels]);
        assert!(refused.is_err());
        assert_eq!(decoder.decode(z, &mut got[..pixels]), refused);
    }
    assert_eq!(
        decoder.decode_logits(&z[1..]),
        Err(Error::LatentSize {
            found: 3,
            expected: 4
        })
    );
}

/// Float forward pass with the blob's own dequantized weights and biases
/// (activations kept in float): catches layout and convention mistakes
/// (weight order, bias folding, HWC indexing) that per-layer tests could
/// share with the kernels.
fn float_decode(model: &Model<'_>, z: &[f32]) -> Vec<f32> {
    let mut x = z.to_vec();
    for layer in &model.body().layers {
        x = float_layer(layer, &x);
    }
    x.iter().map(|&l| 255.0 / (1.0 + (-l).exp())).collect()
}

fn float_layer(layer: &Layer<'_>, x: &[f32]) -> Vec<f32> {
    // Logical order, read through the layout (the kernels read raw bytes).
    let count = layer.op.weight_count().unwrap();
    let w: Vec<i8> = (0..count).map(|i| layer.weight(i)).collect();
    let s_in = layer.input.scale;
    let channels = layer.op.channels();
    let real_bias = |c: usize| layer.unfolded_bias(c) as f32 * s_in * layer.weight_scale(c);
    let mut out = match layer.op {
        Op::Dense { inputs, outputs } => {
            let n = usize::from(inputs);
            (0..usize::from(outputs))
                .map(|c| {
                    let dot: f32 = (0..n)
                        .map(|k| f32::from(w[c * n + k]) * layer.weight_scale(c) * x[k])
                        .sum();
                    dot + real_bias(c)
                })
                .collect::<Vec<f32>>()
        }
        Op::ConvTranspose2d {
            input,
            output,
            kernel,
            stride,
            padding,
        } => {
            let (ic, oc) = (usize::from(input.channels), usize::from(output.channels));
            let (kh, kw) = (usize::from(kernel[0]), usize::from(kernel[1]));
            let mut y = vec![0f32; output.elements().unwrap()];
            for co in 0..oc {
                for v in y.iter_mut().skip(co).step_by(oc) {
                    *v = real_bias(co);
                }
            }
            for iy in 0..usize::from(input.height) {
                for ix in 0..usize::from(input.width) {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let oy =
                                (iy * usize::from(stride[0]) + ky) as i64 - i64::from(padding[0]);
                            let ox =
                                (ix * usize::from(stride[1]) + kx) as i64 - i64::from(padding[1]);
                            if oy < 0
                                || ox < 0
                                || oy >= i64::from(output.height)
                                || ox >= i64::from(output.width)
                            {
                                continue;
                            }
                            for co in 0..oc {
                                for ci in 0..ic {
                                    let wv = f32::from(w[((co * kh + ky) * kw + kx) * ic + ci])
                                        * layer.weight_scale(co);
                                    y[(oy as usize * usize::from(output.width) + ox as usize)
                                        * oc
                                        + co] +=
                                        wv * x[(iy * usize::from(input.width) + ix) * ic + ci];
                                }
                            }
                        }
                    }
                }
            }
            y
        }
    };
    if layer.activation == Activation::Relu {
        out.iter_mut().for_each(|v| *v = v.max(0.0));
    }
    assert_eq!(out.len() % channels, 0);
    out
}

/// Mean absolute difference between the int8 decoder and the float
/// decoder with the same weights, in gray levels (0..=255), over 200 prior
/// samples. The activations' int8 rounding accounts for a few levels;
/// a convention mistake gives tens.
const MEAN_GRAY_TOLERANCE: f64 = 3.0;

#[test]
fn int8_decoder_tracks_float_decoder() {
    let blob = fixture_blob();
    let model = Model::from_bytes(&blob).unwrap();
    let (zs, images) = generate(&model, 21, Latent::Prior, 200);
    let q = model.z_quant();
    let mut total = 0.0;
    for (z, image) in zs
        .chunks(model.latent_dim())
        .zip(images.chunks(model.image_len()))
    {
        let zf: Vec<f32> = z.iter().map(|&v| q.dequantize(v)).collect();
        let float = float_decode(&model, &zf);
        total += image
            .iter()
            .zip(&float)
            .map(|(&p, &f)| (f64::from(p) - f64::from(f)).abs())
            .sum::<f64>();
    }
    let mean = total / (200 * model.image_len()) as f64;
    assert!(
        mean < MEAN_GRAY_TOLERANCE,
        "mean |int8 - float| = {mean:.3} gray levels"
    );
    // And not trivially: the images vary.
    assert!(images.iter().any(|&p| p != images[0]));
}

/// An interpolation request starts at the first prior draw of its seed,
/// ends at the second, and moves monotonically in every dimension.
#[test]
fn interpolation_walks_from_one_prior_draw_to_the_next() {
    use tinyvae_shared::Draw;
    let blob = fixture_blob();
    let model = Model::from_bytes(&blob).unwrap();
    let collect = |draw, count| {
        let mut zs: Vec<Vec<i8>> = Vec::new();
        model
            .for_each_latent(draw, count, &mut seeded_rng(42), |_, z| {
                zs.push(z.to_vec());
                Ok::<(), Error>(())
            })
            .unwrap();
        zs
    };
    let prior = collect(Draw::Prior, 2);
    let strip = collect(Draw::Interpolate, 7);
    assert_eq!(strip.len(), 7);
    assert_eq!(strip[0], prior[0]);
    assert_eq!(strip[6], prior[1]);
    for d in 0..model.latent_dim() {
        let column: Vec<i8> = strip.iter().map(|z| z[d]).collect();
        let rising = column.windows(2).all(|w| w[0] <= w[1]);
        let falling = column.windows(2).all(|w| w[0] >= w[1]);
        assert!(rising || falling, "dimension {d}: {column:?}");
    }
}

/// A slice of a request's sequence gives exactly those images' latents of
/// the whole sequence, for every draw: how a lost image is sent again.
#[test]
fn a_slice_of_the_sequence_equals_the_whole_sequence_there() {
    use tinyvae_shared::Draw;
    let blob = fixture_blob();
    let model = Model::from_bytes(&blob).unwrap();
    let collect = |draw, count, images: std::ops::Range<u32>| {
        let mut zs: Vec<(u32, Vec<i8>)> = Vec::new();
        model
            .for_each_latent_in(draw, count, images, &mut seeded_rng(9), |i, z| {
                zs.push((i, z.to_vec()));
                Ok::<(), Error>(())
            })
            .unwrap();
        zs
    };
    for draw in [Draw::Prior, Draw::Class(1), Draw::Interpolate] {
        let whole = collect(draw, 9, 0..9);
        assert_eq!(whole.len(), 9);
        for (first, end) in [(0, 1), (3, 4), (2, 9), (8, 9)] {
            let part = collect(draw, 9, first..end);
            assert_eq!(
                part,
                whole[first as usize..end as usize],
                "{draw:?} {first}..{end}"
            );
        }
        // A range past the sequence stops at its end.
        assert_eq!(collect(draw, 9, 7..20), whole[7..]);
    }
}

/// `Layer::unfolded_bias` gives back the bias export quantized, before the
/// dense layer's zero-point fold, for an input zero point far from 0.
#[test]
fn unfolded_bias_undoes_the_dense_fold() {
    use tinyvae_shared::blob::{Activation, Op, Quant};
    use tinyvae_shared::write::OwnedLayer;
    let input = Quant::from_range(-1.0, 5.0).unwrap();
    assert!(input.zero_point < -50, "a zero point that matters");
    let output = Quant::from_range(-4.0, 4.0).unwrap();
    let weights = [0.5, -0.25, 1.0, 0.125, -1.0, 0.75];
    let bias = [0.3, -0.7];
    let op = Op::Dense {
        inputs: 3,
        outputs: 2,
    };
    let layer =
        OwnedLayer::quantize(op, Activation::Linear, input, output, &weights, &bias).unwrap();
    let layer = layer.as_layer();
    for (c, &b) in bias.iter().enumerate() {
        let real = layer.unfolded_bias(c) as f64
            * f64::from(input.scale)
            * f64::from(layer.weight_scale(c));
        let step = f64::from(input.scale) * f64::from(layer.weight_scale(c));
        assert!(
            (real - f64::from(b)).abs() <= step / 2.0 + 1e-9,
            "channel {c}: {real} vs {b}"
        );
        assert_ne!(
            i64::from(layer.bias(c)),
            layer.unfolded_bias(c),
            "the stored bias is folded"
        );
    }
}
