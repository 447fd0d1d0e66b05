//! A small but complete model built through the public writer: a dense
//! layer and a transposed convolution, ReLU, prototypes, metadata. Every
//! kind of field a real exported blob has, at a size exhaustive tests can
//! afford.

use tinyvae_shared::blob::{Activation, Hwc, Op, Quant};
use tinyvae_shared::write::{OwnedLayer, OwnedModel, OwnedPrototypes, sigmoid_table};

use tinyvae_shared::splitmix::SplitMix64;

/// `n` values uniform in [-amplitude, amplitude).
fn uniform(rng: &mut SplitMix64, n: usize, amplitude: f32) -> Vec<f32> {
    (0..n).map(|_| amplitude * rng.symmetric()).collect()
}

pub const LATENT: u16 = 4;

/// latent 4 -> dense 36 (ReLU) -> reshape 3x3x4 -> transposed conv
/// (k4 s2 p1) -> 6x6x1 logits -> sigmoid table.
pub fn fixture_model() -> OwnedModel {
    let mut rng = SplitMix64::new(7);
    let z = Quant {
        scale: 4.0 / 127.0,
        zero_point: 0,
    };
    let hidden = Quant::from_range(0.0, 3.0).unwrap();
    let logits = Quant::from_range(-8.0, 6.0).unwrap();
    let dense = OwnedLayer::quantize(
        Op::Dense {
            inputs: LATENT,
            outputs: 36,
        },
        Activation::Relu,
        z,
        hidden,
        &uniform(&mut rng, 36 * usize::from(LATENT), 0.8),
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
    let classes = 3;
    let mu = uniform(&mut rng, classes * usize::from(LATENT), 1.5);
    let sigma: Vec<f32> = uniform(&mut rng, classes * usize::from(LATENT), 0.2)
        .iter()
        .map(|s| 0.3 + s.abs())
        .collect();
    OwnedModel {
        latent_dim: LATENT,
        image: Hwc {
            height: 6,
            width: 6,
            channels: 1,
        },
        layers: vec![dense, conv],
        output_table: sigmoid_table(logits),
        prototypes: Some(OwnedPrototypes::new(classes as u16, &mu, &sigma)),
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
