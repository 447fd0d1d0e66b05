//! The generation request that `sample`, `latents` and `qemu` share: the
//! blob, the seed and what to draw. The same request gives the same latents
//! and images on the host and on the chip.

use std::path::PathBuf;

use anyhow::Result;
use tinyvae_shared::protocol::Request;
use tinyvae_shared::{Draw, Model};

use crate::blobfile::BlobFile;
use crate::generate::{check_draw, host_images, host_latents};

/// What to generate, and from which blob.
#[derive(Debug, clap::Args)]
pub struct RequestArgs {
    /// The model blob (`tinyvae export` writes one).
    #[arg(long)]
    pub blob: PathBuf,
    /// Seed of the sampler's PCG32: the host and the chip draw the same
    /// latents from it.
    #[arg(long)]
    pub seed: u64,
    /// Number of images (one latent each).
    #[arg(long, default_value_t = 16)]
    pub count: u32,
    #[command(flatten)]
    pub draw: DrawArgs,
}

/// What to draw: the flags every generating command shares.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct DrawArgs {
    /// Draw images of this class (from its components of the blob's latent
    /// density; a conditional decoder is also given the class).
    #[arg(long, conflicts_with_all = ["interpolate", "prior"])]
    pub class: Option<u16>,
    /// Draw two latents (the default draw) and walk the line between them
    /// in `count` steps: one image morphing into another.
    #[arg(long, conflicts_with = "prior")]
    pub interpolate: bool,
    /// Draw z from the VAE's prior N(0, I) instead of the default draw,
    /// the latent density fitted at export (when the blob has one), whose
    /// images score better (README.md, "Judging samples").
    #[arg(long)]
    pub prior: bool,
}

impl DrawArgs {
    /// What the flags ask to draw, given the model's default draw.
    pub fn draw(&self, default: Draw) -> Draw {
        match (self.class, self.interpolate, self.prior) {
            (Some(class), _, _) => Draw::Class(class),
            (None, true, _) => Draw::Interpolate,
            (None, false, true) => Draw::Prior,
            (None, false, false) => default,
        }
    }
}

impl RequestArgs {
    /// What the flags ask to draw from `model`.
    pub fn draw(&self, model: &Model<'_>) -> Draw {
        self.draw.draw(model.default_draw())
    }

    /// The request the flags make of `model`, with the host's seed: what
    /// the chip is asked for.
    pub fn request(&self, model: &Model<'_>) -> Request {
        Request::new(self.draw(model), self.count, Some(self.seed))
    }

    /// The host's images for this request with `model`: the chip's bytes.
    pub fn host_images(&self, model: &Model<'_>) -> Result<Vec<u8>> {
        host_images(model, self.seed, self.count, self.draw(model))
    }

    /// The int8 decoder inputs of this request's images with `model`.
    pub fn host_latents(&self, model: &Model<'_>) -> Result<Vec<i8>> {
        host_latents(model, self.seed, self.count, self.draw(model))
    }

    /// Reads and validates the blob, and checks that the requested class
    /// is one the model can draw; either problem is bad input.
    pub fn read_blob(&self) -> Result<BlobFile> {
        let file = BlobFile::read(&self.blob)?;
        let model = file.model()?;
        check_draw(&model, self.draw(&model), &self.blob)?;
        drop(model);
        Ok(file)
    }
}
