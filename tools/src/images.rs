//! Writing generated images: the raw bytes and a PNG grid
//! ([`tinyvae_trainer::pictures::Grid`]: scaled up, optionally labelled).

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, ensure};
use tinyvae_shared::blob::Hwc;
use tinyvae_trainer::pictures::Grid;

/// An image shape as [`Grid`] takes it: (height, width, channels).
pub fn hwc(shape: Hwc) -> (usize, usize, usize) {
    (
        usize::from(shape.height),
        usize::from(shape.width),
        usize::from(shape.channels),
    )
}

/// Writes `count` images of `shape` (u8, HWC, concatenated in `pixels`) to
/// `dir/{stem}.raw` and `dir/{stem}.png` (a near-square grid, titled
/// `title`): see [`write_grid`].
pub fn write_images(
    dir: &Path,
    stem: &str,
    pixels: &[u8],
    shape: Hwc,
    count: usize,
    title: &str,
) -> Result<()> {
    let (h, w, c) = hwc(shape);
    ensure!(
        pixels.len() == count * h * w * c,
        "{} bytes are not {count} images of {h}x{w}x{c}",
        pixels.len()
    );
    write_grid(dir, stem, &Grid::square(pixels, (h, w, c))?.title(title))
}

/// Writes the grid's images to `dir/{stem}.raw` (exactly their bytes: count
/// x H x W x C) and the grid drawn to `dir/{stem}.png`. Creates `dir` if
/// needed.
pub fn write_grid(dir: &Path, stem: &str, grid: &Grid<'_>) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let raw = dir.join(format!("{stem}.raw"));
    fs::write(&raw, grid.images()).with_context(|| format!("writing {}", raw.display()))?;
    grid.save(&dir.join(format!("{stem}.png")))?;
    Ok(())
}
