//! The dense layer's DSP pieces (see the parent module's doc): the
//! activations unpacked to int16 pairs, and one row quad's dot products.

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

/// One input pair (`$x`, two int16 halves) against the loaded words
/// `{w0}`, `{w1}` of row pairs 0 and 1: the module doc's SMLAD, UXTB16,
/// SMLAD for each, into `{s0}`, `{t0}` and `{s1}`, `{t1}`.
macro_rules! pair_step {
    ($x:literal) => {
        concat!(
            "smlad {s0}, {w0}, ",
            $x,
            ", {s0}\n",
            "uxtb16 {w0}, {w0}\n",
            "smlad {t0}, {w0}, ",
            $x,
            ", {t0}\n",
            "smlad {s1}, {w1}, ",
            $x,
            ", {s1}\n",
            "uxtb16 {w1}, {w1}\n",
            "smlad {t1}, {w1}, ",
            $x,
            ", {t1}"
        )
    };
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
            pair_step!("{x0}"),
            "ldrd {w0}, {w1}, [{wp}], #8",
            pair_step!("{x1}"),
            "ldrd {x0}, {x1}, [{xp}], #8",
            "ldrd {w0}, {w1}, [{wp}], #8",
            pair_step!("{x0}"),
            "ldrd {w0}, {w1}, [{wp}], #8",
            pair_step!("{x1}"),
            "subs {n}, {n}, #4",
            "bge 2b",
            "3:",
            // The last 0..=3 pairs, one per pass.
            "adds {n}, {n}, #4",
            "beq 5f",
            "4:",
            "ldr {x0}, [{xp}], #4",
            "ldrd {w0}, {w1}, [{wp}], #8",
            pair_step!("{x0}"),
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
