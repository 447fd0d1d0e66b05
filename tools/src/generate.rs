//! The host's reference generation: the same `shared` sampler the firmware
//! runs, driven by the same seeded PCG32, and `shared`'s host decoder (the
//! chip's int8 arithmetic, vectorized), so a seed gives the chip's bytes
//! exactly.

use std::path::Path;

use anyhow::{Context, Result};
use tinyvae_shared::{Draw, HostDecoder, Model, seeded_rng};

use crate::fail::bad_input;

/// `count` images (u8, HWC, one after another) generated from `seed` as
/// `draw` says: the bytes the firmware sends for the same request.
pub fn host_images(model: &Model<'_>, seed: u64, count: u32, draw: Draw) -> Result<Vec<u8>> {
    let mut decoder = HostDecoder::new(model);
    let mut pixels = vec![0_u8; model.image_len() * count as usize];
    let mut images = pixels.chunks_exact_mut(model.image_len());
    model
        .for_each_latent(draw, count, &mut seeded_rng(seed), |_, z| {
            match images.next() {
                Some(image) => decoder.decode(z, image),
                None => Ok(()),
            }
        })
        .context("generating on the host")?;
    Ok(pixels)
}

/// The int8 decoder inputs (`count` x [`Model::input_len`]: z, then a
/// conditional decoder's one-hot class) of the same request as
/// [`host_images`]: exactly the images' latents.
pub fn host_latents(model: &Model<'_>, seed: u64, count: u32, draw: Draw) -> Result<Vec<i8>> {
    let mut zs = Vec::with_capacity(model.input_len() * count as usize);
    model
        .for_each_latent(draw, count, &mut seeded_rng(seed), |_, z| {
            zs.extend_from_slice(z);
            Ok::<(), tinyvae_shared::Error>(())
        })
        .context("drawing latents on the host")?;
    Ok(zs)
}

/// Multiply-accumulates per image: the decoder's work, which instruction
/// counts are divided by (`tinyvae bench`, `demo`) and `inspect` shows.
pub fn macs(model: &Model<'_>) -> u64 {
    model.body().layers.iter().map(|l| l.op.macs()).sum()
}

/// Bad input unless `model` can draw `draw` (a class it knows, a fitted
/// draw only from a blob with a latent density).
pub fn check_draw(model: &Model<'_>, draw: Draw, blob: &Path) -> Result<()> {
    model
        .check_draw(draw)
        .map_err(|err| bad_input(anyhow::anyhow!("{}: {err}", blob.display())))
}
