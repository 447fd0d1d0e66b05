//! The Cortex-M4/M7 DSP extension's fast paths for dense layers and
//! transposed convolutions.
//!
//! # Dense layers
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
//! # Transposed convolutions
//!
//! The weights stay in the blob's `[out_c][kh][kw][in_c]` order: one tap
//! of one output channel is `in_c` contiguous int8, read a word (four
//! channels) at a time with LDR, which may be unaligned on thumbv7em.
//! SXTB16 sign-extends a word's bytes 0 and 2, SXTB16 with `ror #8` its
//! bytes 1 and 3, so the activations minus the input zero point are
//! unpacked once per layer ([`unpack_quads`]) into int16 pairs in that
//! order: for channels `4q..4q+4` of a pixel, one word holds
//! `(x[4q], x[4q+2])` and the next `(x[4q+1], x[4q+3])`. [`dot2`] runs two
//! output channels over one tap, sharing the activation loads:
//!
//! ```text
//! ldrd   x0, x1, [x], #8     @ (x0, x2), (x1, x3)
//! ldr    wb, [wa, stride]    @ channel b's four weights
//! ldr    w, [wa], #4         @ channel a's four weights
//! sxtb16 t, w                @ (a0, a2)
//! smlad  acc0, t, x0, acc0   @ acc0 += a0 x0 + a2 x2
//! sxtb16 t, w, ror #8        @ (a1, a3)
//! smlad  acc0, t, x1, acc0   @ acc0 += a1 x1 + a3 x3
//! ...                        @ the same for b into acc1
//! ```
//!
//! Thirteen instructions with the loop's SUBS/BNE per eight
//! multiply-accumulates. Exactness: `x - zero_point` lies in `-255..=255`
//! and fits an int16 half, every int8 x int16 product fits the multiplier
//! exactly, and SMLAD's additions wrap modulo 2^32 like the portable
//! kernel's `wrapping_add`, whose sums do not depend on the order of the
//! terms: the accumulators equal the portable kernel's bit for bit, with
//! no bound on `in_c`. The `in_c % 4` channels after the last full quad
//! are added in plain Rust from the int8 input.
//!
//! This is the crate's only `unsafe` code: the `asm!` blocks read memory
//! through raw pointers whose bounds their safe wrappers check first.
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

/// Capacity in words of [`unpack_quads`]'s output, the on-stack copy of a
/// transposed convolution's input (16 KiB; the conv decoder's largest
/// input, 14 x 14 x 40, needs 3920 words).
pub(crate) const MAX_CONV_WORDS: usize = 4096;

/// Unpacks NHWC int8 activations of `channels` channels per pixel, minus
/// `zero_point`, into int16 pairs in SXTB16 order (see the module doc):
/// `2 * (channels / 4)` words per pixel; the `channels % 4` channels after
/// the last full quad of each pixel are left out. Stops when `out` is full.
pub(crate) fn unpack_quads(x: &[i8], channels: usize, zero_point: i32, out: &mut [u32]) {
    // -255..=255: an exact int16.
    let h = |v: i8| u32::from((i32::from(v) - zero_point) as i16 as u16);
    let quads = x
        .chunks_exact(channels)
        .flat_map(|pixel| pixel.chunks_exact(4));
    for (q, words) in quads.zip(out.chunks_exact_mut(2)) {
        words[0] = h(q[0]) | (h(q[2]) << 16);
        words[1] = h(q[1]) | (h(q[3]) << 16);
    }
}

/// `acc` plus the dot products of the unpacked activations `x` (one
/// pixel's `x.len() / 2` channel quads) with two int8 weight rows:
/// `w[..]` and `w[stride..]`, `2 * x.len()` weights each, wrapping.
/// `stride` 0 runs one row twice.
#[inline]
pub(crate) fn dot2(w: &[i8], stride: usize, x: &[u32], acc: [i32; 2]) -> [i32; 2] {
    let quads = x.len() / 2;
    // The asm reads 4 * quads bytes at w and at w + stride.
    assert!(stride + 4 * quads <= w.len());
    let [mut acc0, mut acc1] = acc;
    if quads == 0 {
        return acc;
    }
    // SAFETY: the loop runs `quads` times (at least once); each pass reads
    // 4 bytes at `w + 4i` and at `w + stride + 4i` and 8 at `x + 8i`, all
    // inside the slices checked above. The weight LDRs may be unaligned,
    // which thumbv7em allows; the LDRD only reads `x`, a u32 slice.
    // SXTB16/SMLAD/SUBS change only the named registers and the flags.
    unsafe {
        asm!(
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
            "subs {n}, {n}, #1",
            "bne 2b",
            acc0 = inout(reg) acc0,
            acc1 = inout(reg) acc1,
            xp = inout(reg) x.as_ptr() => _,
            wa = inout(reg) w.as_ptr() => _,
            n = inout(reg) quads => _,
            stride = in(reg) stride,
            x0 = out(reg) _,
            x1 = out(reg) _,
            w = out(reg) _,
            wb = out(reg) _,
            t = out(reg) _,
            options(nostack, readonly),
        );
    }
    [acc0, acc1]
}
