//! The Cortex-M4/M7 DSP extension's fast path for dense layers.
//!
//! The weights are stored in row quads of interleaved row pairs
//! ([`crate::layout`]): one word holds two inputs of two rows `a` and `b`
//! such that its signed halves are `256 * b + a + 128`. The activations are
//! unpacked once per layer into int16 pairs, word `k` = `(x[2k], x[2k+1])`.
//! For each input pair and row pair the loop does
//!
//! ```text
//! smlad  s, w, x, s     @ s += 256 * (b.x) + (a.x) + 128 * (x0 + x1)
//! uxtb16 w, w           @ w  = (a0 + 128, a1 + 128)
//! smlad  t, w, x, t     @ t += (a.x) + 128 * (x0 + x1)
//! ```
//!
//! so after the row: `a.x = t - 128 * sum(x)` and `b.x = (s - t) >> 8`.
//! Three instructions (plus one shared load of x and one load of two weight
//! words per four rows) per four multiply-accumulates, where sign-extending
//! every weight (SXTB16) costs five.
//!
//! Exactness: every product fits the 16 x 16 multiplier exactly. SMLAD's
//! additions wrap modulo 2^32 (they only set the sticky Q flag, which
//! nothing reads), so `s - t` equals `256 * (b.x)` modulo 2^32, and the
//! arithmetic shift recovers `b.x` exactly while `|b.x| < 2^23`. With int8
//! weights and activations `|b.x| <= 128 * 128 * inputs`, hence
//! [`MAX_INPUTS`] = 510; `t - 128 * sum(x)` is exact outright. Both sums
//! are then the portable kernel's exact integer dot products, bit for bit
//! (`shared/tests/`, the firmware's bench self-check and the QEMU replay
//! tests compare the two paths).
//!
//! This is the crate's only `unsafe` code: the `asm!` block reads memory
//! through raw pointers whose bounds the safe wrapper checks first.
#![allow(unsafe_code)]

use core::arch::asm;

/// Largest dense input the fast path takes: `128 * 128 * 511 < 2^23`, and
/// the layout pads to an even count.
pub(crate) const MAX_INPUTS: usize = 510;
/// Input pairs of [`MAX_INPUTS`]: the length of the unpacked activations.
pub(crate) const MAX_PAIRS: usize = MAX_INPUTS / 2;

/// Unpacks int8 activations (at most [`MAX_INPUTS`]) into int16 pairs,
/// `out[k] = (x[2k] low, x[2k+1] high)`, the high half of an odd last pair
/// zero, and returns `sum(x)`.
pub(crate) fn unpack(x: &[i8], out: &mut [u32; MAX_PAIRS]) -> i32 {
    let word = |lo: i8, hi: i8| u32::from(lo as i16 as u16) | (u32::from(hi as i16 as u16) << 16);
    let mut sum = 0_i32;
    let pairs = x.chunks_exact(2);
    let last = pairs.remainder().first().copied();
    let mut words = out.iter_mut();
    for (pair, w) in pairs.zip(&mut words) {
        *w = word(pair[0], pair[1]);
        sum += i32::from(pair[0]) + i32::from(pair[1]);
    }
    if let (Some(lo), Some(w)) = (last, words.next()) {
        *w = word(lo, 0);
        sum += i32::from(lo);
    }
    sum
}

/// The four sums of one row quad: `[s0, t0, s1, t1]` in the module doc's
/// notation, for row pair 0 and row pair 1, over all of `x`'s pairs.
/// `quad` holds the quad's `2 * x.len()` words.
#[inline]
pub(crate) fn dot_quad(quad: &[u32], x: &[u32]) -> [i32; 4] {
    let pairs = x.len();
    // The asm reads `pairs` words of x and `2 * pairs` words of `quad`.
    assert!(quad.len() >= 2 * pairs);
    let [mut s0, mut t0, mut s1, mut t1] = [0_i32; 4];
    // SAFETY: the loops together run `pairs` times, each pass reading one
    // word at `x + 4i` and two at `quad + 8i`, all inside the slices checked
    // above; both are `u32` slices, so the LDRDs are word-aligned as they
    // must be. SMLAD/UXTB16/SUBS/ADDS change only the named registers and
    // the flags.
    unsafe {
        asm!(
            // Four input pairs per pass while at least four remain.
            "subs {n}, {n}, #4",
            "blt 3f",
            "2:",
            "ldrd {x0}, {x1}, [{xp}], #8",
            "ldrd {w0}, {w1}, [{wp}], #8",
            "smlad {s0}, {w0}, {x0}, {s0}",
            "uxtb16 {w0}, {w0}",
            "smlad {t0}, {w0}, {x0}, {t0}",
            "smlad {s1}, {w1}, {x0}, {s1}",
            "uxtb16 {w1}, {w1}",
            "smlad {t1}, {w1}, {x0}, {t1}",
            "ldrd {w0}, {w1}, [{wp}], #8",
            "smlad {s0}, {w0}, {x1}, {s0}",
            "uxtb16 {w0}, {w0}",
            "smlad {t0}, {w0}, {x1}, {t0}",
            "smlad {s1}, {w1}, {x1}, {s1}",
            "uxtb16 {w1}, {w1}",
            "smlad {t1}, {w1}, {x1}, {t1}",
            "ldrd {x0}, {x1}, [{xp}], #8",
            "ldrd {w0}, {w1}, [{wp}], #8",
            "smlad {s0}, {w0}, {x0}, {s0}",
            "uxtb16 {w0}, {w0}",
            "smlad {t0}, {w0}, {x0}, {t0}",
            "smlad {s1}, {w1}, {x0}, {s1}",
            "uxtb16 {w1}, {w1}",
            "smlad {t1}, {w1}, {x0}, {t1}",
            "ldrd {w0}, {w1}, [{wp}], #8",
            "smlad {s0}, {w0}, {x1}, {s0}",
            "uxtb16 {w0}, {w0}",
            "smlad {t0}, {w0}, {x1}, {t0}",
            "smlad {s1}, {w1}, {x1}, {s1}",
            "uxtb16 {w1}, {w1}",
            "smlad {t1}, {w1}, {x1}, {t1}",
            "subs {n}, {n}, #4",
            "bge 2b",
            "3:",
            // The last 0..=3 pairs, one per pass.
            "adds {n}, {n}, #4",
            "beq 5f",
            "4:",
            "ldr {x0}, [{xp}], #4",
            "ldrd {w0}, {w1}, [{wp}], #8",
            "smlad {s0}, {w0}, {x0}, {s0}",
            "uxtb16 {w0}, {w0}",
            "smlad {t0}, {w0}, {x0}, {t0}",
            "smlad {s1}, {w1}, {x0}, {s1}",
            "uxtb16 {w1}, {w1}",
            "smlad {t1}, {w1}, {x0}, {t1}",
            "subs {n}, {n}, #1",
            "bne 4b",
            "5:",
            s0 = inout(reg) s0,
            t0 = inout(reg) t0,
            s1 = inout(reg) s1,
            t1 = inout(reg) t1,
            xp = inout(reg) x.as_ptr() => _,
            wp = inout(reg) quad.as_ptr() => _,
            n = inout(reg) pairs => _,
            x0 = out(reg) _,
            x1 = out(reg) _,
            w0 = out(reg) _,
            w1 = out(reg) _,
            options(nostack, readonly),
        );
    }
    [s0, t0, s1, t1]
}
