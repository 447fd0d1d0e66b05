//! The `bench` firmware (firmware/src/bench.rs) on the Cortex-M4F: its
//! instruction counts are the same on every run, and the DSP kernels give
//! the portable kernels' bytes, which are the host's, for both fixture
//! decoders (the firmware compares every image on the chip; the host
//! compares the hashes with its own images).

use std::time::Duration;

use tinyvae_shared::{Draw, Model};
use tinyvae_tests::fixtures::{self, Splitmix};
use tinyvae_tools::firmware::{self, Machine, Request};
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
        let request = Request {
            seed: 7,
            count: 2,
            draw: Draw::Prior,
        };
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
        let host = host_images(&model, request.seed, request.count, request.draw).unwrap();
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
/// counts, input tails that are not a multiple of 8, and a layer wider than
/// the DSP path's 512 inputs (which falls back to the portable kernel).
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

/// Random dense layers: the DSP kernels give the portable kernels' bytes
/// on the chip, and both give the host's.
#[test]
fn dsp_equals_portable_on_random_dense_layers() {
    let machine = Machine::Mps2An386;
    let dir = firmware::firmware_dir().join("target/bench");
    let elf = firmware::build_with(machine, &["bench"], &dir).expect("build the bench firmware");
    let tmp = std::env::temp_dir().join(format!("tinyvae-bench-rand-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut rng = Splitmix(0x6473_7021);
    for case in 0..6 {
        let blob = random_dense_blob(&mut rng);
        let model = Model::from_bytes(&blob).unwrap();
        let path = tmp.join(format!("random-{case}.blob"));
        std::fs::write(&path, &blob).unwrap();
        let request = Request {
            seed: case,
            count: 3,
            draw: Draw::Prior,
        };
        let bench =
            firmware::bench(&elf, machine, &path, &request, Duration::from_secs(120)).unwrap();
        let shapes: Vec<_> = model.body().layers.iter().map(|l| l.op).collect();
        assert!(
            bench.mismatches.is_empty(),
            "{shapes:?}: {:?}",
            bench.mismatches
        );
        let host = host_images(&model, request.seed, request.count, request.draw).unwrap();
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
