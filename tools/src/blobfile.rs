//! Reading a model blob from a file, with errors that name the file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tinyvae_shared::Model;
use tinyvae_shared::boards::Layout;

use crate::fail::bad_input;

/// A blob file's bytes, kept so that a [`Model`] can borrow them.
#[derive(Debug)]
pub struct BlobFile {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl BlobFile {
    /// Reads `path`; a missing or unreadable file is bad input.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read blob {}", path.display()))
            .map_err(bad_input)?;
        Ok(Self {
            path: path.to_owned(),
            bytes,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Parses and validates the blob; any problem is bad input naming the file.
    pub fn model(&self) -> Result<Model<'_>> {
        Model::from_bytes(&self.bytes)
            .map_err(|err| bad_input(anyhow::anyhow!("{}: {err}", self.path.display())))
    }

    /// Bad input unless the blob's model fits `layout`'s board
    /// (`Layout::check`): one line naming the file, then the misfit in the
    /// words the board itself would use.
    pub fn check_fits(&self, layout: &Layout) -> Result<()> {
        layout
            .check(&self.model()?)
            .map_err(|misfit| bad_input(anyhow::anyhow!("{}: {misfit}", self.path.display())))
    }
}
