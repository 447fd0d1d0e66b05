//! Model blobs for the tests, built from deterministic pseudo-random float
//! weights through `tinyvae_shared::write`, at scales where the activations
//! and logits spread over their int8 ranges (not all saturated).
//!
//! The two architectures are the trainer's decoders: [`mlp_blob`] (20 -> 400
//! ReLU -> 784, 28x28) and [`conv_blob`] (20 -> dense 7x7x32 ReLU -> convT
//! 32->40 k4 s2 p1 ReLU -> convT 40->1 k4 s2 p1 -> 28x28, the trainer's
//! `--model conv` decoder, which `tests/tests/shapes.rs` checks). The conv
//! decoder is class-conditional over 10 classes (its dense layer reads
//! `[z ; one-hot]`, as `tinyvae train` makes it by default), the MLP
//! unconditional (as the demo's); both carry a latent density of
//! [`COMPONENTS_PER_CLASS`] full-covariance Gaussians per class, and
//! Fashion-MNIST's class names. To test an
//! exported blob instead, return its bytes from these functions (e.g.
//! `std::fs::read` of a checked-in file): the tests only rely on the shapes
//! above, the condition and the density.

use tinyvae_shared::blob::tril_len;
use tinyvae_shared::blob::{Activation, Hwc, Op, Quant};
use tinyvae_shared::write::{OwnedComponent, OwnedDensity, OwnedLayer, OwnedModel, sigmoid_table};
use tinyvae_trainer::backend::Backend;
use tinyvae_trainer::data::{FASHION_MNIST_CLASSES, ImageShape, Split};
use tinyvae_trainer::export::{DensityOptions, ExportOptions, export};
use tinyvae_trainer::model::{Arch, VaeConfig};
use tinyvae_trainer::rng::Rng;

/// Dimensions of z in both fixtures.
pub const LATENT: u16 = 20;
/// Classes of both fixtures' densities (and of the conv decoder's
/// condition).
pub const CLASSES: u16 = 10;
/// Gaussian components per class in both fixtures' densities.
pub const COMPONENTS_PER_CLASS: u16 = 3;
/// The generated image: 28x28 gray.
pub const IMAGE: Hwc = Hwc {
    height: 28,
    width: 28,
    channels: 1,
};

/// The MLP decoder (pytorch/examples `vae`): ~330 KB, for the M4.
pub fn mlp_blob() -> Vec<u8> {
    mlp_model().to_blob().expect("the MLP fixture quantizes")
}

/// The convolutional decoder: ~60 KB, small enough for the M0.
pub fn conv_blob() -> Vec<u8> {
    conv_model().to_blob().expect("the conv fixture quantizes")
}

pub use tinyvae_shared::splitmix::SplitMix64;

/// `n` values uniform in [-a, a) with `a = gain * sqrt(3 / fan_in)`:
/// unit-variance inputs give outputs of variance `gain^2`.
fn weights(rng: &mut SplitMix64, n: usize, fan_in: usize, gain: f32) -> Vec<f32> {
    uniform(rng, n, gain * (3.0 / fan_in as f32).sqrt())
}

/// `n` values uniform in [-amplitude, amplitude).
pub fn uniform(rng: &mut SplitMix64, n: usize, amplitude: f32) -> Vec<f32> {
    (0..n).map(|_| amplitude * rng.symmetric()).collect()
}

/// z ~ N(0, 1) in [-4, 4].
fn z_quant() -> Quant {
    Quant {
        scale: 4.0 / 127.0,
        zero_point: 0,
    }
}

fn range(min: f32, max: f32) -> Quant {
    Quant::from_range(min, max).expect("a valid range")
}

fn dense(
    rng: &mut SplitMix64,
    inputs: u16,
    outputs: u16,
    act: Activation,
    q: (Quant, Quant),
    gain: f32,
) -> OwnedLayer {
    let (i, o) = (usize::from(inputs), usize::from(outputs));
    OwnedLayer::quantize(
        Op::Dense { inputs, outputs },
        act,
        q.0,
        q.1,
        &weights(rng, i * o, i, gain),
        &uniform(rng, o, 0.2),
    )
    .expect("a dense layer quantizes")
}

/// Transposed convolution k4 s2 p1 (doubles height and width).
fn conv_t(
    rng: &mut SplitMix64,
    input: Hwc,
    out_channels: u16,
    act: Activation,
    q: (Quant, Quant),
    gain: f32,
) -> OwnedLayer {
    let output = Hwc {
        height: input.height * 2,
        width: input.width * 2,
        channels: out_channels,
    };
    let op = Op::ConvTranspose2d {
        input,
        output,
        kernel: [4, 4],
        stride: [2, 2],
        padding: [1, 1],
    };
    let n = op.weight_count().expect("small shapes");
    // Each output sees 2x2 kernel taps of every input channel.
    let fan_in = 4 * usize::from(input.channels);
    OwnedLayer::quantize(
        op,
        act,
        q.0,
        q.1,
        &weights(rng, n, fan_in, gain),
        &uniform(rng, usize::from(out_channels), 0.2),
    )
    .expect("a transposed convolution quantizes")
}

/// [`COMPONENTS_PER_CLASS`] Gaussians per class: means uniform in
/// +-1.5, Cholesky factors with diagonals in [0.3, 0.7] and correlations
/// below them, weights in [0.5, 1.5) (normalised by the writer).
fn density(rng: &mut SplitMix64) -> OwnedDensity {
    let latent = usize::from(LATENT);
    let components = (0..CLASSES)
        .flat_map(|class| (0..COMPONENTS_PER_CLASS).map(move |_| class))
        .map(|class| {
            let mut scale_tril = uniform(rng, tril_len(latent), 0.1);
            for i in 0..latent {
                // Row i's last entry is the diagonal.
                scale_tril[tril_len(i + 1) - 1] = 0.5 + 0.2 * rng.symmetric();
            }
            OwnedComponent {
                class: Some(class),
                weight: f64::from(1.0 + 0.5 * rng.symmetric()),
                mean: uniform(rng, latent, 1.5),
                scale_tril,
            }
        })
        .collect();
    OwnedDensity {
        classes: CLASSES,
        components,
    }
}

fn model(
    name: &str,
    rng: &mut SplitMix64,
    layers: Vec<OwnedLayer>,
    logits: Quant,
    condition_classes: u16,
) -> OwnedModel {
    OwnedModel {
        latent_dim: LATENT,
        image: IMAGE,
        layers,
        output_table: sigmoid_table(logits),
        condition_classes,
        density: Some(density(rng)),
        class_names: FASHION_MNIST_CLASSES.map(String::from).to_vec(),
        dataset: "synthetic".into(),
        model: name.into(),
        epochs: 0,
        test_nelbo: 0.0,
    }
}

/// 20 -> 400 ReLU -> 784 logits.
pub fn mlp_model() -> OwnedModel {
    let mut rng = SplitMix64::new(0x006d_6c70);
    let hidden = range(0.0, 4.0);
    let logits = range(-8.0, 8.0);
    let layers = vec![
        dense(
            &mut rng,
            LATENT,
            400,
            Activation::Relu,
            (z_quant(), hidden),
            1.4,
        ),
        dense(
            &mut rng,
            400,
            784,
            Activation::Linear,
            (hidden, logits),
            3.0,
        ),
    ];
    model("mlp", &mut rng, layers, logits, 0)
}

/// [z ; one-hot] (20 + 10) -> 7x7x32 ReLU -> 14x14x40 ReLU -> 28x28x1
/// logits.
pub fn conv_model() -> OwnedModel {
    let mut rng = SplitMix64::new(0x636f_6e76);
    let hidden = range(0.0, 4.0);
    let logits = range(-8.0, 8.0);
    let hw = |height, channels| Hwc {
        height,
        width: height,
        channels,
    };
    let layers = vec![
        dense(
            &mut rng,
            LATENT + CLASSES,
            7 * 7 * 32,
            Activation::Relu,
            (z_quant(), hidden),
            1.4,
        ),
        conv_t(
            &mut rng,
            hw(7, 32),
            40,
            Activation::Relu,
            (hidden, hidden),
            1.4,
        ),
        conv_t(
            &mut rng,
            hw(14, 40),
            1,
            Activation::Linear,
            (hidden, logits),
            3.0,
        ),
    ];
    model("conv", &mut rng, layers, logits, CLASSES)
}

/// A blob written by the trainer's exporter (`tinyvae export`'s code path:
/// calibration, per-channel quantization, the density fit, the dense
/// layout) for a freshly initialised `arch` model, calibrated on synthetic
/// images with ten labels: the conv model class-conditional (as `tinyvae
/// train` builds it by default), the MLP unconditional (as `--unconditional`
/// and the demo's VAE), so that both exporter paths reach the chip.
/// Training would change the weights, not the code the chip runs.
pub fn exported(arch: Arch) -> Vec<u8> {
    exported_with(arch, ImageShape::MNIST)
}

/// [`exported`] for images of `image`'s shape (e.g. 32x32 RGB).
pub fn exported_with(arch: Arch, image: ImageShape) -> Vec<u8> {
    let device = Backend::default().device();
    let classes = match arch {
        Arch::Conv => usize::from(CLASSES),
        Arch::Mlp => 0,
    };
    let model = VaeConfig::new(arch)
        .with_classes(classes)
        .with_image(image)
        .init(&device, &mut Rng::new(5));
    let split = |n: usize, seed: u64| {
        let mut rng = SplitMix64::new(seed);
        Split {
            pixels: (0..n * image.len()).map(|_| rng.below(256) as u8).collect(),
            labels: (0..n).map(|k| (k % 10) as u8).collect(),
            shape: image,
        }
    };
    let options = ExportOptions {
        calibration_samples: 200,
        fidelity_samples: 20,
        seed: 9,
        dataset: "synthetic".into(),
        epochs: 0,
        density: DensityOptions::default(),
        class_names: FASHION_MNIST_CLASSES.map(String::from).to_vec(),
    };
    export(&model, &split(200, 1), &split(50, 2), &options).expect("export")
}
