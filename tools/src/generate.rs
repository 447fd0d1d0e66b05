//! The host's reference generation: the same `shared` sampler and int8
//! decoder the firmware runs, driven by the same seeded PCG32, so a seed
//! gives the chip's bytes exactly.

use std::path::Path;

use anyhow::{Context, Result};
use tinyvae_shared::{Latent, Model, seeded_rng};

use crate::fail::bad_input;

/// `count` images (u8, HWC, one after another) generated from `seed`, from
/// the prior or from class prototype `class`: the bytes the firmware sends
/// for the same request.
pub fn host_images(
    model: &Model<'_>,
    seed: u64,
    count: u32,
    class: Option<u16>,
) -> Result<Vec<u8>> {
    let latent = class.map_or(Latent::Prior, Latent::Class);
    let mut rng = seeded_rng(seed);
    let mut z = vec![0_i8; model.latent_dim()];
    let mut scratch = vec![0_i8; model.scratch_len()];
    let mut pixels = vec![0_u8; model.image_len() * count as usize];
    for (i, image) in pixels.chunks_exact_mut(model.image_len()).enumerate() {
        model
            .generate(latent, &mut rng, &mut z, &mut scratch, image)
            .with_context(|| format!("generating image {i} on the host"))?;
    }
    Ok(pixels)
}

/// The int8 latents (`count` x latent size) the sampler draws for the same
/// request as [`host_images`]: decoding consumes no random words, so these
/// are exactly the images' latents.
pub fn host_latents(
    model: &Model<'_>,
    seed: u64,
    count: u32,
    class: Option<u16>,
) -> Result<Vec<i8>> {
    let latent = class.map_or(Latent::Prior, Latent::Class);
    let mut rng = seeded_rng(seed);
    let mut zs = vec![0_i8; model.latent_dim() * count as usize];
    for (i, z) in zs.chunks_exact_mut(model.latent_dim()).enumerate() {
        model
            .sample_latent(latent, &mut rng, z)
            .with_context(|| format!("drawing latent {i} on the host"))?;
    }
    Ok(zs)
}

/// Bad input unless `class` is absent or one of the blob's prototypes.
pub fn check_class(model: &Model<'_>, class: Option<u16>, blob: &Path) -> Result<()> {
    match class {
        Some(k) if k >= model.classes() => Err(bad_input(anyhow::anyhow!(
            "{}: {}",
            blob.display(),
            tinyvae_shared::Error::NoSuchClass {
                class: k,
                classes: model.classes()
            }
        ))),
        _ => Ok(()),
    }
}
