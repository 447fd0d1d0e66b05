//! The Cortex-M0/M0+ (ARMv6-M) kernels: the decompositions of
//! [`crate::subpixel`] for transposed convolutions, and the dense layer
//! ([`dense()`]), with their inner loops in assembly.
//!
//! ARMv6-M has no SIMD and few registers that its loads and MULS can name
//! (r0 to r7), and LLVM's code for the plain-Rust kernels spills
//! accumulators to the stack. These loops keep four lanes' accumulators
//! in r8 to r11 and spend, per input channel, one load of the value the
//! lanes share and per lane one load, one MULS and one ADD:
//!
//! ```text
//! ldrb  r6, [r0, r1]   @ x = input[ci] - zero point, as u8 (r1 = ci, up to 0)
//! ldrsb r7, [r2, r1]   @ lane 0's weight
//! muls  r7, r6, r7
//! add   r8, r7         @ lane 0's sum
//! ...                  @ lanes 1 to 3: r3, r4, r5 into r9, r10, r11
//! adds  r1, #1
//! ```
//!
//! Fifteen instructions per four multiply-accumulates (the loops are
//! unrolled twice: fourteen and a half), and sixteen or seventeen per tap
//! to set up the five pointers (one LDM loads the four lanes'). Two forms:
//! - four output channels or more ([`channels_form`]): the lanes are four
//!   output channels over the runs of
//!   [`crate::subpixel::conv_transpose_channels`] ([`channels_run`]). The
//!   value they share is the input byte, read as `x - zero_point` in one
//!   unsigned byte: before the layer, its input is rewritten in place to
//!   that form, which is exact when no value lies below the zero point
//!   (always so after a ReLU, whose clamp is the zero point). A layer with
//!   such a value takes the pixel form.
//! - fewer output channels (the conv decoder's last layer,
//!   [`pixels_form`]): four pixels of a block of
//!   [`crate::subpixel::conv_transpose`], pixels with the same taps, share
//!   each weight ([`lanes_dot`]); no lane reads outside the input. The
//!   input is read as it is (int8, LDRSB), so it needs no rewriting pass
//!   (7,840 bytes on that layer) and takes any zero point: the sums of
//!   `w * x` exceed those of `w * (x - zero_point)` by `zero_point` times
//!   the sum of the block's weights, which is taken from the bias once per
//!   block and output channel.
//!
//! A layer with more taps per phase than
//! [`crate::subpixel::MAX_PHASE_TAPS`] takes the portable kernel.
//!
//! Exactness: each product is an int8 weight times a value in `0..=255`
//! (or `-128..=127`); the ADDs wrap modulo 2^32 like the portable kernel's
//! `wrapping_add`, the sum of the terms does not depend on their order,
//! and `sum w * x - zero_point * sum w = sum w * (x - zero_point)` modulo
//! 2^32 too.
//!
//! The requantization that follows each sum is the portable one
//! ([`crate::requant`]), whose high half on ARMv6-M is
//! `high_product_halves`: 32-bit multiplies only, two of them for
//! accumulators within 16 bits.
//!
//! With `crate::dsp` and `crate::host`'s call of its AVX2 kernel, the
//! crate's only `unsafe` code: the assembly reads memory through pointers
//! that the backends derive from checked slices.
#![allow(unsafe_code)]

use core::arch::naked_asm;

use crate::geometry::ConvGeometry;
use crate::requant::Requantizer;
use crate::subpixel::{
    self, BlockTap, ChannelBackend, LANES, LaneBackend, MAX_PHASE_TAPS, PixelTap,
};

/// Copies r8-r11 into r4-r7 (ARMv6-M pushes and stores only r0-r7).
macro_rules! high_to_low {
    () => {
        "mov r4, r8\nmov r5, r9\nmov r6, r10\nmov r7, r11"
    };
}

/// Copies r4-r7 into r8-r11.
macro_rules! low_to_high {
    () => {
        "mov r8, r4\nmov r9, r5\nmov r10, r6\nmov r11, r7"
    };
}

/// One input channel `r1` (counting up to 0) of four lanes: the value the
/// lanes share, loaded by `$shared` from r0, times each lane's value,
/// loaded by `$lane` from r2-r5, added to r8-r11.
macro_rules! four_lanes {
    ($shared:literal, $lane:literal) => {
        concat!(
            $shared,
            " r6, [r0, r1]\n",
            $lane,
            " r7, [r2, r1]\nmuls r7, r6, r7\nadd r8, r7\n",
            $lane,
            " r7, [r3, r1]\nmuls r7, r6, r7\nadd r9, r7\n",
            $lane,
            " r7, [r4, r1]\nmuls r7, r6, r7\nadd r10, r7\n",
            $lane,
            " r7, [r5, r1]\nmuls r7, r6, r7\nadd r11, r7\n",
            "adds r1, #1"
        )
    };
}

mod dense;
pub(crate) use dense::dense;

/// Runs the transposed convolution `g` by phases if the kernels take it
/// (see the module doc) and returns whether they did: by output channels
/// ([`channels_form`]) with four or more of them, else, or where that
/// declines, by pixels ([`pixels_form`]). `input` may be left rewritten.
#[inline(never)]
pub(crate) fn conv_transpose(
    g: &ConvGeometry,
    weights: &[i8],
    requant: &Requantizer<'_>,
    zero_point: i32,
    input: &mut [i8],
    output: &mut [i8],
) -> bool {
    if !subpixel::fits(g) {
        return false;
    }
    let channels = g.output.channels >= 4;
    if !(channels && channels_form(g, weights, requant, zero_point, input, output)) {
        pixels_form(g, weights, requant, zero_point, input, output);
    }
    true
}

/// Rewrites `input` in place to `x - zero_point` as one unsigned byte (see
/// the module doc) and returns `true`, or, where a value lies below the
/// zero point, leaves it as it was and returns `false`.
fn rewrite(input: &mut [i8], zero_point: i32) -> bool {
    // One pass: the rewrite, and whether any value lay below the zero point.
    let mut below = false;
    for x in input.iter_mut() {
        let v = i32::from(*x) - zero_point;
        below |= v < 0;
        // In 0..=255 when not below: stored as its low byte.
        *x = v as u8 as i8;
    }
    if below {
        restore(input, zero_point);
    }
    !below
}

/// Undoes [`rewrite`]: the low byte of `x - zero_point`, plus the zero
/// point, is `x` modulo 256.
fn restore(input: &mut [i8], zero_point: i32) {
    for x in input.iter_mut() {
        *x = (i32::from(*x as u8) + zero_point) as i8;
    }
}

/// [`conv_transpose`] by four output channels at a time over runs of
/// pixels ([`channels_run`]) on the rewritten input; returns `false`, the
/// input as it was, where a value lies below the zero point or a phase
/// overflows the run buffers. Not inlined: its buffers are not on the
/// stack while [`pixels_form`] runs.
#[inline(never)]
fn channels_form(
    g: &ConvGeometry,
    weights: &[i8],
    requant: &Requantizer<'_>,
    zero_point: i32,
    input: &mut [i8],
    output: &mut [i8],
) -> bool {
    if !rewrite(input, zero_point) {
        return false;
    }
    let channels = usize::from(g.input.channels);
    let bytes: &[u8] = bytemuck::cast_slice(&*input);
    let mut backend = ChannelLanes {
        input: bytes,
        channels,
        weights: 0,
        job: ChannelJob {
            bias: [0; LANES],
            minus_channels: -(channels as i32),
            count: 0,
            pixels: 0,
            out: core::ptr::null_mut(),
            taps: core::ptr::null(),
            input: bytes.as_ptr(),
            lanes: [core::ptr::null(); LANES],
            pixel_bytes: channels as u32,
        },
    };
    let done = subpixel::conv_transpose_channels::<RUN, MAX_RUNS, MAX_TAPS>(
        g,
        weights,
        requant,
        &mut backend,
        output,
    );
    if !done {
        restore(input, zero_point);
    }
    done
}

/// [`conv_transpose`] by four pixels of a block at a time
/// ([`crate::subpixel::conv_transpose`], [`lanes_dot`]) on the input as it
/// is: any zero point, any output channel count.
#[inline(never)]
fn pixels_form(
    g: &ConvGeometry,
    weights: &[i8],
    requant: &Requantizer<'_>,
    zero_point: i32,
    input: &[i8],
    output: &mut [i8],
) {
    let channels = usize::from(g.input.channels);
    let mut backend = PixelLanes {
        input,
        channels,
        zero_point,
        pixels: input.len() / channels.max(1),
        taps: [BlockTap::default(); MAX_PHASE_TAPS],
        back: (0, 0),
        checked: false,
        job: PixelJob {
            channel: core::ptr::null(),
            minus_channels: -(channels as i32),
            count: 0,
            taps: core::ptr::null(),
            lanes: [0; LANES],
        },
    };
    subpixel::conv_transpose(g, weights, requant, &mut backend, output);
}

/// Runs and taps the channel form lists at a time: one phase of the conv
/// decoder's 32 -> 40 layer (14 runs of 56 taps), 768 bytes of stack.
const MAX_RUNS: usize = 16;
/// See [`MAX_RUNS`].
const MAX_TAPS: usize = 64;
/// Most pixels per run of the channel form: a whole phase row of the conv
/// decoder's 32 -> 40 layer (two runs, of 1 and 13 pixels, one
/// [`channels_run`] call each), for 256 bytes of sums on the stack.
const RUN: usize = 16;

/// The [`ChannelBackend`] over the rewritten input: four output channels'
/// int8 weights, read from the blob, share each input byte.
struct ChannelLanes<'a> {
    input: &'a [u8],
    channels: usize,
    /// Bytes of one output channel's weights (all its taps).
    weights: usize,
    job: ChannelJob,
}

impl<'w> ChannelBackend<'w> for ChannelLanes<'_> {
    fn taps(&mut self, taps: &mut [PixelTap]) {
        // The ends of the first pixel's bytes and of the tap's weights
        // within a channel's, checked by `run`.
        let c = self.channels;
        for tap in taps {
            *tap = PixelTap {
                pixel: (tap.pixel + 1) * c,
                tap: (tap.tap + 1) * c,
            };
        }
    }

    fn channels(&mut self, weights: &'w [i8], lanes: usize) {
        self.weights = weights.len() / lanes;
        // Lanes past the last channel repeat the first: their sums are
        // discarded.
        for (j, lane) in self.job.lanes.iter_mut().enumerate() {
            let j = if j < lanes { j } else { 0 };
            *lane = weights[j * self.weights..][..self.weights].as_ptr();
        }
    }

    fn run(&mut self, taps: &[PixelTap], bias: [i32; LANES], acc: &mut [[i32; LANES]]) {
        let (c, pixels) = (self.channels, acc.len());
        // Each tap's `pixels` input pixels and its weights in a channel's
        // (ends, so at least `c` from the start).
        let inside = |t: &PixelTap| {
            let (x, w) = (t.pixel, t.tap);
            c <= x && x + (pixels - 1) * c <= self.input.len() && c <= w && w <= self.weights
        };
        assert!(!taps.is_empty() && pixels > 0 && c > 0 && taps.iter().all(inside));
        self.job.bias = bias;
        self.job.count = taps.len() as u32;
        self.job.pixels = pixels as u32;
        self.job.out = acc.as_mut_ptr();
        self.job.taps = taps.as_ptr().cast();
        self.job.input = self.input.as_ptr();
        // SAFETY: `count >= 1` taps at `taps`, `pixels >= 1`, `channels >=
        // 1`; for pixel `p` the assembly reads the `channels` bytes ending
        // at `input + x + p * channels`, inside `input`, and those ending at
        // `lane + w` for each lane, inside that lane's channel `weights`
        // bytes (checked above, `lanes` set by `channels` from checked
        // slices); it writes `pixels` entries of `acc`.
        unsafe { channels_run(&mut self.job) };
    }
}

/// A run of output pixels as [`channels_run`] reads it (the offsets are
/// the assembly's).
#[repr(C)]
struct ChannelJob {
    /// The sums' start; offset 0.
    bias: [i32; LANES],
    /// Bytes per input pixel; offset 16.
    pixel_bytes: u32,
    /// Taps at `taps` (at least one); offset 20.
    count: u32,
    /// Output pixels left in the run; offset 24.
    pixels: u32,
    /// Where the next pixel's four sums go; offset 28.
    out: *mut [i32; LANES],
    /// The taps, as `taps` rewrote them: the end of their first pixel's
    /// bytes from `input`, and of their weights from each lane's; offset
    /// 32.
    taps: *const (u32, u32),
    /// The rewritten input, moved on one pixel per pixel; offset 36.
    input: *const u8,
    /// The four lanes' (output channels') weights; offset 40.
    lanes: [*const i8; LANES],
    /// Minus the input channels: the loop index runs up to 0; offset 56,
    /// after `lanes`, so that one LDM of the lanes leaves its address.
    minus_channels: i32,
}

/// For each pixel of the job's run: `bias` plus, over the taps, the dot
/// product of lane `j`'s int8 weights with the tap's input bytes, stored
/// to `out`. The shared input byte is loaded once for the four lanes:
///
/// ```text
/// ldrb  r6, [r0, r1]   @ x = input[ci] - zero point, as u8
/// ldrsb r7, [r2, r1]   @ lane 0's weight
/// muls  r7, r6, r7
/// add   r8, r7
/// ...                  @ lanes 1 to 3: r3, r4, r5 into r9, r10, r11
/// adds  r1, #1
/// ```
///
/// Fourteen and a half instructions per four multiply-accumulates (the
/// loop is unrolled twice), as in [`lanes_dot`].
///
/// # Safety
/// `job.count`, `job.pixels` and `-job.minus_channels` at least one;
/// `taps` readable for `count` entries; for pixel `p`, the
/// `-minus_channels` bytes ending at `input + x + p * pixel_bytes` and at
/// `lane + w`, for every tap `(x, w)` and lane, readable; `out` writable
/// for `pixels` entries.
#[unsafe(naked)]
unsafe extern "C" fn channels_run(job: *mut ChannelJob) {
    naked_asm!(
        "push {{r4-r7, lr}}",
        high_to_low!(),
        "push {{r4-r7}}",
        // [sp] = job; lr = the end of the taps.
        "push {{r0}}",
        "ldr r1, [r0, #32]",
        "ldr r2, [r0, #20]",
        "lsls r2, r2, #3",
        "add r1, r2",
        "mov lr, r1",
        // Each pixel (r0 = job): the sums start at the bias, r12 = the
        // first tap.
        "2:",
        "ldm r0!, {{r4-r7}}",
        low_to_high!(),
        "ldr r1, [r0, #16]",
        "mov r12, r1",
        // Each tap: r0 = its input's end, r2-r5 = the lanes' weights'
        // ends, r1 = ci (counting up to 0).
        "3:",
        "mov r1, r12",
        "ldm r1!, {{r6, r7}}",
        "mov r12, r1",
        "ldr r1, [sp]",
        "ldr r0, [r1, #36]",
        "adds r0, r0, r6",
        "adds r1, #40",
        "ldm r1!, {{r2-r5}}",
        "adds r2, r2, r7",
        "adds r3, r3, r7",
        "adds r4, r4, r7",
        "adds r5, r5, r7",
        "ldr r1, [r1]",
        // An odd channel count enters the twice-unrolled loop halfway.
        "lsls r6, r1, #31",
        "bne 5f",
        "4:",
        four_lanes!("ldrb", "ldrsb"),
        "5:",
        four_lanes!("ldrb", "ldrsb"),
        "bne 4b",
        "cmp r12, lr",
        "bne 3b",
        // Store the pixel's sums; the next pixel's input.
        "ldr r0, [sp]",
        "ldr r1, [r0, #28]",
        high_to_low!(),
        "stm r1!, {{r4-r7}}",
        "str r1, [r0, #28]",
        "ldr r1, [r0, #36]",
        "ldr r2, [r0, #16]",
        "adds r1, r1, r2",
        "str r1, [r0, #36]",
        "ldr r1, [r0, #24]",
        "subs r1, #1",
        "str r1, [r0, #24]",
        "bne 2b",
        "add sp, #4",
        "pop {{r4-r7}}",
        low_to_high!(),
        "pop {{r4-r7, pc}}",
    )
}

/// The [`LaneBackend`] over the input as it is: four pixels' int8 values
/// share each weight, read from the blob.
struct PixelLanes<'a> {
    input: &'a [i8],
    channels: usize,
    zero_point: i32,
    /// The input's pixels (`input.len() / channels`).
    pixels: usize,
    /// The block's taps as the assembly reads them: `back` in pixels, and
    /// where the weights end in a channel's (the loop counts up to it).
    taps: [BlockTap; MAX_PHASE_TAPS],
    /// The smallest and largest `back` of the block's taps.
    back: (usize, usize),
    /// Whether the channel's weights, at `job.channel`, hold every tap's
    /// (checked by `channel`, for the block's taps).
    checked: bool,
    job: PixelJob,
}

impl<'w> LaneBackend<'w> for PixelLanes<'_> {
    fn taps(&mut self, taps: &[BlockTap]) {
        assert!((1..=MAX_PHASE_TAPS).contains(&taps.len()));
        let c = self.channels;
        for (slot, tap) in self.taps.iter_mut().zip(taps) {
            *slot = BlockTap {
                back: tap.back,
                weights: tap.weights + c,
            };
        }
        let backs = taps.iter().map(|t| t.back);
        self.back = (backs.clone().min().unwrap_or(0), backs.max().unwrap_or(0));
        self.job.count = taps.len() as u32;
        self.checked = false;
    }

    fn channel(&mut self, channel: &'w [i8]) -> i32 {
        let c = self.channels;
        let mut sum = 0_i32;
        for tap in &self.taps[..self.job.count as usize] {
            let w = &channel[tap.weights - c..tap.weights];
            sum = w.iter().fold(sum, |sum, &w| sum.wrapping_add(i32::from(w)));
        }
        // Indexing `channel` above checked every tap's weights.
        self.job.channel = channel.as_ptr();
        self.checked = true;
        // The sums of `x` exceed those of `x - zero_point` by this.
        self.zero_point.wrapping_mul(sum).wrapping_neg()
    }

    fn dot(&mut self, lanes: [usize; LANES], acc: &mut [i32; LANES]) {
        // Every lane's input pixels `q - back` inside the input.
        let (c, (near, far)) = (self.channels, self.back);
        let inside = |q: usize| far <= q && q - near < self.pixels;
        assert!(self.checked && self.job.count > 0 && c > 0 && lanes.iter().all(|&q| inside(q)));
        // The end of each lane's pixel `q` (an address past the input
        // where `q` is past it; the assembly reads `back` pixels before).
        let input = self.input.as_ptr() as usize;
        for (lane, q) in self.job.lanes.iter_mut().zip(lanes) {
            *lane = input.wrapping_add(q.wrapping_add(1).wrapping_mul(c));
        }
        self.job.taps = self.taps.as_ptr();
        // SAFETY: `count` taps (1 to 16, set by `taps`, checked above) at
        // `taps`, `channels >= 1`; the assembly reads the `channels` bytes
        // ending at `channel + weights`, inside the channel's weights
        // (checked by `channel` for these taps), and those of pixel `q -
        // back` for each lane, inside `input` (checked above), and writes
        // only `acc`.
        unsafe { lanes_dot(acc, &self.job) };
    }
}

/// Four pixels of a block as [`lanes_dot`] reads them (the offsets are the
/// assembly's).
#[repr(C)]
struct PixelJob {
    /// The output channel's weights; offset 0.
    channel: *const i8,
    /// Taps at `taps` (at least one); offset 4.
    count: u32,
    /// The block's taps, as [`PixelLanes`] keeps them: how many pixels
    /// before each lane's `q` their input pixel is, and where the weights
    /// end from `channel`; offset 8.
    taps: *const BlockTap,
    /// The end of each lane's pixel `q` in the input (an address, which
    /// may lie past the input: only the pixel `back` before is read);
    /// offset 12.
    lanes: [usize; LANES],
    /// Minus the input channels: the loop index runs up to 0; offset 28,
    /// after `lanes`, so that one LDM of the lanes leaves its address.
    minus_channels: i32,
}

/// `acc[j] += sum over the job's taps and ci of w[ci] * x_j[ci]`, the
/// weights (int8) ending at `channel + weights`, lane `j`'s input bytes
/// (int8, as they are) at `lanes[j] - back * channels`:
///
/// ```text
/// ldrsb r6, [r0, r1]   @ the weight the lanes share (r1 = ci, up to 0)
/// ldrsb r7, [r2, r1]   @ lane 0's input
/// muls  r7, r6, r7
/// add   r8, r7
/// ...                  @ lanes 1 to 3: r3, r4, r5 into r9, r10, r11
/// adds  r1, #1
/// ```
///
/// Fourteen and a half instructions per four multiply-accumulates (the
/// loop is unrolled twice), as in [`channels_run`], and seventeen per tap
/// (one MULS turns `back` into bytes).
///
/// # Safety
/// `job.count >= 1`, `job.minus_channels <= -1`, `taps` readable for
/// `count` entries, and for each tap the `-minus_channels` bytes ending at
/// `channel + weights` and at each `lane - back * channels` readable.
#[unsafe(naked)]
unsafe extern "C" fn lanes_dot(acc: *mut [i32; LANES], job: *const PixelJob) {
    naked_asm!(
        // Save r4-r11 and lr; [sp] = acc, [sp + 4] = job.
        "push {{r4-r7, lr}}",
        high_to_low!(),
        "push {{r4-r7}}",
        "push {{r0, r1}}",
        "ldm r0!, {{r4-r7}}",
        low_to_high!(),
        // r12 = the first tap, lr = the end of the taps.
        "ldr r0, [r1, #8]",
        "mov r12, r0",
        "ldr r2, [r1, #4]",
        "lsls r2, r2, #3",
        "add r0, r2",
        "mov lr, r0",
        // Each tap: r0 = its weights' end, r2-r5 = the lanes' input ends,
        // r1 = ci (counting up to 0).
        "2:",
        "mov r0, r12",
        "ldm r0!, {{r6, r7}}",
        "mov r12, r0",
        "ldr r1, [sp, #4]",
        "ldr r0, [r1, #0]",
        "adds r0, r0, r7",
        "adds r1, #12",
        "ldm r1!, {{r2-r5}}",
        // r1 = -channels; r6 = -back * channels, the lanes' offset.
        "ldr r1, [r1]",
        "muls r6, r1, r6",
        "adds r2, r2, r6",
        "adds r3, r3, r6",
        "adds r4, r4, r6",
        "adds r5, r5, r6",
        // An odd channel count enters the twice-unrolled loop halfway.
        "lsls r6, r1, #31",
        "bne 4f",
        "3:",
        four_lanes!("ldrsb", "ldrsb"),
        "4:",
        four_lanes!("ldrsb", "ldrsb"),
        "bne 3b",
        "cmp r12, lr",
        "bne 2b",
        // Store the sums, restore r4-r11, return.
        "pop {{r0, r1}}",
        high_to_low!(),
        "stm r0!, {{r4-r7}}",
        "pop {{r4-r7}}",
        low_to_high!(),
        "pop {{r4-r7, pc}}",
    )
}
