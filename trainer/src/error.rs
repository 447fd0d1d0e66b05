//! The error of a training run ([`TrainError`]).

use std::path::PathBuf;

use crate::checkpoint::CheckpointError;

/// Errors of a training run (`training::train`).
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Creating the output directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Writing, finding or loading a checkpoint (or the metrics) failed,
    /// including resuming without one or from another run's.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// An option is out of range.
    #[error("{0}")]
    BadOption(String),
}
