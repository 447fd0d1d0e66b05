//! The download of MNIST / Fashion-MNIST for users who are online (with the
//! `download` feature): https only, each file checked against a SHA-256
//! pinned here before it is moved into place.

use std::fs;
use std::io;
use std::path::Path;

use super::{DataError, DataSet};

/// The public MNIST-format data sets [`download`] knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Handwritten digits (LeCun et al.).
    Mnist,
    /// Zalando's clothing images (Xiao et al.).
    FashionMnist,
}

/// One file of a [`Source`]: its name, and the size and SHA-256 of the
/// upstream file, which a download must match before it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinnedFile {
    /// The file name, at the source's address and in the data directory.
    pub name: &'static str,
    /// Bytes.
    pub size: u64,
    /// SHA-256, lowercase hex.
    pub sha256: &'static str,
}

/// MNIST's four files as TensorFlow Datasets pins them:
/// `tensorflow_datasets/url_checksums/mnist.txt` in github.com/tensorflow/datasets
/// (size and SHA-256 of each file at its mirror
/// storage.googleapis.com/cvdf-datasets/mnist/, a copy of LeCun's originals;
/// PyTorch's ossci-datasets mirror serves the same files: torchvision pins
/// the same MD5s for both).
const MNIST_FILES: [PinnedFile; 4] = [
    PinnedFile {
        name: "train-images-idx3-ubyte.gz",
        size: 9_912_422,
        sha256: "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    },
    PinnedFile {
        name: "train-labels-idx1-ubyte.gz",
        size: 28_881,
        sha256: "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    },
    PinnedFile {
        name: "t10k-images-idx3-ubyte.gz",
        size: 1_648_877,
        sha256: "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    },
    PinnedFile {
        name: "t10k-labels-idx1-ubyte.gz",
        size: 4_542,
        sha256: "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
];

/// Fashion-MNIST's four files as TensorFlow Datasets pins them:
/// `tensorflow_datasets/url_checksums/fashion_mnist.txt` in
/// github.com/tensorflow/datasets (the files of zalandoresearch/fashion-mnist,
/// whose MD5s torchvision pins). Debian's dataset-fashion-mnist installs the
/// same data in re-headered gzip files (no file name, the packaging date as
/// time stamp), which therefore hash differently; with upstream's header put
/// back they match these pins (a test checks it).
pub(super) const FASHION_MNIST_FILES: [PinnedFile; 4] = [
    PinnedFile {
        name: "train-images-idx3-ubyte.gz",
        size: 26_421_880,
        sha256: "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    },
    PinnedFile {
        name: "train-labels-idx1-ubyte.gz",
        size: 29_515,
        sha256: "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    },
    PinnedFile {
        name: "t10k-images-idx3-ubyte.gz",
        size: 4_422_102,
        sha256: "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    },
    PinnedFile {
        name: "t10k-labels-idx1-ubyte.gz",
        size: 5_148,
        sha256: "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
];

impl Source {
    /// Both sources.
    pub const ALL: [Source; 2] = [Source::Mnist, Source::FashionMnist];

    /// The address of the directory holding the four files (https).
    pub fn base_url(self) -> &'static str {
        match self {
            Source::Mnist => "https://ossci-datasets.s3.amazonaws.com/mnist/",
            Source::FashionMnist => {
                "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"
            }
        }
    }

    /// The four files, with the pins a download must match.
    pub fn files(self) -> &'static [PinnedFile; 4] {
        match self {
            Source::Mnist => &MNIST_FILES,
            Source::FashionMnist => &FASHION_MNIST_FILES,
        }
    }

    /// The address of `file`, refused unless it is https.
    pub fn url(self, file: &PinnedFile) -> Result<String, DataError> {
        let url = format!("{}{}", self.base_url(), file.name);
        require_https(&url)?;
        Ok(url)
    }
}

/// `Ok` for an `https://` address; [`DataError::NotHttps`] for any other.
pub fn require_https(url: &str) -> Result<(), DataError> {
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    if scheme.is_some_and(|s| s.eq_ignore_ascii_case("https")) {
        Ok(())
    } else {
        Err(DataError::NotHttps {
            url: url.to_owned(),
        })
    }
}

/// The SHA-256 of the file at `path`, lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, DataError> {
    let io_err = |source| DataError::Io {
        path: path.to_owned(),
        source,
    };
    sha256_hex(fs::File::open(path).map_err(io_err)?).map_err(io_err)
}

/// The SHA-256 of everything `reader` yields, lowercase hex.
pub fn sha256_hex(mut reader: impl io::Read) -> io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    io::copy(&mut reader, &mut hasher)?;
    Ok(hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect())
}

/// Checks the file at `path` against `expected`, a SHA-256 in hex:
/// [`DataError::Checksum`] (naming both hashes) when it differs.
pub fn verify_sha256(path: &Path, expected: &str) -> Result<(), DataError> {
    let found = sha256_file(path)?;
    if found.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(DataError::Checksum {
            file: path.display().to_string(),
            expected: expected.to_owned(),
            found,
        })
    }
}

/// Moves the downloaded file `part` to `path` if its SHA-256 is `expected`;
/// otherwise deletes it and fails with [`DataError::Checksum`], so a file
/// that is not the pinned one never reaches `path`. The rename is atomic
/// when both are in one directory.
pub fn install_verified(part: &Path, path: &Path, expected: &str) -> Result<(), DataError> {
    if let Err(err) = verify_sha256(part, expected) {
        // Best effort: the error says what matters, the mismatch.
        let _ = fs::remove_file(part);
        return Err(err);
    }
    fs::rename(part, path).map_err(|source| DataError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Whether this build can download ([`download`] needs the `download`
/// feature, which brings the network stack).
pub const CAN_DOWNLOAD: bool = cfg!(feature = "download");

/// Downloads the four `.gz` IDX files of `source` into `dir` (skipping files
/// already there: those are used as they are, like any `--data`), and
/// checks that they parse.
///
/// Each file is fetched over https only (redirects included) into
/// `NAME.part` in `dir`, its SHA-256 checked against the pin of
/// [`Source::files`], and only then renamed to `NAME`; a mismatch deletes it
/// and fails with [`DataError::Checksum`]. Without the `download` feature it
/// fails at once with [`DataError::NotBuilt`].
pub fn download(source: Source, dir: &Path) -> Result<DataSet, DataError> {
    #[cfg(feature = "download")]
    {
        fetch::download(source, dir)
    }
    #[cfg(not(feature = "download"))]
    {
        let _ = source;
        Err(DataError::NotBuilt {
            dir: dir.to_owned(),
        })
    }
}

#[cfg(feature = "download")]
mod fetch {
    use super::*;
    use crate::data::load_dir;
    use std::io::Write;

    pub(super) fn download(source: Source, dir: &Path) -> Result<DataSet, DataError> {
        fs::create_dir_all(dir).map_err(|source| DataError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let agent = ureq::Agent::config_builder()
            .https_only(true)
            .build()
            .new_agent();
        for file in source.files() {
            let path = dir.join(file.name);
            if path.is_file() {
                continue;
            }
            let url = source.url(file)?;
            eprintln!("downloading {url}");
            let part = dir.join(format!("{}.part", file.name));
            if let Err(err) = fetch_to(&agent, &url, dir, file.size, &part) {
                // A partial file must not linger as if it were data.
                let _ = fs::remove_file(&part);
                return Err(err);
            }
            install_verified(&part, &path, file.sha256).map_err(|err| match err {
                DataError::Checksum {
                    expected, found, ..
                } => DataError::Checksum {
                    file: format!("{url} (downloaded to {}, deleted)", part.display()),
                    expected,
                    found,
                },
                other => other,
            })?;
        }
        load_dir(dir)
    }

    /// Streams `url` (at most `limit` bytes) into `part`, synced to disk.
    fn fetch_to(
        agent: &ureq::Agent,
        url: &str,
        dir: &Path,
        limit: u64,
        part: &Path,
    ) -> Result<(), DataError> {
        let failed = |reason: String| DataError::Download {
            url: url.to_owned(),
            dir: dir.to_owned(),
            reason,
        };
        let response = agent
            .get(url)
            .call()
            .map_err(|err| failed(err.to_string()))?;
        let mut reader = response
            .into_body()
            .into_with_config()
            .limit(limit)
            .reader();
        let io_err = |source| DataError::Io {
            path: part.to_owned(),
            source,
        };
        let mut out = fs::File::create(part).map_err(io_err)?;
        io::copy(&mut reader, &mut out).map_err(|err| failed(err.to_string()))?;
        out.flush().map_err(io_err)?;
        out.sync_all().map_err(io_err)
    }
}
