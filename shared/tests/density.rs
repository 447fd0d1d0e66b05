//! The fitted density and the class condition through the public API:
//! the statistics of fitted and class draws, the conditional decoder
//! against an unconditional one over the same input, the writer's
//! refusals, and the sampler's arithmetic at the largest values a blob
//! may hold.

mod common;

use rand_core::RngCore;
use tinyvae_shared::blob::{Activation, Hwc, MAX_DENSITY_Q16, MAX_LATENT, Op, Quant, tril_len};
use tinyvae_shared::write::{
    OwnedComponent, OwnedDensity, OwnedLayer, OwnedModel, QuantizeError, encode, sigmoid_table,
};
use tinyvae_shared::{Draw, Error, Latent, Model, seeded_rng};

const LATENT: usize = 4;

/// z quantized in steps of 0.02 (+-2.56): fine enough that quantization
/// adds little to the components' spread (0.3 and up).
const Z: Quant = Quant {
    scale: 0.02,
    zero_point: 0,
};

/// Three well-separated components with correlated dimensions, tagged
/// with classes 0, 1, 0 (weights 0.5, 0.2, 0.3; within class 0: 5/8, 3/8).
fn mixture() -> OwnedDensity {
    let component = |class, weight, mean: [f32; LATENT], scale_tril: [f32; 10]| OwnedComponent {
        class: Some(class),
        weight,
        mean: mean.to_vec(),
        scale_tril: scale_tril.to_vec(),
    };
    OwnedDensity {
        classes: 2,
        components: vec![
            component(
                0,
                0.5,
                [-1.0, 0.5, 0.0, 0.8],
                [0.3, 0.2, 0.25, -0.1, 0.1, 0.35, 0.05, -0.15, 0.1, 0.3],
            ),
            component(
                1,
                0.2,
                [1.0, -0.5, 0.5, -0.8],
                [0.4, -0.3, 0.2, 0.0, 0.2, 0.3, 0.1, 0.1, -0.2, 0.25],
            ),
            component(
                0,
                0.3,
                [0.0, 1.0, -1.0, 0.0],
                [0.25, 0.1, 0.3, 0.2, -0.2, 0.3, -0.1, 0.05, 0.15, 0.35],
            ),
        ],
    }
}

/// A conditional decoder over `[z ; one-hot]` (dense `latent + classes` ->
/// 1, a 1x1 image) with `density`.
fn model(latent: u16, classes: u16, density: Option<OwnedDensity>) -> OwnedModel {
    let logits = Quant::from_range(-4.0, 4.0).unwrap();
    let inputs = latent + classes;
    let weights: Vec<f32> = (0..inputs).map(|i| 0.1 * f32::from(i) - 0.3).collect();
    let dense = OwnedLayer::quantize(
        Op::Dense { inputs, outputs: 1 },
        Activation::Linear,
        Z,
        logits,
        &weights,
        &[0.1],
    )
    .unwrap();
    OwnedModel {
        latent_dim: latent,
        image: Hwc {
            height: 1,
            width: 1,
            channels: 1,
        },
        layers: vec![dense],
        output_table: sigmoid_table(logits),
        condition_classes: classes,
        density,
        class_names: (0..classes).map(|k| format!("class {k}")).collect(),
        dataset: "synthetic".into(),
        model: "mixture".into(),
        epochs: 0,
        test_nelbo: 0.0,
    }
}

/// Per-component sample moments of dequantized latents.
#[derive(Default)]
struct Moments {
    n: usize,
    sum: [f64; LATENT],
    products: [[f64; LATENT]; LATENT],
}

impl Moments {
    fn add(&mut self, z: &[f64]) {
        self.n += 1;
        for i in 0..LATENT {
            self.sum[i] += z[i];
            for j in 0..LATENT {
                self.products[i][j] += z[i] * z[j];
            }
        }
    }

    /// Checks the sample mean against `mean` within 5 standard errors plus
    /// half a quantization step, and every covariance entry against `S =
    /// L L^T` within `5 sqrt((S_ii S_jj + S_ij^2) / n)` (the standard error
    /// of a Gaussian sample covariance) plus one squared step (rounding
    /// adds `step^2 / 12` of variance).
    fn check(&self, what: &str, mean: &[f64], tril: &[f64]) {
        let n = self.n as f64;
        let l = |i: usize, j: usize| if j <= i { tril[tril_len(i) + j] } else { 0.0 };
        let s = |i: usize, j: usize| (0..LATENT).map(|k| l(i, k) * l(j, k)).sum::<f64>();
        let step = f64::from(Z.scale);
        let sample_mean: Vec<f64> = self.sum.iter().map(|v| v / n).collect();
        for i in 0..LATENT {
            let tolerance = 5.0 * (s(i, i) / n).sqrt() + step / 2.0;
            assert!(
                (sample_mean[i] - mean[i]).abs() < tolerance,
                "{what}, dim {i}: mean {} vs {} (+- {tolerance})",
                sample_mean[i],
                mean[i]
            );
            for j in 0..LATENT {
                let cov = self.products[i][j] / n - sample_mean[i] * sample_mean[j];
                let tolerance =
                    5.0 * ((s(i, i) * s(j, j) + s(i, j).powi(2)) / n).sqrt() + step * step;
                assert!(
                    (cov - s(i, j)).abs() < tolerance,
                    "{what}, cov[{i}][{j}]: {cov} vs {} (+- {tolerance})",
                    s(i, j)
                );
            }
        }
    }
}

/// Draws `n` inputs of `latent` from `model`, identifying each one's
/// component by replaying its first word through `pick` (a clone of the
/// generator sees the same word); returns per-component moments and the
/// one-hot codes seen per component.
fn draw_by_component(
    model: &Model<'_>,
    latent: Latent<'_>,
    pick: impl Fn(u32) -> usize,
    n: usize,
    seed: u64,
) -> (Vec<Moments>, Vec<Vec<i8>>) {
    let density = model.density().unwrap();
    let components = usize::from(density.components);
    let mut moments: Vec<Moments> = (0..components).map(|_| Moments::default()).collect();
    let mut one_hots = vec![Vec::new(); components];
    let mut rng = seeded_rng(seed);
    let mut input = vec![0i8; model.input_len()];
    for _ in 0..n {
        let k = pick(rng.clone().next_u32());
        model.sample_latent(latent, &mut rng, &mut input).unwrap();
        let z: Vec<f64> = input[..LATENT]
            .iter()
            .map(|&q| f64::from(model.z_quant().dequantize(q)))
            .collect();
        moments[k].add(&z);
        one_hots[k] = input[LATENT..].to_vec();
    }
    (moments, one_hots)
}

/// 200,000 fitted draws: each component comes with its weight's frequency
/// (within 5 standard errors, `5 sqrt(w (1 - w) / n)`), and the draws of
/// each have its mean and covariance; a conditional decoder gets the
/// component's class.
#[test]
fn fitted_draws_follow_the_mixture() {
    let owned = model(LATENT as u16, 2, Some(mixture()));
    let blob = owned.to_blob().unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    let density = model.density().unwrap();
    let n = 200_000;
    let (moments, one_hots) = draw_by_component(&model, Latent::Fitted, |w| density.pick(w), n, 5);
    let one = model.condition().unwrap().one;
    assert_eq!(one, 50, "0 + round(1 / 0.02)");
    let scale = Z.scale;
    for (k, c) in mixture().components.iter().enumerate() {
        let share = moments[k].n as f64 / n as f64;
        let tolerance = 5.0 * (c.weight * (1.0 - c.weight) / n as f64).sqrt();
        assert!(
            (share - c.weight).abs() < tolerance,
            "component {k}: {share} vs {}",
            c.weight
        );
        let mean: Vec<f64> = density.mean_real(k, scale).collect();
        let tril: Vec<f64> = density.scale_tril_real(k, scale).collect();
        moments[k].check(&format!("component {k}"), &mean, &tril);
        let mut expected = vec![0i8; 2];
        expected[usize::from(c.class.unwrap())] = one;
        assert_eq!(one_hots[k], expected, "component {k}");
    }
}

/// Class draws use only their class's components, with the within-class
/// frequencies (class 0: 5/8 and 3/8 of 100,000 draws, within 5 standard
/// errors), each with its own mean and covariance, and the class's one-hot
/// codes. A replay through `pick_in_class` names the component; the
/// moments confirm it (the components are far apart).
#[test]
fn class_draws_use_their_class_components() {
    let owned = model(LATENT as u16, 2, Some(mixture()));
    let blob = owned.to_blob().unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    let density = model.density().unwrap();
    let scale = Z.scale;
    let n = 100_000;
    for class in 0..2_u16 {
        let (moments, one_hots) = draw_by_component(
            &model,
            Latent::Class(class),
            |w| density.pick_in_class(class, w).unwrap(),
            n,
            7 + u64::from(class),
        );
        let members: Vec<usize> = (0..3).filter(|&k| density.class_of(k) == class).collect();
        let total: f64 = members
            .iter()
            .map(|&k| mixture().components[k].weight)
            .sum();
        for k in 0..3 {
            if !members.contains(&k) {
                assert_eq!(moments[k].n, 0, "class {class} drew component {k}");
                continue;
            }
            let weight = mixture().components[k].weight / total;
            assert!((density.weight_in_class(k) - weight).abs() < 1e-9);
            let share = moments[k].n as f64 / n as f64;
            let tolerance = 5.0 * (weight * (1.0 - weight) / n as f64).sqrt();
            assert!(
                (share - weight).abs() < tolerance.max(1e-12),
                "class {class}, component {k}: {share} vs {weight}"
            );
            let mean: Vec<f64> = density.mean_real(k, scale).collect();
            let tril: Vec<f64> = density.scale_tril_real(k, scale).collect();
            moments[k].check(&format!("class {class}, component {k}"), &mean, &tril);
            let mut expected = vec![0i8; 2];
            expected[usize::from(class)] = model.condition().unwrap().one;
            assert_eq!(one_hots[k], expected);
        }
    }
}

/// The pick rule at its edges: the first component whose threshold is
/// above the word, else the last; a class pick among its members only.
#[test]
fn picks_follow_the_thresholds() {
    let blob = model(LATENT as u16, 2, Some(mixture())).to_blob().unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    let density = model.density().unwrap();
    // floor(2^32 * 0.5), floor(2^32 * 0.7), u32::MAX.
    let thresholds: Vec<u32> = (0..3).map(|k| density.pick_threshold(k)).collect();
    assert_eq!(thresholds, [0x8000_0000, 0xb333_3333, u32::MAX]);
    assert_eq!(density.pick(0), 0);
    assert_eq!(density.pick(0x7fff_ffff), 0);
    assert_eq!(density.pick(0x8000_0000), 1);
    assert_eq!(density.pick(0xb333_3333), 2);
    assert_eq!(density.pick(u32::MAX), 2);
    // Class 0: components 0 (5/8: floor(2^32 * 0.625)) and 2 (the rest).
    assert_eq!(density.pick_in_class_threshold(0), 0xa000_0000);
    assert_eq!(density.pick_in_class(0, 0x9fff_ffff), Some(0));
    assert_eq!(density.pick_in_class(0, 0xa000_0000), Some(2));
    assert_eq!(density.pick_in_class(1, 0), Some(1));
    assert_eq!(density.pick_in_class(1, u32::MAX), Some(1));
    assert_eq!(density.pick_in_class(2, 0), None);
}

/// A conditional decoder is a dense layer over the concatenated input: it
/// decodes exactly as an unconditional decoder of `latent + classes`
/// codes with the same layers.
#[test]
fn conditional_decode_is_the_dense_layer_over_the_concatenated_input() {
    let conditional = common::fixture_model();
    let mut plain = conditional.clone();
    plain.latent_dim = conditional.latent_dim + conditional.condition_classes;
    plain.condition_classes = 0;
    plain.density = None;
    plain.class_names.clear();
    let (a, b) = (conditional.to_blob().unwrap(), plain.to_blob().unwrap());
    let (conditional, plain) = (
        Model::from_bytes(&a).unwrap(),
        Model::from_bytes(&b).unwrap(),
    );
    assert_eq!(conditional.input_len(), plain.input_len());
    assert_eq!(conditional.scratch_len(), plain.scratch_len());
    let mut scratch = vec![0i8; conditional.scratch_len()];
    let mut rng = tinyvae_shared::splitmix::SplitMix64::new(8);
    for draw in [Draw::Fitted, Draw::Prior, Draw::Class(2), Draw::Interpolate] {
        conditional
            .for_each_latent(draw, 20, &mut seeded_rng(1), |_, input| {
                let (mut x, mut y) = ([0u8; 36], [0u8; 36]);
                conditional.decode(input, &mut scratch, &mut x)?;
                plain.decode(input, &mut scratch, &mut y)?;
                assert_eq!(x, y, "{draw}: {input:?}");
                Ok::<(), Error>(())
            })
            .unwrap();
    }
    for _ in 0..500 {
        let input: Vec<i8> = (0..7).map(|_| rng.next_u64() as i8).collect();
        let x = conditional
            .decode_logits(&input, &mut scratch)
            .unwrap()
            .to_vec();
        assert_eq!(plain.decode_logits(&input, &mut scratch).unwrap(), x);
    }
}

/// The writer refuses what it cannot encode, with a typed error.
#[test]
fn the_writer_refuses_bad_densities_and_conditions() {
    let refused = |edit: &dyn Fn(&mut OwnedModel)| {
        let mut owned = model(LATENT as u16, 2, Some(mixture()));
        edit(&mut owned);
        owned.to_blob().unwrap_err()
    };
    let density =
        |edit: &dyn Fn(&mut OwnedDensity)| refused(&|m| edit(m.density.as_mut().unwrap()));
    let component = |edit: &dyn Fn(&mut OwnedComponent)| density(&|d| edit(&mut d.components[1]));
    assert!(matches!(
        component(&|c| {
            c.mean.pop();
        }),
        QuantizeError::DensityShape {
            component: 1,
            what: "mean",
            found: 3,
            expected: 4
        }
    ));
    assert!(matches!(
        component(&|c| c.scale_tril.push(0.0)),
        QuantizeError::DensityShape {
            what: "scale_tril",
            found: 11,
            expected: 10,
            ..
        }
    ));
    for edit in [
        &(|c: &mut OwnedComponent| c.mean[0] = f32::NAN) as &dyn Fn(&mut OwnedComponent),
        &|c| c.scale_tril[1] = f32::INFINITY,
        &|c| c.scale_tril[2] = 0.0,
        &|c| c.scale_tril[0] = -0.1,
        &|c| c.weight = -0.5,
        &|c| c.weight = f64::NAN,
        &|c| c.class = Some(2),
        &|c| c.class = None,
        &|c| c.mean[3] = 300.0 * Z.scale,
    ] {
        assert!(
            matches!(
                component(edit),
                QuantizeError::DensityValue { component: 1, .. }
            ),
            "{:?}",
            component(edit)
        );
    }
    // Class 1 owns only component 1: with weight 0 it has nothing to draw.
    assert_eq!(component(&|c| c.weight = 0.0), QuantizeError::EmptyClass(1));
    assert_eq!(
        density(&|d| d.components.iter_mut().for_each(|c| c.class = Some(0))),
        QuantizeError::EmptyClass(1)
    );
    assert!(matches!(
        density(&|d| d.components.iter_mut().for_each(|c| c.weight = 0.0)),
        QuantizeError::Density(_)
    ));
    assert!(matches!(
        density(&|d| d.components.clear()),
        QuantizeError::Density(_)
    ));
    // Density tags that differ from the condition, a first layer that does
    // not take latent + classes inputs.
    assert!(matches!(
        density(&|d| d.classes = 3),
        QuantizeError::Condition(_)
    ));
    assert!(matches!(
        refused(&|m| m.condition_classes = 3),
        QuantizeError::Condition(_)
    ));
    // A z scale whose 1.0 is no int8 code other than the zero point.
    for scale in [4.0, 0.001] {
        let refused = refused(&|m| {
            m.density = None;
            m.layers[0].input.scale = scale;
        });
        assert!(
            matches!(refused, QuantizeError::OneCode { .. }),
            "{refused:?}"
        );
    }
}

/// The largest values a blob may hold, with the most extreme `e`, neither
/// overflow (tests build with overflow checks) nor panic: z saturates.
#[test]
fn extreme_densities_saturate_without_overflow() {
    struct Constant(u32);
    impl RngCore for Constant {
        fn next_u32(&mut self) -> u32 {
            self.0
        }
        fn next_u64(&mut self) -> u64 {
            u64::from(self.0)
        }
        fn fill_bytes(&mut self, dst: &mut [u8]) {
            dst.fill(0)
        }
    }
    let latent = MAX_LATENT - 1;
    let blob = model(latent, 1, None).to_blob().unwrap();
    let plain = Model::from_bytes(&blob).unwrap();
    let tril = tril_len(usize::from(latent));
    // z_0 = mean + L_00 e with L_00 = 256 steps and |e| = 6.23 (word 0,
    // and with the sign bit): far beyond int8 either way.
    for (value, word, expected) in [
        (MAX_DENSITY_Q16, 0, 127),
        (MAX_DENSITY_Q16, 0x8000_0000, -128),
        (-MAX_DENSITY_Q16, 0, 127),
        (-MAX_DENSITY_Q16, 0x8000_0001, -128),
    ] {
        // Every L entry at the bound; the mean at the bound with the
        // same sign; the diagonal positive as validation demands.
        let mean: Vec<u8> = (0..latent).flat_map(|_| value.to_le_bytes()).collect();
        let scale_tril: Vec<u8> = (0..usize::from(latent))
            .flat_map(|i| (0..=i).map(move |j| if i == j { MAX_DENSITY_Q16 } else { value }))
            .flat_map(i32::to_le_bytes)
            .collect();
        assert_eq!(scale_tril.len(), 4 * tril);
        let mut body = plain.body().clone();
        body.density = Some(tinyvae_shared::blob::Density {
            components: 1,
            classes: 1,
            class_of: &[0, 0],
            pick: &[0xff; 4],
            pick_in_class: &[0xff; 4],
            mean: &mean,
            scale_tril: &scale_tril,
        });
        let blob = encode(&body);
        let model = Model::from_bytes(&blob).unwrap();
        let mut input = vec![0i8; model.input_len()];
        model
            .sample_latent(Latent::Fitted, &mut Constant(word), &mut input)
            .unwrap();
        assert_eq!(input[0], expected, "mean {value}, word {word:#x}");
        assert_eq!(input[usize::from(latent)], model.condition().unwrap().one);
    }
}
