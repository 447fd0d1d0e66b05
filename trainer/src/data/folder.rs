//! Image folders, torchvision's and burn-dataset's `ImageFolder`
//! convention: `DATA/<class>/*.png` (or `.jpg`, `.jpeg`), the classes the
//! folder names sorted in byte order, each image's label its class's index;
//! or images directly in `DATA/`, without classes. The test split is
//! either given (`DATA/train/...` and `DATA/test/...`, laid out alike) or
//! held out, a fixed share of each class ([`holdout`]).
//!
//! The files are decoded in parallel (rayon), with a progress bar on a
//! terminal, and converted to one shape ([`decode`]: sizes, channels,
//! alpha). Reading writes nothing.

mod decode;
mod holdout;
mod layout;

use std::fs;
use std::io;
use std::path::Path;

use image::ImageEncoder;
use image::codecs::png::{CompressionType, PngEncoder};
use rayon::prelude::*;

use super::{DataError, DataOptions, DataSet, ImageShape};
use crate::progress;
use decode::{common_shape, decode_all, split};

/// Reads the image folder `dir` as `options` say: the images (HWC bytes,
/// one shape), their labels, and the classes' names (`names`: the class
/// folders' names, or none when the images are not in class folders, which
/// makes [`DataSet::classes`] 0: training is then unconditional).
pub fn load_folder(dir: &Path, options: &DataOptions) -> Result<DataSet, DataError> {
    if let Some(fraction) = options.test_fraction.filter(|f| !(*f > 0.0 && *f < 1.0)) {
        return Err(DataError::TestFraction { fraction });
    }
    let layout = layout::discover(dir, options.test_fraction)?;
    let count = layout.train.len() + layout.test.len();
    let bar = progress::bar(count as u64, "loading images");
    let decoded = decode_all(&layout.train, options, &bar)
        .and_then(|train| Ok((train, decode_all(&layout.test, options, &bar)?)));
    // Cleared on an error too: the error is then the only line left.
    bar.finish_and_clear();
    let (train, test) = decoded?;
    let items = layout.train.iter().zip(&train);
    let shape = common_shape(
        dir,
        items.chain(layout.test.iter().zip(&test)),
        options.channels,
    )?;
    Ok(DataSet {
        train: split(train, &layout.train, shape),
        test: split(test, &layout.test, shape),
        names: Some(layout.names),
    })
}

/// Writes `data` as an image folder of PNGs, in parallel (not atomically):
/// `dir/train/<class>/N.png` and `dir/test/<class>/N.png`, N the image's
/// index in its split; without classes (`names` empty) `dir/train/N.png`
/// and `dir/test/N.png`. The classes are named by [`DataSet::class_names`]
/// (Fashion-MNIST's names for its labels), each `/` written as `_`, since
/// a folder's name cannot hold it. [`load_folder`] reads back the same
/// images under the same names, labelled in the names' byte order.
pub fn write_folder(dir: &Path, data: &DataSet) -> Result<(), DataError> {
    let unlabelled = data.names.as_ref().is_some_and(Vec::is_empty);
    let classes = if unlabelled { 0 } else { data.classes() };
    let folders: Vec<String> = data
        .class_names(classes as u16)
        .iter()
        .map(|name| name.replace('/', "_"))
        .collect();
    for (name, split) in [("train", &data.train), ("test", &data.test)] {
        let root = dir.join(name);
        let folder = |label: u8| match folders.get(usize::from(label)) {
            Some(class) => root.join(class),
            None => root.clone(),
        };
        let mut labels = split.labels.clone();
        labels.sort_unstable();
        labels.dedup();
        for path in labels.into_iter().map(folder).chain([root.clone()]) {
            fs::create_dir_all(&path).map_err(|source| DataError::Io { path, source })?;
        }
        (0..split.len()).into_par_iter().try_for_each(|i| {
            let path = folder(split.labels[i]).join(format!("{i}.png"));
            write_png(&path, split.image(i), split.shape)
        })?;
    }
    Ok(())
}

/// Writes one gray or RGB image as a PNG file.
fn write_png(path: &Path, pixels: &[u8], shape: ImageShape) -> Result<(), DataError> {
    let io_err = |source| DataError::Io {
        path: path.to_owned(),
        source,
    };
    let color = match shape.channels {
        1 => image::ExtendedColorType::L8,
        _ => image::ExtendedColorType::Rgb8,
    };
    let mut png = Vec::new();
    PngEncoder::new_with_quality(&mut png, CompressionType::Fast, Default::default())
        .write_image(pixels, shape.width as u32, shape.height as u32, color)
        .map_err(|err| io_err(io::Error::other(err)))?;
    fs::write(path, png).map_err(io_err)
}

#[cfg(test)]
mod tests;
