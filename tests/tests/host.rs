//! The host decoder (`tinyvae_shared::HostDecoder`), through which
//! `tinyvae sample` and every host-side check of a chip's images decode,
//! gives exactly the portable kernels' bytes: the chip's.

use std::sync::OnceLock;

use tinyvae_shared::{Draw, HostDecoder, Kernels, Model, seeded_rng};
use tinyvae_tests::fixtures::{self, CLASSES, SplitMix64};
use tinyvae_tools::generate::host_images;
use tinyvae_trainer::model::Arch;

/// The fixture blobs and the trainer's exports of both architectures,
/// built once per test binary.
fn blobs() -> &'static [(&'static str, Vec<u8>)] {
    static BLOBS: OnceLock<Vec<(&str, Vec<u8>)>> = OnceLock::new();
    BLOBS.get_or_init(|| {
        vec![
            ("mlp fixture", fixtures::mlp_blob()),
            ("conv fixture", fixtures::conv_blob()),
            ("exported mlp", fixtures::exported(Arch::Mlp)),
            ("exported conv", fixtures::exported(Arch::Conv)),
        ]
    })
}

/// [`host_images`] with [`Model::decode_using`] and the portable kernels.
fn portable_images(model: &Model<'_>, seed: u64, count: u32, draw: Draw) -> Vec<u8> {
    let mut scratch = vec![0; model.scratch_len()];
    let mut pixels = vec![0; model.image_len() * count as usize];
    let mut images = pixels.chunks_exact_mut(model.image_len());
    model
        .for_each_latent(draw, count, &mut seeded_rng(seed), |_, z| {
            let image = images.next().expect("one image per latent");
            model.decode_using(Kernels::Portable, z, &mut scratch, image, |_| {})
        })
        .unwrap();
    pixels
}

/// Prior, class and interpolation requests for many seeds: the same images.
#[test]
fn host_images_equal_the_portable_kernels() {
    for (name, blob) in blobs() {
        let model = Model::from_bytes(blob).unwrap();
        for seed in 0..40 {
            let class = Draw::Class((seed % u64::from(CLASSES)) as u16);
            for draw in [Draw::Prior, class, Draw::Interpolate] {
                assert!(
                    host_images(&model, seed, 8, draw).unwrap()
                        == portable_images(&model, seed, 8, draw),
                    "{name}: seed {seed}, {draw:?}"
                );
            }
        }
    }
}

/// Latents anywhere in the int8 range (the sampler's stay within about
/// four standard deviations), where activations saturate: the same logits
/// as [`Model::decode_logits`] (the portable kernels, on the host).
#[test]
fn host_logits_equal_the_portable_kernels_on_any_latent() {
    let mut rng = SplitMix64::new(17);
    for (name, blob) in blobs() {
        let model = Model::from_bytes(blob).unwrap();
        let mut decoder = HostDecoder::new(&model);
        let mut scratch = vec![0; model.scratch_len()];
        for i in 0..300 {
            let z: Vec<i8> = (0..model.input_len())
                .map(|_| rng.next_u64() as i8)
                .collect();
            let expected = model.decode_logits(&z, &mut scratch).unwrap().to_vec();
            assert_eq!(
                decoder.decode_logits(&z).unwrap(),
                expected,
                "{name}: latent {i}"
            );
        }
    }
}
