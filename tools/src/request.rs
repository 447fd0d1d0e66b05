//! The generation request that `sample`, `latents` and `qemu` share: the
//! blob, the seed and what to draw (with `listen`: [`DrawArgs`]). The same
//! request gives the same latents and images on the host and on the chip.

use std::fmt::Display;
use std::path::PathBuf;

use anyhow::Result;
use tinyvae_shared::classes::ClassNames;
use tinyvae_shared::protocol::Request;
use tinyvae_shared::{Draw, Model};

use crate::blobfile::BlobFile;
use crate::fail::bad_input;
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
#[derive(Debug, Clone, clap::Args)]
pub struct DrawArgs {
    /// Draw images of this class, by name (`tinyvae inspect` lists them;
    /// case does not matter when only one name matches) or by index (from
    /// its components of the blob's latent density; a conditional decoder
    /// is also given the class).
    #[arg(long, value_name = "NAME|INDEX", conflicts_with_all = ["interpolate", "prior"])]
    pub class: Option<String>,
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
    /// What the flags ask to draw from a model whose default draw is
    /// `default` and whose classes are `names`; a `--class` that names
    /// none of them is bad input, naming `model` (the blob, or the board).
    pub fn draw(&self, default: Draw, names: ClassNames<'_>, model: impl Display) -> Result<Draw> {
        Ok(match (&self.class, self.interpolate, self.prior) {
            (Some(class), _, _) => Draw::Class(class_index(class, names, model)?),
            (None, true, _) => Draw::Interpolate,
            (None, false, true) => Draw::Prior,
            (None, false, false) => default,
        })
    }
}

/// The class `--class ARG` means among `names`: the class of that name
/// (case-sensitive), else the index ARG (a class the model lacks is
/// refused where the draw is checked, in the model's words), else the one
/// class whose name matches ignoring case. Anything else is bad input: one
/// line listing the names.
fn class_index(arg: &str, names: ClassNames<'_>, model: impl Display) -> Result<u16> {
    let named: Vec<String> = names.iter().map(|name| name.to_string()).collect();
    if let Some(class) = named.iter().position(|name| name == arg) {
        return Ok(class as u16);
    }
    if let Ok(index) = arg.parse::<u16>() {
        return Ok(index);
    }
    let folded = arg.to_lowercase();
    let mut alike = (0..)
        .zip(&named)
        .filter(|(_, name)| name.to_lowercase() == folded);
    match (alike.next(), alike.next()) {
        (Some((class, _)), None) => Ok(class),
        _ => Err(bad_input(anyhow::anyhow!(
            "--class {arg:?}: {model} has {}",
            match named.len() {
                0 => "no classes".to_owned(),
                n => format!(
                    "classes {} (or their index, 0 to {})",
                    named.join(", "),
                    n - 1
                ),
            }
        ))),
    }
}

impl RequestArgs {
    /// What the flags ask to draw from `model`; an unknown class name is
    /// bad input.
    pub fn draw(&self, model: &Model<'_>) -> Result<Draw> {
        self.draw.draw(
            model.default_draw(),
            model.class_names(),
            self.blob.display(),
        )
    }

    /// The request the flags make of `model`, with the host's seed: what
    /// the chip is asked for.
    pub fn request(&self, model: &Model<'_>) -> Result<Request> {
        Ok(Request::new(self.draw(model)?, self.count, Some(self.seed)))
    }

    /// The host's images for this request with `model`: the chip's bytes.
    pub fn host_images(&self, model: &Model<'_>) -> Result<Vec<u8>> {
        host_images(model, self.seed, self.count, self.draw(model)?)
    }

    /// The int8 decoder inputs of this request's images with `model`.
    pub fn host_latents(&self, model: &Model<'_>) -> Result<Vec<i8>> {
        host_latents(model, self.seed, self.count, self.draw(model)?)
    }

    /// Reads and validates the blob, and checks that the requested class
    /// is one the model can draw; either problem is bad input.
    pub fn read_blob(&self) -> Result<BlobFile> {
        let file = BlobFile::read(&self.blob)?;
        let model = file.model()?;
        check_draw(&model, self.draw(&model)?, &self.blob)?;
        drop(model);
        Ok(file)
    }
}
