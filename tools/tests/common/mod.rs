//! A small blob and a tiny IDX data set for the CLI tests, and a way to
//! run the binary.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tinyvae_shared::blob::{Activation, Hwc, Op, Quant};
use tinyvae_shared::write::{OwnedComponent, OwnedDensity, OwnedLayer, OwnedModel, sigmoid_table};
use tinyvae_trainer::data::{DataSet, ImageShape, PIXELS, Split, write_dir};

/// Runs `tinyvae` with `args`.
pub fn tinyvae(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tinyvae"))
        .args(args)
        .output()
        .unwrap()
}

/// `n` valid 28x28 images and their labels (classes 0 to 9 in turn).
pub fn tiny(n: usize) -> Split {
    Split {
        pixels: (0..n * PIXELS).map(|i| (i % 251) as u8).collect(),
        labels: (0..n).map(|k| (k % 10) as u8).collect(),
        shape: ImageShape::MNIST,
    }
}

/// Writes a valid IDX set of 6 training and 4 test images into `data`.
pub fn write_tiny(data: &Path) {
    let set = DataSet {
        train: tiny(6),
        test: tiny(4),
        names: None,
    };
    write_dir(data, &set).unwrap();
}

/// Asserts that `output` is a success, showing its stderr if not.
pub fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The float weights of [`small_model`]'s two dense layers, row-major
/// `[outputs][inputs]`.
pub fn small_weights() -> [Vec<f32>; 2] {
    [
        (0..12).map(|i| (i as f32 - 6.0) / 10.0).collect(),
        (0..24).map(|i| ((i * 7 % 11) as f32 - 5.0) / 8.0).collect(),
    ]
}

/// A quantized dense layer, `inputs -> outputs`, of float weights `w`
/// (`[outputs][inputs]`) and biases `b`.
fn dense(
    inputs: u16,
    outputs: u16,
    activation: Activation,
    (input, output): (Quant, Quant),
    w: &[f32],
    b: &[f32],
) -> OwnedLayer {
    OwnedLayer::quantize(
        Op::Dense { inputs, outputs },
        activation,
        input,
        output,
        w,
        b,
    )
    .unwrap()
}

/// The names of [`small_model`]'s two classes.
pub const SMALL_CLASS_NAMES: [&str; 2] = ["Circle", "Ankle boot"];

/// latent 2 -> dense 6 (ReLU) -> dense 4 -> 2x2x1 image, unconditional, with
/// a latent density of one Gaussian for each of 2 classes
/// ([`SMALL_CLASS_NAMES`]).
pub fn small_model() -> OwnedModel {
    let z = Quant {
        scale: 0.03,
        zero_point: 0,
    };
    let hidden = Quant::from_range(0.0, 2.0).unwrap();
    let logits = Quant::from_range(-4.0, 4.0).unwrap();
    let [w1, w2] = small_weights();
    OwnedModel {
        latent_dim: 2,
        image: Hwc {
            height: 2,
            width: 2,
            channels: 1,
        },
        layers: vec![
            dense(2, 6, Activation::Relu, (z, hidden), &w1, &[0.1; 6]),
            dense(6, 4, Activation::Linear, (hidden, logits), &w2, &[-0.2; 4]),
        ],
        output_table: sigmoid_table(logits),
        condition_classes: 0,
        density: Some(OwnedDensity {
            classes: 2,
            components: vec![
                OwnedComponent {
                    class: Some(0),
                    weight: 0.5,
                    mean: vec![0.5, -0.5],
                    scale_tril: vec![1.0, 0.0, 0.25],
                },
                OwnedComponent {
                    class: Some(1),
                    weight: 0.5,
                    mean: vec![1.0, 1.5],
                    scale_tril: vec![0.5, 0.1, 0.75],
                },
            ],
        }),
        class_names: SMALL_CLASS_NAMES.map(String::from).to_vec(),
        dataset: "synthetic".into(),
        model: "mlp".into(),
        epochs: 2,
        test_nelbo: 99.5,
    }
}

pub fn write_blob(dir: &Path) -> PathBuf {
    let path = dir.join("model.tvae");
    std::fs::write(&path, small_model().to_blob().unwrap()).unwrap();
    path
}

/// latent 2 -> dense 16 (ReLU) -> dense 784 -> a 28x28 gray image, with a
/// latent density of one Gaussian per class for 4 classes at the corners
/// of the latent square: a blob whose images the judge can score
/// (`tinyvae score`).
pub fn image_sized_model() -> OwnedModel {
    let z = Quant {
        scale: 0.03,
        zero_point: 0,
    };
    let hidden = Quant::from_range(0.0, 4.0).unwrap();
    let logits = Quant::from_range(-6.0, 6.0).unwrap();
    let w1: Vec<f32> = (0..32).map(|i| ((i * 5 % 13) as f32 - 6.0) / 4.0).collect();
    let w2: Vec<f32> = (0..16 * 784)
        .map(|i| ((i * 7919 % 23) as f32 - 11.0) / 8.0)
        .collect();
    OwnedModel {
        latent_dim: 2,
        image: Hwc {
            height: 28,
            width: 28,
            channels: 1,
        },
        layers: vec![
            dense(2, 16, Activation::Relu, (z, hidden), &w1, &[0.2; 16]),
            dense(
                16,
                784,
                Activation::Linear,
                (hidden, logits),
                &w2,
                &[-0.5; 784],
            ),
        ],
        output_table: sigmoid_table(logits),
        condition_classes: 0,
        density: Some(OwnedDensity {
            classes: 4,
            components: [[-2.0, -2.0], [2.0, -2.0], [-2.0, 2.0], [2.0, 2.0]]
                .iter()
                .zip(0..)
                .map(|(mean, class)| OwnedComponent {
                    class: Some(class),
                    weight: 0.25,
                    mean: mean.to_vec(),
                    scale_tril: vec![0.3, 0.0, 0.3],
                })
                .collect(),
        }),
        class_names: ["lower left", "lower right", "upper left", "upper right"]
            .map(String::from)
            .to_vec(),
        dataset: "synthetic".into(),
        model: "mlp".into(),
        epochs: 1,
        test_nelbo: 500.0,
    }
}

/// latent 2 -> dense 8 (ReLU, a 2x2x2 activation) -> transposed
/// convolution 2x2x2 -> 4x4x1 (kernel 4, stride 2, padding 1): a conv
/// decoder small enough for any board.
pub fn small_conv_model() -> OwnedModel {
    let mut model = small_model();
    let (z, logits) = (model.layers[0].input, model.layers[1].output);
    let hidden = Quant::from_range(0.0, 2.0).unwrap();
    let w1: Vec<f32> = (0..16).map(|i| ((i * 3 % 7) as f32 - 3.0) / 4.0).collect();
    let hwc = |side, channels| Hwc {
        height: side,
        width: side,
        channels,
    };
    let op = Op::ConvTranspose2d {
        input: hwc(2, 2),
        output: hwc(4, 1),
        kernel: [4, 4],
        stride: [2, 2],
        padding: [1, 1],
    };
    let w2: Vec<f32> = (0..32).map(|i| ((i * 5 % 9) as f32 - 4.0) / 6.0).collect();
    model.image = hwc(4, 1);
    model.layers = vec![
        dense(2, 8, Activation::Relu, (z, hidden), &w1, &[0.1; 8]),
        OwnedLayer::quantize(op, Activation::Linear, hidden, logits, &w2, &[-0.1]).unwrap(),
    ];
    model
}

/// latent 2 -> dense 1600 -> a 40x40 gray image: a 22 KB blob, small
/// enough for the micro:bit's flash, whose image is too big for the
/// micro:bit firmware's 1024-byte image buffer (and for nothing else).
pub fn image_too_big_for_the_microbit() -> OwnedModel {
    let mut model = small_model();
    let (z, logits) = (model.layers[0].input, model.layers[1].output);
    let w: Vec<f32> = (0..2 * 1600)
        .map(|i| ((i % 13) as f32 - 6.0) / 6.0)
        .collect();
    model.image = Hwc {
        height: 40,
        width: 40,
        channels: 1,
    };
    model.layers = vec![dense(
        2,
        1600,
        Activation::Linear,
        (z, logits),
        &w,
        &[0.0; 1600],
    )];
    model
}
