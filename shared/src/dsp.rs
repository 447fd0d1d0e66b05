//! The Cortex-M4/M7 DSP extension's fast path for dense layers: SXTB16
//! sign-extends two int8 weights into two int16 halves, SMLAD multiplies
//! both halves with two int16 activations and adds both products to an
//! accumulator, so one weight word (four int8) costs one load, two SXTB16
//! and two SMLAD for four multiply-accumulates.
//!
//! The activations are unpacked once per layer into int16 pairs in the
//! order SXTB16 produces weights: for inputs `4g..4g+4`, word `2g` holds
//! `(x[4g], x[4g+2])` and word `2g+1` holds `(x[4g+1], x[4g+3])`. Each pass
//! of the loop covers eight inputs of two weight rows, so every unpacked activation word serves two
//! rows. The weights stay in the blob's row-major layout, read with
//! word loads (unaligned loads are allowed on thumbv7em).
//!
//! The sums equal the portable kernel's bit for bit: every product of two
//! int8 values is exact in the int16 x int16 multiplier, and SMLAD's
//! additions wrap modulo 2^32 like the portable `wrapping_add` (it only sets
//! the sticky Q flag, which nothing reads). `shared/tests/` and the firmware's
//! bench self-check compare the two paths.
//!
//! This is the crate's only `unsafe` code: the `asm!` block reads memory
//! through raw pointers whose bounds the safe wrapper checks first.
#![allow(unsafe_code)]

use core::arch::asm;

/// Largest dense input the fast path takes (its on-stack int16 copy).
pub(crate) const MAX_INPUTS: usize = 512;

/// int8 activations as int16 pairs in SXTB16 order (see the module doc);
/// `x.len()` must be a multiple of 4 and at most [`MAX_INPUTS`].
pub(crate) fn unpack(x: &[i8], out: &mut [u32; MAX_INPUTS / 2]) {
    for (quad, pair) in x.chunks_exact(4).zip(out.chunks_exact_mut(2)) {
        let h = |v: i8| u32::from(v as i16 as u16);
        pair[0] = h(quad[0]) | (h(quad[2]) << 16);
        pair[1] = h(quad[1]) | (h(quad[3]) << 16);
    }
}

/// `(sum_k a[k] * x[k], sum_k b[k] * x[k])` over the first `8 * pairs`
/// inputs, wrapping, for two weight rows `a` and `b` and the unpacked
/// activations `x`.
#[inline]
pub(crate) fn dot2(a: &[i8], b: &[i8], x: &[u32], pairs: usize) -> (i32, i32) {
    // The asm reads 8 * pairs bytes of each row and 4 * pairs words of x.
    assert!(a.len() >= 8 * pairs && b.len() >= 8 * pairs && x.len() >= 4 * pairs);
    let (mut acc0, mut acc1) = (0_i32, 0_i32);
    if pairs == 0 {
        return (acc0, acc1);
    }
    let stride = (b.as_ptr() as isize).wrapping_sub(a.as_ptr() as isize);
    // SAFETY: the loop runs `pairs` times; each pass reads 8 bytes at
    // `a + 8i` and `a + stride + 8i = b + 8i` and 16 bytes at `x + 16i`, all
    // inside the slices checked above. Word loads may be unaligned on
    // thumbv7em (LDR; LDRD only reads `x`, which is u32-aligned).
    // SXTB16/SMLAD/SUBS change only the named registers and the flags.
    unsafe {
        asm!(
            // Two groups of four inputs per pass (the loop's SUBS/BNE
            // amortized over 16 multiply-accumulates).
            "2:",
            "ldrd {x0}, {x1}, [{xp}], #8",
            "ldr {wb}, [{wa}, {stride}]",
            "ldr {w}, [{wa}], #4",
            "sxtb16 {t}, {w}",
            "smlad {acc0}, {t}, {x0}, {acc0}",
            "sxtb16 {t}, {w}, ror #8",
            "smlad {acc0}, {t}, {x1}, {acc0}",
            "sxtb16 {t}, {wb}",
            "smlad {acc1}, {t}, {x0}, {acc1}",
            "sxtb16 {t}, {wb}, ror #8",
            "smlad {acc1}, {t}, {x1}, {acc1}",
            "ldrd {x0}, {x1}, [{xp}], #8",
            "ldr {wb}, [{wa}, {stride}]",
            "ldr {w}, [{wa}], #4",
            "sxtb16 {t}, {w}",
            "smlad {acc0}, {t}, {x0}, {acc0}",
            "sxtb16 {t}, {w}, ror #8",
            "smlad {acc0}, {t}, {x1}, {acc0}",
            "sxtb16 {t}, {wb}",
            "smlad {acc1}, {t}, {x0}, {acc1}",
            "sxtb16 {t}, {wb}, ror #8",
            "smlad {acc1}, {t}, {x1}, {acc1}",
            "subs {n}, {n}, #1",
            "bne 2b",
            acc0 = inout(reg) acc0,
            acc1 = inout(reg) acc1,
            xp = inout(reg) x.as_ptr() => _,
            wa = inout(reg) a.as_ptr() => _,
            n = inout(reg) pairs => _,
            stride = in(reg) stride,
            x0 = out(reg) _,
            x1 = out(reg) _,
            w = out(reg) _,
            wb = out(reg) _,
            t = out(reg) _,
            options(nostack, readonly),
        );
    }
    (acc0, acc1)
}
