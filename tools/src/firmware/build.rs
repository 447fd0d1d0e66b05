//! Building the firmware: `cargo build --release` in firmware/ for one
//! machine, optionally with extra features (the `bench` build) in a target
//! directory of its own.
//!
//! Which firmware/ ([`firmware_dir`]): `$TINYVAE_FIRMWARE_DIR`, else the
//! checkout this `tinyvae` was built from while it is there, else the copy
//! of its sources built into `tinyvae` (sources.rs), unpacked into the
//! user's cache directory: an installed `tinyvae` works from anywhere.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};

use super::Machine;
use super::sources::{self, FIRMWARE_DIR_VAR};
use crate::fail::bad_input;

/// The thumb targets the firmware builds for, as `rustup target add` takes them.
const TARGETS: &str = "thumbv7em-none-eabihf thumbv6m-none-eabi";

/// The firmware's workspace, the first of:
/// 1. `$TINYVAE_FIRMWARE_DIR` if set (an error, as bad input, if it holds no
///    `Cargo.toml`);
/// 2. firmware/ of the checkout this `tinyvae` was built from, if it is still
///    there (development: builds go to firmware/target as always);
/// 3. the sources built into `tinyvae`, unpacked once per build of `tinyvae`
///    into `~/.cache/tinyvae/<version>-<hash>/firmware`
///    ([`sources::unpack_sources`]).
pub fn firmware_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(FIRMWARE_DIR_VAR).filter(|dir| !dir.is_empty()) {
        let dir = PathBuf::from(dir);
        if !dir.join("Cargo.toml").is_file() {
            return Err(bad_input(anyhow!(
                "{FIRMWARE_DIR_VAR}={}: no firmware there (no Cargo.toml); point it at the \
                 firmware/ directory of a tinyvae checkout, or unset it to build the sources \
                 built into tinyvae",
                dir.display()
            )));
        }
        // Absolute: cargo runs in it, with a target directory inside it.
        return std::path::absolute(&dir)
            .with_context(|| format!("{FIRMWARE_DIR_VAR}={}", dir.display()));
    }
    let checkout = checkout_firmware_dir();
    if checkout.join("Cargo.toml").is_file() {
        return Ok(checkout);
    }
    let cache = sources::cache_dir()?;
    let fresh = !cache
        .join(sources::unpacked_name())
        .join("firmware/Cargo.toml")
        .is_file();
    let dir = sources::unpack_sources(&cache)?.join("firmware");
    if fresh {
        eprintln!(
            "tinyvae: the firmware's sources are unpacked in {}; the first build there takes a while",
            dir.display()
        );
    }
    Ok(dir)
}

/// firmware/ of the checkout this `tinyvae` was built from (which may be gone).
pub fn checkout_firmware_dir() -> PathBuf {
    let tools = Path::new(env!("CARGO_MANIFEST_DIR"));
    tools.parent().unwrap_or(tools).join("firmware")
}

/// Builds the firmware for `machine` (`cargo build --release` in
/// firmware/; a no-op when it is up to date) and returns the ELF's path.
pub fn build(machine: Machine) -> Result<PathBuf> {
    build_with(machine, &[], &firmware_dir()?.join("target"))
}

/// Builds the `bench` firmware for `machine` (the instruction counter that
/// `tinyvae bench` and `tinyvae demo` run) in firmware/target/bench, beside
/// the production build rather than over it, and returns the ELF's path.
pub fn build_bench(machine: Machine) -> Result<PathBuf> {
    build_with(machine, &["bench"], &firmware_dir()?.join("target/bench"))
}

/// [`build`] with extra cargo features of the firmware (e.g. `bench`), in
/// `target_dir`, so that differently featured builds do not overwrite each
/// other.
pub fn build_with(machine: Machine, features: &[&str], target_dir: &Path) -> Result<PathBuf> {
    let dir = firmware_dir()?;
    let features = std::iter::once(machine.feature())
        .chain(features.iter().copied())
        .collect::<Vec<_>>()
        .join(",");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(&cargo)
        .current_dir(&dir)
        // The firmware keeps its own target directory whatever the caller's.
        .env("CARGO_TARGET_DIR", target_dir)
        .args(["build", "--release", "--quiet", "--no-default-features"])
        .args(["--features", &features, "--target", machine.target()])
        .status();
    let status = match status {
        Ok(status) => status,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => bail!(
            "cannot run {}: {err}; building the firmware (in {}) needs Rust: install rustup \
             (https://rustup.rs), then `rustup target add {TARGETS}`",
            Path::new(&cargo).display(),
            dir.display()
        ),
        Err(err) => {
            return Err(err).with_context(|| format!("running cargo build in {}", dir.display()));
        }
    };
    if !status.success() {
        bail!(
            "building the firmware in {} failed ({status}){}",
            dir.display(),
            missing_target_hint(&cargo, &dir, machine.target())
        );
    }
    Ok(target_dir
        .join(machine.target())
        .join("release/tinyvae-firmware"))
}

/// After a failed build: what to install if the toolchain cargo used in
/// `dir` lacks `target` (or cannot be asked), else nothing (cargo said why).
fn missing_target_hint(cargo: &std::ffi::OsStr, dir: &Path, target: &str) -> String {
    // The rustc beside the cargo that ran (a toolchain's, or rustup's proxy,
    // which picks the toolchain for `dir` as cargo's did).
    let rustc = Path::new(cargo).with_file_name("rustc");
    let rustc = if rustc.is_file() {
        rustc.into_os_string()
    } else {
        "rustc".into()
    };
    let sysroot = Command::new(rustc)
        .current_dir(dir)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    match sysroot {
        Some(sysroot) if sysroot.join("lib/rustlib").join(target).is_dir() => String::new(),
        Some(sysroot) => format!(
            "; the toolchain in {} has no {target}: run `rustup target add {TARGETS}` in {}",
            sysroot.display(),
            dir.display()
        ),
        None => format!(
            "; rustc could not say which targets it has: the firmware needs a working rustup \
             toolchain (https://rustup.rs) and `rustup target add {TARGETS}`, run in {}",
            dir.display()
        ),
    }
}
