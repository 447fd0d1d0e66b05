//! `tinyvae latents`: the exact int8 latents the sampler draws for a seed,
//! as CSV, with their dequantized values.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Result;

use crate::blobfile::BlobFile;
use crate::generate::{check_class, host_latents};

/// Print the latents the sampler draws for a seed, as CSV.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model blob.
    #[arg(long)]
    blob: PathBuf,
    /// Seed of the sampler's PCG32.
    #[arg(long)]
    seed: u64,
    /// Number of latents (one per image).
    #[arg(long, default_value_t = 16)]
    count: u32,
    /// Draw from this class's prototype instead of the prior.
    #[arg(long)]
    class: Option<u16>,
}

/// Runs `latents`: one row per image, `image,q_0..q_{d-1},z_0..z_{d-1}`
/// with `q` the int8 codes and `z = scale * (q - zero_point)`.
pub fn run(args: Args) -> Result<()> {
    let file = BlobFile::read(&args.blob)?;
    let model = file.model()?;
    check_class(&model, args.class, &args.blob)?;
    let zs = host_latents(&model, args.seed, args.count, args.class)?;
    let quant = model.z_quant();
    let dims = model.latent_dim();
    let mut csv = String::from("image");
    (0..dims).for_each(|d| _ = write!(csv, ",q_{d}"));
    (0..dims).for_each(|d| _ = write!(csv, ",z_{d}"));
    csv.push('\n');
    for (i, z) in zs.chunks(dims).enumerate() {
        _ = write!(csv, "{i}");
        z.iter().for_each(|q| _ = write!(csv, ",{q}"));
        z.iter()
            .for_each(|&q| _ = write!(csv, ",{}", quant.dequantize(q)));
        csv.push('\n');
    }
    print!("{csv}");
    Ok(())
}
