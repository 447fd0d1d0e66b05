#!/bin/bash
# Cargo runner for the QEMU boards: `cargo run --release` (the mps2-an386 lab
# machine) or `cargo run --release --no-default-features --features microbit
# --target thumbv6m-none-eabi` (the micro:bit board firmware, unchanged).
#
# Runs the ELF through `tinyvae qemu --elf`, which loads the blob (and, on
# the lab machine, the command frame), talks the protocol, decodes defmt and
# checks every image against the host:
#   TINYVAE_BLOB   model blob (required)
#   TINYVAE_SEED   seed (default 1), TINYVAE_COUNT images (default 1),
#   TINYVAE_CLASS  a class to draw, by name or index (default: the blob's default draw)
set -euo pipefail
elf="$(realpath "$1")"
case "$elf" in
  */thumbv6m-none-eabi/*) machine=microbit ;;
  *) machine=mps2-an386 ;;
esac
if [ -z "${TINYVAE_BLOB:-}" ]; then
  echo "run-qemu.sh: set TINYVAE_BLOB to a model blob (tinyvae export writes one)" >&2
  exit 2
fi
blob="$(realpath "$TINYVAE_BLOB")"
args=(qemu --elf "$elf" --machine "$machine" --blob "$blob"
      --seed "${TINYVAE_SEED:-1}" --count "${TINYVAE_COUNT:-1}" --out firmware/target/qemu-out --check)
if [ -n "${TINYVAE_CLASS:-}" ]; then
  args+=(--class "$TINYVAE_CLASS")
fi
# From the workspace root, out of reach of firmware/.cargo/config.toml (whose
# thumb target would apply to the host tool too).
cd "$(dirname "$0")/.."
exec cargo run --quiet --release -p tinyvae-tools --bin tinyvae -- "${args[@]}"
