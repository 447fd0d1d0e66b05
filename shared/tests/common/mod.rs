//! A small but complete model built through the public writer: a dense
//! layer and a transposed convolution, ReLU, prototypes, metadata. Every
//! kind of field a real exported blob has, at a size exhaustive tests can
//! afford.

use tinyvae_shared::blob::{Activation, Hwc, Op, Quant};
use tinyvae_shared::write::{OwnedLayer, OwnedModel, OwnedPrototypes, sigmoid_table};

/// splitmix64, for deterministic pseudo-random float weights.
pub struct Splitmix(pub u64);

impl Splitmix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    pub fn symmetric(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    pub fn vec(&mut self, n: usize, amplitude: f32) -> Vec<f32> {
        (0..n).map(|_| amplitude * self.symmetric()).collect()
    }
}

pub const LATENT: u16 = 4;

/// latent 4 -> dense 36 (ReLU) -> reshape 3x3x4 -> transposed conv
/// (k4 s2 p1) -> 6x6x1 logits -> sigmoid table.
pub fn fixture_model() -> OwnedModel {
    let mut rng = Splitmix(7);
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
        &rng.vec(36 * usize::from(LATENT), 0.8),
        &rng.vec(36, 0.3),
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
        &rng.vec(16 * 4, 1.0),
        &rng.vec(1, 0.5),
    )
    .unwrap();
    let classes = 3;
    let mu = rng.vec(classes * usize::from(LATENT), 1.5);
    let sigma: Vec<f32> = rng
        .vec(classes * usize::from(LATENT), 0.2)
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
