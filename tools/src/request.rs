//! The generation request that `sample`, `latents` and `qemu` share: the
//! blob, the seed and what to draw. The same request gives the same latents
//! and images on the host and on the chip.

use std::path::PathBuf;

use anyhow::Result;
use tinyvae_shared::protocol::Request;
use tinyvae_shared::{Draw, Model};

use crate::blobfile::BlobFile;
use crate::generate::{check_class, host_images, host_latents};

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
    /// Draw from this class's prototype instead of the prior N(0, I).
    #[arg(long, conflicts_with = "interpolate")]
    pub class: Option<u16>,
    /// Draw two prior latents and walk the line between them in `count`
    /// steps: one image morphing into another.
    #[arg(long)]
    pub interpolate: bool,
}

impl RequestArgs {
    /// What the flags ask to draw.
    pub fn draw(&self) -> Draw {
        draw_of(self.class, self.interpolate)
    }

    /// The request the flags make, with the host's seed: what the chip
    /// is asked for.
    pub fn request(&self) -> Request {
        Request::new(self.draw(), self.count, Some(self.seed))
    }

    /// The host's images for this request with `model`: the chip's bytes.
    pub fn host_images(&self, model: &Model<'_>) -> Result<Vec<u8>> {
        host_images(model, self.seed, self.count, self.draw())
    }

    /// The int8 latents of this request's images with `model`.
    pub fn host_latents(&self, model: &Model<'_>) -> Result<Vec<i8>> {
        host_latents(model, self.seed, self.count, self.draw())
    }

    /// Reads and validates the blob, and checks that the requested class
    /// is one of its prototypes; either problem is bad input.
    pub fn read_blob(&self) -> Result<BlobFile> {
        let file = BlobFile::read(&self.blob)?;
        check_class(&file.model()?, self.draw(), &self.blob)?;
        Ok(file)
    }
}

/// What `--class` and `--interpolate` ask to draw.
pub fn draw_of(class: Option<u16>, interpolate: bool) -> Draw {
    match (class, interpolate) {
        (Some(class), _) => Draw::Class(class),
        (None, true) => Draw::Interpolate,
        (None, false) => Draw::Prior,
    }
}
