//! `tinyvae sample`: generate images on the host with the `shared` sampler
//! and int8 decoder: the bytes a chip must reproduce for the same seed.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;

use crate::blobfile::BlobFile;
use crate::generate::{check_class, host_images};
use crate::images::write_images;

/// Generate images on the host exactly as the firmware does.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model blob.
    #[arg(long)]
    blob: PathBuf,
    /// Seed of the sampler's PCG32.
    #[arg(long)]
    seed: u64,
    /// Number of images.
    #[arg(long, default_value_t = 16)]
    count: u32,
    /// Draw from this class's prototype instead of the prior.
    #[arg(long)]
    class: Option<u16>,
    /// Directory for `samples.raw` (count x H x W x C bytes) and `samples.png`.
    #[arg(long)]
    out: PathBuf,
}

/// Runs `sample`.
pub fn run(args: Args) -> Result<()> {
    let file = BlobFile::read(&args.blob)?;
    let model = file.model()?;
    check_class(&model, args.class, &args.blob)?;
    let started = Instant::now();
    let pixels = host_images(&model, args.seed, args.count, args.class)?;
    let seconds = started.elapsed().as_secs_f64();
    write_images(
        &args.out,
        "samples",
        &pixels,
        model.image_shape(),
        args.count as usize,
    )?;
    println!(
        "{} images from seed {} ({}) in {}; generated in {:.3} s on one thread ({:.0} images/s)",
        args.count,
        args.seed,
        args.class.map_or("prior".into(), |k| format!("class {k}")),
        args.out.join("samples.png").display(),
        seconds,
        f64::from(args.count) / seconds.max(1e-9)
    );
    Ok(())
}
