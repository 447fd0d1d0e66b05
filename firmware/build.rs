//! Puts the board's memory layout where cortex-m-rt's `link.x` looks for
//! `memory.x` (the linker search path) and adds the linker scripts.

use std::{env, fs, path::PathBuf};

fn main() {
    let boards = [
        ("qemu", "memory/mps2-an386.x"),
        ("microbit", "memory/microbit.x"),
        ("microbit-v2", "memory/microbit-v2.x"),
        ("stm32f429i-disc1", "memory/stm32f429i-disc1.x"),
    ];
    let enabled: Vec<_> = boards
        .iter()
        .filter(|(feature, _)| {
            let var = format!("CARGO_FEATURE_{}", feature.to_uppercase().replace('-', "_"));
            env::var_os(var).is_some()
        })
        .collect();
    let [(_, memory)] = enabled[..] else {
        panic!(
            "enable exactly one board feature (qemu, microbit, microbit-v2, stm32f429i-disc1), e.g. \
             --no-default-features --features microbit"
        );
    };
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy(memory, out.join("memory.x")).expect("copy the board's memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={memory}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
}
