#!/usr/bin/env python3
"""Cycle estimate per image from QEMU's instruction log (README.md, "On the
chip": the per-second figures).

QEMU counts instructions, not cycles. This script costs each executed
instruction by class, with the cycle counts of the Cortex-M0 and Cortex-M4
technical reference manuals, over a log of one image that QEMU writes with
`-d in_asm,exec,nochain`: put a `qemu-system-arm` wrapper first in PATH,

    #!/bin/bash
    exec /usr/bin/qemu-system-arm "$@" -d in_asm,exec,nochain -D /tmp/trace-$$.log

run `tinyvae qemu --blob runs/conv.tvae --seed 1 --count 1 --check --out
/tmp/q` (and `--machine microbit`), then `cycles.py /tmp/trace-N.log m4`
(or `m0`). Only the decoder's code is counted (functions of tinyvae_shared,
compiler_builtins and core's iterators): the log's decoder instructions
times its cycles per instruction give `tinyvae bench`'s counts in cycles.

The model (no flash wait states, no interrupts):
- M0 (`m0`): ALU, MOV, compare 1; MULS 1 (the fast multiplier; `m0` also
  prints the 32-cycle one); LDR/STR of any width 2; LDM/STM/PUSH 1+N, POP
  1+N, with PC 4+N; B and taken conditional branches 3, untaken 1; BL 4;
  BX/BLX 3.
- M4 (`m4`): ALU, SMLAD, SMMLAR, SSAT, SXTB16, SEL, MUL/MLA 1; LDR/STR 2,
  1 when it follows another single load or store (pipelined); LDRD/STRD 3;
  LDM/STM/PUSH/POP 1+N; branches 1+P, P the pipeline refill, 1 in the
  `fast` line and 3 in the `slow` one (loads then never pipelined).
"""
import collections
import re
import sys

DECODER = re.compile(r"tinyvae_shared|compiler_builtins|core4iter|__aeabi|__clzsi")
COND = re.compile(r"b(eq|ne|cs|cc|hs|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le)")
INSN = re.compile(r"0x([0-9a-f]+):\s+([0-9a-f]{4})(?: ([0-9a-f]{4}))?\s+(\S+)\s*(.*)")


def read(path):
    """Translations (pc, instructions, symbol) by id, executions and taken
    exits per id."""
    trans, ids, execs, taken = {}, {}, collections.Counter(), collections.Counter()
    insns, prev = None, None
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("Trace "):
                bracket = line.find("[")
                ptr = line[9:bracket].strip()
                pc = int(line[bracket + 1 :].split("/")[1], 16)
                if insns is not None:
                    # The first execution after a translation is that one.
                    ids[ptr] = len(trans)
                    trans[len(trans)] = (pc, insns, line.rsplit("] ", 1)[1].strip())
                    insns = None
                tid = ids.get(ptr)
                if tid is None:
                    continue
                execs[tid] += 1
                if prev is not None:
                    last = trans[prev][1][-1]
                    if pc != last[0] + last[3]:
                        taken[prev] += 1
                prev = tid
            elif line.startswith("IN:"):
                insns = []
            elif insns is not None and line.startswith("0x"):
                m = INSN.match(line)
                if m:
                    size = 4 if m.group(3) else 2
                    insns.append((int(m.group(1), 16), m.group(4), m.group(5), size))
    return trans, execs, taken


def registers(ops):
    m = re.search(r"\{([^}]*)\}", ops)
    if not m:
        return 1
    n = 0
    for part in filter(None, (p.strip() for p in m.group(1).split(","))):
        if "-" in part:
            a, b = part.split("-")
            n += int(b.strip()[1:]) - int(a.strip()[1:]) + 1
        else:
            n += 1
    return n


def cost_m0(mn, ops, taken, mul):
    if mn.startswith(("ldm", "stm")) or mn == "push":
        return 1 + registers(ops)
    if mn == "pop":
        return (4 if "pc" in ops else 1) + registers(ops)
    if mn == "bl":
        return 4
    if mn in ("bx", "blx", "b"):
        return 3
    if COND.fullmatch(mn):
        return 3 if taken else 1
    if mn.startswith(("ldr", "str")):
        return 2
    if mn in ("muls", "mul"):
        return mul
    if mn in ("mrs", "msr", "dmb", "dsb", "isb"):
        return 4
    if mn in ("mov", "add") and ops.split(",")[0].strip() == "pc":
        return 3
    return 1


def cost_m4(mn, ops, taken, refill, after_load_store):
    if mn.startswith(("ldm", "stm")) or mn == "push":
        return 1 + registers(ops)
    if mn == "pop":
        return 1 + registers(ops) + (refill if "pc" in ops else 0)
    if mn in ("ldrd", "strd"):
        return 3
    if mn in ("bl", "blx", "bx", "b"):
        return 1 + refill
    if COND.fullmatch(mn) or mn in ("cbz", "cbnz"):
        return 1 + refill if taken else 1
    if mn.startswith(("ldr", "str")):
        return 1 if after_load_store and refill == 1 else 2
    if mn in ("sdiv", "udiv"):
        return 7
    if mn in ("tbb", "tbh"):
        return 2 + refill
    if ops.split(",")[0].strip() == "pc":
        return 1 + refill
    return 1


def estimate(trans, execs, taken, cost):
    instructions = cycles = 0
    for tid, (_, insns, symbol) in trans.items():
        n = execs[tid]
        if n == 0 or not DECODER.search(symbol):
            continue
        once, extra, previous = 0, 0, None
        for k, (_, mn, ops, _) in enumerate(insns):
            mn = mn.split(".")[0]
            last = k == len(insns) - 1
            c = cost(mn, ops, False, previous)
            once += c
            if last:
                extra = cost(mn, ops, True, previous) - c
            previous = mn.startswith(("ldr", "str")) and mn not in ("ldrd", "strd")
        instructions += len(insns) * n
        cycles += once * n + extra * taken[tid]
    return instructions, cycles


def main():
    path, core = sys.argv[1], sys.argv[2]
    trans, execs, taken = read(path)
    if core == "m0":
        variants = {
            "fast multiplier": lambda mn, ops, t, _: cost_m0(mn, ops, t, 1),
            "32-cycle multiplier": lambda mn, ops, t, _: cost_m0(mn, ops, t, 32),
        }
    else:
        variants = {
            "fast (refill 1, pipelined loads)": lambda mn, ops, t, p: cost_m4(mn, ops, t, 1, p),
            "slow (refill 3)": lambda mn, ops, t, p: cost_m4(mn, ops, t, 3, p),
        }
    for name, cost in variants.items():
        instructions, cycles = estimate(trans, execs, taken, cost)
        print(f"{core} {name}: {instructions} decoder instructions, {cycles} cycles, "
              f"{cycles / instructions:.3f} cycles per instruction")


if __name__ == "__main__":
    main()
