//! The `bench` firmware (firmware/src/bench.rs) on the Cortex-M4F: its
//! instruction counts are the same on every run, and the DSP kernels give
//! the portable kernels' bytes, which are the host's, for both fixture
//! decoders (the firmware compares every image on the chip; the host
//! compares the hashes with its own images).

use std::time::Duration;

use tinyvae_shared::Model;
use tinyvae_tests::fixtures;
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
            class: None,
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
        let host = host_images(&model, request.seed, request.count, None).unwrap();
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
