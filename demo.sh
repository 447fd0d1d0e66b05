#!/usr/bin/env bash
# The main job: train a VAE (and, for comparison, a plain autoencoder) on
# Fashion-MNIST, export the int8 decoder, generate images on a Cortex-M4 in
# QEMU, check them byte for byte against the host, and write pictures and a
# summary into out/ (or the --out you pass), and refresh the pictures the
# README shows in docs/. Extra arguments go to
# `tinyvae demo` (see `cargo run --release --bin tinyvae -- demo --help`).
set -euo pipefail
cd "$(dirname "$0")"

# System packages: QEMU and the data set.
missing=()
command -v qemu-system-arm >/dev/null || missing+=(qemu-system-arm)
[[ -d /usr/share/datasets/fashion-mnist ]] || missing+=(dataset-fashion-mnist)
if ((${#missing[@]})); then
    if [[ $(id -u) == 0 ]]; then
        echo "installing ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "missing: ${missing[*]}. Run:" >&2
        echo "    sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi

# The toolchain and thumb targets named in rust-toolchain.toml.
rustup toolchain install >/dev/null

echo "building tinyvae (release; the first build takes several minutes)"
cargo build --release --bin tinyvae
exec target/release/tinyvae demo --readme-pictures docs "$@"
