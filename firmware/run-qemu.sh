#!/bin/bash
# Cargo runner for the QEMU boards: `cargo run --release` (mps2-an386) or
# `cargo run --release --no-default-features --features microbit --target thumbv6m-none-eabi`.
#
# Loads the blob and a request block with QEMU's generic loader and decodes
# defmt with defmt-print if it is installed. The `tinyvae qemu` command does
# all of this without defmt-print, collects the images and checks them.
#   TINYVAE_BLOB   model blob (required)
#   TINYVAE_SEED   seed (default 1), TINYVAE_COUNT images (default 1),
#   TINYVAE_CLASS  class prototype (default: the prior)
set -euo pipefail
elf="$1"
case "$elf" in
  */thumbv6m-none-eabi/*) machine=(-machine microbit) request=0x20000 blob=0x20400 ;;
  *) machine=(-cpu cortex-m4 -machine mps2-an386) request=0x21000000 blob=0x21001000 ;;
esac
request_file="$(mktemp)"
trap 'rm -f "$request_file"' EXIT
python3 - "$request_file" "${TINYVAE_COUNT:-1}" "${TINYVAE_SEED:-1}" "${TINYVAE_CLASS:-4294967295}" <<'PY'
import struct, sys
open(sys.argv[1], "wb").write(b"TVRQ" + struct.pack("<IQI", *map(int, sys.argv[2:5])))
PY
loaders=(-device "loader,file=$request_file,addr=$request")
if [ -n "${TINYVAE_BLOB:-}" ]; then
  loaders+=(-device "loader,file=$TINYVAE_BLOB,addr=$blob")
else
  echo "run-qemu.sh: TINYVAE_BLOB is not set: the firmware will report a missing blob" >&2
fi
qemu=(qemu-system-arm "${machine[@]}" -nographic -monitor none -serial none
      -semihosting-config enable=on,target=native "${loaders[@]}" -kernel "$elf")
if command -v defmt-print >/dev/null; then
  "${qemu[@]}" | defmt-print -e "$elf"
else
  echo "run-qemu.sh: defmt-print not found; raw defmt bytes follow (use tinyvae qemu)" >&2
  "${qemu[@]}"
fi
