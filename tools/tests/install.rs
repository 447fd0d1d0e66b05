//! An installed `tinyvae` (issue #16): the firmware's sources built into the
//! binary, unpacked into a cache directory, and `TINYVAE_FIRMWARE_DIR`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{assert_success, write_blob};
use tinyvae_tools::firmware;

/// The workspace the tests run in.
fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Every path under `dir`, relative to it.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        paths.push(path.clone());
        if path.is_dir() {
            paths.extend(walk(&path));
        }
    }
    paths
}

#[test]
fn packed_sources_are_the_checkouts() {
    let files = firmware::packed_files().unwrap();
    let names: Vec<&str> = files.iter().map(|f| f.path).collect();
    for name in [
        "Cargo.toml",
        "rust-toolchain.toml",
        "firmware/Cargo.toml",
        "firmware/Cargo.lock",
        "firmware/build.rs",
        "firmware/.cargo/config.toml",
        "firmware/src/main.rs",
        "shared/Cargo.toml",
        "shared/build.rs",
        "shared/src/lib.rs",
    ] {
        assert!(names.contains(&name), "{name} not packed: {names:?}");
    }
    for file in &files {
        assert!(
            !file.path.split('/').any(|part| part == "target"),
            "{}",
            file.path
        );
        // All but the generated root manifest are the checkout's files.
        if file.path != "Cargo.toml" {
            let original = std::fs::read(checkout().join(file.path)).unwrap();
            assert!(
                original == file.data,
                "{} differs from the checkout's",
                file.path
            );
        }
    }
}

#[test]
fn unpacking_makes_a_buildable_tree_once() {
    let cache = tempfile::tempdir().unwrap();
    let root = firmware::unpack_sources(cache.path()).unwrap();
    assert_eq!(root, cache.path().join(firmware::unpacked_name()));
    for file in [
        "Cargo.toml",
        "rust-toolchain.toml",
        "firmware/Cargo.toml",
        "firmware/Cargo.lock",
        "firmware/.cargo/config.toml",
        "shared/Cargo.toml",
        "shared/src/lib.rs",
    ] {
        assert!(root.join(file).is_file(), "{file} missing");
    }
    let paths = walk(&root);
    assert!(
        !paths.iter().any(|p| p.ends_with("target")),
        "a target/ was unpacked"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(root.join("firmware/run-qemu.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_ne!(mode & 0o111, 0, "run-qemu.sh lost its executable bit");
    }

    // Idempotent: a second call finds the tree and leaves it alone (a build
    // there, here a marker file, survives), with no temporary left behind.
    std::fs::write(root.join("firmware/marker"), b"built").unwrap();
    assert_eq!(firmware::unpack_sources(cache.path()).unwrap(), root);
    assert!(root.join("firmware/marker").is_file());
    assert_eq!(walk(&root).len(), paths.len() + 1);
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 1);

    // `shared`'s `*.workspace = true` resolve against the generated root
    // manifest (cargo reads no network for --no-deps).
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    for manifest in ["shared/Cargo.toml", "firmware/Cargo.toml"] {
        let metadata = Command::new(&cargo)
            .args([
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--offline",
            ])
            .arg("--manifest-path")
            .arg(root.join(manifest))
            .output()
            .unwrap();
        assert_success(&metadata);
    }
}

#[test]
fn concurrent_unpacking_agrees() {
    let cache = tempfile::tempdir().unwrap();
    let roots: Vec<PathBuf> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| firmware::unpack_sources(cache.path()).unwrap()))
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert!(roots.iter().all(|root| *root == roots[0]));
    assert!(roots[0].join("shared/src/lib.rs").is_file());
    // The losers' temporary copies are gone.
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 1);
}

#[test]
fn missing_firmware_dir_override_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let blob = write_blob(dir.path());
    let missing = dir.path().join("no-such-firmware");
    let output = Command::new(env!("CARGO_BIN_EXE_tinyvae"))
        .env(firmware::FIRMWARE_DIR_VAR, &missing)
        .args([
            "qemu",
            "--seed",
            "1",
            "--blob",
            blob.to_str().unwrap(),
            "--out",
        ])
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("TINYVAE_FIRMWARE_DIR") && stderr.contains(missing.to_str().unwrap()),
        "{stderr}"
    );
}

/// The firmware built from the unpacked sources alone (no checkout beside
/// them) runs in QEMU and matches the host. A cold firmware build: minutes.
#[test]
#[ignore = "builds the firmware from scratch in a temporary directory (minutes); needs qemu-system-arm"]
fn unpacked_sources_build_and_run() {
    let cache = tempfile::tempdir().unwrap();
    let root = firmware::unpack_sources(cache.path()).unwrap();
    let blob = write_blob(cache.path());
    let out = cache.path().join("out");
    let output = Command::new(env!("CARGO_BIN_EXE_tinyvae"))
        .env(firmware::FIRMWARE_DIR_VAR, root.join("firmware"))
        .current_dir(cache.path())
        .args(["qemu", "--check", "--seed", "1", "--count", "2"])
        .args([
            "--blob",
            blob.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_success(&output);
    assert!(
        root.join("firmware/target/thumbv7em-none-eabihf/release/tinyvae-firmware")
            .is_file()
    );
}

/// Issue #16 end to end: `cargo install --path tools` from a clone of this
/// checkout's committed HEAD, the clone deleted, then `tinyvae qemu --check`
/// from another directory builds the firmware from the sources built into
/// the binary (unpacked into a fresh `XDG_CACHE_HOME`). A release build of
/// tinyvae: 10+ minutes cold; `TINYVAE_INSTALL_TARGET_DIR` names a target
/// directory to reuse.
#[test]
#[ignore = "cargo install of tinyvae (a release build, 10+ min cold) and a firmware build; needs git and qemu-system-arm"]
fn installed_tinyvae_runs_without_its_checkout() {
    let scratch = tempfile::tempdir().unwrap();
    let clone = scratch.path().join("clone");
    let git = Command::new("git")
        .args(["clone", "--quiet"])
        .arg(checkout())
        .arg(&clone)
        .output()
        .unwrap();
    assert_success(&git);
    let target = std::env::var_os("TINYVAE_INSTALL_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| scratch.path().join("target"));
    let root = scratch.path().join("root");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let install = Command::new(&cargo)
        // In the clone, for its rust-toolchain.toml.
        .current_dir(&clone)
        .env("CARGO_TARGET_DIR", &target)
        .args([
            "install", "--quiet", "--locked", "--path", "tools", "--root",
        ])
        .arg(&root)
        .output()
        .unwrap();
    assert_success(&install);
    std::fs::remove_dir_all(&clone).unwrap();

    let blob = write_blob(scratch.path());
    let elsewhere = scratch.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let cache = scratch.path().join("cache");
    let qemu = Command::new(root.join("bin/tinyvae"))
        .current_dir(&elsewhere)
        .env("XDG_CACHE_HOME", &cache)
        // As a user's shell runs it: `cargo` from PATH.
        .env_remove("CARGO")
        .env_remove(firmware::FIRMWARE_DIR_VAR)
        .args([
            "qemu", "--check", "--seed", "1", "--count", "2", "--out", "out",
        ])
        .arg("--blob")
        .arg(&blob)
        .output()
        .unwrap();
    assert_success(&qemu);
    let stderr = String::from_utf8(qemu.stderr).unwrap();
    assert!(stderr.contains("identical to the host's"), "{stderr}");
    let unpacked: Vec<_> = std::fs::read_dir(cache.join("tinyvae"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(unpacked.len(), 1, "{unpacked:?}");
    assert!(unpacked[0].join("firmware/target").is_dir());
}
