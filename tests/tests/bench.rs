//! The `bench` firmware (firmware/src/bench.rs) on the Cortex-M4F: its
//! instruction counts are the same on every run, and the DSP kernels give
//! the portable kernels' bytes, which are the host's, for both fixture
//! decoders (the firmware compares every image on the chip; the host
//! compares the hashes with its own images).

use std::time::Duration;

use tinyvae_shared::protocol::Request;
use tinyvae_shared::{Draw, Model};
use tinyvae_tests::fixtures::{self, Splitmix};
use tinyvae_tools::firmware::{self, Machine};
use tinyvae_tools::generate::host_images;

#[test]
fn bench_is_deterministic_and_kernels_agree() {
    let machine = Machine::Mps2An386;
    let dir = firmware::firmware_dir().join("target/bench");
    let elf = firmware::build_with(machine, &["bench"], &dir).expect("build the bench firmware");
    let tmp = std::env::temp_dir().join(format!("tinyvae-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    for (name, blob) in [
        ("mlp", fixtures::mlp_blob()),
        ("conv", fixtures::conv_blob()),
    ] {
        let path = tmp.join(format!("{name}.blob"));
        std::fs::write(&path, &blob).unwrap();
        let request = Request::new(Draw::Prior, 2, Some(7));
        let run =
            || firmware::bench(&elf, machine, &path, &request, Duration::from_secs(120)).unwrap();
        let (first, second) = (run(), run());
        assert_eq!(
            first.images, second.images,
            "{name}: counts differ between runs"
        );
        assert!(
            first.mismatches.is_empty(),
            "{name}: {:?}",
            first.mismatches
        );
        let model = Model::from_bytes(&blob).unwrap();
        let host = host_images(&model, request.seed.unwrap(), request.count, request.draw).unwrap();
        for kernel in ["portable", "dsp"] {
            let images: Vec<_> = first.images.iter().filter(|i| i.kernel == kernel).collect();
            assert_eq!(images.len(), 2, "{name} {kernel}");
            for image in images {
                let at = image.image as usize * model.image_len();
                assert_eq!(
                    image.fnv1a,
                    firmware::fnv1a(&host[at..at + model.image_len()]),
                    "{name} {kernel} image {}: bytes differ from the host's",
                    image.image
                );
                assert_eq!(image.instructions.len(), model.body().layers.len() + 2);
            }
        }
    }
}

/// A dense-only decoder with random shapes: odd and even input and output
/// counts, partial row quads, and a layer around the DSP path's limit of
/// 510 inputs (wider ones fall back to the portable kernel).
fn random_dense_blob(rng: &mut Splitmix) -> Vec<u8> {
    use tinyvae_shared::blob::{Activation, Hwc, Op, Quant};
    use tinyvae_shared::write::{OwnedLayer, OwnedModel, sigmoid_table};
    let latent = 1 + rng.below(40) as u16;
    let side = 3 + rng.below(10) as u16;
    let widths = [
        latent,
        1 + rng.below(90) as u16,
        500 + rng.below(40) as u16,
        side * side,
    ];
    let mut quant = Quant {
        scale: 4.0 / 127.0,
        zero_point: 0,
    };
    let mut layers = Vec::new();
    for (i, pair) in widths.windows(2).enumerate() {
        let (inputs, outputs) = (pair[0], pair[1]);
        let last = i == widths.len() - 2;
        let out = if last {
            Quant::from_range(-8.0, 8.0).unwrap()
        } else {
            Quant::from_range(-1.0, 4.0).unwrap()
        };
        let n = usize::from(inputs) * usize::from(outputs);
        let gain = 2.0 / f32::from(inputs).sqrt();
        let weights: Vec<f32> = (0..n).map(|_| gain * rng.symmetric()).collect();
        let bias: Vec<f32> = (0..outputs).map(|_| 0.3 * rng.symmetric()).collect();
        let activation = if last {
            Activation::Linear
        } else {
            Activation::Relu
        };
        layers.push(
            OwnedLayer::quantize(
                Op::Dense { inputs, outputs },
                activation,
                quant,
                out,
                &weights,
                &bias,
            )
            .unwrap(),
        );
        quant = out;
    }
    OwnedModel {
        latent_dim: latent,
        image: Hwc {
            height: side,
            width: side,
            channels: 1,
        },
        layers,
        output_table: sigmoid_table(quant),
        prototypes: None,
        dataset: "random".into(),
        model: "random-dense".into(),
        epochs: 0,
        test_nelbo: 0.0,
    }
    .to_blob()
    .unwrap()
}

/// A dense layer into a random transposed convolution: 1 to 12 input
/// channels (every remainder modulo 4, and the under-4 fallback), odd and
/// even output channels, kernels 1 to 5 and strides 1 to 3 with padding and
/// output padding (5x5 at stride 1 exceeds the DSP path's 16 taps and
/// falls back), and input zero points of -128 or 127 so that
/// `x - zero_point` reaches +-255.
fn random_conv_blob(rng: &mut Splitmix) -> Vec<u8> {
    use tinyvae_shared::blob::{Activation, Hwc, Op, Quant};
    use tinyvae_shared::write::{OwnedLayer, OwnedModel, sigmoid_table};
    let latent = 1 + rng.below(12) as u16;
    let (k, s) = (1 + rng.below(5) as u8, 1 + rng.below(3) as u8);
    let out_pad = rng.below(u64::from(s)) as u8;
    let side = 2 + rng.below(4) as u16;
    // PyTorch's rule; a padding that would leave no output becomes 0.
    let size = |pad: u8| {
        i32::from(side - 1) * i32::from(s) - 2 * i32::from(pad) + i32::from(k) + i32::from(out_pad)
    };
    let pad = Some(rng.below(u64::from(k)) as u8)
        .filter(|&p| size(p) > 0)
        .unwrap_or(0);
    let out_side = size(pad) as u16;
    let input = Hwc {
        height: side,
        width: side,
        channels: 1 + rng.below(12) as u16,
    };
    let output = Hwc {
        height: out_side,
        width: out_side,
        channels: 1 + rng.below(6) as u16,
    };
    let z = Quant {
        scale: 4.0 / 127.0,
        zero_point: 0,
    };
    // All-positive or all-negative hidden range: zero point -128 or 127.
    let hidden = if rng.below(2) == 0 {
        Quant::from_range(0.0, 4.0).unwrap()
    } else {
        Quant::from_range(-4.0, 0.0).unwrap()
    };
    let logits = Quant::from_range(-8.0, 8.0).unwrap();
    let mut floats = |n: usize, fan_in: usize| -> Vec<f32> {
        let gain = 2.0 / (fan_in as f32).sqrt();
        (0..n).map(|_| gain * rng.symmetric()).collect()
    };
    let hidden_len = usize::from(side) * usize::from(side) * usize::from(input.channels);
    let dense = OwnedLayer::quantize(
        Op::Dense {
            inputs: latent,
            outputs: hidden_len as u16,
        },
        Activation::Linear,
        z,
        hidden,
        &floats(hidden_len * usize::from(latent), usize::from(latent)),
        &floats(hidden_len, 4),
    )
    .unwrap();
    let op = Op::ConvTranspose2d {
        input,
        output,
        kernel: [k, k],
        stride: [s, s],
        padding: [pad, pad],
    };
    let taps = usize::from(k) * usize::from(k) * usize::from(input.channels);
    let conv = OwnedLayer::quantize(
        op,
        Activation::Linear,
        hidden,
        logits,
        &floats(op.weight_count().unwrap(), taps),
        &floats(usize::from(output.channels), 4),
    )
    .unwrap();
    OwnedModel {
        latent_dim: latent,
        image: output,
        layers: vec![dense, conv],
        output_table: sigmoid_table(logits),
        prototypes: None,
        dataset: "random".into(),
        model: "random-conv".into(),
        epochs: 0,
        test_nelbo: 0.0,
    }
    .to_blob()
    .unwrap()
}

/// Random dense layers: the DSP kernels give the portable kernels' bytes
/// on the chip, and both give the host's.
#[test]
fn dsp_equals_portable_on_random_dense_layers() {
    check_random_blobs("dense", 0x6473_7021, random_dense_blob);
}

/// Random transposed convolutions: the same.
#[test]
fn dsp_equals_portable_on_random_conv_layers() {
    check_random_blobs("conv", 0x636f_6e76, random_conv_blob);
}

/// Runs eight blobs from `make` through the bench firmware: no kernel
/// disagrees on the chip, and every int8 image equals the host's.
fn check_random_blobs(name: &str, seed: u64, make: fn(&mut Splitmix) -> Vec<u8>) {
    let machine = Machine::Mps2An386;
    let dir = firmware::firmware_dir().join("target/bench");
    let elf = firmware::build_with(machine, &["bench"], &dir).expect("build the bench firmware");
    let tmp = std::env::temp_dir().join(format!("tinyvae-bench-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut rng = Splitmix(seed);
    for case in 0..8 {
        let blob = make(&mut rng);
        let model = Model::from_bytes(&blob).unwrap();
        let path = tmp.join(format!("random-{case}.blob"));
        std::fs::write(&path, &blob).unwrap();
        let request = Request::new(Draw::Prior, 3, Some(case));
        let bench =
            firmware::bench(&elf, machine, &path, &request, Duration::from_secs(120)).unwrap();
        let shapes: Vec<_> = model.body().layers.iter().map(|l| l.op).collect();
        assert!(
            bench.mismatches.is_empty(),
            "{shapes:?}: {:?}",
            bench.mismatches
        );
        let host = host_images(&model, request.seed.unwrap(), request.count, request.draw).unwrap();
        for image in bench.images.iter().filter(|i| i.kernel != "float") {
            let at = image.image as usize * model.image_len();
            assert_eq!(
                image.fnv1a,
                firmware::fnv1a(&host[at..at + model.image_len()]),
                "{shapes:?} {} image {}",
                image.kernel,
                image.image
            );
        }
    }
}
