//! Data sets: MNIST-format IDX files (gzip or raw) read from a local
//! directory, image folders of PNG and JPEG files ([`load_folder`]: any
//! size, gray or RGB), [`load`] telling the two apart; and the download of
//! MNIST / Fashion-MNIST for users who are online (with the `download`
//! feature: https only, each file checked against a SHA-256 pinned here
//! before it is used).
//!
//! An IDX file is a big-endian header (`0, 0, dtype, ndim`, then one u32 per
//! dimension) followed by the values. Images are `idx3-ubyte` (magic 2051),
//! labels `idx1-ubyte` (magic 2049).

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use crate::fsio::{WriteError, write_atomic};

/// Where Debian's `dataset-fashion-mnist` package installs Fashion-MNIST.
pub const DEFAULT_DATA_DIR: &str = "/usr/share/datasets/fashion-mnist";

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// What can go wrong reading a data set. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file cannot be read (missing, unreadable, corrupt gzip stream).
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The header does not start with the magic number of this kind of file.
    #[error("{path}: not an IDX {kind} file (magic {found:#010x}, expected {expected:#010x})")]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// "images" or "labels".
        kind: &'static str,
        /// The magic number read.
        found: u32,
        /// The magic number of this kind of file.
        expected: u32,
    },
    /// The file ends before the header or the values the header announces.
    #[error("{path}: truncated: the header announces {expected} bytes, the file holds {found}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes the header announces (header included); a corrupt header
        /// can announce more than memory holds.
        expected: u128,
        /// Bytes present.
        found: usize,
    },
    /// The file holds more values than its header counts.
    #[error(
        "{path}: count mismatch: the header counts {count} items ({expected} bytes), the file holds {found} bytes"
    )]
    CountMismatch {
        /// The file.
        path: PathBuf,
        /// Items the header counts.
        count: usize,
        /// Bytes the header announces (header included).
        expected: usize,
        /// Bytes present.
        found: usize,
    },
    /// Images are not 28 x 28.
    #[error("{path}: images are {rows}x{cols}, tinyvae needs 28x28")]
    ImageSize {
        /// The file.
        path: PathBuf,
        /// Rows per image.
        rows: usize,
        /// Columns per image.
        cols: usize,
    },
    /// An images file and its labels file count different numbers of items.
    #[error("{labels}: {label_count} labels for {image_count} images in {images}")]
    LabelCount {
        /// The images file.
        images: PathBuf,
        /// The labels file.
        labels: PathBuf,
        /// Images counted.
        image_count: usize,
        /// Labels counted.
        label_count: usize,
    },
    /// A data directory lacks one of the four files.
    #[error(
        "{dir}: no {stem} (nor .gz): get MNIST-format IDX files with `tinyvae train --download fashion-mnist --data {dir}` (online, in a build with `--features download`), Debian's dataset-fashion-mnist package, or copy them there"
    )]
    Missing {
        /// The directory searched.
        dir: PathBuf,
        /// The file name looked for.
        stem: String,
    },
    /// `--download` in a build without the `download` feature.
    #[error(
        "this tinyvae was built without the `download` feature: rebuild with `cargo install --path tools --features download`, or copy the IDX files into {dir}"
    )]
    NotBuilt {
        /// The directory the files were for.
        dir: PathBuf,
    },
    /// An address that is not https (only https is ever fetched).
    #[error("{url}: refusing to download over anything but https")]
    NotHttps {
        /// The address.
        url: String,
    },
    /// A file is not the one pinned: its SHA-256 differs.
    #[error("{file}: SHA-256 mismatch: expected {expected}, got {found}")]
    Checksum {
        /// The file (for a download: its address, and what became of it).
        file: String,
        /// The pinned SHA-256.
        expected: String,
        /// The file's SHA-256.
        found: String,
    },
    /// A download failed.
    #[error(
        "{url}: download failed ({reason}); offline? copy the four IDX files into {dir} or install Debian's dataset-fashion-mnist"
    )]
    Download {
        /// The address.
        url: String,
        /// The directory the file was for.
        dir: PathBuf,
        /// Why.
        reason: String,
    },
    /// A directory that is neither IDX files nor an image folder.
    #[error(
        "{dir}: no data: neither IDX files (train-images-idx3-ubyte[.gz] and the other three) nor images (.png, .jpg, .jpeg, in class folders or not); get Fashion-MNIST with `tinyvae train --download fashion-mnist --data {dir}` (online, in a build with `--features download`) or Debian's dataset-fashion-mnist package, or put images there"
    )]
    NotData {
        /// The directory.
        dir: PathBuf,
    },
    /// A data option given for data it does not apply to.
    #[error("{dir}: {option} does not apply: {reason}")]
    Inapplicable {
        /// The data's directory.
        dir: PathBuf,
        /// The option, as `tinyvae train` spells it.
        option: String,
        /// Why not.
        reason: String,
    },
    /// `--test-fraction` outside (0, 1).
    #[error("--test-fraction {fraction}: must lie strictly between 0 and 1")]
    TestFraction {
        /// The fraction given.
        fraction: f64,
    },
    /// An image file that does not decode (corrupt, truncated, not PNG or
    /// JPEG).
    #[error("{path}: not a readable PNG or JPEG image: {reason}")]
    Image {
        /// The file.
        path: PathBuf,
        /// The decoder's reason.
        reason: String,
    },
    /// Images of different sizes, without `--size`.
    #[error(
        "{path}: {}x{} pixels, but {first} is {}x{}: give --size HxW to resize every image",
        size.0, size.1, first_size.0, first_size.1
    )]
    MixedSizes {
        /// The first image whose size differs.
        path: PathBuf,
        /// Its (height, width).
        size: (u32, u32),
        /// The first image.
        first: PathBuf,
        /// Its (height, width).
        first_size: (u32, u32),
    },
    /// A class folder without images.
    #[error("{dir}: empty class folder: no .png, .jpg or .jpeg images in it or below")]
    EmptyClass {
        /// The class folder.
        dir: PathBuf,
    },
    /// A folder (`train/`, `test/`) without images or class folders.
    #[error("{dir}: no images (.png, .jpg, .jpeg) and no class folders")]
    NoImages {
        /// The folder.
        dir: PathBuf,
    },
    /// More class folders than a label (`u8`) tells apart.
    #[error("{dir}: {count} class folders, but labels tell at most 256 classes apart")]
    TooManyClasses {
        /// The folder holding the class folders.
        dir: PathBuf,
        /// Class folders found.
        count: usize,
    },
    /// An image folder laid out against the convention ([`load_folder`]).
    #[error("{dir}: {problem}")]
    Layout {
        /// The folder.
        dir: PathBuf,
        /// What is wrong, and what would be right.
        problem: String,
    },
    /// Holding out `--test-fraction` of each class leaves a split empty.
    #[error(
        "{dir}: holding out {fraction} of each class leaves no {split} images: change --test-fraction, or give train/ and test/ folders"
    )]
    EmptySplit {
        /// The image folder.
        dir: PathBuf,
        /// "test" or "training".
        split: &'static str,
        /// The share held out.
        fraction: f64,
    },
}

impl From<WriteError> for DataError {
    fn from(err: WriteError) -> Self {
        DataError::Io {
            path: err.path,
            source: err.source,
        }
    }
}

/// Side length of an MNIST-format image.
pub const SIDE: usize = 28;
/// Pixels per MNIST-format image.
pub const PIXELS: usize = SIDE * SIDE;

/// An image's height, width and channels: its bytes are row-major, the
/// channels of a pixel together (HWC), one byte each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ImageShape {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// 1 (gray) or 3 (RGB).
    pub channels: usize,
}

impl ImageShape {
    /// MNIST's and Fashion-MNIST's images: 28x28 gray.
    pub const MNIST: Self = Self {
        height: SIDE,
        width: SIDE,
        channels: 1,
    };

    /// Bytes per image.
    pub const fn len(&self) -> usize {
        self.height * self.width * self.channels
    }

    /// Whether an image of this shape has no bytes.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// (height, width, channels), as `pictures::Grid` takes it.
    pub const fn hwc(&self) -> (usize, usize, usize) {
        (self.height, self.width, self.channels)
    }
}

impl std::fmt::Display for ImageShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.channels {
            1 => "gray".to_owned(),
            3 => "RGB".to_owned(),
            c => format!("{c} channels"),
        };
        write!(f, "{}x{} {kind}", self.height, self.width)
    }
}

/// Images of one shape, with their labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// `len() * shape.len()` bytes.
    pub pixels: Vec<u8>,
    /// One label per image.
    pub labels: Vec<u8>,
    /// Every image's shape.
    pub shape: ImageShape,
}

impl Split {
    /// MNIST-format (28x28 gray) images and their labels.
    pub fn mnist(pixels: Vec<u8>, labels: Vec<u8>) -> Self {
        Self {
            pixels,
            labels,
            shape: ImageShape::MNIST,
        }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Image `i`: its `shape.len()` bytes.
    pub fn image(&self, i: usize) -> &[u8] {
        let len = self.shape.len();
        &self.pixels[i * len..(i + 1) * len]
    }

    /// The images in order, `shape.len()` bytes each.
    pub fn images(&self) -> std::slice::ChunksExact<'_, u8> {
        self.pixels.chunks_exact(self.shape.len())
    }

    /// Every image with its label, in order.
    pub fn labelled(&self) -> impl Iterator<Item = (&[u8], u8)> {
        self.images().zip(self.labels.iter().copied())
    }

    /// The first `n` images (all of them if there are fewer).
    pub fn truncated(mut self, n: usize) -> Self {
        let n = n.min(self.len());
        self.pixels.truncate(n * self.shape.len());
        self.labels.truncate(n);
        self
    }
}

/// A training and a test split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSet {
    /// The training images (IDX: the `train-*` files).
    pub train: Split,
    /// The test images (IDX: the `t10k-*` files).
    pub test: Split,
    /// The classes' names, label by label, where the data names them (an
    /// image folder's class folders; empty for a folder without classes);
    /// `None` for IDX files, which carry no names ([`DataSet::class_names`]).
    pub names: Option<Vec<String>>,
}

/// Fashion-MNIST's ten class names, in label order.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// SHA-256 of Fashion-MNIST's 10,000 test labels (the values, without the
/// IDX header): how [`DataSet::class_names`] knows the data set.
const FASHION_MNIST_TEST_LABELS_SHA256: &str =
    "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9";

impl DataSet {
    /// Number of classes: as many as [`DataSet::names`] names (0 for an
    /// image folder without class folders: training is then
    /// unconditional), else one more than the largest label of either split
    /// (0 without images).
    pub fn classes(&self) -> usize {
        if let Some(names) = &self.names {
            return names.len();
        }
        let labels = self.train.labels.iter().chain(&self.test.labels);
        labels.max().map_or(0, |&m| usize::from(m) + 1)
    }

    /// The images' shape (the training split's).
    pub fn shape(&self) -> ImageShape {
        self.train.shape
    }

    /// The names of classes `0..count`: the data's own ([`DataSet::names`]),
    /// else Fashion-MNIST's names when these are its labels (recognised by
    /// their content, wherever the files came from), otherwise `class
    /// {label}` (IDX files carry no names).
    pub fn class_names(&self, count: u16) -> Vec<String> {
        if let Some(names) = &self.names {
            return (0..count)
                .map(|label| {
                    names
                        .get(usize::from(label))
                        .cloned()
                        .unwrap_or_else(|| format!("class {label}"))
                })
                .collect();
        }
        let fashion = sha256_hex(&self.test.labels[..])
            .is_ok_and(|digest| digest == FASHION_MNIST_TEST_LABELS_SHA256);
        (0..count)
            .map(
                |label| match FASHION_MNIST_CLASSES.get(usize::from(label)) {
                    Some(name) if fashion => (*name).to_owned(),
                    _ => format!("class {label}"),
                },
            )
            .collect()
    }
}

/// Reads the data set in `dir` as `options` say: IDX files when `dir` holds
/// any of the four (then `options` must be the default: IDX images are 28x28
/// gray with their own test split), else an image folder
/// ([`load_folder`]), else [`DataError::NotData`].
pub fn load(dir: &Path, options: &DataOptions) -> Result<DataSet, DataError> {
    if !is_idx(dir) {
        return load_folder(dir, options);
    }
    refuse_options_for_idx(dir, options)?;
    load_dir(dir)
}

/// Whether `dir` holds any of the four IDX files (raw or `.gz`, either
/// spelling).
fn is_idx(dir: &Path) -> bool {
    ["train", "t10k"].iter().any(|prefix| {
        ["images-idx3", "labels-idx1"]
            .iter()
            .any(|kind| find_file(dir, &format!("{prefix}-{kind}-ubyte")).is_ok())
    })
}

/// An error naming the first of `options` given, which IDX files in
/// `dir` do not take.
pub fn refuse_options_for_idx(dir: &Path, options: &DataOptions) -> Result<(), DataError> {
    match options.given().first() {
        Some(option) => Err(DataError::Inapplicable {
            dir: dir.to_owned(),
            option: (*option).to_owned(),
            reason: "it holds IDX files (28x28 gray images with their own test split), and the option is for image folders".into(),
        }),
        None => Ok(()),
    }
}

/// Reads the four files of an MNIST-format data set from `dir`:
/// `{train,t10k}-{images-idx3,labels-idx1}-ubyte`, each raw or `.gz` (also the
/// `train-images.idx3-ubyte` spelling).
pub fn load_dir(dir: &Path) -> Result<DataSet, DataError> {
    Ok(DataSet {
        train: load_split(dir, "train")?,
        test: load_split(dir, "t10k")?,
        names: None,
    })
}

fn load_split(dir: &Path, prefix: &str) -> Result<Split, DataError> {
    let images_path = find_file(dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let labels_path = find_file(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    let pixels = read_images(&images_path)?;
    let labels = read_labels(&labels_path)?;
    let image_count = pixels.len() / PIXELS;
    if image_count != labels.len() {
        return Err(DataError::LabelCount {
            images: images_path,
            labels: labels_path,
            image_count,
            label_count: labels.len(),
        });
    }
    Ok(Split::mnist(pixels, labels))
}

fn find_file(dir: &Path, stem: &str) -> Result<PathBuf, DataError> {
    let dotted = stem.replacen("-idx", ".idx", 1);
    [stem, &dotted]
        .iter()
        .flat_map(|name| [dir.join(name), dir.join(format!("{name}.gz"))])
        .find(|path| path.is_file())
        .ok_or_else(|| DataError::Missing {
            dir: dir.to_owned(),
            stem: stem.to_owned(),
        })
}

/// Reads an `idx3-ubyte` images file (raw or gzip) of 28x28 images: the pixels,
/// row-major, image after image.
pub fn read_images(path: &Path) -> Result<Vec<u8>, DataError> {
    let (dims, values) = read_idx(path, IMAGES_MAGIC, "images", 3)?;
    if dims[1..] != [SIDE, SIDE] {
        return Err(DataError::ImageSize {
            path: path.to_owned(),
            rows: dims[1],
            cols: dims[2],
        });
    }
    Ok(values)
}

/// Reads an `idx1-ubyte` labels file (raw or gzip).
pub fn read_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    read_idx(path, LABELS_MAGIC, "labels", 1).map(|(_, values)| values)
}

/// Reads a whole IDX file of bytes, checking its header against its length.
fn read_idx(
    path: &Path,
    magic: u32,
    kind: &'static str,
    ndim: usize,
) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let io_err = |source| DataError::Io {
        path: path.to_owned(),
        source,
    };
    let raw = fs::read(path).map_err(io_err)?;
    let bytes = if raw.starts_with(&GZIP_MAGIC) {
        let mut out = Vec::new();
        GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(io_err)?;
        out
    } else {
        raw
    };
    let header_len = 4 + 4 * ndim;
    let truncated = |expected| DataError::Truncated {
        path: path.to_owned(),
        expected,
        found: bytes.len(),
    };
    if bytes.len() < 4 {
        return Err(truncated(header_len as u128));
    }
    let word = |i: usize| u32::from_be_bytes(bytes[4 * i..4 * i + 4].try_into().expect("4 bytes"));
    if word(0) != magic {
        return Err(DataError::BadMagic {
            path: path.to_owned(),
            kind,
            found: word(0),
            expected: magic,
        });
    }
    if bytes.len() < header_len {
        return Err(truncated(header_len as u128));
    }
    let dims: Vec<usize> = (1..=ndim).map(|i| word(i) as usize).collect();
    // In u128: the product of three u32 dimensions a corrupt header announces
    // can overflow usize.
    let values: u128 = dims.iter().map(|&dim| dim as u128).product();
    let expected = header_len as u128 + values;
    if (bytes.len() as u128) < expected {
        return Err(truncated(expected));
    }
    let expected = expected as usize; // at most bytes.len()
    if bytes.len() > expected {
        return Err(DataError::CountMismatch {
            path: path.to_owned(),
            count: dims[0],
            expected,
            found: bytes.len(),
        });
    }
    Ok((dims, bytes[header_len..].to_vec()))
}

/// Encodes images (28x28 each) as an `idx3-ubyte` file's bytes.
pub fn encode_images(pixels: &[u8]) -> Vec<u8> {
    let mut out = idx_header(IMAGES_MAGIC, &[pixels.len() / PIXELS, SIDE, SIDE]);
    out.extend_from_slice(pixels);
    out
}

/// Encodes labels as an `idx1-ubyte` file's bytes.
pub fn encode_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = idx_header(LABELS_MAGIC, &[labels.len()]);
    out.extend_from_slice(labels);
    out
}

fn idx_header(magic: u32, dims: &[usize]) -> Vec<u8> {
    let mut out = magic.to_be_bytes().to_vec();
    for &dim in dims {
        out.extend_from_slice(&(dim as u32).to_be_bytes());
    }
    out
}

/// Writes a data set as the four raw IDX files into `dir` (created if needed).
pub fn write_dir(dir: &Path, data: &DataSet) -> Result<(), DataError> {
    fs::create_dir_all(dir).map_err(|source| DataError::Io {
        path: dir.to_owned(),
        source,
    })?;
    for (prefix, split) in [("train", &data.train), ("t10k", &data.test)] {
        write_atomic(
            &dir.join(format!("{prefix}-images-idx3-ubyte")),
            &encode_images(&split.pixels),
        )?;
        write_atomic(
            &dir.join(format!("{prefix}-labels-idx1-ubyte")),
            &encode_labels(&split.labels),
        )?;
    }
    Ok(())
}

mod folder;
mod options;
pub use folder::{load_folder, write_folder};
pub use options::{Channels, DEFAULT_TEST_FRACTION, DataOptions, Size};

mod download;
pub use download::{
    CAN_DOWNLOAD, PinnedFile, Source, download, install_verified, require_https, sha256_file,
    sha256_hex, verify_sha256,
};

#[cfg(test)]
mod tests;
