//! `bench` feature: executed instructions per generated image, per phase
//! (sampler, each layer, output table), for every kernel this target has,
//! on the same decoder inputs: those of the request's sequence
//! (`Model::for_each_latent_in` with its draw, so the images are the
//! host's `for_each_latent` images of that draw, whichever it is: prior,
//! fitted, class or interpolation). Run under `qemu-system-arm -icount shift=0`, where
//! virtual time counts executed instructions (see `board::Clock`); the host
//! side is `tinyvae bench` (`tools/src/firmware/bench.rs` parses these frames):
//!
//! - `bench clock {ps per tick}`
//! - `bench {kernel} {image} {fnv1a of the pixels} {stack peak B} [sampler, layer 0, ..., table]` (ticks)
//! - `bench float-diff {image} {max |float - int8|} {sum |float - int8|}`
//! - `bench mismatch {kernel} {image}` when a kernel's bytes differ from the portable kernel's.
//! - `bench protocol {image} {ticks}`: sending the image's `Image` reply
//!   frame through `link::send` (postcard, CRC-32, rzCOBS, the transport's
//!   critical section), what the board firmware adds per image to the
//!   decoding. The UART's own per-byte register write and status poll are
//!   not in it (about five instructions a byte on the nRF51).
//!
//! The sampler phase of image `i` is everything from the end of image
//! `i - 1` (or the start) until its input is ready: one prior, fitted or
//! class draw; for an interpolation, the first image's phase holds both
//! ends' draws and each later one its interpolation step; for a slice
//! `first..end`, the first image's phase also holds the discarded draws
//! before it. It is reported with every kernel.

use tinyvae_shared::protocol::{Image, Reply};
use tinyvae_shared::{Kernels, Model};

use crate::board::Clock;
use crate::failure::Failure;
use crate::report;
use tinyvae_shared::hash::fnv1a;
use tinyvae_shared::protocol::Request;

/// The int8 kernels measured, the portable baseline first.
const KERNELS: &[Kernels] = &[
    Kernels::Portable,
    #[cfg(feature = "qemu")]
    Kernels::Dsp,
    #[cfg(feature = "microbit")]
    Kernels::Armv6m,
];

/// Generates `request.count` images with every kernel, timing each phase.
pub fn run(
    model: &Model<'_>,
    request: &Request,
    seed: u64,
    scratch: &mut [i8],
    pixels: &mut [u8],
    reference: &mut [u8],
) -> Result<u32, Failure> {
    let clock = Clock::start();
    defmt::info!("bench clock {=u32}", Clock::PS_PER_TICK);
    #[cfg(feature = "qemu")]
    let mut float = crate::float::FloatModel::new(model);
    let mut rng = tinyvae_shared::seeded_rng(seed);
    let phases = model.body().layers.len() + 2;
    // When the sampler started on the next input.
    let mut drawing = clock.now();
    let images = request.images();
    model.for_each_latent_in(request.draw, request.count, images, &mut rng, |i, z| {
        let sampler = clock.now().wrapping_sub(drawing);
        for (k, &kernels) in KERNELS.iter().enumerate() {
            let mut ticks = heapless::Vec::<u32, 12>::new();
            let _ = ticks.push(sampler);
            report::repaint_stack();
            let mut last = clock.now();
            model.decode_using(kernels, z, scratch, pixels, |_| {
                let now = clock.now();
                let _ = ticks.push(now.wrapping_sub(last));
                last = now;
            })?;
            let stack = report::stack_peak();
            debug_assert_eq!(ticks.len(), phases);
            if k == 0 {
                reference.copy_from_slice(pixels);
            } else if pixels != reference {
                defmt::info!("bench mismatch {=str} {=u32}", kernels.name(), i);
            }
            if k == 0 {
                let start = clock.now();
                crate::link::send(&Reply::Image(Image {
                    sequence: request.sequence(seed),
                    index: i,
                    latent: bytemuck::cast_slice(z),
                    pixels,
                }));
                let ticks = clock.now().wrapping_sub(start);
                defmt::info!("bench protocol {=u32} {=u32}", i, ticks);
            }
            defmt::info!(
                "bench {=str} {=u32} {=u32} {=u32} {=[?]}",
                kernels.name(),
                i,
                fnv1a(pixels),
                stack,
                &ticks[..]
            );
        }
        #[cfg(feature = "qemu")]
        {
            let mut ticks = heapless::Vec::<u32, 12>::new();
            let _ = ticks.push(sampler);
            report::repaint_stack();
            let mut last = clock.now();
            float.decode(z, pixels, |_| {
                let now = clock.now();
                let _ = ticks.push(now.wrapping_sub(last));
                last = now;
            });
            let stack = report::stack_peak();
            let (max, sum) =
                pixels
                    .iter()
                    .zip(reference.iter())
                    .fold((0_u32, 0_u32), |(max, sum), (&f, &q)| {
                        let d = u32::from(f.abs_diff(q));
                        (max.max(d), sum + d)
                    });
            defmt::info!(
                "bench float {=u32} {=u32} {=u32} {=[?]}",
                i,
                fnv1a(pixels),
                stack,
                &ticks[..]
            );
            defmt::info!("bench float-diff {=u32} {=u32} {=u32}", i, max, sum);
        }
        drawing = clock.now();
        Ok::<(), Failure>(())
    })?;
    Ok(request.end - request.first)
}
