#!/usr/bin/env bash
# Runs every tinyvae test: formatting, clippy (host, both thumb targets,
# every firmware board), the no_std builds, the release builds of the boards
# that cannot run here, the fuzz target's build, and the whole workspace's
# tests (unit, property, statistical, training, export, the protocol, and
# end to end through QEMU: the micro:bit board firmware over its emulated
# UART, and the Cortex-M4 lab machine).
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
step "clippy, host, with the optional features (ndarray backend, --download)"
cargo clippy -p tinyvae-tools -p tinyvae-trainer --all-targets --features tinyvae-tools/ndarray,tinyvae-tools/download -- -D warnings

for target in thumbv7em-none-eabihf thumbv6m-none-eabi; do
    step "shared is no_std: clippy and build for $target"
    cargo clippy -p tinyvae-shared --target "$target" -- -D warnings
    cargo build -p tinyvae-shared --target "$target" --release
done

step "firmware: fmt and clippy for every board, release builds of the boards QEMU cannot run"
(
    cd firmware
    cargo fmt -- --check
    cargo clippy --all-targets -- -D warnings
    cargo clippy --all-targets --no-default-features --features microbit --target thumbv6m-none-eabi -- -D warnings
    cargo clippy --all-targets --no-default-features --features microbit-v2 -- -D warnings
    cargo clippy --all-targets --no-default-features --features stm32f429i-disc1 -- -D warnings
    # The instruction-count build (`tinyvae bench`), on both QEMU boards.
    cargo clippy --all-targets --features bench -- -D warnings
    cargo clippy --all-targets --no-default-features --features microbit,bench --target thumbv6m-none-eabi -- -D warnings
    # Their own target dirs, so the QEMU build the tests use stays fresh.
    CARGO_TARGET_DIR=target/microbit-v2 cargo build --release --no-default-features --features microbit-v2
    CARGO_TARGET_DIR=target/stm32f429i-disc1 cargo build --release --no-default-features --features stm32f429i-disc1
)

step "the fuzz targets build (run them with cargo-fuzz: see shared/README.md)"
cargo build --manifest-path shared/fuzz/Cargo.toml

step "cargo test --workspace (every test binary, even after a failure)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# Each test binary (and each crate's doc tests) ends with one line
# `test result: ok. N passed; M failed; ...`.
count() { grep -E '^test result:' "$log" | grep -oE "[0-9]+ $1" | awk '{n += $1} END {print n + 0}'; }
passed="$(count passed)"
failed="$(count failed)"
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
    echo "cargo test exited $status with no failed test: a build error or a crashed test binary (above)"
fi
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
