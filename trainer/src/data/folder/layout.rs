//! Which image files a folder holds, under which labels and in which split:
//! the `ImageFolder` convention (torchvision's, burn-dataset's), with the
//! test split either in its own folder or held out ([`super::holdout`]).

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use super::holdout::hold_out;
use crate::data::{DEFAULT_TEST_FRACTION, DataError};

/// The file extensions read as images (any case).
const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// The folders of a data set that comes split.
const TRAIN: &str = "train";
const TEST: &str = "test";

/// The most classes a label (`u8`) tells apart.
const MAX_CLASSES: usize = 256;

/// One image file and its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Item {
    /// The file.
    pub path: PathBuf,
    /// Its class's index in [`Layout::names`]; 0 without classes.
    pub label: u8,
}

/// An image folder's files, split.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Layout {
    /// The class folders' names, sorted (byte order); empty when the images
    /// are not in class folders.
    pub names: Vec<String>,
    /// The training images, class by class, each class's by path.
    pub train: Vec<Item>,
    /// The test images, in the same order.
    pub test: Vec<Item>,
}

/// The files of `dir` and their splits: `dir/train/` and `dir/test/` when
/// there are such folders ([`given_split`]), else `dir` itself with a
/// share of each class held out (`test_fraction`, else
/// [`DEFAULT_TEST_FRACTION`]; [`split_by_holdout`]). Each of these folders
/// holds either class folders (their images labelled by the class's index
/// among the sorted names; images in sub-folders of a class count too) or
/// images directly (no classes, every label 0). Names starting with `.`
/// are skipped, and files are images by their extension ([`EXTENSIONS`]).
pub(super) fn discover(dir: &Path, test_fraction: Option<f64>) -> Result<Layout, DataError> {
    let not_data = || DataError::NotData {
        dir: dir.to_owned(),
    };
    if !dir.is_dir() {
        return Err(not_data());
    }
    let top = Entries::read(dir)?;
    if top.is_empty() {
        return Err(not_data());
    }
    let has = |name: &str| top.dirs.iter().any(|(n, _)| n == name);
    if !(has(TRAIN) || has(TEST)) {
        let fraction = test_fraction.unwrap_or(DEFAULT_TEST_FRACTION);
        return split_by_holdout(dir, Root::of(dir, top)?, fraction);
    }
    let others =
        top.dirs.len() + top.images.len() - usize::from(has(TRAIN)) - usize::from(has(TEST));
    if !(has(TRAIN) && has(TEST)) || others > 0 {
        return Err(DataError::Layout {
            dir: dir.to_owned(),
            problem: format!(
                "a split data set holds exactly two folders, {TRAIN}/ and {TEST}/ (a class named {TRAIN} or {TEST} needs another name)"
            ),
        });
    }
    if test_fraction.is_some() {
        return Err(DataError::Inapplicable {
            dir: dir.to_owned(),
            option: "--test-fraction".into(),
            reason: format!("its test images are in {TEST}/"),
        });
    }
    given_split(dir)
}

/// The layout of `dir/train/` and `dir/test/`: both with class folders
/// (the test classes among the training ones), or both without.
fn given_split(dir: &Path) -> Result<Layout, DataError> {
    let train_dir = dir.join(TRAIN);
    let test_dir = dir.join(TEST);
    let train = Root::read(&train_dir)?;
    let test = Root::read(&test_dir)?;
    match (train, test) {
        (Root::Unlabelled(train), Root::Unlabelled(test)) => Ok(Layout {
            names: Vec::new(),
            train: labelled(train, 0).collect(),
            test: labelled(test, 0).collect(),
        }),
        (Root::Classes(train), Root::Classes(test)) => {
            let names: Vec<String> = train.iter().map(|class| class.name.clone()).collect();
            let mut test_items = Vec::new();
            for class in test {
                let label = names.iter().position(|name| *name == class.name);
                let label = label.ok_or_else(|| DataError::Layout {
                    dir: class.dir.clone(),
                    problem: format!("no class folder of this name in {}", train_dir.display()),
                })?;
                test_items.extend(labelled(class.files, label));
            }
            let train_items = train
                .into_iter()
                .enumerate()
                .flat_map(|(label, class)| labelled(class.files, label))
                .collect();
            Ok(Layout {
                names,
                train: train_items,
                test: test_items,
            })
        }
        _ => Err(DataError::Layout {
            dir: dir.to_owned(),
            problem: format!(
                "{TRAIN}/ and {TEST}/ must both hold class folders, or both images directly"
            ),
        }),
    }
}

/// `files`, each labelled `label`.
fn labelled(files: Vec<PathBuf>, label: usize) -> impl Iterator<Item = Item> {
    let label = u8::try_from(label).expect("at most MAX_CLASSES classes");
    files.into_iter().map(move |path| Item { path, label })
}

/// The layout of `root` (the folder `dir`) with `fraction` of each class
/// held out for testing ([`hold_out`]); an error if either split is left
/// empty.
fn split_by_holdout(dir: &Path, root: Root, fraction: f64) -> Result<Layout, DataError> {
    let (names, classes) = match root {
        Root::Classes(classes) => (
            classes.iter().map(|class| class.name.clone()).collect(),
            classes.into_iter().map(|c| (c.dir, c.files)).collect(),
        ),
        Root::Unlabelled(files) => (Vec::new(), vec![(dir.to_owned(), files)]),
    };
    let mut layout = Layout {
        names,
        train: Vec::new(),
        test: Vec::new(),
    };
    for (label, (class_dir, files)) in classes.into_iter().enumerate() {
        let (train, test) = hold_out(files, &class_dir, fraction);
        layout.train.extend(labelled(train, label));
        layout.test.extend(labelled(test, label));
    }
    for (split, items) in [("test", &layout.test), ("training", &layout.train)] {
        if items.is_empty() {
            return Err(DataError::EmptySplit {
                dir: dir.to_owned(),
                split,
                fraction,
            });
        }
    }
    Ok(layout)
}

/// A folder of images: class folders, or the images themselves.
#[derive(Debug)]
enum Root {
    /// Class folders, sorted by name.
    Classes(Vec<Class>),
    /// Images directly inside, sorted by path.
    Unlabelled(Vec<PathBuf>),
}

impl Root {
    /// Reads the folder `dir`.
    fn read(dir: &Path) -> Result<Self, DataError> {
        Self::of(dir, Entries::read(dir)?)
    }

    /// The folder `dir` of `entries`: class folders or images, not both
    /// and not neither; at most [`MAX_CLASSES`] classes, none empty.
    fn of(dir: &Path, entries: Entries) -> Result<Self, DataError> {
        match (entries.dirs.is_empty(), entries.images.is_empty()) {
            (true, true) => Err(DataError::NoImages {
                dir: dir.to_owned(),
            }),
            (true, false) => Ok(Root::Unlabelled(entries.images)),
            (false, false) => Err(DataError::Layout {
                dir: dir.to_owned(),
                problem: format!(
                    "holds images ({}) beside class folders: put every image in a class folder, or none",
                    entries.images[0].display()
                ),
            }),
            (false, true) if entries.dirs.len() > MAX_CLASSES => Err(DataError::TooManyClasses {
                dir: dir.to_owned(),
                count: entries.dirs.len(),
            }),
            (false, true) => entries
                .dirs
                .into_iter()
                .map(|(name, dir)| {
                    let files = images_below(&dir)?;
                    if files.is_empty() {
                        return Err(DataError::EmptyClass { dir });
                    }
                    Ok(Class {
                        name: name.to_string_lossy().into_owned(),
                        dir,
                        files,
                    })
                })
                .collect::<Result<_, _>>()
                .map(Root::Classes),
        }
    }
}

/// A class folder and its images.
#[derive(Debug)]
struct Class {
    /// The folder's name.
    name: String,
    /// The folder.
    dir: PathBuf,
    /// Its images (also those in sub-folders), sorted by path.
    files: Vec<PathBuf>,
}

/// The sub-folders and image files of a folder, sorted by name (byte
/// order), without names starting with `.`.
#[derive(Debug)]
struct Entries {
    /// Sub-folders (or links to folders): their names and paths.
    dirs: Vec<(OsString, PathBuf)>,
    /// Image files.
    images: Vec<PathBuf>,
}

impl Entries {
    fn read(dir: &Path) -> Result<Self, DataError> {
        let io_err = |source| DataError::Io {
            path: dir.to_owned(),
            source,
        };
        let mut names = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_err)? {
            let name = entry.map_err(io_err)?.file_name();
            if !name.as_encoded_bytes().starts_with(b".") {
                names.push(name);
            }
        }
        names.sort();
        let mut entries = Entries {
            dirs: Vec::new(),
            images: Vec::new(),
        };
        for name in names {
            let path = dir.join(&name);
            if path.is_dir() {
                entries.dirs.push((name, path));
            } else if is_image(&path) {
                entries.images.push(path);
            }
        }
        Ok(entries)
    }

    fn is_empty(&self) -> bool {
        self.dirs.is_empty() && self.images.is_empty()
    }
}

/// Whether `path`'s extension is an image's ([`EXTENSIONS`]).
fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| EXTENSIONS.iter().any(|e| ext.eq_ignore_ascii_case(e)))
}

/// The images in `dir` and every folder below it, sorted by path.
fn images_below(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let entries = Entries::read(&dir)?;
        files.extend(entries.images);
        pending.extend(entries.dirs.into_iter().map(|(_, path)| path));
    }
    files.sort();
    Ok(files)
}
