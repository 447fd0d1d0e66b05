//! Building the firmware: `cargo build --release` in firmware/ for one
//! machine, optionally with extra features (the `bench` build) in a target
//! directory of its own.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::Machine;

/// The firmware's workspace (a sibling of this crate's directory).
pub fn firmware_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware")
}

/// Builds the firmware for `machine` (`cargo build --release` in
/// firmware/; a no-op when it is up to date) and returns the ELF's path.
pub fn build(machine: Machine) -> Result<PathBuf> {
    build_with(machine, &[], &firmware_dir().join("target"))
}

/// Builds the `bench` firmware for `machine` (the instruction counter that
/// `tinyvae bench` and `tinyvae demo` run) in firmware/target/bench, beside
/// the production build rather than over it, and returns the ELF's path.
pub fn build_bench(machine: Machine) -> Result<PathBuf> {
    build_with(machine, &["bench"], &firmware_dir().join("target/bench"))
}

/// [`build`] with extra cargo features of the firmware (e.g. `bench`), in
/// `target_dir`, so that differently featured builds do not overwrite each
/// other.
pub fn build_with(machine: Machine, features: &[&str], target_dir: &Path) -> Result<PathBuf> {
    let dir = firmware_dir();
    let features = std::iter::once(machine.feature())
        .chain(features.iter().copied())
        .collect::<Vec<_>>()
        .join(",");
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(&dir)
        // The firmware keeps its own target directory whatever the caller's.
        .env("CARGO_TARGET_DIR", target_dir)
        .args(["build", "--release", "--quiet", "--no-default-features"])
        .args(["--features", &features, "--target", machine.target()])
        .status()
        .with_context(|| format!("running cargo build in {}", dir.display()))?;
    if !status.success() {
        bail!(
            "building the firmware in {} failed ({status})",
            dir.display()
        );
    }
    Ok(target_dir
        .join(machine.target())
        .join("release/tinyvae-firmware"))
}
