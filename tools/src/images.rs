//! Writing generated images: the raw bytes and a PNG grid.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use tinyvae_shared::blob::Hwc;

/// Pixels between grid cells.
const GAP: usize = 2;

/// Writes `count` images of `shape` (u8, HWC, concatenated in `pixels`) to
/// `dir/{stem}.raw` (exactly those bytes: count x H x W x C) and
/// `dir/{stem}.png` (a near-square grid, black gaps; gray for one channel,
/// RGB for three). Creates `dir` if needed.
pub fn write_images(dir: &Path, stem: &str, pixels: &[u8], shape: Hwc, count: usize) -> Result<()> {
    let image_len =
        usize::from(shape.height) * usize::from(shape.width) * usize::from(shape.channels);
    ensure!(
        pixels.len() == count * image_len,
        "{} bytes are not {count} images of {}x{}x{}",
        pixels.len(),
        shape.height,
        shape.width,
        shape.channels
    );
    let columns = (1..=count.max(1)).find(|k| k * k >= count).unwrap_or(1);
    write_grid(dir, stem, pixels, shape, columns)
}

/// Like [`write_images`], with `columns` images per row of the PNG grid.
pub fn write_grid(dir: &Path, stem: &str, pixels: &[u8], shape: Hwc, columns: usize) -> Result<()> {
    let (h, w, c) = (
        usize::from(shape.height),
        usize::from(shape.width),
        usize::from(shape.channels),
    );
    ensure!(
        h * w * c > 0 && pixels.len().is_multiple_of(h * w * c) && columns > 0,
        "{} bytes are not whole images of {h}x{w}x{c}",
        pixels.len()
    );
    let count = pixels.len() / (h * w * c);
    let color = match c {
        1 => png::ColorType::Grayscale,
        3 => png::ColorType::Rgb,
        _ => bail!("cannot draw images with {c} channels"),
    };
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let raw = dir.join(format!("{stem}.raw"));
    fs::write(&raw, pixels).with_context(|| format!("writing {}", raw.display()))?;

    let rows = count.div_ceil(columns).max(1);
    let (grid_w, grid_h) = (columns * (w + GAP) - GAP, rows * (h + GAP) - GAP);
    let mut grid = vec![0_u8; grid_w * grid_h * c];
    for (i, image) in pixels.chunks_exact(h * w * c).enumerate() {
        let (top, left) = ((i / columns) * (h + GAP), (i % columns) * (w + GAP));
        for (y, row) in image.chunks_exact(w * c).enumerate() {
            let start = ((top + y) * grid_w + left) * c;
            grid[start..start + w * c].copy_from_slice(row);
        }
    }
    let png_path = dir.join(format!("{stem}.png"));
    let file =
        fs::File::create(&png_path).with_context(|| format!("creating {}", png_path.display()))?;
    let mut encoder =
        png::Encoder::new(std::io::BufWriter::new(file), grid_w as u32, grid_h as u32);
    encoder.set_color(color);
    encoder.set_depth(png::BitDepth::Eight);
    encoder
        .write_header()
        .and_then(|mut writer| writer.write_image_data(&grid))
        .with_context(|| format!("writing {}", png_path.display()))?;
    Ok(())
}
