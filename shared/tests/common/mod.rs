//! A small but complete model built through the public writer: a
//! class-conditional dense layer and a transposed convolution, ReLU, a
//! fitted density, metadata. Every kind of field a real exported blob has,
//! at a size exhaustive tests can afford.

// Each test binary uses its own part of the fixtures.
#![allow(dead_code)]

use tinyvae_shared::blob::{Activation, Hwc, Op, Quant};
use tinyvae_shared::write::{OwnedComponent, OwnedDensity, OwnedLayer, OwnedModel, sigmoid_table};

use tinyvae_shared::splitmix::SplitMix64;

/// `n` values uniform in [-amplitude, amplitude).
fn uniform(rng: &mut SplitMix64, n: usize, amplitude: f32) -> Vec<f32> {
    (0..n).map(|_| amplitude * rng.symmetric()).collect()
}

pub const LATENT: u16 = 4;
/// Classes of the conditional fixture.
pub const CLASSES: u16 = 3;

/// latent 4 + one-hot 3 -> dense 36 (ReLU) -> reshape 3x3x4 ->
/// transposed conv (k4 s2 p1) -> 6x6x1 logits -> sigmoid table; a density
/// of four full-covariance components tagged with classes 0, 1, 2, 1 (not
/// grouped by class, as a global fit's tags come).
pub fn fixture_model() -> OwnedModel {
    let mut model = model_with_inputs(LATENT + CLASSES);
    model.condition_classes = CLASSES;
    let mut rng = SplitMix64::new(11);
    let latent = usize::from(LATENT);
    let components = [0, 1, 2, 1]
        .into_iter()
        .enumerate()
        .map(|(k, class)| OwnedComponent {
            class: Some(class),
            weight: [0.4, 0.1, 0.3, 0.2][k],
            mean: uniform(&mut rng, latent, 1.5),
            scale_tril: (0..latent)
                .flat_map(|i| (0..=i).map(move |j| (i, j)))
                .map(|(i, j)| {
                    let v = 0.3 * rng.symmetric();
                    if i == j { 0.4 + v.abs() } else { v }
                })
                .collect(),
        })
        .collect();
    model.density = Some(OwnedDensity {
        classes: CLASSES,
        components,
    });
    model.class_names = CLASS_NAMES.map(String::from).to_vec();
    model
}

/// The conditional fixture's class names.
pub const CLASS_NAMES: [&str; CLASSES as usize] = ["circle", "T-shirt/top", "Ankle boot"];

/// The same decoder shape without condition or density: a plain VAE's
/// decoder of z (latent 4 -> dense 36 -> ...).
pub fn unconditional_model() -> OwnedModel {
    model_with_inputs(LATENT)
}

/// The fixture's layers with a first dense layer over `inputs` codes.
fn model_with_inputs(inputs: u16) -> OwnedModel {
    let mut rng = SplitMix64::new(7);
    let z = Quant {
        scale: 4.0 / 127.0,
        zero_point: 0,
    };
    let hidden = Quant::from_range(0.0, 3.0).unwrap();
    let logits = Quant::from_range(-8.0, 6.0).unwrap();
    let dense = OwnedLayer::quantize(
        Op::Dense {
            inputs,
            outputs: 36,
        },
        Activation::Relu,
        z,
        hidden,
        &uniform(&mut rng, 36 * usize::from(inputs), 0.8),
        &uniform(&mut rng, 36, 0.3),
    )
    .unwrap();
    let conv = OwnedLayer::quantize(
        Op::ConvTranspose2d {
            input: Hwc {
                height: 3,
                width: 3,
                channels: 4,
            },
            output: Hwc {
                height: 6,
                width: 6,
                channels: 1,
            },
            kernel: [4, 4],
            stride: [2, 2],
            padding: [1, 1],
        },
        Activation::Linear,
        hidden,
        logits,
        &uniform(&mut rng, 16 * 4, 1.0),
        &uniform(&mut rng, 1, 0.5),
    )
    .unwrap();
    OwnedModel {
        latent_dim: LATENT,
        image: Hwc {
            height: 6,
            width: 6,
            channels: 1,
        },
        layers: vec![dense, conv],
        output_table: sigmoid_table(logits),
        condition_classes: 0,
        density: None,
        class_names: Vec::new(),
        dataset: "synthetic".into(),
        model: "conv".into(),
        epochs: 3,
        test_nelbo: 123.5,
    }
}

/// The fixture encoded as a blob.
pub fn fixture_blob() -> Vec<u8> {
    fixture_model().to_blob().unwrap()
}
