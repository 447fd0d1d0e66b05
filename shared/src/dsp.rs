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
//! every weight (SXTB16) costs five. The whole layer is one assembly loop
//! (`dense::dense_quads`): per row quad the four sums, then the four rows'
//! requantization (below) and stores, with no return to Rust between
//! quads; a last quad of fewer than four rows goes through the same loop
//! with its channels' parameters copied into zero-padded arrays.
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
//! The input minus its zero point is unpacked once per layer into int16
//! pairs in SXTB16 order ([`unpack_quads`]: for channels `4q..4q+4` of a
//! pixel, one word holds `(x[4q], x[4q+2])` and the next `(x[4q+1],
//! x[4q+3])`; two LDRs, four SXTB16, four SSUB16 and two STRDs per two
//! quads, into a buffer never cleared), and four lanes' weights at a time
//! are copied, sign-extended, into the same order, interleaved by lane
//! ([`expand_lanes`]: four LDRs, eight SXTB16 and one STM of eight words
//! per quad of the four lanes). Then [`crate::subpixel`] lists the
//! layer's runs: consecutive output pixels with the same taps, on
//! consecutive input pixels. [`channels_run`] computes a run's four
//! lanes: per channel quad, one LDRD of the input, two LDMs of four weight
//! words, eight SMLADs, with a loop count and branch every second quad and
//! about eight instructions per tap. The lanes are
//! - four output channels of one output pixel, by phases
//!   ([`subpixel::conv_transpose_channels`]), where the layer has four or
//!   more;
//! - with fewer (the decoder's last layer, one channel), the block form
//!   ([`subpixel::conv_transpose_blocks`]): the `s_y * s_x` output pixels
//!   that read the same input pixels, one per phase, times the channels,
//!   with the kernel rearranged so that the layer is an ordinary
//!   convolution of at most four channels; its weights are those four
//!   lanes'. Where that makes more than four lanes, the scatter form: the
//!   lanes are four of the `out_c * kh * kw` kernel offsets, each input
//!   pixel meets them once, and the sums are added into an int32 copy of
//!   the output.
//!
//! Exactness: `x - zero_point` lies in `-255..=255` and fits an int16
//! half, every int16 x int16 product fits the multiplier exactly, and
//! SMLAD's additions wrap modulo 2^32 like the portable kernel's
//! `wrapping_add`, whose sums do not depend on the order of the terms: the
//! accumulators equal the portable kernel's bit for bit, with no bound on
//! `in_c`. The `in_c % 4` channels after the last full quad are added in
//! plain Rust from the int8 input. Lanes past the last channel read a
//! copy of its weights, and their sums are dropped.
//!
//! # Requantization
//!
//! [`crate::requant::requantize_doubled`] ([`crate::requant::smmlar`] in Rust, and
//! [`crate::requant::requantize_sum`] in assembly, for the dense loop and for four conv
//! channels at a time, [`crate::requant::requantize_four`]): the rounded high half
//! `floor((x * m + 2^30) / 2^31)` of the Q31 multiply is `floor((x * 2m +
//! 2^31) / 2^32)`, which SMMLAR computes exactly in one instruction (bits
//! 63..32 of `c * 2^32 + x * 2m + 2^31`, from the exact 64-bit sum). `2m`
//! wraps to `2m - 2^32` when `m >= 2^30`; then `c = x` adds `x * 2^32`
//! back, and `c = 0` otherwise: an AND with a mask made once per channel.
//! The rounding right shift and the clamp (SSAT) follow the portable
//! form; the ReLU's floor is a byte compare, SSUB8 and SEL, on one byte in
//! the dense loop and on four packed into a word in [`crate::requant::requantize_four`].
//! A host test holds the formula, with a 64-bit model of SMMLAR, to
//! [`crate::requant`]'s portable `requantize`; the chip tests compare the
//! bytes, the dense ones with shifts of both signs.
//!
//! With `crate::armv6m` and `crate::host`'s call of its AVX2 kernel, the
//! crate's only `unsafe` code: the assembly reads memory through raw
//! pointers whose bounds their safe wrappers check first.
#![allow(unsafe_code)]

use core::arch::asm;
use core::mem::MaybeUninit;

use crate::geometry::ConvGeometry;
use crate::requant::Requantizer;
use crate::subpixel::{self, ChannelBackend, LANES, PixelTap};

/// Most runs and taps the channel form lists at a time (the conv
/// decoder's 14 x 14 output has 56 runs of 224 taps).
const MAX_RUNS: usize = 128;
/// See [`MAX_RUNS`].
const MAX_TAPS: usize = 512;

mod dense;
pub(crate) use dense::{MAX_INPUTS, dense};

/// Capacity in words of [`unpack_quads`]'s output, the on-stack copy of a
/// transposed convolution's input (16 KiB; the conv decoder's largest
/// input, 14 x 14 x 40, needs 3920 words).
pub(crate) const MAX_CONV_WORDS: usize = 4096;

/// Unpacks NHWC int8 activations of `channels` channels per pixel (four
/// or more), minus `zero_point`, into int16 pairs in SXTB16 order (see
/// the module doc): `2 * (channels / 4)` words per pixel; the `channels %
/// 4` channels after the last full quad of each pixel are left out.
/// Returns the words written, the front of `out`, which must hold them;
/// the rest of `out` stays uninitialized (no 16 KiB to clear first).
fn unpack_quads<'o>(
    x: &[i8],
    channels: usize,
    zero_point: i32,
    out: &'o mut [MaybeUninit<u32>],
) -> &'o [u32] {
    let quads = channels / 4;
    let pixels = x.len() / channels.max(1);
    let len = pixels * 2 * quads;
    assert!(quads > 0 && len <= out.len());
    // -255..=255: an exact int16 in each half.
    let zero = u32::from(zero_point as i16 as u16) * 0x0001_0001;
    let dst = out.as_mut_ptr().cast::<u32>();
    if channels.is_multiple_of(4) {
        // SAFETY: `x` holds `pixels * quads` quads back to back; `dst`
        // has room for their `len` words (checked above).
        unsafe { unpack_run(x.as_ptr(), dst, pixels * quads, zero) };
    } else {
        for (p, pixel) in x.chunks_exact(channels).enumerate() {
            // SAFETY: the pixel holds `quads` quads; its words, `2 *
            // quads` from `2 * quads * p`, lie within the `len` checked.
            unsafe { unpack_run(pixel.as_ptr(), dst.add(2 * quads * p), quads, zero) };
        }
    }
    // SAFETY: the runs above wrote all `len` words from `dst`.
    unsafe { core::slice::from_raw_parts(dst, len) }
}

/// Unpacks `quads` int8 quads from `src`, minus the zero point in both
/// halves of `zero`, into two words each at `dst`, two quads per pass (an
/// odd count does one first):
///
/// ```text
/// ldr    r0, [src], #4       @ one quad, any alignment
/// sxtb16 r2, r0              @ (x0, x2)
/// sxtb16 r3, r0, ror #8      @ (x1, x3)
/// ssub16 r2, r2, zero
/// ssub16 r3, r3, zero
/// strd   r2, r3, [dst], #8
/// ```
///
/// # Safety
/// `src` readable for `4 * quads` bytes, `dst` word-aligned and writable
/// for `2 * quads` words.
#[inline(always)]
unsafe fn unpack_run(src: *const i8, dst: *mut u32, quads: usize, zero: u32) {
    // SAFETY: the caller's contract; LDR takes any alignment on the M4
    // (the compiler's own code relies on it), STRD the word-aligned `dst`.
    // SXTB16/SSUB16 change only the named registers and the GE flags,
    // which nothing reads.
    unsafe {
        asm!(
            "tst {n}, #1",
            "beq 2f",
            "ldr {a}, [{src}], #4",
            "sxtb16 {e0}, {a}",
            "sxtb16 {o0}, {a}, ror #8",
            "ssub16 {e0}, {e0}, {z}",
            "ssub16 {o0}, {o0}, {z}",
            "strd {e0}, {o0}, [{dst}], #8",
            "2:",
            "lsrs {n}, {n}, #1",
            "beq 4f",
            "3:",
            "ldr {a}, [{src}], #4",
            "ldr {b}, [{src}], #4",
            "sxtb16 {e0}, {a}",
            "sxtb16 {o0}, {a}, ror #8",
            "sxtb16 {e1}, {b}",
            "sxtb16 {o1}, {b}, ror #8",
            "ssub16 {e0}, {e0}, {z}",
            "ssub16 {o0}, {o0}, {z}",
            "ssub16 {e1}, {e1}, {z}",
            "ssub16 {o1}, {o1}, {z}",
            "strd {e0}, {o0}, [{dst}], #8",
            "strd {e1}, {o1}, [{dst}], #8",
            "subs {n}, {n}, #1",
            "bne 3b",
            "4:",
            src = inout(reg) src => _,
            dst = inout(reg) dst => _,
            n = inout(reg) quads => _,
            z = in(reg) zero,
            a = out(reg) _,
            b = out(reg) _,
            e0 = out(reg) _,
            o0 = out(reg) _,
            e1 = out(reg) _,
            o1 = out(reg) _,
            options(nostack),
        );
    }
}

/// Runs the transposed convolution `g` on [`channels_run`] if it fits and
/// returns whether it did: by phases, four output channels at a time
/// ([`subpixel::conv_transpose_channels`]) where the layer has four or
/// more, at most [`subpixel::MAX_PHASE_TAPS`] taps per phase and four
/// channels' weights within [`MAX_EXPANDED_WORDS`]; with fewer, in block
/// form ([`subpixel::conv_transpose_blocks`]) where its phases times its
/// channels make at most four lanes and their rearranged weights fit
/// [`MAX_SCATTER_WORDS`]; else in scatter form
/// ([`subpixel::conv_transpose_scatter`]) if its output fits
/// [`MAX_SCATTER_WORDS`]. All need four input channels or more, and the
/// unpacked input within [`MAX_CONV_WORDS`].
#[inline(never)] // its 36 KiB frame only when it runs
pub(crate) fn conv_transpose(
    g: &ConvGeometry,
    weights: &[i8],
    requant: &Requantizer<'_>,
    zero_point: i32,
    input: &[i8],
    output: &mut [i8],
) -> bool {
    let channels = usize::from(g.input.channels);
    let quads = channels / 4;
    let pixels = input.len() / channels.max(1);
    // Four lanes' weights of `taps` taps, expanded to int16 pairs.
    let expanded = |taps: usize| LANES * taps * 2 * quads <= MAX_EXPANDED_WORDS;
    let taps = usize::from(g.kernel[0]) * usize::from(g.kernel[1]);
    let by_channels = g.output.channels >= 4 && subpixel::fits(g) && expanded(taps);
    let by_blocks = g.output.channels < 4
        && subpixel::block_taps(g).is_some_and(|[rows, columns]| {
            let taps = rows * columns;
            expanded(taps) && LANES * taps * channels <= 4 * MAX_SCATTER_WORDS
        });
    let scatter = output.len() <= MAX_SCATTER_WORDS && expanded(1);
    if quads == 0 || pixels * 2 * quads > MAX_CONV_WORDS || !(by_channels || by_blocks || scatter) {
        return false;
    }
    // The scatter form's sums, or the block form's rearranged weights:
    // set (cleared) only on the way to those forms.
    let mut scratch: [i32; MAX_SCATTER_WORDS];
    let mut x = [MaybeUninit::uninit(); MAX_CONV_WORDS];
    let unpacked = unpack_quads(input, channels, zero_point, &mut x);
    let mut backend = ChannelLanes {
        unpacked,
        input,
        zero_point,
        channels,
        quads,
        lanes: 0,
        weights: &[],
        expanded: [0; MAX_EXPANDED_WORDS],
        job: ChannelJob {
            quads: quads as u32,
            count: 0,
            pixels: 0,
            out: core::ptr::null_mut(),
            bias: [0; LANES],
            taps: core::ptr::null(),
            input: unpacked.as_ptr(),
            pixel_bytes: (8 * quads) as u32,
        },
    };
    if by_channels
        && subpixel::conv_transpose_channels::<32, MAX_RUNS, MAX_TAPS>(
            g,
            weights,
            requant,
            &mut backend,
            output,
        )
    {
        return true;
    }
    scratch = [0; MAX_SCATTER_WORDS];
    if by_blocks {
        let rearranged = bytemuck::cast_slice_mut(&mut scratch);
        return subpixel::conv_transpose_blocks::<32>(
            g,
            weights,
            requant,
            rearranged,
            &mut backend,
            output,
        );
    }
    let sums = &mut scratch[..output.len().min(MAX_SCATTER_WORDS)];
    scatter && subpixel::conv_transpose_scatter(g, weights, requant, &mut backend, sums, output)
}

/// Capacity of the int32 sums of [`subpixel::conv_transpose_scatter`]
/// (4 KiB: a 28 x 28 x 1 image and then some), which also hold
/// [`subpixel::conv_transpose_blocks`]' rearranged int8 weights.
const MAX_SCATTER_WORDS: usize = 1024;

/// Capacity in words of the int16 copy of four lanes' weights that
/// [`channels_run`] reads (8 KiB: 4 x 4 kernels of up to 64 input
/// channels).
const MAX_EXPANDED_WORDS: usize = 2048;

/// The [`ChannelBackend`]: the unpacked input, and the current four lanes'
/// weights (output channels, or the block form's phases) sign-extended to
/// int16 pairs in SXTB16 order, interleaved by lane: for tap `t` (the
/// lanes' `[taps][in_c]` index) and channel quad `q`,
/// words `(t * quads + q) * 8 + 2 * lane` and `+ 1` hold the lane's
/// `(w[4q], w[4q+2])` and `(w[4q+1], w[4q+3])`.
struct ChannelLanes<'a> {
    /// `2 * quads` words per pixel.
    unpacked: &'a [u32],
    /// The int8 input, for the channels after the last full quad.
    input: &'a [i8],
    zero_point: i32,
    channels: usize,
    quads: usize,
    /// The current channels and their int8 weights.
    lanes: usize,
    weights: &'a [i8],
    expanded: [u32; MAX_EXPANDED_WORDS],
    job: ChannelJob,
}

impl<'a> ChannelBackend<'a> for ChannelLanes<'a> {
    fn channels(&mut self, weights: &'a [i8], lanes: usize) {
        let (c, quads) = (self.channels, self.quads);
        let channel = weights.len() / lanes;
        let taps = channel / c;
        // The lanes past the last channel repeat its weights: their sums
        // are dropped.
        let offset = |lane: usize| (lane.min(lanes - 1) * channel) as u32;
        assert!(taps > 0 && taps * 8 * quads <= self.expanded.len());
        let job = Expansion {
            weights: weights.as_ptr(),
            expanded: self.expanded.as_mut_ptr(),
            lanes: [offset(1), offset(2), offset(3)],
            quads: quads as u32,
            taps: taps as u32,
            skip: (c - 4 * quads) as u32,
        };
        // SAFETY: lane `j` reads its `taps * c` bytes from `offset(j)`,
        // within `lanes * channel <= weights.len()`; the expansion writes
        // `taps * 8 * quads` words (checked above); `quads >= 1`.
        unsafe { expand_lanes(&job) };
        (self.weights, self.lanes) = (weights, lanes);
    }

    fn taps(&mut self, taps: &mut [PixelTap]) {
        // The byte offset of the first pixel's unpacked words and the
        // address of the tap's expanded weights, checked by `run`.
        let (words, expanded) = (2 * self.quads, self.expanded.as_ptr() as usize);
        for tap in taps {
            *tap = PixelTap {
                pixel: tap.pixel * words * 4,
                tap: expanded + tap.tap * 4 * words * 4,
            };
        }
    }

    fn run(&mut self, taps: &[PixelTap], bias: [i32; LANES], acc: &mut [[i32; LANES]]) {
        let (c, words) = (self.channels, 2 * self.quads);
        let pixels = acc.len();
        // Each tap reads `pixels` input pixels and one tap's expanded
        // weights, inside `unpacked` and `expanded`: a byte offset and an
        // address of words.
        let input_bytes = 4 * self.unpacked.len();
        let (expanded, weight_bytes) = (self.expanded.as_ptr() as usize, 4 * self.expanded.len());
        let inside = |t: &PixelTap| {
            let (x, w) = (t.pixel, t.tap.wrapping_sub(expanded));
            x.is_multiple_of(4)
                && w.is_multiple_of(4)
                && x + pixels * words * 4 <= input_bytes
                && w < weight_bytes
                && w + 16 * words <= weight_bytes
        };
        assert!(!taps.is_empty() && pixels > 0 && taps.iter().all(inside));
        self.job.taps = taps.as_ptr().cast();
        self.job.count = taps.len() as u32;
        self.job.pixels = pixels as u32;
        self.job.bias = bias;
        self.job.out = acc.as_mut_ptr();
        self.job.input = self.unpacked.as_ptr();
        // SAFETY: `count >= 1` taps at `taps` (a `PixelTap` is two 32-bit
        // words here), `pixels >= 1` and `quads >= 1` (checked by
        // `conv_transpose`); every tap's input, `pixels` pixels of `2 *
        // quads` words from its offset, lies in `unpacked`, and its
        // weights, `8 * quads` words from its address, in `expanded`
        // (checked above); both are u32 arrays and the offsets multiples
        // of 4, word-aligned for LDRD and LDM; `out` is `acc`, `pixels`
        // entries.
        unsafe { channels_run(&mut self.job) };
        if c.is_multiple_of(4) {
            return;
        }
        let vector = self.weights.len() / self.lanes;
        for t in taps {
            // Back to the first pixel and the tap.
            let (pixel, tap) = (t.pixel / (4 * words), (t.tap - expanded) / (16 * words));
            for (p, acc) in acc.iter_mut().enumerate() {
                let x = &self.input[(pixel + p) * c..][..c];
                for (lane, acc) in acc.iter_mut().enumerate().take(self.lanes) {
                    let w = &self.weights[lane * vector + tap * c..][..c];
                    for ci in 4 * (c / 4)..c {
                        let v = i32::from(x[ci]) - self.zero_point;
                        *acc = acc.wrapping_add(i32::from(w[ci]) * v);
                    }
                }
            }
        }
    }
}

/// Four lanes' weights as [`expand_lanes`] reads them (the offsets are
/// the assembly's).
#[repr(C)]
struct Expansion {
    /// Lane 0's `[taps][in_c]` int8 weights; offset 0.
    weights: *const i8,
    /// `taps * 8 * quads` words; offset 4.
    expanded: *mut u32,
    /// Bytes from lane 0's weights to lane 1's, 2's and 3's; offset 8.
    lanes: [u32; 3],
    /// Channel quads per tap, at least one; offset 20.
    quads: u32,
    /// Taps, at least one; offset 24.
    taps: u32,
    /// The `in_c % 4` bytes after a tap's last quad; offset 28.
    skip: u32,
}

/// Sign-extends four lanes' weights into [`ChannelLanes`]' expanded
/// layout: per tap and channel quad, one word of each lane, each split
/// into its SXTB16 pair, and the eight words stored at once:
///
/// ```text
/// ldr    r2, [r8, r9]           @ lane 1's quad (any alignment)
/// ldr    r4, [r8, r10]          @ lane 2's
/// ldr    r6, [r8, r11]          @ lane 3's
/// ldr    r0, [r8], #4           @ lane 0's
/// sxtb16 r1, r0, ror #8         @ (w1, w3)
/// sxtb16 r0, r0                 @ (w0, w2)
/// ...                           @ likewise r2-r7
/// stm    lr!, {r0-r7}
/// ```
///
/// Fifteen instructions per four lanes' quad, where the compiled loop
/// took about nine per lane.
///
/// # Safety
/// `quads` and `taps` at least one; each lane's weights (lane 0's
/// address plus its offset) readable for `taps * (4 * quads + skip)`
/// bytes; `expanded` word-aligned and writable for `taps * 8 * quads`
/// words.
#[unsafe(naked)]
unsafe extern "C" fn expand_lanes(job: *const Expansion) {
    core::arch::naked_asm!(
        "push {{r4-r11, lr}}",
        // [sp] = job, [sp + 4] = taps left.
        "ldr r1, [r0, #24]",
        "push {{r0, r1}}",
        "ldrd r8, lr, [r0]",
        "add r1, r0, #8",
        "ldm r1, {{r9-r11}}",
        // Each tap: r12 = quads left.
        "2:",
        "ldr r12, [sp]",
        "ldr r12, [r12, #20]",
        "3:",
        "ldr r2, [r8, r9]",
        "ldr r4, [r8, r10]",
        "ldr r6, [r8, r11]",
        "ldr r0, [r8], #4",
        "sxtb16 r1, r0, ror #8",
        "sxtb16 r0, r0",
        "sxtb16 r3, r2, ror #8",
        "sxtb16 r2, r2",
        "sxtb16 r5, r4, ror #8",
        "sxtb16 r4, r4",
        "sxtb16 r7, r6, ror #8",
        "sxtb16 r6, r6",
        "stm lr!, {{r0-r7}}",
        "subs r12, r12, #1",
        "bne 3b",
        // Past the tap's `in_c % 4` last bytes to the next tap.
        "ldr r0, [sp]",
        "ldr r0, [r0, #28]",
        "add r8, r8, r0",
        "ldr r0, [sp, #4]",
        "subs r0, r0, #1",
        "str r0, [sp, #4]",
        "bne 2b",
        "add sp, #8",
        "pop {{r4-r11, pc}}",
    )
}

/// A run of output pixels as [`channels_run`] reads it (the offsets are
/// the assembly's).
#[repr(C)]
struct ChannelJob {
    /// Channel quads per tap (at least one); offset 0.
    quads: u32,
    /// Taps at `taps` (at least one); offset 4.
    count: u32,
    /// Output pixels in the run; offset 8.
    pixels: u32,
    /// Where the first pixel's four sums go; offset 12.
    out: *mut [i32; LANES],
    /// The sums' start; offset 16.
    bias: [i32; LANES],
    /// The taps: the byte offset of their first pixel from `input`, and
    /// the address of their expanded weights; offset 32.
    taps: *const (u32, u32),
    /// The unpacked input; offset 36.
    input: *const u32,
    /// Bytes per unpacked pixel; offset 40.
    pixel_bytes: u32,
}

/// One channel quad of [`channels_run`]'s four lanes: the input's two
/// words from r4, each lane's two from r7 (two lanes per LDM), sums in
/// r8-r11.
macro_rules! channel_quad {
    () => {
        concat!(
            "ldrd r2, r3, [r4], #8\n",
            "ldm r7!, {{r0, r1, r5, r6}}\n",
            "smlad r8, r0, r2, r8\nsmlad r8, r1, r3, r8\n",
            "smlad r9, r5, r2, r9\nsmlad r9, r6, r3, r9\n",
            "ldm r7!, {{r0, r1, r5, r6}}\n",
            "smlad r10, r0, r2, r10\nsmlad r10, r1, r3, r10\n",
            "smlad r11, r5, r2, r11\nsmlad r11, r6, r3, r11"
        )
    };
}

/// For each pixel of the job's run: `bias` plus, over the taps, the dot
/// product of lane `j`'s expanded weights with the tap's unpacked pixel,
/// wrapping, stored to `out`. The input words are loaded once for the
/// four lanes, the weights two lanes at a time:
///
/// ```text
/// ldrd  r2, r3, [r4], #8            @ input: (x0, x2), (x1, x3)
/// ldm   r7!, {r0, r1, r5, r6}       @ lanes 0 and 1: (w0, w2), (w1, w3)
/// smlad r8, r0, r2, r8
/// smlad r8, r1, r3, r8
/// smlad r9, r5, r2, r9
/// smlad r9, r6, r3, r9
/// ldm   r7!, {r0, r1, r5, r6}       @ lanes 2 and 3 into r10, r11
/// ...
/// ```
///
/// Eleven instructions per sixteen multiply-accumulates, and a count and
/// a branch every second quad: `lr` counts quad pairs, and an odd quad
/// count enters the loop halfway, through an entry address chosen once
/// per call (`ldr pc`). Each tap costs five more instructions (its input
/// offset plus this pixel's input, its weights' address) and three to
/// close; the call's state lives in a stack frame:
///
/// ```text
/// sp + 0     the bias (LDM straight into the sums)
/// sp + 16    the first tap          sp + 20    the end of the taps
/// sp + 24    this pixel's input     sp + 28    where its sums go
/// sp + 32    bytes per pixel        sp + 36    pixels left
/// sp + 40    quad pairs per tap     sp + 44    the loop's entry
/// ```
///
/// # Safety
/// `job.quads`, `job.count` and `job.pixels` at least one; `taps` readable
/// for `count` entries; every tap's input (`input` plus its offset)
/// word-aligned and readable for `pixels * 2 * quads` words, its weights
/// (at its address) for `8 * quads` words; `out` writable for `pixels`
/// entries.
#[unsafe(naked)]
unsafe extern "C" fn channels_run(job: *mut ChannelJob) {
    core::arch::naked_asm!(
        "push {{r4-r11, lr}}",
        "sub sp, #48",
        "add r1, r0, #16",
        "ldm r1, {{r4-r7}}",
        "stm sp, {{r4-r7}}",
        "ldrd r1, r2, [r0, #4]",
        "ldr r3, [r0, #32]",
        "add r1, r3, r1, lsl #3",
        "strd r3, r1, [sp, #16]",
        "ldr r1, [r0, #36]",
        "ldr r3, [r0, #12]",
        "strd r1, r3, [sp, #24]",
        "ldr r1, [r0, #40]",
        "strd r1, r2, [sp, #32]",
        // Quad pairs, rounded up; an odd count enters at the second quad.
        "ldr r1, [r0]",
        "add r2, r1, #1",
        "lsr r2, r2, #1",
        "adr.w r3, 4f",
        "tst r1, #1",
        "beq 1f",
        "adr.w r3, 5f",
        "1:",
        "orr r3, r3, #1",
        "strd r2, r3, [sp, #40]",
        // Each pixel: the sums start at the bias, r12 = the first tap.
        "2:",
        "ldm sp, {{r8-r11}}",
        "ldr r12, [sp, #16]",
        // Each tap: r4 = its input, r7 = its weights, lr = quad pairs.
        "3:",
        "ldrd r4, r7, [r12], #8",
        "ldr r2, [sp, #24]",
        "add r4, r4, r2",
        "ldr lr, [sp, #40]",
        "ldr pc, [sp, #44]",
        "4:",
        channel_quad!(),
        "5:",
        channel_quad!(),
        "subs lr, lr, #1",
        "bne 4b",
        "ldr r0, [sp, #20]",
        "cmp r12, r0",
        "bne 3b",
        // Store the pixel's sums; the next pixel's input.
        "ldrd r2, r3, [sp, #24]",
        "stm r3!, {{r8-r11}}",
        "ldrd r0, r1, [sp, #32]",
        "add r2, r2, r0",
        "strd r2, r3, [sp, #24]",
        "subs r1, r1, #1",
        "str r1, [sp, #36]",
        "bne 2b",
        "add sp, #48",
        "pop {{r4-r11, pc}}",
    )
}
