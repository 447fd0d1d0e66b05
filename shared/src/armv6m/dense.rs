//! The dense layer on the Cortex-M0: [`dense_quad`]'s assembly over the
//! row-quad layout (see the parent module's doc).

use core::arch::naked_asm;

use crate::layout::DenseLayout;
use crate::requant::Requantizer;

/// One weight byte of [`dense_quad`]: loaded from `r1 + $at` (then
/// `$extend`ed), times the input `$x`, added to `$sum`.
macro_rules! dense_byte {
    ($at:literal, $x:literal, $sum:literal, $extend:literal) => {
        concat!(
            "ldrb r6, [r1, ",
            $at,
            "]\n",
            $extend,
            "muls r6, ",
            $x,
            ", r6\nadd ",
            $sum,
            ", r6"
        )
    };
}

/// The dense layer on the row-quad layout ([`crate::layout`]) with
/// [`dense_quad`], if the layer has an even number of inputs (an odd one
/// would read the byte after the input for its padding) and returns
/// whether it did. The same bytes as the portable kernel: per row quad,
/// the `a` rows' bytes (stored `a ^ 0x80`, read unsigned: `a + 128`) give
/// `a.x + 128 sum(x)`, the `b` rows' (sign-extended) `b.x`. The quads are
/// indexed, not zipped from iterators over the weights, outputs and
/// parameters: with 20 or 30 inputs a quad's products cost some 400
/// instructions, and the iterators' bookkeeping had cost another 300.
#[inline(never)]
pub(crate) fn dense(
    layout: &DenseLayout,
    weights: &[u8],
    requant: &Requantizer<'_>,
    input: &[i8],
    output: &mut [i8],
) -> bool {
    let (pairs, quad_bytes) = (layout.pairs(), layout.quad_bytes());
    if !input.len().is_multiple_of(2) || pairs == 0 {
        return false;
    }
    let sum128 = input
        .iter()
        .fold(0_i32, |sum, &x| sum.wrapping_add(i32::from(x)))
        .wrapping_mul(128);
    let quads = output.len().div_ceil(4);
    assert!(quad_bytes >= 8 * pairs && input.len() >= 2 * pairs);
    assert!(weights.len() >= quads * quad_bytes);
    for (quad, outputs) in output.chunks_mut(4).enumerate() {
        let mut sums = [0; 4];
        // SAFETY: the assembly reads `8 * pairs` bytes from the quad's
        // start, inside `weights`, and `2 * pairs` of `input` (checked
        // above, `pairs >= 1`) and writes `sums`.
        unsafe {
            let at = weights.as_ptr().add(quad * quad_bytes);
            dense_quad(&mut sums, at, input.as_ptr(), pairs as u32);
        }
        sums[0] = sums[0].wrapping_sub(sum128);
        sums[2] = sums[2].wrapping_sub(sum128);
        for (j, (out, sum)) in outputs.iter_mut().zip(sums).enumerate() {
            let c = 4 * quad + j;
            *out = requant.output(c, sum.wrapping_add(requant.bias(c)));
        }
    }
    true
}

/// One row quad of a dense layer: `sums = [a0.x + 128 sum(x), b0.x, a1.x
/// + 128 sum(x), b1.x]` over `pairs` input pairs, the quad's words read as
/// bytes (two `a` bytes unsigned, two `b` bytes sign-extended per word):
///
/// ```text
/// ldrb  r6, [r1, #0]   @ a0[2k] + 128
/// muls  r6, r4, r6     @ times x[2k]
/// add   r8, r6
/// ldrb  r6, [r1, #1]   @ b0[2k], raw
/// sxtb  r6, r6
/// muls  r6, r4, r6
/// add   r9, r6
/// ...                  @ the other three bytes of each of the two words
/// ```
///
/// Thirty-four instructions per eight multiply-accumulates, with the two
/// input loads and the loop.
///
/// # Safety
/// `pairs >= 1`; `quad` readable for `8 * pairs` bytes, `x` for `2 *
/// pairs`; `sums` writable.
#[unsafe(naked)]
unsafe extern "C" fn dense_quad(sums: *mut [i32; 4], quad: *const u8, x: *const i8, pairs: u32) {
    naked_asm!(
        "push {{r4-r7, lr}}",
        high_to_low!(),
        "push {{r4-r7}}",
        "push {{r0}}",
        "movs r4, #0",
        "mov r8, r4",
        "mov r9, r4",
        "mov r10, r4",
        "mov r11, r4",
        // r0 = 0 and r7 = 1: the offsets of the pair's two inputs.
        "movs r0, #0",
        "movs r7, #1",
        "2:",
        "ldrsb r4, [r2, r0]",
        "ldrsb r5, [r2, r7]",
        "adds r2, #2",
        dense_byte!("#0", "r4", "r8", ""),
        dense_byte!("#2", "r5", "r8", ""),
        dense_byte!("#1", "r4", "r9", "sxtb r6, r6\n"),
        dense_byte!("#3", "r5", "r9", "sxtb r6, r6\n"),
        dense_byte!("#4", "r4", "r10", ""),
        dense_byte!("#6", "r5", "r10", ""),
        dense_byte!("#5", "r4", "r11", "sxtb r6, r6\n"),
        dense_byte!("#7", "r5", "r11", "sxtb r6, r6\n"),
        "adds r1, #8",
        "subs r3, #1",
        "bne 2b",
        "pop {{r0}}",
        high_to_low!(),
        "stm r0!, {{r4-r7}}",
        "pop {{r4-r7}}",
        low_to_high!(),
        "pop {{r4-r7, pc}}",
    )
}
