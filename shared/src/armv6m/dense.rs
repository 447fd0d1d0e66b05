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

/// One input pair of [`dense_quad`]: its two inputs loaded from r2 (then
/// moved on) into r4 and r5, times the quad's eight bytes at `r1 + $at`
/// (the first word's `a0, b0, a0, b0` at offsets 0 to 3 of the eight,
/// the second's `a1, b1, a1, b1` at 4 to 7), into r8-r11.
macro_rules! dense_pair {
    ($o0:literal, $o1:literal, $o2:literal, $o3:literal,
     $o4:literal, $o5:literal, $o6:literal, $o7:literal) => {
        concat!(
            "ldrsb r4, [r2, r0]\nldrsb r5, [r2, r7]\nadds r2, #2\n",
            dense_byte!($o0, "r4", "r8", ""),
            "\n",
            dense_byte!($o2, "r5", "r8", ""),
            "\n",
            dense_byte!($o1, "r4", "r9", "sxtb r6, r6\n"),
            "\n",
            dense_byte!($o3, "r5", "r9", "sxtb r6, r6\n"),
            "\n",
            dense_byte!($o4, "r4", "r10", ""),
            "\n",
            dense_byte!($o6, "r5", "r10", ""),
            "\n",
            dense_byte!($o5, "r4", "r11", "sxtb r6, r6\n"),
            "\n",
            dense_byte!($o7, "r5", "r11", "sxtb r6, r6\n"),
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
/// Thirty-one instructions per eight multiply-accumulates with the two
/// input loads, and the loop, unrolled twice, adds three per two pairs
/// (32.5 per eight).
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
        // An odd pair count enters the twice-unrolled loop halfway, the
        // quad's pointer one pair back (only read eight bytes on).
        "lsls r6, r3, #31",
        "beq 2f",
        "subs r1, #8",
        "adds r3, #1",
        "b 3f",
        "2:",
        dense_pair!("#0", "#1", "#2", "#3", "#4", "#5", "#6", "#7"),
        "3:",
        dense_pair!("#8", "#9", "#10", "#11", "#12", "#13", "#14", "#15"),
        "adds r1, #16",
        "subs r3, #2",
        "bne 2b",
        "pop {{r0}}",
        high_to_low!(),
        "stm r0!, {{r4-r7}}",
        "pop {{r4-r7}}",
        low_to_high!(),
        "pop {{r4-r7, pc}}",
    )
}
