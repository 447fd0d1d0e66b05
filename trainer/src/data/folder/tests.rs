//! Image folders generated here: layouts, shapes, conversions, each error
//! (one line naming the file or folder), and Fashion-MNIST written out as
//! PNGs reading back as its IDX files.

use std::path::{Path, PathBuf};
use std::time::Instant;

use image::{DynamicImage, GrayImage, Rgb, RgbImage, Rgba, RgbaImage};

use crate::data::{
    Channels, DEFAULT_DATA_DIR, DataError, DataOptions, DataSet, FASHION_MNIST_CLASSES, ImageShape,
    Size, Split, load, load_dir, load_folder, write_dir, write_folder,
};

/// A gray image whose pixels depend on `seed` and their place.
fn gray(height: u32, width: u32, seed: u32) -> GrayImage {
    GrayImage::from_fn(width, height, |x, y| {
        image::Luma([((x * 31 + y * 17 + seed * 53) % 256) as u8])
    })
}

/// An RGB image whose pixels depend on `seed` and their place.
fn rgb(height: u32, width: u32, seed: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let v = x * 31 + y * 17 + seed * 53;
        Rgb([(v % 256) as u8, (v * 3 % 256) as u8, (v * 7 % 256) as u8])
    })
}

/// Saves `image` at `root/relative` (format by extension), creating folders.
fn save(root: &Path, relative: &str, image: impl Into<DynamicImage>) -> PathBuf {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image.into().save(&path).unwrap();
    path
}

/// The one-line message of loading `dir` with `options`, which must fail.
fn error(dir: &Path, options: &DataOptions) -> (DataError, String) {
    let err = load(dir, options).unwrap_err();
    let message = err.to_string();
    assert!(!message.contains('\n'), "{message}");
    (err, message)
}

/// Gray 4x6 images `count` of them in each of `classes` under `root`.
fn gray_classes(root: &Path, classes: &[&str], count: u32) {
    for (k, class) in classes.iter().enumerate() {
        for i in 0..count {
            save(
                root,
                &format!("{class}/{i:03}.png"),
                gray(4, 6, k as u32 * 100 + i),
            );
        }
    }
}

#[test]
fn labelled_rgb_and_gray_pngs_and_a_jpeg_in_train_and_test() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    save(root, "train/cat/a.png", rgb(4, 6, 1));
    save(root, "train/cat/b.png", gray(4, 6, 2));
    // A flat colour survives JPEG's compression to within a few levels.
    save(
        root,
        "train/dog/c.jpg",
        RgbImage::from_pixel(6, 4, Rgb([200, 80, 40])),
    );
    save(root, "test/dog/d.png", rgb(4, 6, 3));
    std::fs::write(root.join("train/notes.txt"), "not an image").unwrap();
    std::fs::create_dir(root.join("test/.hidden")).unwrap();

    let data = load(root, &DataOptions::default()).unwrap();
    assert_eq!(data.names, Some(vec!["cat".to_owned(), "dog".to_owned()]));
    assert_eq!(data.classes(), 2);
    let shape = ImageShape {
        height: 4,
        width: 6,
        channels: 3,
    };
    assert_eq!((data.shape(), data.test.shape), (shape, shape));
    assert_eq!(data.train.labels, [0, 0, 1]);
    assert_eq!(data.test.labels, [1]);
    assert_eq!(data.train.image(0), rgb(4, 6, 1).as_raw().as_slice());
    let replicated: Vec<u8> = gray(4, 6, 2).iter().flat_map(|&g| [g; 3]).collect();
    assert_eq!(data.train.image(1), replicated.as_slice(), "gray repeated");
    for (value, expected) in data
        .train
        .image(2)
        .iter()
        .zip([200u8, 80, 40].iter().cycle())
    {
        assert!(value.abs_diff(*expected) <= 4, "JPEG {value} vs {expected}");
    }
    assert_eq!(data.test.image(0), rgb(4, 6, 3).as_raw().as_slice());
}

#[test]
fn a_gray_folder_is_one_channel_and_its_bytes_are_the_files() {
    let dir = tempfile::tempdir().unwrap();
    save(dir.path(), "train/x/1.png", gray(5, 3, 1));
    save(dir.path(), "test/x/1.png", gray(5, 3, 2));
    let data = load(dir.path(), &DataOptions::default()).unwrap();
    assert_eq!(data.shape().hwc(), (5, 3, 1));
    assert_eq!(data.train.pixels, gray(5, 3, 1).into_raw());
    assert_eq!(data.test.pixels, gray(5, 3, 2).into_raw());
}

/// Without train/ and test/, a fixed share of each class (rounded) is
/// held out, the same every time, and every image lands in one split.
#[test]
fn held_out_test_images_are_stratified_and_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    gray_classes(dir.path(), &["a", "b"], 20);
    save(dir.path(), "b/more/020.png", gray(4, 6, 120)); // sub-folders count
    let options = DataOptions {
        test_fraction: Some(0.25),
        ..DataOptions::default()
    };
    let data = load(dir.path(), &options).unwrap();
    let count = |split: &Split, label| split.labels.iter().filter(|&&l| l == label).count();
    assert_eq!((count(&data.test, 0), count(&data.test, 1)), (5, 5)); // 0.25 * 21 = 5.25
    assert_eq!((count(&data.train, 0), count(&data.train, 1)), (15, 16));
    assert_eq!(load(dir.path(), &options).unwrap(), data, "deterministic");
    let mut all: Vec<(u8, &[u8])> = data
        .train
        .labelled()
        .chain(data.test.labelled())
        .map(|(x, l)| (l, x))
        .collect();
    all.sort();
    let mut expected: Vec<(u8, Vec<u8>)> = (0..20)
        .map(|i| (0, gray(4, 6, i).into_raw()))
        .chain((100..=120).map(|i| (1, gray(4, 6, i).into_raw())))
        .collect();
    expected.sort();
    let expected: Vec<(u8, &[u8])> = expected.iter().map(|(l, x)| (*l, x.as_slice())).collect();
    assert_eq!(all, expected, "every image once");

    let default = load(dir.path(), &DataOptions::default()).unwrap();
    assert_eq!(default.test.len(), 4, "10% of 20 and of 21, rounded");
}

#[test]
fn a_folder_without_classes_is_unconditional() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..10 {
        save(dir.path(), &format!("{i}.png"), gray(4, 4, i));
    }
    let data = load(dir.path(), &DataOptions::default()).unwrap();
    assert_eq!(data.names, Some(vec![]));
    assert_eq!(data.classes(), 0);
    assert_eq!((data.train.len(), data.test.len()), (9, 1));
    assert!(
        data.train
            .labels
            .iter()
            .chain(&data.test.labels)
            .all(|&l| l == 0)
    );
}

/// --size resizes every image (so sizes may differ), with Lanczos3: a flat
/// image stays flat, and one already of the size is untouched.
#[test]
fn size_resizes_every_image() {
    let dir = tempfile::tempdir().unwrap();
    save(
        dir.path(),
        "train/a/big.png",
        GrayImage::from_pixel(24, 16, image::Luma([90])),
    );
    save(
        dir.path(),
        "train/a/small.png",
        GrayImage::from_pixel(3, 2, image::Luma([200])),
    );
    save(dir.path(), "test/a/same.png", gray(8, 12, 5));
    let options = DataOptions {
        size: Some(Size {
            height: 8,
            width: 12,
        }),
        ..DataOptions::default()
    };
    let data = load(dir.path(), &options).unwrap();
    assert_eq!(data.shape().hwc(), (8, 12, 1));
    assert!(
        data.train.image(0).iter().all(|&v| v == 90),
        "{:?}",
        data.train.image(0)
    );
    assert!(
        data.train.image(1).iter().all(|&v| v == 200),
        "{:?}",
        data.train.image(1)
    );
    assert_eq!(data.test.pixels, gray(8, 12, 5).into_raw());
}

/// --channels 1 takes ITU-R 601 luma, --channels 3 repeats gray; alpha is
/// composited onto black.
#[test]
fn channels_convert_and_alpha_goes_onto_black() {
    let dir = tempfile::tempdir().unwrap();
    save(
        dir.path(),
        "train/a/1-red.png",
        RgbImage::from_pixel(2, 2, Rgb([255, 0, 0])),
    );
    let half_white = RgbaImage::from_fn(2, 2, |x, _| Rgba([255, 255, 255, [128, 0][x as usize]]));
    save(dir.path(), "train/a/2-alpha.png", half_white);
    save(
        dir.path(),
        "test/a/gray.png",
        GrayImage::from_pixel(2, 2, image::Luma([7])),
    );
    let with = |channels| DataOptions {
        channels: Some(channels),
        ..DataOptions::default()
    };
    let data = load(dir.path(), &with(Channels::Gray)).unwrap();
    assert_eq!(data.shape().channels, 1);
    assert_eq!(data.train.image(0), [76; 4], "luma of red");
    assert_eq!(
        data.train.image(1),
        [128, 0, 128, 0],
        "white at alpha 128, 0"
    );
    assert_eq!(data.test.image(0), [7; 4]);
    let data = load(dir.path(), &with(Channels::Rgb)).unwrap();
    assert_eq!(data.shape().channels, 3);
    assert_eq!(data.train.image(0), [255, 0, 0].repeat(4));
    assert_eq!(data.test.image(0), [7; 12]);
    let inferred = load(dir.path(), &DataOptions::default()).unwrap();
    assert_eq!(inferred, data, "colour files: RGB");
}

/// One data directory argument: IDX files are IDX (and take no folder
/// options), anything else an image folder.
#[test]
fn load_tells_idx_from_folders() {
    let dir = tempfile::tempdir().unwrap();
    let idx = DataSet {
        train: Split::mnist(vec![9; 2 * 784], vec![0, 1]),
        test: Split::mnist(vec![3; 784], vec![1]),
        names: None,
    };
    write_dir(dir.path(), &idx).unwrap();
    assert_eq!(load(dir.path(), &DataOptions::default()).unwrap(), idx);
    let options = DataOptions {
        channels: Some(Channels::Rgb),
        ..DataOptions::default()
    };
    let (err, message) = error(dir.path(), &options);
    assert!(matches!(err, DataError::Inapplicable { .. }), "{message}");
    assert!(
        message.contains("--channels does not apply: it holds IDX files"),
        "{message}"
    );
    // One IDX file is enough to be read as IDX (and to miss the others).
    std::fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte")).unwrap();
    let (err, _) = error(dir.path(), &DataOptions::default());
    assert!(matches!(err, DataError::Missing { .. }), "{err}");
}

#[test]
fn written_folders_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let shape = ImageShape {
        height: 2,
        width: 3,
        channels: 3,
    };
    let split = |n: usize| Split {
        pixels: (0..n * shape.len()).map(|i| (i * 13 % 256) as u8).collect(),
        labels: (0..n).map(|i| (i % 2) as u8).collect(),
        shape,
    };
    let names = vec!["b/slash".to_owned(), "a".to_owned()];
    let data = DataSet {
        train: split(4),
        test: split(2),
        names: Some(names),
    };
    write_folder(dir.path(), &data).unwrap();
    assert!(dir.path().join("train/b_slash/0.png").is_file());
    let read = load(dir.path(), &DataOptions::default()).unwrap();
    assert_eq!(read.names, Some(vec!["a".to_owned(), "b_slash".to_owned()]));
    // Labels follow the names' byte order: b/slash (0) became 1.
    let swapped: Vec<u8> = data.train.labels.iter().map(|l| 1 - l).collect();
    let by_label = |s: &Split, labels: &[u8]| {
        let mut v: Vec<(u8, Vec<u8>)> = s
            .images()
            .zip(labels)
            .map(|(x, &l)| (l, x.to_vec()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        by_label(&read.train, &read.train.labels),
        by_label(&data.train, &swapped)
    );

    let unlabelled = DataSet {
        names: Some(vec![]),
        ..data
    };
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path(), &unlabelled).unwrap();
    assert!(dir.path().join("test/1.png").is_file());
    let read = load(dir.path(), &DataOptions::default()).unwrap();
    assert_eq!(read.classes(), 0);
    assert_eq!(read.train.pixels, unlabelled.train.pixels);
}

// --- Errors: one line each, naming the file or folder. ---

#[test]
fn a_corrupt_image_is_named() {
    let dir = tempfile::tempdir().unwrap();
    gray_classes(dir.path(), &["a"], 10);
    let png = dir.path().join("a/005.png");
    let bytes = std::fs::read(&png).unwrap();
    std::fs::write(&png, &bytes[..bytes.len() / 2]).unwrap();
    let (err, message) = error(dir.path(), &DataOptions::default());
    assert!(matches!(err, DataError::Image { .. }), "{message}");
    assert!(
        message.starts_with(&format!(
            "{}: not a readable PNG or JPEG image: ",
            png.display()
        )),
        "{message}"
    );
    std::fs::write(&png, b"plain text").unwrap();
    let (_, message) = error(dir.path(), &DataOptions::default());
    assert!(
        message.starts_with(&format!("{}: not a readable", png.display())),
        "{message}"
    );
}

#[test]
fn mixed_sizes_name_both_files_and_sizes() {
    let dir = tempfile::tempdir().unwrap();
    gray_classes(dir.path(), &["a", "b"], 10);
    let odd = save(dir.path(), "b/004.png", gray(5, 6, 0));
    let (err, message) = error(dir.path(), &DataOptions::default());
    assert!(matches!(err, DataError::MixedSizes { .. }), "{message}");
    let first = dir.path().join("a/000.png");
    assert_eq!(
        message,
        format!(
            "{}: 5x6 pixels, but {} is 4x6: give --size HxW to resize every image",
            odd.display(),
            first.display()
        )
    );
}

#[test]
fn empty_class_folder() {
    let dir = tempfile::tempdir().unwrap();
    gray_classes(dir.path(), &["a", "c"], 10);
    std::fs::create_dir_all(dir.path().join("b/sub")).unwrap();
    std::fs::write(dir.path().join("b/readme.txt"), "no images").unwrap();
    let (err, message) = error(dir.path(), &DataOptions::default());
    assert!(matches!(err, DataError::EmptyClass { .. }), "{message}");
    assert!(
        message.starts_with(&format!(
            "{}: empty class folder",
            dir.path().join("b").display()
        )),
        "{message}"
    );
}

#[test]
fn folders_without_images() {
    let dir = tempfile::tempdir().unwrap();
    save(dir.path(), "train/1.png", gray(2, 2, 0));
    std::fs::create_dir(dir.path().join("test")).unwrap();
    let (err, message) = error(dir.path(), &DataOptions::default());
    assert!(matches!(err, DataError::NoImages { .. }), "{message}");
    assert!(
        message.starts_with(&format!("{}: no images", dir.path().join("test").display())),
        "{message}"
    );

    let empty = tempfile::tempdir().unwrap();
    std::fs::write(empty.path().join("a.bmp"), "").unwrap();
    for dir in [empty.path().to_owned(), empty.path().join("absent")] {
        let (err, message) = error(&dir, &DataOptions::default());
        assert!(matches!(err, DataError::NotData { .. }), "{message}");
        assert!(
            message.starts_with(&format!("{}: no data: neither IDX files", dir.display())),
            "{message}"
        );
    }
}

#[test]
fn more_classes_than_labels_hold() {
    let dir = tempfile::tempdir().unwrap();
    for class in 0..257 {
        for i in 0..2 {
            save(dir.path(), &format!("c{class:03}/{i}.png"), gray(1, 1, i));
        }
    }
    let (err, message) = error(dir.path(), &DataOptions::default());
    assert!(
        matches!(err, DataError::TooManyClasses { count: 257, .. }),
        "{message}"
    );
    assert!(
        message.starts_with(&format!("{}: 257 class folders", dir.path().display())),
        "{message}"
    );
    std::fs::remove_dir_all(dir.path().join("c256")).unwrap();
    let data = load(
        dir.path(),
        &DataOptions {
            test_fraction: Some(0.5),
            ..DataOptions::default()
        },
    )
    .unwrap();
    assert_eq!(data.classes(), 256);
    assert_eq!(data.test.labels.iter().max(), Some(&255));
}

#[test]
fn layouts_against_the_convention() {
    let options = DataOptions::default();
    // Images beside class folders.
    let dir = tempfile::tempdir().unwrap();
    gray_classes(dir.path(), &["a"], 10);
    save(dir.path(), "stray.png", gray(4, 6, 0));
    let (err, message) = error(dir.path(), &options);
    assert!(matches!(err, DataError::Layout { .. }), "{message}");
    assert!(message.contains("beside class folders"), "{message}");
    // train/ without test/.
    let dir = tempfile::tempdir().unwrap();
    save(dir.path(), "train/a/0.png", gray(4, 6, 0));
    let (_, message) = error(dir.path(), &options);
    assert!(
        message.contains("exactly two folders, train/ and test/"),
        "{message}"
    );
    // A test class that training does not know.
    save(dir.path(), "test/b/0.png", gray(4, 6, 0));
    let (_, message) = error(dir.path(), &options);
    let b = dir.path().join("test/b");
    assert!(
        message.starts_with(&format!("{}: no class folder of this name in", b.display())),
        "{message}"
    );
    // Classes in one split, none in the other.
    std::fs::remove_dir_all(&b).unwrap();
    save(dir.path(), "test/0.png", gray(4, 6, 0));
    let (_, message) = error(dir.path(), &options);
    assert!(
        message.contains("must both hold class folders"),
        "{message}"
    );
    // --test-fraction where test/ is given.
    std::fs::remove_file(dir.path().join("test/0.png")).unwrap();
    save(dir.path(), "test/a/0.png", gray(4, 6, 0));
    load(dir.path(), &options).unwrap();
    let fraction = DataOptions {
        test_fraction: Some(0.2),
        ..options
    };
    let (err, message) = error(dir.path(), &fraction);
    assert!(matches!(err, DataError::Inapplicable { .. }), "{message}");
    assert!(
        message.contains("--test-fraction does not apply: its test images are in test/"),
        "{message}"
    );
}

#[test]
fn test_fractions_must_leave_both_splits_images() {
    let dir = tempfile::tempdir().unwrap();
    gray_classes(dir.path(), &["a", "b"], 3);
    let with = |fraction| DataOptions {
        test_fraction: Some(fraction),
        ..DataOptions::default()
    };
    for bad in [0.0, 1.0, -0.5, f64::NAN] {
        let (err, _) = error(dir.path(), &with(bad));
        assert!(
            matches!(err, DataError::TestFraction { .. }),
            "{bad}: {err}"
        );
    }
    let (err, message) = error(dir.path(), &with(0.1)); // 0.3 rounds to 0
    assert!(
        matches!(err, DataError::EmptySplit { split: "test", .. }),
        "{message}"
    );
    let (err, _) = error(dir.path(), &with(0.9)); // 2.7 rounds to 3
    assert!(
        matches!(
            err,
            DataError::EmptySplit {
                split: "training",
                ..
            }
        ),
        "{err}"
    );
    let data = load(dir.path(), &with(0.5)).unwrap();
    assert_eq!((data.train.len(), data.test.len()), (2, 4)); // 1.5 rounds to 2
}

// --- Fashion-MNIST as a folder of PNGs reads back as its IDX files. ---

/// Writes `data` (Fashion-MNIST's images, or some of them) as a PNG folder,
/// reads it back, and checks each split holds the same images with the
/// same classes (as sorted multisets of (class name, pixels): the folder's
/// labels follow the names' byte order, not Fashion-MNIST's label order),
/// and that the class names are Fashion-MNIST's.
fn fashion_round_trip(data: &DataSet) {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    write_folder(dir.path(), data).unwrap();
    let written = started.elapsed();
    let read = load_folder(dir.path(), &DataOptions::default()).unwrap();
    eprintln!(
        "wrote {} PNGs in {written:.1?}, read them back in {:.1?}",
        data.train.len() + data.test.len(),
        started.elapsed() - written
    );
    let folder_name = |name: &str| name.replace('/', "_");
    let mut expected_names: Vec<String> = FASHION_MNIST_CLASSES.map(folder_name).to_vec();
    expected_names.sort();
    let names = read.names.clone().unwrap();
    assert_eq!(names, expected_names);
    assert_eq!(read.shape(), ImageShape::MNIST);
    for (ours, theirs) in [(&read.train, &data.train), (&read.test, &data.test)] {
        let mut ours: Vec<(&str, &[u8])> = ours
            .labelled()
            .map(|(x, l)| (names[usize::from(l)].as_str(), x))
            .collect();
        let theirs_names: Vec<String> = FASHION_MNIST_CLASSES.map(folder_name).to_vec();
        let mut theirs: Vec<(&str, &[u8])> = theirs
            .labelled()
            .map(|(x, l)| (theirs_names[usize::from(l)].as_str(), x))
            .collect();
        ours.sort_unstable();
        theirs.sort_unstable();
        assert!(
            ours == theirs,
            "the folder's images differ from the IDX files'"
        );
    }
}

/// Fashion-MNIST's IDX files, or `None` (with a message) where absent.
fn fashion_mnist() -> Option<DataSet> {
    let dir = Path::new(DEFAULT_DATA_DIR);
    match load_dir(dir) {
        Ok(data) => Some(data),
        Err(err) => {
            eprintln!("skipped: no Fashion-MNIST in {DEFAULT_DATA_DIR} ({err})");
            None
        }
    }
}

/// The first 2,000 training and 500 test images, named explicitly (the
/// names are recognised by the whole test split's labels).
#[test]
fn part_of_fashion_mnist_as_pngs_reads_back_the_same() {
    let Some(data) = fashion_mnist() else { return };
    let part = DataSet {
        train: data.train.truncated(2000),
        test: data.test.truncated(500),
        names: Some(FASHION_MNIST_CLASSES.map(String::from).to_vec()),
    };
    fashion_round_trip(&part);
}

/// All 70,000 images, the class names found from the labels. Too slow to
/// run always (2 min 20 s in a debug build on the 2-core machine):
/// README.md ("Use your own data") gives the command.
#[test]
#[ignore = "writes and reads 70,000 PNGs (over 2 min in a debug build): cargo test -p tinyvae-trainer --lib fashion_mnist_as_pngs -- --ignored"]
fn fashion_mnist_as_pngs_reads_back_the_same() {
    let Some(data) = fashion_mnist() else { return };
    fashion_round_trip(&data);
}
