#!/usr/bin/env bash
# Runs every tinyvae test: formatting, clippy (host and both thumb targets),
# the no_std builds, the fuzz target's build, and the whole workspace's tests
# (unit, property, statistical and end-to-end).
#
# Prerequisites (.ci/run installs them): the thumb targets from
# rust-toolchain.toml, qemu-system-arm, and dataset-fashion-mnist.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "clippy, host"
cargo clippy --workspace --all-targets -- -D warnings

for target in thumbv7em-none-eabihf thumbv6m-none-eabi; do
    step "shared is no_std: clippy and build for $target"
    cargo clippy -p tinyvae-shared --target "$target" -- -D warnings
    cargo build -p tinyvae-shared --target "$target" --release
done

step "the fuzz target builds (run it with cargo-fuzz: see shared/README.md)"
cargo build --manifest-path shared/fuzz/Cargo.toml

step "cargo test --workspace"
cargo test --workspace
