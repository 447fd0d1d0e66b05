//! Writes an MNIST-format (IDX) data set as an image folder of PNGs,
//! `OUT/train/<class>/N.png` and `OUT/test/<class>/N.png` (the classes
//! Fashion-MNIST's names for its labels, `class N` otherwise), to try
//! `tinyvae train --data OUT` on a folder or to time reading one:
//!
//! ```sh
//! cargo run --release -p tinyvae-trainer --example idx_to_folder -- IDX_DIR OUT
//! ```

use std::path::PathBuf;
use std::time::Instant;

use tinyvae_trainer::data::{load_dir, write_folder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [idx, out] = args.as_slice() else {
        eprintln!("usage: idx_to_folder IDX_DIR OUT");
        std::process::exit(2);
    };
    let data = load_dir(idx)?;
    let started = Instant::now();
    write_folder(out, &data)?;
    println!(
        "wrote {} training and {} test images as PNGs into {} in {:.1} s",
        data.train.len(),
        data.test.len(),
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
