//! `tinyvae latents`: the exact int8 latents the sampler draws for a seed,
//! as CSV, with their dequantized values.

use std::fmt::Write as _;

use anyhow::Result;

use crate::request::RequestArgs;

/// Print the int8 latents the sampler draws for a seed, as CSV.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    request: RequestArgs,
}

/// Runs `latents`: one row per image, `image,q_0..q_{d-1},z_0..z_{d-1}`
/// with `q` the int8 codes and `z = scale * (q - zero_point)`, and for a
/// class-conditional decoder its one-hot input codes `c_0..c_{k-1}` after
/// them (the class's code is `Condition::one`, the others 0).
pub fn run(args: Args) -> Result<()> {
    let file = args.request.read_blob()?;
    let model = file.model()?;
    let inputs = args.request.host_latents(&model)?;
    let quant = model.z_quant();
    let dims = model.latent_dim();
    let mut csv = String::from("image");
    (0..dims).for_each(|d| _ = write!(csv, ",q_{d}"));
    (0..dims).for_each(|d| _ = write!(csv, ",z_{d}"));
    (dims..model.input_len()).for_each(|k| _ = write!(csv, ",c_{}", k - dims));
    csv.push('\n');
    for (i, input) in inputs.chunks(model.input_len()).enumerate() {
        let (z, class) = input.split_at(dims);
        _ = write!(csv, "{i}");
        z.iter().for_each(|q| _ = write!(csv, ",{q}"));
        z.iter()
            .for_each(|&q| _ = write!(csv, ",{}", quant.dequantize(q)));
        class.iter().for_each(|q| _ = write!(csv, ",{q}"));
        csv.push('\n');
    }
    print!("{csv}");
    Ok(())
}
