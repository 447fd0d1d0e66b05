//! tinyvae on a Cortex-M: validates the model blob flashed (or loaded) into
//! its own memory region, reads the request, draws latents with the `shared`
//! sampler, decodes them with the `shared` int8 decoder and sends every
//! image to the host as a defmt frame. The host replays the same seed with
//! the same code and must get the same bytes.
//!
//! The frames are the protocol (`tools/src/firmware.rs` parses them):
//! `request {=u32} images, seed {=u64}, ...`, then per image
//! `z {=u32} {=[?]}` and `image {=u32} {=[u8]}`, then `done: {=u32} images`.
//!
//! No heap: fixed buffers in statics, sized per board.
#![no_std]
#![no_main]

#[cfg(all(feature = "bench", not(feature = "semihost")))]
compile_error!("the bench feature needs a QEMU board (qemu or microbit)");

#[cfg(feature = "bench")]
mod bench;
mod board;
mod failure;
#[cfg(all(feature = "bench", feature = "qemu"))]
mod float;
mod report;
mod request;

// The critical-section implementation (single core) defmt needs.
use board::Board;
use cortex_m as _;
use cortex_m_rt::entry;
use failure::Failure;
use request::{Request, Source};
use static_cell::ConstStaticCell;
use tinyvae_shared::{Draw, Model};

/// Decoder scratch (`Model::scratch_len`: the largest input + output of a layer).
static SCRATCH: ConstStaticCell<[i8; board::SCRATCH]> = ConstStaticCell::new([0; board::SCRATCH]);
/// One generated image.
static PIXELS: ConstStaticCell<[u8; board::PIXELS]> = ConstStaticCell::new([0; board::PIXELS]);
/// `bench`: the portable kernels' image, to compare the others with.
#[cfg(feature = "bench")]
static REFERENCE: ConstStaticCell<[u8; board::PIXELS]> = ConstStaticCell::new([0; board::PIXELS]);

#[entry]
fn main() -> ! {
    let mut board = Board::init();
    defmt::info!(
        "tinyvae firmware {=str} on {=str}",
        env!("CARGO_PKG_VERSION"),
        board::NAME
    );
    let result = run(&mut board);
    report::memory();
    let code = match result {
        Ok(count) => {
            defmt::info!("done: {=u32} images", count);
            0
        }
        Err(failure) => {
            defmt::error!("{}", failure);
            1
        }
    };
    board.finish(code)
}

/// Validates the blob, reads the request and generates the images.
fn run(board: &mut Board) -> Result<u32, Failure> {
    let region = board::blob_region();
    let model = load(region)?;
    let shape = model.image_shape();
    defmt::info!(
        "model: latent {=usize}, image {=u16}x{=u16}x{=u16}, {=usize} layers, blob {=u32} bytes at {=u32:#010x}",
        model.latent_dim(),
        shape.height,
        shape.width,
        shape.channels,
        model.body().layers.len(),
        model.header().payload_len + tinyvae_shared::blob::HEADER_LEN as u32,
        region.as_ptr() as u32
    );

    let scratch = SCRATCH.take();
    let pixels = PIXELS.take();
    let (scratch_len, image_len) = (model.scratch_len(), model.image_len());
    if scratch_len > scratch.len() || image_len > pixels.len() {
        return Err(Failure::TooBig {
            scratch: scratch_len as u32,
            scratch_capacity: scratch.len() as u32,
            image: image_len as u32,
            image_capacity: pixels.len() as u32,
        });
    }
    let (scratch, pixels) = (&mut scratch[..scratch_len], &mut pixels[..image_len]);

    let request: Request = board.request()?;
    let source = match request.source {
        Source::Host => "host",
        Source::Trng => "TRNG",
    };
    match request.draw {
        Draw::Prior => defmt::info!(
            "request {=u32} images, seed {=u64} ({=str}), prior",
            request.count,
            request.seed,
            source
        ),
        Draw::Class(class) => defmt::info!(
            "request {=u32} images, seed {=u64} ({=str}), class {=u16}",
            request.count,
            request.seed,
            source,
            class
        ),
        Draw::Interpolate => defmt::info!(
            "request {=u32} images, seed {=u64} ({=str}), interpolation",
            request.count,
            request.seed,
            source
        ),
    }
    #[cfg(feature = "bench")]
    return bench::run(
        &model,
        &request,
        scratch,
        pixels,
        &mut REFERENCE.take()[..image_len],
    );
    #[cfg(not(feature = "bench"))]
    generate(board, &model, &request, scratch, pixels)
}

/// Parses and validates the blob. Not inlined: parsing moves the model
/// (~0.9 KB) through several temporaries, which would otherwise stay in
/// `main`'s frame for the whole run (the M0 has 16 KB of RAM in all).
#[inline(never)]
fn load(region: &'static [u8]) -> Result<Model<'static>, Failure> {
    Model::from_region(region).map_err(|error| Failure::Blob {
        address: region.as_ptr() as u32,
        error,
    })
}

/// The normal run: every image's latent and bytes as defmt frames.
#[cfg(not(feature = "bench"))]
fn generate(
    board: &mut Board,
    model: &Model<'_>,
    request: &Request,
    scratch: &mut [i8],
    pixels: &mut [u8],
) -> Result<u32, Failure> {
    let mut rng = tinyvae_shared::seeded_rng(request.seed);
    model.for_each_latent(request.draw, request.count, &mut rng, |i, z| {
        model.decode(z, scratch, pixels)?;
        defmt::info!("z {=u32} {=[?]}", i, z);
        defmt::info!("image {=u32} {=[u8]}", i, pixels);
        board.image_done(i);
        Ok::<(), Failure>(())
    })?;
    Ok(request.count)
}
