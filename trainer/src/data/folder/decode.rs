//! One image file to the bytes training reads (HWC, 8 bits), and a split's
//! images decoded in parallel into one [`Split`].
//!
//! - Alpha is composited onto black (each channel times alpha / 255,
//!   rounded), so transparent pixels are black whatever colour they store.
//! - RGB to gray takes the ITU-R 601 luma weights, as PIL's and
//!   torchvision's `Grayscale` do (`L = (19595 R + 38470 G + 7471 B +
//!   32768) >> 16`); gray to RGB repeats the gray value.
//! - 16-bit images are scaled to 8 bits (the `image` crate's conversion).
//! - `--size` resizes with a Lanczos filter of radius 3 (the `image`
//!   crate's `Lanczos3`, antialiased when shrinking, PIL's `LANCZOS`),
//!   stretching to the size asked without cropping; an image already of
//!   that size is not touched.
//! - The EXIF orientation of a JPEG is not applied (nor is it by
//!   torchvision's loader).

use std::fs;
use std::path::Path;

use image::imageops::{self, FilterType};
use image::{DynamicImage, ImageBuffer, Luma, Rgb};
use rayon::prelude::*;

use super::layout::Item;
use crate::data::{Channels, DataError, DataOptions, ImageShape, Size, Split};
use crate::progress::ProgressBar;

/// An image decoded to 8-bit gray or RGB, at the size asked for.
#[derive(Debug)]
pub(super) struct Decoded {
    /// Its rows.
    height: u32,
    /// Its columns.
    width: u32,
    /// Whether it has one channel (else three).
    gray: bool,
    /// `height * width` pixels, HWC.
    pixels: Vec<u8>,
}

/// Decodes every item's file in parallel, ticking `bar` once for each;
/// in `items`' order. The error is the first in that order.
pub(super) fn decode_all(
    items: &[Item],
    options: &DataOptions,
    bar: &ProgressBar,
) -> Result<Vec<Decoded>, DataError> {
    let decoded: Vec<_> = items
        .par_iter()
        .map(|item| {
            let image = decode(&item.path, options);
            bar.inc(1);
            image
        })
        .collect();
    decoded.into_iter().collect()
}

/// The shape every image of the folder `dir` takes: the size of the first
/// (all must share it, unless resized to `--size`), and with `channels`
/// (else gray if every image is gray, RGB otherwise). `images` are the
/// items and their decoded images in order; an error names the first
/// image whose size differs.
pub(super) fn common_shape<'a>(
    dir: &Path,
    mut images: impl Iterator<Item = (&'a Item, &'a Decoded)>,
    channels: Option<Channels>,
) -> Result<ImageShape, DataError> {
    let (first, image) = images.next().ok_or_else(|| DataError::NoImages {
        dir: dir.to_owned(),
    })?;
    let size = (image.height, image.width);
    let mut gray = image.gray;
    for (item, image) in images {
        if (image.height, image.width) != size {
            return Err(DataError::MixedSizes {
                path: item.path.clone(),
                size: (image.height, image.width),
                first: first.path.clone(),
                first_size: size,
            });
        }
        gray &= image.gray;
    }
    let channels = channels.map_or(if gray { 1 } else { 3 }, Channels::count);
    Ok(ImageShape {
        height: size.0 as usize,
        width: size.1 as usize,
        channels,
    })
}

/// The split of `images` (of `shape`: gray ones are repeated into RGB when
/// `shape` is) labelled as `items`.
pub(super) fn split(images: Vec<Decoded>, items: &[Item], shape: ImageShape) -> Split {
    let mut pixels = Vec::with_capacity(images.len() * shape.len());
    for image in images {
        if image.gray && shape.channels == 3 {
            pixels.extend(image.pixels.iter().flat_map(|&g| [g; 3]));
        } else {
            pixels.extend_from_slice(&image.pixels);
        }
    }
    Split {
        pixels,
        labels: items.iter().map(|item| item.label).collect(),
        shape,
    }
}

/// Decodes the image file `path` (PNG or JPEG, told by its content), in
/// gray or RGB as `options.channels` asks (else as the file stores it),
/// resized to `options.size`.
fn decode(path: &Path, options: &DataOptions) -> Result<Decoded, DataError> {
    let bytes = fs::read(path).map_err(|source| DataError::Io {
        path: path.to_owned(),
        source,
    })?;
    let image = image::load_from_memory(&bytes).map_err(|err| DataError::Image {
        path: path.to_owned(),
        reason: err.to_string(),
    })?;
    let gray = match options.channels {
        Some(channels) => channels == Channels::Gray,
        None => !image.color().has_color(),
    };
    let (width, height) = (image.width(), image.height());
    let pixels = opaque_pixels(&image, gray);
    let (height, width, pixels) = match options.size {
        Some(size) if (size.height, size.width) != (height, width) => (
            size.height,
            size.width,
            resize(pixels, (height, width), size, gray),
        ),
        _ => (height, width, pixels),
    };
    Ok(Decoded {
        height,
        width,
        gray,
        pixels,
    })
}

/// `image`'s pixels, alpha composited onto black, in gray (`gray`) or RGB.
fn opaque_pixels(image: &DynamicImage, gray: bool) -> Vec<u8> {
    let over_black =
        |value: u8, alpha: u8| ((u32::from(value) * u32::from(alpha) + 127) / 255) as u8;
    if image.color().has_color() {
        let rgba = image.to_rgba8();
        let pixels = rgba.pixels().map(|p| {
            let [r, g, b, a] = p.0;
            [over_black(r, a), over_black(g, a), over_black(b, a)]
        });
        if gray {
            pixels.map(|[r, g, b]| luma(r, g, b)).collect()
        } else {
            pixels.flatten().collect()
        }
    } else {
        let gray_alpha = image.to_luma_alpha8();
        let values = gray_alpha.pixels().map(|p| over_black(p.0[0], p.0[1]));
        if gray {
            values.collect()
        } else {
            values.flat_map(|g| [g; 3]).collect()
        }
    }
}

/// ITU-R 601 luma in PIL's fixed point.
fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((19595 * u32::from(r) + 38470 * u32::from(g) + 7471 * u32::from(b) + 0x8000) >> 16) as u8
}

/// `pixels` (`from`: height, width; gray or RGB) resized to `to` with
/// [`FilterType::Lanczos3`].
fn resize(pixels: Vec<u8>, (height, width): (u32, u32), to: Size, gray: bool) -> Vec<u8> {
    let filter = FilterType::Lanczos3;
    if gray {
        let image =
            ImageBuffer::<Luma<u8>, _>::from_raw(width, height, pixels).expect("whole image");
        imageops::resize(&image, to.width, to.height, filter).into_raw()
    } else {
        let image =
            ImageBuffer::<Rgb<u8>, _>::from_raw(width, height, pixels).expect("whole image");
        imageops::resize(&image, to.width, to.height, filter).into_raw()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luma_weights_are_itu_601() {
        assert_eq!(luma(255, 255, 255), 255);
        assert_eq!(luma(0, 0, 0), 0);
        assert_eq!(luma(255, 0, 0), 76); // 0.299 * 255
        assert_eq!(luma(0, 255, 0), 150); // 0.587 * 255
        assert_eq!(luma(0, 0, 255), 29); // 0.114 * 255
    }
}
