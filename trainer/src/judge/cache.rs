//! The trained judge on disk, one file per data set and recipe: training
//! it takes minutes, scoring with it seconds.
//!
//! The file is `<dir>/<sha256>.judge`, the SHA-256 taken over the judge's
//! [`VERSION`](super::VERSION), its [`Recipe`] and the data set's training
//! and test images and labels, so other data (or another judge) gets another
//! file and is trained for. It holds a magic line, the length of a JSON
//! header (little-endian u64), the header (how the judge was made, its test
//! accuracy), the Gaussian of its test features in binary
//! ([`Gaussian::to_bytes`]: JSON need not give f64s back bit for bit) and
//! the weights (burn's burnpack record). It is written atomically; a file that does not read
//! back is trained over, and the outcome says why ([`Origin::Replaced`]).

use std::fs;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device};
use sha2::{Digest, Sha256};

use super::{FEATURES, Facts, Gaussian, Judge, JudgeNet, Recipe, VERSION};
use crate::data::DataSet;
use crate::fsio::{WriteError, write_atomic};
use crate::rng::Rng;

/// The first bytes of a cache file.
pub(super) const MAGIC: &[u8; 8] = b"TVJUDGE\n";

/// What can go wrong keeping the judge on disk (a cache file that does not
/// read is not an error: it is trained over).
#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    /// The cache directory cannot be created or the file written.
    #[error("judge cache {path}: {source}")]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The trained judge's weights do not serialise.
    #[error("judge cache {path}: cannot encode the judge: {reason}")]
    Encode {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl From<WriteError> for JudgeError {
    fn from(err: WriteError) -> Self {
        JudgeError::Io {
            path: err.path,
            source: err.source,
        }
    }
}

/// Where a judge [`load_or_train`] returned came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Read from its cache file: no training.
    Loaded,
    /// Trained, there was no cache file for this data.
    Trained,
    /// Trained over a cache file that did not read back.
    Replaced {
        /// Why the file was unusable.
        reason: String,
    },
}

/// A judge, its cache file and where it came from.
#[derive(Debug)]
pub struct Cached {
    /// The judge.
    pub judge: Judge,
    /// Its cache file.
    pub path: PathBuf,
    /// Loaded, or trained (and why).
    pub origin: Origin,
}

/// The judge of `data` with `recipe`: read from its file in `dir` when
/// there is a good one, otherwise trained on `device` ([`Judge::train`]) and
/// saved there (`dir` is created if needed).
pub fn load_or_train(
    data: &DataSet,
    dir: &Path,
    recipe: &Recipe,
    device: &Device,
) -> Result<Cached, JudgeError> {
    let path = dir.join(format!("{}.judge", cache_key(data, recipe)));
    let origin = match fs::read(&path) {
        Ok(bytes) => match decode(&bytes, recipe, device) {
            Ok(judge) => {
                return Ok(Cached {
                    judge,
                    path,
                    origin: Origin::Loaded,
                });
            }
            Err(reason) => Origin::Replaced { reason },
        },
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Origin::Trained,
        Err(err) => Origin::Replaced {
            reason: err.to_string(),
        },
    };
    let judge = Judge::train(data, recipe, device);
    fs::create_dir_all(dir).map_err(|source| JudgeError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let bytes = encode(&judge).map_err(|reason| JudgeError::Encode {
        path: path.clone(),
        reason,
    })?;
    write_atomic(&path, &bytes)?;
    Ok(Cached {
        judge,
        path,
        origin,
    })
}

/// SHA-256 (hex) over the judge's version, `recipe` and `data`: images and
/// labels of both splits, each preceded by its length so that no two data
/// sets hash alike by moving bytes from one part to the next.
fn cache_key(data: &DataSet, recipe: &Recipe) -> String {
    let mut hasher = Sha256::new();
    let recipe = serde_json::to_string(recipe).expect("a recipe serialises");
    for part in [
        VERSION.as_bytes(),
        recipe.as_bytes(),
        &data.train.pixels,
        &data.train.labels,
        &data.test.pixels,
        &data.test.labels,
    ] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The cache file's bytes for `judge`.
fn encode(judge: &Judge) -> Result<Vec<u8>, String> {
    let header = serde_json::to_vec(&judge.facts).map_err(|err| err.to_string())?;
    let weights = judge
        .net
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|err| err.to_string())?;
    let mut bytes = Vec::with_capacity(MAGIC.len() + 8 + header.len() + weights.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&header);
    bytes.extend(judge.facts.reference.to_bytes());
    bytes.extend_from_slice(&weights);
    Ok(bytes)
}

/// The judge in a cache file's `bytes`, onto `device`, or why not.
fn decode(bytes: &[u8], recipe: &Recipe, device: &Device) -> Result<Judge, String> {
    let rest = bytes
        .strip_prefix(MAGIC)
        .ok_or("not a tinyvae judge file")?;
    let (length, rest) = rest.split_first_chunk::<8>().ok_or("truncated header")?;
    let length = usize::try_from(u64::from_le_bytes(*length)).map_err(|err| err.to_string())?;
    if rest.len() < length {
        return Err("truncated header".into());
    }
    let (header, rest) = rest.split_at(length);
    let mut facts: Facts = serde_json::from_slice(header).map_err(|err| err.to_string())?;
    let (reference, weights) = Gaussian::from_bytes(rest).ok_or("truncated features")?;
    if reference.dim() != FEATURES {
        return Err(format!("features of {} dimensions", reference.dim()));
    }
    facts.reference = reference;
    if facts.version != VERSION || facts.recipe != *recipe {
        return Err("made by another judge or recipe".into());
    }
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(weights.to_vec()))
        .map_err(|err| err.to_string())?;
    let net = JudgeNet::init(facts.classes, &mut Rng::new(0), device)
        .try_load_record(record)
        .map_err(|err| err.to_string())?;
    Ok(Judge { net, facts })
}
