//! Fuzzes the blob parser and, for whatever parses, the decoder and sampler.
//!
//! The first input byte chooses the mode: raw bytes (header checks), or the
//! rest sealed behind a valid header and CRC (so the fuzzer reaches the
//! postcard decoder and validation instead of stopping at the checksum).
//! Any panic, overflow or out-of-bounds access is a bug: validation must
//! make every accepted model safe to run.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyvae_shared::{Latent, Model, seeded_rng, write::seal};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let sealed;
    let bytes = if mode & 1 == 0 {
        rest
    } else {
        sealed = seal(rest);
        &sealed
    };
    let _ = Model::from_region(bytes);
    let Ok(model) = Model::from_bytes(bytes) else {
        return;
    };
    let mut scratch = vec![0i8; model.scratch_len()];
    let mut pixels = vec![0u8; model.image_len()];
    let mut z = vec![0i8; model.latent_dim()];
    let mut rng = seeded_rng(u64::from(mode));
    model
        .generate(Latent::Prior, &mut rng, &mut z, &mut scratch, &mut pixels)
        .unwrap();
    for class in 0..model.classes().min(4) {
        model
            .generate(
                Latent::Class(class),
                &mut rng,
                &mut z,
                &mut scratch,
                &mut pixels,
            )
            .unwrap();
    }
});
