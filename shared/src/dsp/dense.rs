//! The dense layer's DSP kernel (see the parent module's doc): the
//! activations unpacked to int16 pairs, then every row quad's dot products
//! and requantization in one assembly loop.

use crate::layout::DenseLayout;
use crate::requant::Requantizer;

/// Largest dense input the fast path takes: `128 * 128 * 511 < 2^23`, and
/// the layout pads to an even count.
pub(crate) const MAX_INPUTS: usize = 510;
/// Input pairs of [`MAX_INPUTS`]: the length of the unpacked activations.
const MAX_PAIRS: usize = MAX_INPUTS / 2;

/// Unpacks int8 activations (at most [`MAX_INPUTS`]) into int16 pairs,
/// `out[k] = (x[2k] low, x[2k+1] high)`, the high half of an odd last pair
/// zero, and returns `sum(x)`.
fn unpack(x: &[i8], out: &mut [u32; MAX_PAIRS]) -> i32 {
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

/// The dense layer `layout` on the DSP extension: `words` are its stored
/// weights (word-aligned), `input` at most [`MAX_INPUTS`] values. The
/// full row quads run in [`dense_quads`]; a last quad of fewer than four
/// rows runs there too, with its channels' parameters copied into
/// zero-padded arrays and its outputs through a four-byte buffer. The
/// same bytes as the portable kernel.
pub(crate) fn dense(
    layout: &DenseLayout,
    words: &[u32],
    requant: &Requantizer<'_>,
    input: &[i8],
    output: &mut [i8],
) {
    let mut x = [0_u32; MAX_PAIRS];
    let sum128 = unpack(input, &mut x).wrapping_mul(128);
    let pairs = layout.pairs();
    let ([bias, multipliers, shifts], zero_point, min) = requant.parts();
    let full = output.len() / 4;
    let rest = output.len() % 4;
    // Every quad's `2 * pairs` weight words, `pairs` input words, and
    // four channels' parameters per full quad.
    assert!(
        pairs <= MAX_PAIRS
            && words.len() >= output.len().div_ceil(4) * 2 * pairs
            && bias.len() >= 16 * full
            && multipliers.len() == bias.len()
            && shifts.len() >= 4 * full
    );
    let mut job = DenseJob {
        x: x.as_ptr(),
        pairs: pairs as u32,
        weights: words.as_ptr(),
        quads: full as u32,
        bias: bias.as_ptr(),
        multipliers: distance(bias.as_ptr(), multipliers.as_ptr()),
        shifts: shifts.as_ptr(),
        out: output.as_mut_ptr(),
        zero_point,
        min,
        sum128,
    };
    if full > 0 {
        // SAFETY: the job's arrays as checked above: `full` quads of
        // weights, parameters and outputs, `pairs` input words.
        unsafe { dense_quads(&mut job) };
    }
    if rest == 0 {
        return;
    }
    // The last quad's channels, padded to four; `job.weights` is its
    // weights, where `dense_quads` left it.
    let mut padded_bias = [0_u8; 16];
    let mut padded_multipliers = [0_u8; 16];
    let mut padded_shifts = [0_u8; 4];
    let mut outputs = [0_i8; 4];
    padded_bias[..4 * rest].copy_from_slice(&bias[16 * full..][..4 * rest]);
    padded_multipliers[..4 * rest].copy_from_slice(&multipliers[16 * full..][..4 * rest]);
    padded_shifts[..rest].copy_from_slice(&shifts[4 * full..][..rest]);
    job.quads = 1;
    job.bias = padded_bias.as_ptr();
    job.multipliers = distance(padded_bias.as_ptr(), padded_multipliers.as_ptr());
    job.shifts = padded_shifts.as_ptr();
    job.out = outputs.as_mut_ptr();
    // SAFETY: one quad of weights (checked above), four channels'
    // parameters and outputs in the padded arrays.
    unsafe { dense_quads(&mut job) };
    output[4 * full..].copy_from_slice(&outputs[..rest]);
}

/// The distance in bytes from `bias` to `multipliers` (wrapping), which
/// [`dense_quads`] reads with one base register.
fn distance(bias: *const u8, multipliers: *const u8) -> u32 {
    (multipliers as usize).wrapping_sub(bias as usize) as u32
}

/// The row quads of a dense layer as [`dense_quads`] reads them (the
/// offsets are the assembly's).
#[repr(C)]
struct DenseJob {
    /// The unpacked input, `pairs` words; offset 0.
    x: *const u32,
    /// Offset 4.
    pairs: u32,
    /// The next quad's `2 * pairs` weight words; offset 8.
    weights: *const u32,
    /// Quads left (at least one); offset 12.
    quads: u32,
    /// The next quad's four int32 biases (any alignment); offset 16.
    bias: *const u8,
    /// Bytes from `bias` to the matching multipliers; offset 20.
    multipliers: u32,
    /// The next quad's four int8 shifts; offset 24.
    shifts: *const u8,
    /// The next quad's four outputs; offset 28.
    out: *mut i8,
    /// The output zero point; offset 32.
    zero_point: i32,
    /// The activation's floor (-128, or the zero point after a ReLU);
    /// offset 36.
    min: i32,
    /// `128 * sum(x)`; offset 40.
    sum128: i32,
}

/// One input pair (in `$x`) against the words of row pairs 0 and 1 (r10,
/// r11): the module doc's SMLAD, UXTB16, SMLAD for each, into r0, r1 and
/// r2, r3.
#[rustfmt::skip]
macro_rules! pair_step {
    ($x:literal) => {
        concat!(
            "smlad r0, r10, ", $x, ", r0\n",
            "uxtb16 r10, r10\n",
            "smlad r1, r10, ", $x, ", r1\n",
            "smlad r2, r11, ", $x, ", r2\n",
            "uxtb16 r11, r11\n",
            "smlad r3, r11, ", $x, ", r3"
        )
    };
}

/// Requantizes the sum in `$a` with the next channel's parameters and
/// stores it, as [`Requantizer::apply`] does: bias from r4 (moved on),
/// its multiplier `m` at r4 + r5, its shift from r6 (moved on), the byte
/// to r7 (moved on), zero point r8, floor r9; r10-r12 and lr are scratch.
/// `2m` and its wrap mask are made here ([`crate::requant::requantize_sum`]), the floor is
/// a byte compare: SSUB8 sets GE[0] where the clamped value is at least
/// the floor, SEL keeps it there.
#[rustfmt::skip]
macro_rules! requantize_step {
    ($a:literal) => {
        concat!(
            "ldr r10, [r4, r5]\n",
            "ldr lr, [r4], #4\n",
            "add ", $a, ", ", $a, ", lr\n",
            // 2m modulo 2^32, and all ones where that wrapped.
            "lsl r10, r10, #1\n",
            "asr r11, r10, #31\n",
            "ldrsb r12, [r6], #1\n",
            requantize_sum!($a, "r10", "r11", "r12", "lr", "r8"),
            "ssub8 lr, ", $a, ", r9\n",
            "sel ", $a, ", ", $a, ", r9\n",
            "strb ", $a, ", [r7], #1"
        )
    };
}

/// For each of the job's row quads: the four dot products of the module
/// doc (sums `s0, t0, s1, t1` in r0-r3, four input pairs per pass while
/// four remain, then one), the rows' exact sums `t0 - 128 * sum(x)`,
/// `(s0 - t0) >> 8` and likewise, then each requantized and stored
/// ([`requantize_step`]). About 7.5 instructions per input pair and 20 per
/// output, where the compiled requantization of the four sums took about
/// twice that.
///
/// # Safety
/// `job.quads >= 1`; `x` readable for `pairs` words; `weights`
/// word-aligned and readable for `quads * 2 * pairs` words; `bias` and
/// `bias + multipliers` for `16 * quads` bytes, `shifts` for `4 * quads`,
/// `out` writable for `4 * quads`.
#[unsafe(naked)]
unsafe extern "C" fn dense_quads(job: *mut DenseJob) {
    core::arch::naked_asm!(
        "push {{r4-r11, lr}}",
        "push {{r0}}",
        // Each quad: r4 = x, r6 = pairs, r5 = its weights, sums zero.
        "2:",
        "ldr r12, [sp]",
        "ldrd r4, r6, [r12]",
        "ldr r5, [r12, #8]",
        "movs r0, #0",
        "movs r1, #0",
        "movs r2, #0",
        "movs r3, #0",
        "subs r6, r6, #4",
        "blt 4f",
        "3:",
        "ldrd r8, r9, [r4], #8",
        "ldrd r10, r11, [r5], #8",
        pair_step!("r8"),
        "ldrd r10, r11, [r5], #8",
        pair_step!("r9"),
        "ldrd r8, r9, [r4], #8",
        "ldrd r10, r11, [r5], #8",
        pair_step!("r8"),
        "ldrd r10, r11, [r5], #8",
        pair_step!("r9"),
        "subs r6, r6, #4",
        "bge 3b",
        "4:",
        "adds r6, r6, #4",
        "beq 6f",
        "5:",
        "ldr r8, [r4], #4",
        "ldrd r10, r11, [r5], #8",
        pair_step!("r8"),
        "subs r6, r6, #1",
        "bne 5b",
        "6:",
        // The next quad's weights; the rows' sums: r1 = a0, r0 = b0,
        // r3 = a1, r2 = b1 (rows 0 to 3).
        "ldr r12, [sp]",
        "str r5, [r12, #8]",
        "ldr r8, [r12, #40]",
        "sub r0, r0, r1",
        "asr r0, r0, #8",
        "sub r1, r1, r8",
        "sub r2, r2, r3",
        "asr r2, r2, #8",
        "sub r3, r3, r8",
        // r4 = bias, r5 = to the multipliers, r6 = shifts, r7 = out,
        // r8 = zero point, r9 = floor.
        "add r12, r12, #16",
        "ldm r12, {{r4-r9}}",
        requantize_step!("r1"),
        requantize_step!("r0"),
        requantize_step!("r3"),
        requantize_step!("r2"),
        "ldr r12, [sp]",
        "add r0, r12, #16",
        "stm r0, {{r4-r7}}",
        "ldr r0, [r12, #12]",
        "subs r0, r0, #1",
        "str r0, [r12, #12]",
        "bne 2b",
        "add sp, #4",
        "pop {{r4-r11, pc}}",
    )
}
