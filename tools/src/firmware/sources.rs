//! The firmware's sources built into `tinyvae` (packed by tools/build.rs:
//! firmware/, the `shared` crate, `rust-toolchain.toml` and a root
//! `Cargo.toml` for `shared`'s workspace inheritance), and their unpacked
//! copy in the user's cache directory, where an installed `tinyvae` builds
//! the firmware once the checkout it came from is gone ([`unpack_sources`]).

use std::fs;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::cache::cache_home;

/// The environment variable that names the firmware's directory to build in
/// (a tinyvae checkout's `firmware/`), overriding the checkout and the
/// unpacked sources.
pub const FIRMWARE_DIR_VAR: &str = "TINYVAE_FIRMWARE_DIR";

/// The archive tools/build.rs wrote.
static ARCHIVE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/firmware-sources.bin"));

/// The archive's hash (tools/build.rs), in the unpacked copy's name.
const ARCHIVE_HASH: &str = env!("TINYVAE_SOURCES_HASH");

/// The archive's first bytes (keep in step with tools/build.rs).
const MAGIC: &[u8] = b"TVSRC1\n";

/// One file of the packed sources.
#[derive(Debug, Clone, Copy)]
pub struct PackedFile {
    /// Its path in the unpacked tree, `/`-separated (`firmware/Cargo.toml`).
    pub path: &'static str,
    /// Whether to unpack it executable (`firmware/run-qemu.sh`).
    pub executable: bool,
    /// Its contents.
    pub data: &'static [u8],
}

/// The files built into this `tinyvae` (none if it was built outside the
/// tinyvae workspace).
pub fn packed_files() -> Result<Vec<PackedFile>> {
    parse(ARCHIVE).context("the firmware sources built into tinyvae are corrupt")
}

fn parse(archive: &'static [u8]) -> Result<Vec<PackedFile>> {
    let Some(mut rest) = archive.strip_prefix(MAGIC) else {
        bail!("no archive header");
    };
    let mut files = Vec::new();
    while !rest.is_empty() {
        let len = u32::from_le_bytes(take(&mut rest, 4)?.try_into()?) as usize;
        let path = std::str::from_utf8(take(&mut rest, len)?).context("a path is not UTF-8")?;
        // Only relative paths that stay inside the tree.
        if path.is_empty()
            || Path::new(path)
                .components()
                .any(|c| !matches!(c, Component::Normal(_)))
        {
            bail!("{path:?}: not a plain relative path");
        }
        let executable = take(&mut rest, 1)?[0] == 1;
        let len = u64::from_le_bytes(take(&mut rest, 8)?.try_into()?);
        let data = take(&mut rest, usize::try_from(len)?)?;
        files.push(PackedFile {
            path,
            executable,
            data,
        });
    }
    Ok(files)
}

/// The first `n` bytes of `rest`, which moves past them.
fn take(rest: &mut &'static [u8], n: usize) -> Result<&'static [u8]> {
    if rest.len() < n {
        bail!("truncated");
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

/// The directory under which [`unpack_sources`] unpacks: the
/// [`cache_home`].
pub fn cache_dir() -> Result<PathBuf> {
    cache_home().with_context(|| {
        format!(
            "no cache directory for the firmware's sources (neither XDG_CACHE_HOME nor HOME is set); \
             set one, or set {} to a tinyvae checkout's firmware/ directory",
            FIRMWARE_DIR_VAR
        )
    })
}

/// The unpacked copy's directory name: this version and the archive's
/// hash, so that each build of `tinyvae` gets the sources it was built with.
pub fn unpacked_name() -> String {
    format!("{}-{ARCHIVE_HASH}", env!("CARGO_PKG_VERSION"))
}

/// Unpacks the firmware's sources into `cache/<version>-<hash>/` unless
/// they are there already, and returns that directory (its `firmware/` is
/// the firmware's workspace, `shared/` the crate it depends on). The files
/// are written to a temporary directory beside it and renamed into place,
/// so that concurrent `tinyvae`s never see (or build in) a half-written
/// tree; the firmware's builds then go to its `firmware/target/`.
pub fn unpack_sources(cache: &Path) -> Result<PathBuf> {
    let dest = cache.join(unpacked_name());
    let complete = |dir: &Path| dir.join("firmware/Cargo.toml").is_file();
    if complete(&dest) {
        return Ok(dest);
    }
    let files = packed_files()?;
    if files.is_empty() {
        bail!(
            "this tinyvae was built without the firmware's sources (not from the tinyvae workspace); \
             set {} to a tinyvae checkout's firmware/ directory",
            FIRMWARE_DIR_VAR
        );
    }
    fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
    // A fresh directory beside `dest`, removed when dropped unless renamed.
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.tmp-", unpacked_name()))
        .tempdir_in(cache)
        .with_context(|| format!("creating a temporary directory in {}", cache.display()))?;
    let unpacked = write_files(tmp.path(), &files).and_then(|()| {
        fs::rename(tmp.path(), &dest)
            .with_context(|| format!("renaming {} to {}", tmp.path().display(), dest.display()))
    });
    // Another process may have renamed its copy into place first.
    if let Err(err) = unpacked
        && !complete(&dest)
    {
        return Err(err.context(format!(
            "unpacking the firmware's sources into {} (remove it if it is in the way)",
            dest.display()
        )));
    }
    Ok(dest)
}

/// Writes `files` under `dir` (an empty directory).
fn write_files(dir: &Path, files: &[PackedFile]) -> Result<()> {
    for file in files {
        let path = dir.join(file.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        fs::write(&path, file.data).with_context(|| format!("writing {}", path.display()))?;
        #[cfg(unix)]
        if file.executable {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
                .with_context(|| format!("making {} executable", path.display()))?;
        }
    }
    Ok(())
}
