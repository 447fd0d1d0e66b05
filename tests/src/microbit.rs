//! What the tests on the emulated micro:bit share: its board firmware,
//! built once per test binary, and the check that what it sent is the
//! host's replay.

use std::path::PathBuf;
use std::sync::OnceLock;

use tinyvae_shared::Model;
use tinyvae_shared::protocol::Request;
use tinyvae_tools::firmware::{self, Machine};
use tinyvae_tools::generate::{host_images, host_latents};
use tinyvae_tools::link::Collected;

/// The micro:bit board firmware, built once per test binary.
pub fn elf() -> &'static PathBuf {
    static ELF: OnceLock<PathBuf> = OnceLock::new();
    ELF.get_or_init(|| {
        firmware::build(Machine::Microbit)
            .unwrap_or_else(|err| panic!("building the micro:bit firmware: {err:#}"))
    })
}

/// Asserts that `collected` holds every image of `request`, each the
/// host's replay of its seed, pixel by pixel and latent by latent.
pub fn assert_replayed(model: &Model<'_>, request: Request, collected: &Collected) {
    let seed = collected.seed;
    let host = host_images(model, seed, request.count, request.draw).unwrap();
    let latents = host_latents(model, seed, request.count, request.draw).unwrap();
    assert_eq!(
        collected.images.len(),
        request.count as usize,
        "{request:?}"
    );
    let (len, dims) = (model.image_len(), model.input_len());
    for (i, image) in collected.images.iter().enumerate() {
        assert_eq!(image.index as usize, i, "images out of order");
        assert!(
            image.pixels == host[i * len..(i + 1) * len],
            "{request:?} seed {seed}: image {i} differs from the host's"
        );
        assert_eq!(
            image.latent,
            latents[i * dims..(i + 1) * dims],
            "latent {i}"
        );
    }
}
