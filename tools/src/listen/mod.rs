//! `tinyvae listen`: ask a board running the tinyvae firmware for images
//! over its serial port, collect them (asking again for any lost on the
//! wire), write them as they arrive ([`store`]: bounded memory, and an
//! interrupted run is finished by running the same command again), and
//! with `--check` replay every one on the host from the seed the board
//! reports. `tinyvae qemu --machine microbit` runs the same code against
//! the emulated board.

pub mod store;

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tinyvae_shared::blob::Hwc;
use tinyvae_shared::protocol::{Request, SeedSource};
use tinyvae_shared::{Draw, Model};

use crate::blobfile::BlobFile;
use crate::fail::bad_input;
use crate::firmware::log_line;
use crate::generate::check_draw;
use crate::link::{Arrival, Board, Collected, Decoder, defmt_table};
use crate::request::DrawArgs;
use store::{RunSpec, Store, interrupted};

/// Generate images on a board over its serial port and check them against the host.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The board's serial device, e.g. /dev/ttyACM0 (a micro:bit's USB
    /// serial port) or a pty.
    #[arg(long)]
    port: String,
    /// Baud rate (the firmware's UART runs at 115200).
    #[arg(long, default_value_t = 115_200)]
    baud: u32,
    /// The blob the board holds: needed for --check.
    #[arg(long)]
    blob: Option<PathBuf>,
    /// Number of images (one latent each).
    #[arg(long, default_value_t = 16)]
    count: u32,
    #[command(flatten)]
    draw: DrawArgs,
    /// Replay this seed instead of letting the board draw one from its
    /// hardware random number generator.
    #[arg(long)]
    seed: Option<u64>,
    /// Directory for `images.raw` (count x H x W x C bytes), `images.png`
    /// (the first 400) and `images.jsonl` (one line per image). While the
    /// run is under way it holds `images.part` and `images.journal`; run
    /// the same command again to finish an interrupted run.
    #[arg(long)]
    out: PathBuf,
    /// Finish the interrupted run in --out, whatever its request: its
    /// draw, count and seed come from its journal.
    #[arg(long)]
    resume: bool,
    /// Replay every image on the host from its seed; exit 1 on any difference.
    #[arg(long, requires = "blob")]
    check: bool,
    /// The firmware ELF, to print the board's defmt log lines.
    #[arg(long)]
    elf: Option<PathBuf>,
    /// Seconds the board may stay silent before the host asks again (or,
    /// when connecting, gives up).
    #[arg(long, default_value_t = 10)]
    timeout: u64,
}

/// Runs `listen`.
pub fn run(args: Args) -> Result<()> {
    let blob = args.blob.as_deref().map(BlobFile::read).transpose()?;
    let decoder = Decoder::new(match &args.elf {
        Some(elf) => {
            let bytes = std::fs::read(elf)
                .with_context(|| format!("cannot read {}", elf.display()))
                .map_err(bad_input)?;
            Some(defmt_table(&bytes, &elf.display().to_string()).map_err(bad_input)?)
        }
        None => None,
    });
    let resumed = match (args.resume, interrupted(&args.out, "images")?) {
        (true, None) => {
            return Err(bad_input(anyhow::anyhow!(
                "--resume: {} holds no interrupted run (no images.journal with a seed)",
                args.out.display()
            )));
        }
        (true, Some(run)) => Some(run.header),
        (false, _) => None,
    };
    let timeout = Duration::from_secs(args.timeout);
    let mut board = Board::open(&args.port, args.baud, decoder, timeout)?;
    eprintln!(
        "{} on {}: firmware {}, protocol {}",
        board.status.board, args.port, board.status.firmware, board.status.protocol
    );
    board.on_log = Box::new(|line| eprintln!("board: {}", log_line(line)));
    let request = match resumed {
        Some(header) => Request::new(header.draw, header.count, Some(header.seed)),
        None => {
            // Without the blob, the board's model decides: a blob with a
            // latent density draws from it by default, and its class names
            // are the board's.
            let draw = match &blob {
                Some(file) => {
                    let model = file.model()?;
                    let names = model.class_names();
                    args.draw
                        .draw(model.default_draw(), names, file.path().display())?
                }
                None => {
                    let info = board.model()?;
                    let names = info.names().map_err(|err| {
                        bad_input(anyhow::anyhow!("the board's class names: {err}"))
                    })?;
                    args.draw
                        .draw(info.default_draw, names, "the board's model")?
                }
            };
            Request::new(draw, args.count, args.seed)
        }
    };
    collect(
        &mut board,
        request,
        blob.as_ref(),
        args.check,
        &args.out,
        "images",
    )
}

/// Asks `board` for `request`'s images and writes them to `out/{stem}.raw`,
/// `.png` and `.jsonl` as they arrive ([`store`]); an interrupted run of
/// the same request left in `out` is continued, not started again. With
/// `check`, replays each image with `blob` on the host and fails (exit 1)
/// on any difference, after writing.
pub fn collect<P: Read + Write>(
    board: &mut Board<P>,
    request: Request,
    blob: Option<&BlobFile>,
    check: bool,
    out: &Path,
    stem: &str,
) -> Result<()> {
    let info = board.model()?;
    let shape = Hwc {
        height: info.shape[0],
        width: info.shape[1],
        channels: info.shape[2],
    };
    let model = blob.map(BlobFile::model).transpose()?;
    if let (Some(model), Some(blob)) = (&model, blob) {
        check_draw(model, request.draw, blob.path())?;
        if model.header().crc32 != info.blob_crc32 {
            return Err(bad_input(anyhow::anyhow!(
                "the board holds another blob (payload CRC {:#010x}) than {} ({:#010x}): flash it first",
                info.blob_crc32,
                blob.path().display(),
                model.header().crc32
            )));
        }
    }
    let spec = RunSpec {
        request,
        blob_crc32: info.blob_crc32,
        shape,
    };
    let resumed = match interrupted(out, stem)? {
        Some(run) if spec.matches(&run.header) => {
            eprintln!(
                "resuming the interrupted run in {}: {} of {} images held, seed {}",
                out.display(),
                run.held(),
                run.header.count,
                run.header.seed
            );
            Some(run)
        }
        Some(run) => {
            return Err(bad_input(anyhow::anyhow!(
                "{} holds an interrupted run of another request ({}, {} images, seed {}): finish it with --resume, or delete {} to start afresh",
                out.display(),
                run.header.draw,
                run.header.count,
                run.header.seed,
                out.join(format!("{stem}.journal")).display()
            )));
        }
        None => None,
    };
    let (mut store, known) = Store::open(out, stem, spec, resumed)?;
    let total = request.count;
    let mut held = known
        .as_ref()
        .map_or(0, |k| k.received.iter().filter(|&&r| r).count() as u32);
    let terminal = std::io::stderr().is_terminal();
    let outcome = board.stream(request, known, |arrival| match arrival {
        Arrival::Seed(begin) => store.seed(begin),
        Arrival::Image(image) => {
            store.image(&image)?;
            held += 1;
            if terminal {
                eprint!("\rreceived {held}/{total} images");
            }
            Ok(())
        }
    })?;
    if terminal {
        eprintln!();
    }
    let begin = outcome.begin;
    let mut notes = Vec::new();
    if outcome.damaged > 0 {
        notes.push(format!("{} damaged frames dropped", outcome.damaged));
    }
    if outcome.resent > 0 {
        notes.push(format!("{} images asked for again", outcome.resent));
    }
    if outcome.restarts > 0 {
        notes.push(format!("the board restarted {} times", outcome.restarts));
    }
    eprintln!(
        "seed {} (from the {}){}",
        begin.seed,
        seed_origin(begin.source),
        if notes.is_empty() {
            String::new()
        } else {
            format!("; {}", notes.join(", "))
        }
    );
    let title = title(begin.seed, begin.source, request.draw);
    let checked = model.as_ref().filter(|_| check);
    let first_bad = store.finish(checked, &title)?;
    report(
        out,
        stem,
        total,
        shape,
        checked.is_some(),
        first_bad,
        begin.seed,
    )
}

/// Writes `out/{stem}.raw`, `.png` and `.jsonl` for `collected` (through
/// [`store`], so an interruption never leaves a file half-written); with
/// `check`, replays each image with `model` on the host and fails (exit 1)
/// on any difference, after writing. `tinyvae qemu` writes the lab
/// machine's images through it.
pub fn write_collected(
    collected: &Collected,
    model: &Model<'_>,
    check: bool,
    out: &Path,
    stem: &str,
) -> Result<()> {
    let request = collected.request;
    let shape = model.image_shape();
    let spec = RunSpec {
        request,
        blob_crc32: model.header().crc32,
        shape,
    };
    let (mut store, _) = Store::open(out, stem, spec, None)?;
    let begin = tinyvae_shared::protocol::Begin {
        seed: collected.seed,
        source: collected.source,
        request,
    };
    store.seed(begin)?;
    for image in &collected.images {
        store.image(image)?;
    }
    let title = title(collected.seed, collected.source, request.draw);
    let first_bad = store.finish(check.then_some(model), &title)?;
    report(
        out,
        stem,
        request.count,
        shape,
        check,
        first_bad,
        collected.seed,
    )
}

/// Says what was written and, with `checked`, fails on the first image
/// that differs from the host's replay.
fn report(
    out: &Path,
    stem: &str,
    count: u32,
    shape: Hwc,
    checked: bool,
    first_bad: Option<u32>,
    seed: u64,
) -> Result<()> {
    eprintln!(
        "wrote {count} images to {}",
        out.join(format!("{stem}.{{raw,png,jsonl}}")).display()
    );
    if !checked {
        return Ok(());
    }
    if let Some(bad) = first_bad {
        bail!("check failed: image {bad} differs from the host's replay of seed {seed}");
    }
    let (h, w, c) = crate::images::hwc(shape);
    let bytes = count as usize * h * w * c;
    eprintln!("check: {count} images ({bytes} bytes) identical to the host's");
    Ok(())
}

/// A grid's title: the seed, where it came from, and the draw.
fn title(seed: u64, source: SeedSource, draw: Draw) -> String {
    format!("seed {seed} ({}), {draw}", seed_origin(source))
}

/// Where a seed came from, in words.
fn seed_origin(source: SeedSource) -> &'static str {
    match source {
        SeedSource::Host => "host",
        SeedSource::Hardware => "hardware RNG",
    }
}
