//! tinyvae on a Cortex-M: validates the model blob flashed (or loaded) into
//! its own memory region, then serves the host's commands over one byte
//! stream (a UART on a real board): for each generation request it seeds
//! the `shared` sampler (from the board's hardware random number generator
//! unless the host sends a seed to replay), decodes every latent with the
//! `shared` int8 decoder and sends the image. The host replays the seed
//! with the same code and must get the same bytes.
//!
//! The protocol is `tinyvae_shared::protocol` (shared/PROTOCOL.md); defmt
//! log frames travel inside its `Log` records (`logger.rs`), so one line
//! carries both. The main loop below is the same on every board; a board
//! (`board/`) supplies the transport, the command source, the seed source
//! and the blob region.
//!
//! No heap: fixed buffers in statics, sized per board.
#![no_std]
#![no_main]

#[cfg(all(feature = "bench", not(feature = "semihost")))]
compile_error!("the bench feature needs a QEMU lab board (qemu or microbit)");

#[cfg(feature = "bench")]
mod bench;
mod board;
mod failure;
#[cfg(all(feature = "bench", feature = "qemu"))]
mod float;
mod link;
mod logger;
mod report;

use board::Board;
// The critical-section implementation (single core) defmt and `link` need.
use cortex_m as _;
use cortex_m_rt::entry;
use failure::Failure;
use static_cell::ConstStaticCell;
#[cfg(not(feature = "bench"))]
use tinyvae_shared::protocol::Image;
use tinyvae_shared::protocol::{
    Begin, Command, FrameError, ModelInfo, Reply, Request, SeedSource, Status, VERSION,
};
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
    let loaded = load(board::blob_region());
    let model = fitting(&loaded);
    if let Ok(model) = model {
        let shape = model.image_shape();
        defmt::info!(
            "model: latent {=usize}, {=u16} classes, density {=bool}, image {=u16}x{=u16}x{=u16}, {=usize} layers, blob {=u32} bytes at {=u32:#010x}",
            model.latent_dim(),
            model.classes(),
            model.density().is_some(),
            shape.height,
            shape.width,
            shape.channels,
            model.body().layers.len(),
            model.header().blob_len() as u32,
            board::blob_region().as_ptr() as u32
        );
    }
    link::send(&Reply::Status(status(model)));
    let mut buffers = Buffers {
        scratch: SCRATCH.take(),
        pixels: PIXELS.take(),
        #[cfg(feature = "bench")]
        reference: REFERENCE.take(),
    };
    loop {
        let command = board.next_command();
        let outcome = serve(&mut board, model, &mut buffers, command);
        if let Err(failure) = &outcome {
            defmt::error!("{}", failure);
            link::send(&Reply::Error(failure.refusal()));
        }
        board.served(outcome.is_ok());
    }
}

/// The decoder's buffers.
struct Buffers {
    scratch: &'static mut [i8; board::SCRATCH],
    pixels: &'static mut [u8; board::PIXELS],
    #[cfg(feature = "bench")]
    reference: &'static mut [u8; board::PIXELS],
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

/// The loaded model if it fits this board's buffers (`Layout::check`): a
/// model that does not fit is the `Status`'s model error, and every
/// request is refused in its words. Borrows the model rather than moving
/// it (on the M0 every copy of it is stack).
fn fitting<'a>(loaded: &'a Result<Model<'static>, Failure>) -> Result<&'a Model<'static>, Failure> {
    let model = loaded.as_ref().map_err(|failure| *failure)?;
    board::LAYOUT.check(model).map_err(Failure::too_big)?;
    Ok(model)
}

/// The board's [`Status`]: who it is and what its blob holds.
fn status(model: Result<&Model<'static>, Failure>) -> Status<'static> {
    Status {
        protocol: VERSION,
        board: board::NAME,
        firmware: env!("CARGO_PKG_VERSION"),
        model: match model {
            Ok(model) => {
                let shape = model.image_shape();
                Ok(ModelInfo {
                    blob_len: model.header().blob_len() as u32,
                    blob_crc32: model.header().crc32,
                    latent: model.latent_dim() as u16,
                    shape: [shape.height, shape.width, shape.channels],
                    classes: model.classes(),
                    default_draw: model.default_draw(),
                    class_names: model.class_names().text(),
                })
            }
            Err(failure) => Err(failure.refusal().detail),
        },
    }
}

/// Answers one command.
fn serve(
    board: &mut Board,
    model: Result<&Model<'static>, Failure>,
    buffers: &mut Buffers,
    command: Result<Command, FrameError>,
) -> Result<(), Failure> {
    match command.map_err(Failure::Frame)? {
        Command::Hello => {
            link::send(&Reply::Status(status(model)));
            Ok(())
        }
        Command::Generate(request) => generate(board, model?, request, buffers),
    }
}

/// Checks a request against the model, seeds it and generates its images
/// (in buffers the model fits: [`fitting`] checked it).
fn generate(
    board: &mut Board,
    model: &Model<'_>,
    request: Request,
    buffers: &mut Buffers,
) -> Result<(), Failure> {
    request.check().map_err(Failure::Request)?;
    model.check_draw(request.draw).map_err(Failure::Generate)?;
    let (scratch_len, image_len) = (model.scratch_len(), model.image_len());
    let (seed, source) = match request.seed {
        Some(seed) => (seed, SeedSource::Host),
        None => (board.seed()?, SeedSource::Hardware),
    };
    let request = Request {
        seed: Some(seed),
        ..request
    };
    defmt::info!(
        "request: images {=u32}..{=u32} of {=u32}, seed {=u64} ({=str}), {=str}",
        request.first,
        request.end,
        request.count,
        seed,
        match source {
            SeedSource::Host => "host",
            SeedSource::Hardware => "hardware RNG",
        },
        match request.draw {
            Draw::Prior => "prior",
            Draw::Class(_) => "class",
            Draw::Interpolate => "interpolation",
            Draw::Fitted => "fitted",
        }
    );
    link::send(&Reply::Begin(Begin {
        seed,
        source,
        request,
    }));
    let (scratch, pixels) = (
        &mut buffers.scratch[..scratch_len],
        &mut buffers.pixels[..image_len],
    );
    #[cfg(feature = "bench")]
    let sent = bench::run(
        model,
        &request,
        seed,
        scratch,
        pixels,
        &mut buffers.reference[..image_len],
    )?;
    #[cfg(not(feature = "bench"))]
    let sent = images(model, &request, seed, scratch, pixels)?;
    report::memory();
    link::send(&Reply::Done { images: sent });
    Ok(())
}

/// The normal run: every image of the request, with its decoder input (z
/// and a conditional decoder's one-hot codes), as one [`Reply::Image`] each.
#[cfg(not(feature = "bench"))]
fn images(
    model: &Model<'_>,
    request: &Request,
    seed: u64,
    scratch: &mut [i8],
    pixels: &mut [u8],
) -> Result<u32, Failure> {
    let mut rng = tinyvae_shared::seeded_rng(seed);
    let mut sent = 0;
    model.for_each_latent_in(
        request.draw,
        request.count,
        request.images(),
        &mut rng,
        |index, z| {
            model.decode(z, scratch, pixels)?;
            link::send(&Reply::Image(Image {
                sequence: request.sequence(seed),
                index,
                latent: bytemuck::cast_slice(z),
                pixels,
            }));
            sent += 1;
            Ok::<(), Failure>(())
        },
    )?;
    Ok(sent)
}
