//! Writes the coloured-shapes data set (`tinyvae_tools::shapes`) as an
//! image folder: `cargo run --release -p tinyvae-tools --example shapes --
//! DIR [TRAIN_PER_CLASS] [TEST_PER_CLASS]` (defaults 1000 and 200), the
//! README's "Use your own data" walk-through without a download.

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir =
        PathBuf::from(args.next().ok_or_else(|| {
            anyhow::anyhow!("usage: shapes DIR [TRAIN_PER_CLASS] [TEST_PER_CLASS]")
        })?);
    let mut count = |default: usize| -> anyhow::Result<usize> {
        args.next().map_or(Ok(default), |n| Ok(n.parse()?))
    };
    let (train, test) = (count(1000)?, count(200)?);
    tinyvae_tools::shapes::write_shapes(&dir, train, test, 1)?;
    println!(
        "wrote {} classes x ({train} train + {test} test) 32x32 RGB images into {}",
        tinyvae_tools::shapes::CLASSES.len(),
        dir.display()
    );
    Ok(())
}
