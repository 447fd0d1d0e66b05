//! `bench` feature: executed instructions per generated image, per phase
//! (sampler, each layer, output table), for every kernel this target has,
//! on the same latents. Run under `qemu-system-arm -icount shift=0`, where
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
//! The sampler runs once per image; its ticks are reported with every kernel.

use tinyvae_shared::protocol::{Image, Reply};
use tinyvae_shared::{Kernels, Latent, Model, blob::MAX_LATENT};

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
    // Each latent is timed on its own: prior or class draws (an
    // interpolation request is measured as prior draws).
    let latent = match request.draw {
        tinyvae_shared::Draw::Class(k) => Latent::Class(k),
        _ => Latent::Prior,
    };
    let mut rng = tinyvae_shared::seeded_rng(seed);
    let mut z = [0_i8; MAX_LATENT as usize];
    let z = &mut z[..model.latent_dim()];
    let phases = model.body().layers.len() + 2;
    for i in request.images() {
        let start = clock.now();
        model
            .sample_latent(latent, &mut rng, z)
            .map_err(Failure::Generate)?;
        let sampler = clock.now().wrapping_sub(start);
        for (k, &kernels) in KERNELS.iter().enumerate() {
            let mut ticks = heapless::Vec::<u32, 12>::new();
            let _ = ticks.push(sampler);
            report::repaint_stack();
            let mut last = clock.now();
            model
                .decode_using(kernels, z, scratch, pixels, |_| {
                    let now = clock.now();
                    let _ = ticks.push(now.wrapping_sub(last));
                    last = now;
                })
                .map_err(Failure::Generate)?;
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
    }
    Ok(request.end - request.first)
}
