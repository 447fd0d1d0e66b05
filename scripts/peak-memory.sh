#!/bin/bash
# Peak resident memory (VmHWM) of the host's `tinyvae` process alone (not
# QEMU's) while it collects COUNT images from the micro:bit board firmware
# in QEMU (`tinyvae qemu --machine microbit`, the code `tinyvae listen`
# runs), with --check. Prints the count, the exit code, the peak in KiB
# and the seconds taken.
#
#   scripts/peak-memory.sh BLOB COUNT [TINYVAE]
#
# TINYVAE defaults to target/release/tinyvae (cargo build --release --bin
# tinyvae). Linux only (/proc).
set -euo pipefail
blob=$1
count=$2
tinyvae=${3:-target/release/tinyvae}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
start=$(date +%s.%N)
"$tinyvae" qemu --machine microbit --blob "$blob" --count "$count" --seed 1 \
    --out "$out/images" --check 2> "$out/log" &
pid=$!
peak=0
while kill -0 "$pid" 2> /dev/null; do
    now=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2> /dev/null || true)
    [ -n "$now" ] && peak=$now
    sleep 0.2
done
rc=0
wait "$pid" || rc=$?
end=$(date +%s.%N)
echo "count $count exit $rc peak ${peak} KiB seconds $(echo "$end - $start" | bc)"
tail -1 "$out/log"
