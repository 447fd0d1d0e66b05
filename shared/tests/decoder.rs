//! The decoder and the sampler through the public `Model` API.

mod common;

use tinyvae_shared::blob::{Activation, Layer, Op};
use tinyvae_shared::sampler::to_q16;
use tinyvae_shared::{Draw, Error, HostDecoder, Kernels, Latent, Model, seeded_rng};

use common::{CLASSES, LATENT, fixture_blob, unconditional_model};

fn generate(model: &Model<'_>, seed: u64, latent: Latent<'_>, count: usize) -> (Vec<i8>, Vec<u8>) {
    let mut rng = seeded_rng(seed);
    let mut scratch = vec![0i8; model.scratch_len()];
    let (mut zs, mut images) = (Vec::new(), Vec::new());
    for _ in 0..count {
        let mut z = vec![0i8; model.input_len()];
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
/// plus half a quantization step, 0.016); a conditional decoder's classes
/// come uniformly (each 1/3: 5 standard errors are 0.033) with exactly one
/// code `one` among the zero points.
#[test]
fn prior_latents_are_standard_normal() {
    let blob = fixture_blob();
    let model = Model::from_bytes(&blob).unwrap();
    let n = 5000;
    let (zs, _) = generate(&model, 9, Latent::Prior, n);
    let q = model.z_quant();
    let one = model.condition().unwrap().one;
    let mut counts = [0_usize; CLASSES as usize];
    for input in zs.chunks(model.input_len()) {
        let one_hot = &input[model.latent_dim()..];
        assert_eq!(one_hot.iter().filter(|&&c| c == one).count(), 1);
        assert_eq!(one_hot.iter().filter(|&&c| c == q.zero_point).count(), 2);
        counts[one_hot.iter().position(|&c| c == one).unwrap()] += 1;
    }
    for (class, &count) in counts.iter().enumerate() {
        let share = count as f64 / n as f64;
        assert!((share - 1.0 / 3.0).abs() < 0.033, "class {class}: {share}");
    }
    for d in 0..model.latent_dim() {
        let values: Vec<f64> = zs
            .iter()
            .skip(d)
            .step_by(model.input_len())
            .map(|&z| f64::from(q.dequantize(z)))
            .collect();
        let mean = values.iter().sum::<f64>() / n as f64;
        let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        assert!(mean.abs() < 0.09, "dim {d}: mean {mean}");
        assert!((sd - 1.0).abs() < 0.07, "dim {d}: sd {sd}");
    }
}

/// A posterior with zero sigma is its quantized mean, followed by its
/// class's one-hot codes on a conditional decoder (the fidelity check's
/// "test image decoded with its label").
#[test]
fn posterior_with_zero_sigma_is_the_quantized_mean() {
    let mu = [0.5f32, -1.0, 2.0, -3.9];
    let mu_q16: Vec<i32> = mu.iter().map(|&m| to_q16(m)).collect();
    let sigma_q16 = [0; LATENT as usize];
    let posterior = |class| Latent::Posterior {
        mu_q16: &mu_q16,
        sigma_q16: &sigma_q16,
        class,
    };
    let plain = unconditional_model().to_blob().unwrap();
    let conditional = fixture_blob();
    for (blob, class, one_hot) in [
        (&plain, None, &[][..]),
        (&conditional, Some(1), &[0, 32, 0][..]),
    ] {
        let model = Model::from_bytes(blob).unwrap();
        let mut input = vec![0i8; model.input_len()];
        model
            .sample_latent(posterior(class), &mut seeded_rng(1), &mut input)
            .unwrap();
        let mut expected: Vec<i8> = mu.iter().map(|&m| model.z_quant().quantize(m)).collect();
        expected.extend_from_slice(one_hot);
        assert_eq!(input, expected);
    }
}

#[test]
fn api_errors() {
    let blob = fixture_blob();
    let model = Model::from_bytes(&blob).unwrap();
    let mut scratch = vec![0i8; model.scratch_len()];
    let mut pixels = vec![0u8; model.image_len()];
    let mut z = vec![0i8; model.input_len()];
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
            found: 6,
            expected: 7
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
    let posterior = |len, class| Latent::Posterior {
        mu_q16: &[0; 4][..len],
        sigma_q16: &[0; 4],
        class,
    };
    assert!(matches!(
        model.sample_latent(posterior(3, Some(0)), &mut rng, &mut z),
        Err(Error::LatentSize { .. })
    ));
    for (class, error) in [
        (None, Error::ClassNeeded),
        (
            Some(3),
            Error::NoSuchClass {
                class: 3,
                classes: 3,
            },
        ),
    ] {
        assert_eq!(
            model.sample_latent(posterior(4, class), &mut rng, &mut z),
            Err(error)
        );
    }
    // An unconditional decoder without a density: no class, no fitted draw.
    let plain = unconditional_model().to_blob().unwrap();
    let plain = Model::from_bytes(&plain).unwrap();
    let mut z = vec![0i8; plain.input_len()];
    assert_eq!(
        plain.sample_latent(posterior(4, Some(0)), &mut rng, &mut z),
        Err(Error::NotConditional)
    );
    assert_eq!(
        plain.sample_latent(Latent::Fitted, &mut rng, &mut z),
        Err(Error::NoDensity)
    );
    assert_eq!(plain.check_draw(Draw::Fitted), Err(Error::NoDensity));
    assert_eq!(
        plain.sample_latent(Latent::Class(0), &mut rng, &mut z),
        Err(Error::NoSuchClass {
            class: 0,
            classes: 0
        })
    );
    assert_eq!(plain.default_draw(), Draw::Prior);
    assert_eq!(plain.classes(), 0);
}

/// The host decoder gives `Model`'s pixels and logits (dense and
/// transposed convolution, latents over the whole int8 range) and refuses
/// what `Model::decode` refuses.
#[test]
fn host_decoder_equals_model_decode_with_the_same_errors() {
    let plain = unconditional_model().to_blob().unwrap();
    for blob in [fixture_blob(), plain] {
        host_decoder_equals_model_decode(&blob);
    }
}

/// [`host_decoder_equals_model_decode_with_the_same_errors`] for one blob.
fn host_decoder_equals_model_decode(blob: &[u8]) {
    let model = Model::from_bytes(blob).unwrap();
    let mut decoder = HostDecoder::new(&model);
    let mut scratch = vec![0i8; model.scratch_len()];
    let (mut expected, mut got) = (vec![0u8; model.image_len()], vec![0u8; model.image_len()]);
    let mut rng = tinyvae_shared::splitmix::SplitMix64::new(3);
    for _ in 0..2000 {
        let z: Vec<i8> = (0..model.input_len())
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
    let z = vec![0i8; model.input_len()];
    // A short input, then a short pixel buffer.
    for (z, pixels) in [(&z[1..], model.image_len()), (&z[..], 35)] {
        let refused = model.decode(z, &mut scratch, &mut got[..pixels]);
        assert!(refused.is_err());
        assert_eq!(decoder.decode(z, &mut got[..pixels]), refused);
    }
    assert_eq!(
        decoder.decode_logits(&z[1..]),
        Err(Error::LatentSize {
            found: z.len() as u32 - 1,
            expected: z.len() as u32
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
        .chunks(model.input_len())
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

/// An interpolation request starts at the first draw of its seed with
/// the model's default draw (fitted here), ends at the second, and moves
/// monotonically in every code of the decoder input: z and the one-hot
/// codes, which pass between `one` and the zero point.
#[test]
fn interpolation_walks_from_one_default_draw_to_the_next() {
    for blob in [fixture_blob(), unconditional_model().to_blob().unwrap()] {
        let model = Model::from_bytes(&blob).unwrap();
        let collect = |draw, count, seed| {
            let mut zs: Vec<Vec<i8>> = Vec::new();
            model
                .for_each_latent(draw, count, &mut seeded_rng(seed), |_, z| {
                    zs.push(z.to_vec());
                    Ok::<(), Error>(())
                })
                .unwrap();
            zs
        };
        // A seed whose two ends differ in class, if the model has classes.
        let latent = model.latent_dim();
        let seed = (0..100)
            .find(|&seed| {
                let ends = collect(model.default_draw(), 2, seed);
                model.condition().is_none() || ends[0][latent..] != ends[1][latent..]
            })
            .unwrap();
        let ends = collect(model.default_draw(), 2, seed);
        let strip = collect(Draw::Interpolate, 7, seed);
        assert_eq!(strip.len(), 7);
        assert_eq!(strip[0], ends[0]);
        assert_eq!(strip[6], ends[1]);
        for d in 0..model.input_len() {
            let column: Vec<i8> = strip.iter().map(|z| z[d]).collect();
            let rising = column.windows(2).all(|w| w[0] <= w[1]);
            let falling = column.windows(2).all(|w| w[0] >= w[1]);
            assert!(rising || falling, "code {d}: {column:?}");
        }
        if let Some(condition) = model.condition() {
            // Two classes swap: their codes cross between `one` and the
            // zero point, strictly between at the middle.
            let zero = model.z_quant().zero_point;
            let moving: Vec<usize> = (latent..model.input_len())
                .filter(|&d| strip[0][d] != strip[6][d])
                .collect();
            assert_eq!(moving.len(), 2);
            for &d in &moving {
                for z in &strip {
                    let (lo, hi) = (zero.min(condition.one), zero.max(condition.one));
                    assert!((lo..=hi).contains(&z[d]));
                }
                assert!(strip[3][d] != zero && strip[3][d] != condition.one);
            }
        }
    }
}

/// A slice of a request's sequence gives exactly those images' latents of
/// the whole sequence, for every draw: how a lost image is sent again.
#[test]
fn a_slice_of_the_sequence_equals_the_whole_sequence_there() {
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
    for draw in [Draw::Prior, Draw::Class(1), Draw::Interpolate, Draw::Fitted] {
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
