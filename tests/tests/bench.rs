//! The `bench` firmware (firmware/src/bench.rs) on the Cortex-M4F and the
//! Cortex-M0: its instruction counts are the same on every run, and the
//! fast kernels (DSP on the M4F, assembly on the M0) give the portable
//! kernels' bytes, which are the host's, for both fixture decoders and for
//! random layers (the firmware compares every image on the chip; the host
//! compares the hashes with its own images).

use std::time::Duration;

use tinyvae_shared::blob::{Activation, Hwc, Op, Quant};
use tinyvae_shared::boards::{self, Layout};
use tinyvae_shared::protocol::Request;
use tinyvae_shared::{Draw, Model};
use tinyvae_tests::fixtures::{self, SplitMix64};
use tinyvae_tools::firmware::{self, Machine};
use tinyvae_tools::generate::host_images;

#[test]
fn bench_is_deterministic_and_kernels_agree() {
    let machine = Machine::Mps2An386;
    let dir = firmware::firmware_dir().unwrap().join("target/bench");
    let elf = firmware::build_with(machine, &["bench"], &dir).expect("build the bench firmware");
    let tmp = std::env::temp_dir().join(format!("tinyvae-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    for (name, blob) in [
        ("mlp", fixtures::mlp_blob()),
        ("conv", fixtures::conv_blob()),
    ] {
        let path = tmp.join(format!("{name}.tvae"));
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
                    tinyvae_shared::hash::fnv1a(&host[at..at + model.image_len()]),
                    "{name} {kernel} image {}: bytes differ from the host's",
                    image.image
                );
                assert_eq!(image.instructions.len(), model.body().layers.len() + 2);
            }
        }
    }
}

/// A dense-only decoder with random shapes: odd and even input and output
/// counts, partial row quads, requantization shifts of both signs, and a
/// layer around the DSP path's limit of 510 inputs (wider ones fall back
/// to the portable kernel).
fn random_dense_blob(rng: &mut SplitMix64) -> Vec<u8> {
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
        // An odd latent size narrows the first layer's output range until
        // its requantization multiplies (a shift of 0 or more).
        let out = if last {
            Quant::from_range(-8.0, 8.0).unwrap()
        } else if i == 0 && latent % 2 == 1 {
            Quant::from_range(-0.01, 0.01).unwrap()
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
        condition_classes: 0,
        density: None,
        class_names: Vec::new(),
        dataset: "random".into(),
        model: "random-dense".into(),
        epochs: 0,
        test_nelbo: 0.0,
    }
    .to_blob()
    .unwrap()
}

/// Channel counts around every edge of the fast kernels: under four, each
/// remainder modulo four and eight, and up to 64.
const CHANNELS: [u16; 16] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 31, 32, 33, 40, 64];

/// One random transposed convolution from `input`: kernels 1 to 5,
/// strides 1 to 3 (or `stride`), any padding and output padding,
/// `channels` outputs, or `None` when PyTorch's rule leaves no output.
fn random_conv_op(
    rng: &mut SplitMix64,
    input: Hwc,
    channels: u16,
    stride: Option<u8>,
) -> Option<(Op, Hwc)> {
    let k = 1 + rng.below(5) as u8;
    let s = stride.unwrap_or_else(|| 1 + rng.below(3) as u8);
    let pad = rng.below(u64::from(k)) as u8;
    let out_pad = rng.below(u64::from(s)) as i32;
    let size =
        |i: u16| (i32::from(i) - 1) * i32::from(s) - 2 * i32::from(pad) + i32::from(k) + out_pad;
    let (h, w) = (size(input.height), size(input.width));
    let output = Hwc {
        height: h as u16,
        width: w as u16,
        channels,
    };
    let op = Op::ConvTranspose2d {
        input,
        output,
        kernel: [k, k],
        stride: [s, s],
        padding: [pad, pad],
    };
    (h > 0 && w > 0).then_some((op, output))
}

/// A dense layer into two random transposed convolutions (see
/// [`random_conv_op`]; the first from and to any of [`CHANNELS`], the
/// second to an image of 1 to 3 channels) that fit `machine`'s scratch
/// and image buffers. With `blocks`, the second is one the Cortex-M4 runs
/// in block form: from four channels or more, to one channel with stride
/// 2 or to 1 to 3 channels with stride 1. The hidden activations' range is
/// all positive or all negative: input zero points of -128 or 127, so that
/// `x - zero_point` reaches +-255, and the Cortex-M0's channel form (which
/// needs `x >= zero point`) runs where the zero point is -128 and gives way
/// to its pixel form where it is 127.
fn random_conv_blob(rng: &mut SplitMix64, machine: &Layout, blocks: bool) -> Vec<u8> {
    use tinyvae_shared::write::{OwnedLayer, OwnedModel, sigmoid_table};
    let (hidden, ops) = loop {
        let side = 1 + rng.below(5) as u16;
        let pick = |rng: &mut SplitMix64| CHANNELS[rng.below(CHANNELS.len() as u64) as usize];
        let hidden = Hwc {
            height: side,
            width: side,
            channels: pick(rng),
        };
        let middle = pick(rng);
        if blocks && middle < 4 {
            continue;
        }
        let Some((first, between)) = random_conv_op(rng, hidden, middle, None) else {
            continue;
        };
        let (image, stride) = if !blocks {
            (1 + rng.below(3) as u16, None)
        } else if rng.below(2) == 0 {
            (1, Some(2))
        } else {
            (1 + rng.below(3) as u16, Some(1))
        };
        let Some((second, image)) = random_conv_op(rng, between, image, stride) else {
            continue;
        };
        let lens = [hidden, between, image].map(|shape| shape.elements().unwrap());
        let fits = |(a, b): (usize, usize)| a + b <= machine.scratch;
        // The weights (with the dense layer's, at most 12 x hidden) in
        // half the blob region.
        let weights = first.weight_count().unwrap() + second.weight_count().unwrap();
        let region = (machine.blob_end - machine.blob_start) as usize;
        let small = weights + 12 * lens[0] <= region / 2;
        if small
            && lens[2] <= machine.pixels
            && fits((lens[0], lens[1]))
            && fits((lens[1], lens[2]))
        {
            break (hidden, [(first, between), (second, image)]);
        }
    };
    let z = Quant {
        scale: 4.0 / 127.0,
        zero_point: 0,
    };
    // All-positive or all-negative hidden ranges: zero point -128 or 127.
    let mut range = || {
        if rng.below(2) == 0 {
            Quant::from_range(0.0, 4.0).unwrap()
        } else {
            Quant::from_range(-4.0, 0.0).unwrap()
        }
    };
    let quants = [range(), range(), Quant::from_range(-8.0, 8.0).unwrap()];
    let latent = 1 + rng.below(12) as u16;
    let mut floats = |n: usize, fan_in: usize| -> Vec<f32> {
        let gain = 2.0 / (fan_in as f32).sqrt();
        (0..n).map(|_| gain * rng.symmetric()).collect()
    };
    let hidden_len = hidden.elements().unwrap();
    let mut layers = vec![
        OwnedLayer::quantize(
            Op::Dense {
                inputs: latent,
                outputs: hidden_len as u16,
            },
            Activation::Linear,
            z,
            quants[0],
            &floats(hidden_len * usize::from(latent), usize::from(latent)),
            &floats(hidden_len, 4),
        )
        .unwrap(),
    ];
    for (i, (op, _)) in ops.into_iter().enumerate() {
        let Op::ConvTranspose2d { input, kernel, .. } = op else {
            unreachable!()
        };
        let fan_in = usize::from(kernel[0]).pow(2) * usize::from(input.channels);
        layers.push(
            OwnedLayer::quantize(
                op,
                Activation::Linear,
                quants[i],
                quants[i + 1],
                &floats(op.weight_count().unwrap(), fan_in),
                &floats(op.channels(), 4),
            )
            .unwrap(),
        );
    }
    OwnedModel {
        latent_dim: latent,
        image: ops[1].1,
        layers,
        output_table: sigmoid_table(quants[2]),
        condition_classes: 0,
        density: None,
        class_names: Vec::new(),
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
    check_random_blobs(Machine::Mps2An386, "dense", 0x6473_7021, &|rng| {
        random_dense_blob(rng)
    });
}

/// Random transposed convolutions on the Cortex-M4F: the same.
#[test]
fn dsp_equals_portable_on_random_conv_layers() {
    check_random_blobs(Machine::Mps2An386, "conv", 0x636f_6e76, &|rng| {
        random_conv_blob(rng, &boards::MPS2_AN386, false)
    });
}

/// Random transposed convolutions into an image layer that the Cortex-M4F
/// runs in block form (its phases times its channels make at most four
/// lanes): the same.
#[test]
fn dsp_equals_portable_on_random_block_form_layers() {
    check_random_blobs(Machine::Mps2An386, "blocks", 0x626c_6f63, &|rng| {
        random_conv_blob(rng, &boards::MPS2_AN386, true)
    });
}

/// Random transposed convolutions on the Cortex-M0 (micro:bit): its
/// assembly kernel gives the portable kernels' bytes, and both the host's.
#[test]
fn armv6m_equals_portable_on_random_conv_layers() {
    check_random_blobs(Machine::Microbit, "conv-m0", 0x6d30_636f, &|rng| {
        random_conv_blob(rng, &boards::MICROBIT, false)
    });
}

/// Random dense layers on the Cortex-M0 (micro:bit): its assembly (even
/// input counts; odd ones take the portable kernel) gives the portable
/// kernels' bytes, and both the host's. Decoders that do not fit the
/// micro:bit are drawn again.
#[test]
fn armv6m_equals_portable_on_random_dense_layers() {
    check_random_blobs(Machine::Microbit, "dense-m0", 0x6d30_6473, &|rng| loop {
        let blob = random_dense_blob(rng);
        let fits = boards::MICROBIT.check(&Model::from_bytes(&blob).unwrap());
        if fits.is_ok() {
            break blob;
        }
    });
}

/// Runs eight blobs from `make` through `machine`'s bench firmware: no
/// kernel disagrees on the chip, and every int8 image equals the host's.
fn check_random_blobs(
    machine: Machine,
    name: &str,
    seed: u64,
    make: &dyn Fn(&mut SplitMix64) -> Vec<u8>,
) {
    let dir = firmware::firmware_dir().unwrap().join("target/bench");
    let elf = firmware::build_with(machine, &["bench"], &dir).expect("build the bench firmware");
    let tmp = std::env::temp_dir().join(format!("tinyvae-bench-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut rng = SplitMix64::new(seed);
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
                tinyvae_shared::hash::fnv1a(&host[at..at + model.image_len()]),
                "{shapes:?} {} image {}",
                image.kernel,
                image.image
            );
        }
    }
}
