//! `tinyvae sample`: generate images on the host with the `shared` sampler
//! and int8 decoder: the bytes a chip must reproduce for the same seed.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;

use crate::images::write_images;
use crate::request::RequestArgs;

/// Generate images on the host from a seed: the bytes a chip must reproduce.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    request: RequestArgs,
    /// Directory for `samples.raw` (count x H x W x C bytes) and `samples.png`.
    #[arg(long)]
    out: PathBuf,
}

/// Runs `sample`.
pub fn run(args: Args) -> Result<()> {
    let file = args.request.read_blob()?;
    let model = file.model()?;
    let draw = args.request.draw(&model)?;
    let started = Instant::now();
    let pixels = args.request.host_images(&model)?;
    let seconds = started.elapsed().as_secs_f64();
    write_images(
        &args.out,
        "samples",
        &pixels,
        model.image_shape(),
        args.request.count as usize,
        &format!("host: seed {}, {draw}", args.request.seed),
    )?;
    println!(
        "{} images from seed {} ({}) in {}; generated in {:.3} s on one thread ({:.0} images/s)",
        args.request.count,
        args.request.seed,
        draw,
        args.out.join("samples.png").display(),
        seconds,
        f64::from(args.request.count) / seconds.max(1e-9)
    );
    Ok(())
}
