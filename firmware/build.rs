//! Writes the board's `memory.x` (the `MEMORY` block cortex-m-rt's
//! `link.x` includes) from `tinyvae_shared::boards`, the one memory map the
//! firmware and the host tools share, where the linker searches for it, and
//! adds the linker scripts.

use std::{env, fs, path::PathBuf};

use tinyvae_shared::boards::{self, Layout};

fn main() {
    let boards: [(&str, &Layout); 4] = [
        ("qemu", &boards::MPS2_AN386),
        ("microbit", &boards::MICROBIT),
        ("microbit-v2", &boards::MICROBIT_V2),
        ("stm32f429i-disc1", &boards::STM32F429I_DISC1),
    ];
    let enabled: Vec<_> = boards
        .iter()
        .filter(|(feature, _)| {
            let var = format!("CARGO_FEATURE_{}", feature.to_uppercase().replace('-', "_"));
            env::var_os(var).is_some()
        })
        .collect();
    let [(_, layout)] = enabled[..] else {
        panic!(
            "enable exactly one board feature (qemu, microbit, microbit-v2, stm32f429i-disc1), e.g. \
             --no-default-features --features microbit"
        );
    };
    let mut memory = String::new();
    layout
        .write_memory_x(&mut memory)
        .expect("formatting into a String");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("memory.x"), memory).expect("write memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
}
