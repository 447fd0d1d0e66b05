//! Fuzzes the blob parser and, for whatever parses, the decoder and sampler.
//!
//! The first input byte chooses the mode: raw bytes (header checks), or the
//! rest sealed behind a valid header and CRC (so the fuzzer reaches the
//! postcard decoder and validation instead of stopping at the checksum).
//! Any panic, overflow or out-of-bounds access is a bug: validation must
//! make every accepted model safe to run, with every kind of draw.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyvae_shared::{Draw, Model, seeded_rng, write::seal};

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
    let mut rng = seeded_rng(u64::from(mode));
    let classes = (0..model.classes().min(4)).map(Draw::Class);
    for draw in [Draw::Prior, Draw::Fitted, Draw::Interpolate]
        .into_iter()
        .chain(classes)
    {
        let result = model.for_each_latent(draw, 3, &mut rng, |_, input| {
            model.decode(input, &mut scratch, &mut pixels)
        });
        // Only a draw the model cannot serve may fail, and it says so.
        assert_eq!(result.err(), model.check_draw(draw).err());
    }
});
