//! The int8 export against burn's float decoder, for both models.

mod common;

use tinyvae_shared::Model;
use tinyvae_shared::blob::{Hwc, Op};
use tinyvae_trainer::backend::Backend;
use tinyvae_trainer::data::Split;
use tinyvae_trainer::export::{
    Agreement, DensityOptions, ExportOptions, export, fidelity, float_images, int8_images,
    with_classes,
};
use tinyvae_trainer::model::{Arch, VaeConfig};
use tinyvae_trainer::rng::Rng;

use common::shapes;

/// The int8 decoder must reproduce burn's float decoder on the same
/// latents to within this PSNR (dB) and mean absolute error (gray levels).
/// Per-channel int8 weights and calibrated int8 activations typically give
/// 45-50 dB; a layout or convention mistake gives below 20.
const MIN_PSNR_DB: f64 = 38.0;
const MAX_MEAN_ABS_GRAY: f64 = 1.5;

fn options() -> ExportOptions {
    ExportOptions {
        calibration_samples: 200,
        fidelity_samples: 100,
        seed: 3,
        dataset: "shapes".into(),
        epochs: 0,
        density: DensityOptions::default(),
        class_names: vec!["circle".into(), "square".into()],
    }
}

/// Exports a fresh `arch` model of latent 6 (conditional on the data's 10
/// classes when `classes` is 10) and holds the int8 decoder to the float
/// one, on 28x28 gray images.
fn check(arch: Arch, expected_layers: usize, classes: usize) {
    check_on(
        arch,
        expected_layers,
        classes,
        shapes(300, 1),
        shapes(100, 2),
    );
}

/// [`check`] on `train` and `test`, images of any shape.
fn check_on(arch: Arch, expected_layers: usize, classes: usize, train: Split, test: Split) {
    let device = Backend::default().device();
    let model = VaeConfig::new(arch)
        .with_latent(6)
        .with_classes(classes)
        .with_image(train.shape)
        .init(&device, &mut Rng::new(1));
    let blob = export(&model, &train, &test, &options()).unwrap();
    let parsed = Model::from_bytes(&blob).unwrap();

    // Every field made it into the blob.
    let body = parsed.body();
    assert_eq!(parsed.latent_dim(), 6);
    assert_eq!(parsed.input_len(), 6 + classes);
    assert_eq!(
        parsed.condition().map(|c| usize::from(c.classes)),
        (classes > 0).then_some(classes)
    );
    assert_eq!(parsed.image_len(), train.shape.len());
    let shape = parsed.image_shape();
    assert_eq!(
        (shape.height, shape.width, shape.channels),
        (
            train.shape.height as u16,
            train.shape.width as u16,
            train.shape.channels as u16
        )
    );
    assert_eq!(body.layers.len(), expected_layers);
    assert_eq!(parsed.classes(), 10);
    let density = parsed.density().expect("a fitted density");
    assert_eq!(density.classes, 10);
    assert!(density.components >= 10);
    // The two names given, then `class k` for the labels without one.
    let names: Vec<String> = parsed.class_names().iter().map(|n| n.to_string()).collect();
    assert_eq!(names[..3], ["circle", "square", "class 2"]);
    assert_eq!(names.len(), 10);
    assert_eq!(body.metadata.dataset, "shapes");
    assert_eq!(body.metadata.model, format!("{arch:?}").to_lowercase());
    assert!(body.metadata.test_nelbo.is_finite() && body.metadata.test_nelbo > 0.0);
    assert_eq!(parsed.z_quant().zero_point, 0);

    // Fixed latents (and classes): the int8 decoder tracks burn's float
    // decoder.
    let labels: Vec<u8> = (0..64).map(|i| (i % 10) as u8).collect();
    let latents = with_classes(&Rng::new(11).normals(64 * 6), 6, &labels, classes);
    let agreement = Agreement::of(
        &int8_images(&parsed, &latents),
        &float_images(&model, &latents),
        64,
    );
    assert!(
        agreement.psnr_db >= MIN_PSNR_DB && agreement.mean_abs <= MAX_MEAN_ABS_GRAY,
        "{arch:?}: {agreement:?}"
    );

    // The report's own numbers follow the same bounds, and the int8 NELBO
    // is close to the float one.
    let report = fidelity(&model, &parsed, &test, &options());
    for a in [report.prior, report.posterior] {
        assert!(a.psnr_db >= MIN_PSNR_DB, "{arch:?}: {report:?}");
    }
    assert!(
        (report.nelbo_int8.nelbo - report.nelbo_float.nelbo).abs() < 1.0,
        "{arch:?}: {report:?}"
    );
}

#[test]
fn mlp_export_agrees_with_float_decoder() {
    check(Arch::Mlp, 2, 0);
}

#[test]
fn conv_export_agrees_with_float_decoder() {
    check(Arch::Conv, 3, 0);
}

#[test]
fn conditional_exports_agree_with_float_decoder() {
    check(Arch::Mlp, 2, 10);
    check(Arch::Conv, 3, 10);
}

/// RGB images of 32x32: the conv decoder's HWC output and its 8x8 first
/// map reach the blob in the chip's layouts.
#[test]
fn rgb_conv_export_agrees_with_float_decoder() {
    check_on(
        Arch::Conv,
        3,
        10,
        common::coloured(300, 1),
        common::coloured(100, 2),
    );
}

#[test]
fn conv_decoder_is_dense_then_transposed_convolutions() {
    let device = Backend::default().device();
    let model = VaeConfig::new(Arch::Conv).init(&device, &mut Rng::new(1));
    let blob = export(&model, &shapes(50, 1), &shapes(20, 2), &options()).unwrap();
    let parsed = Model::from_bytes(&blob).unwrap();
    let ops: Vec<Op> = parsed.body().layers.iter().map(|l| l.op).collect();
    assert!(matches!(ops[0], Op::Dense { inputs: 20, .. }));
    assert!(matches!(ops[1], Op::ConvTranspose2d { .. }));
    assert!(matches!(ops[2], Op::ConvTranspose2d { .. }));
    let weight_bytes: usize = parsed.body().layers.iter().map(|l| l.weights.len()).sum();
    assert!(
        weight_bytes <= 64 * 1024,
        "conv decoder int8 weights: {weight_bytes} bytes"
    );
}

/// A conv decoder with other channels (`--decoder-channels 6,10`) exports
/// with those feature maps, and its scratch is the formula `tinyvae train
/// --help` gives.
#[test]
fn conv_export_follows_decoder_channels() {
    let device = Backend::default().device();
    let model = VaeConfig::new(Arch::Conv)
        .with_decoder_channels([6, 10])
        .init(&device, &mut Rng::new(1));
    let blob = export(&model, &shapes(50, 1), &shapes(20, 2), &options()).unwrap();
    let parsed = Model::from_bytes(&blob).unwrap();
    let ops: Vec<Op> = parsed.body().layers.iter().map(|l| l.op).collect();
    let hwc = |side, channels| Hwc {
        height: side,
        width: side,
        channels,
    };
    assert!(matches!(ops[0], Op::Dense { inputs: 20, outputs } if outputs == 6 * 49));
    assert!(
        matches!(ops[1], Op::ConvTranspose2d { input, output, .. } if input == hwc(7, 6) && output == hwc(14, 10))
    );
    assert!(
        matches!(ops[2], Op::ConvTranspose2d { input, output, .. } if input == hwc(14, 10) && output == hwc(28, 1))
    );
    // 196*C1 + max(49*C0, 784): with C0 = 6 the last layer's input plus
    // output is the larger.
    assert_eq!(parsed.scratch_len(), 10 * 196 + 784);
}

/// `--class K` draws from class K's components of the fitted density:
/// images generated on the host (the `shared` sampler and int8 decoder, as
/// the chip runs them) by an unconditional model and re-encoded with its
/// encoder land nearer class K's mean latent than any other class's, for
/// at least 80% of them.
#[test]
fn class_samples_come_from_their_class_density() {
    use tinyvae_shared::{Latent, seeded_rng};
    use tinyvae_trainer::config::TrainingConfig;
    use tinyvae_trainer::data::{DataSet, PIXELS};
    use tinyvae_trainer::export::encode;
    use tinyvae_trainer::training::{RunOptions, train};

    let tmp = tempfile::tempdir().unwrap();
    let data = DataSet {
        train: common::quadrants(512, 1),
        test: common::quadrants(64, 2),
        names: None,
    };
    let config = TrainingConfig::new(VaeConfig::new(Arch::Mlp).with_latent(4), Backend::default())
        .with_epochs(6)
        .with_batch_size(32)
        .with_seed(2);
    let run_options = RunOptions {
        out: tmp.path().to_owned(),
        threads: 2,
        resume: false,
        stop_after: None,
    };
    let model = train(&config, &data, &run_options).unwrap().model;
    let blob = export(&model, &data.train, &data.test, &options()).unwrap();
    let parsed = Model::from_bytes(&blob).unwrap();
    let density = parsed.density().unwrap();
    let dims = parsed.latent_dim();
    let z_scale = parsed.z_quant().scale;
    // A class's mean latent: its components' means, weighted.
    let proto = |c: usize| -> Vec<f32> {
        let mut mean = vec![0.0f64; dims];
        for k in
            (0..usize::from(density.components)).filter(|&k| usize::from(density.class_of(k)) == c)
        {
            for (m, v) in mean.iter_mut().zip(density.mean_real(k, z_scale)) {
                *m += density.weight_in_class(k) * v;
            }
        }
        mean.into_iter().map(|m| m as f32).collect()
    };

    let per_class = 50;
    let mut rng = seeded_rng(9);
    let mut scratch = vec![0i8; parsed.scratch_len()];
    for class in 0..4u16 {
        let mut pixels = vec![0u8; per_class * PIXELS];
        let mut z = vec![0i8; dims];
        for image in pixels.chunks_mut(PIXELS) {
            parsed
                .generate(Latent::Class(class), &mut rng, &mut z, &mut scratch, image)
                .unwrap();
        }
        let split = tinyvae_trainer::data::Split {
            pixels,
            labels: vec![class as u8; per_class],
            shape: tinyvae_trainer::data::ImageShape::MNIST,
        };
        let (mu, _) = encode(&model, &split);
        let nearest = |m: &[f32]| {
            (0..4)
                .map(|c| {
                    (
                        c,
                        proto(c)
                            .iter()
                            .zip(m)
                            .map(|(p, v)| (p - v).powi(2))
                            .sum::<f32>(),
                    )
                })
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap()
                .0
        };
        let hits = mu
            .chunks(dims)
            .filter(|m| nearest(m) == usize::from(class))
            .count();
        assert!(
            hits * 10 >= per_class * 8,
            "class {class}: {hits}/{per_class} nearest to their class's mean latent"
        );
    }
}
