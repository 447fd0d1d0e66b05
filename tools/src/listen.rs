//! `tinyvae listen`: ask a board running the tinyvae firmware for images
//! over its serial port, collect them (asking again for any lost on the
//! wire), write them, and with `--check` replay every one on the host from
//! the seed the board reports. `tinyvae qemu --machine microbit` runs the
//! same code against the emulated board.

use std::fmt::Write as _;
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
use crate::generate::{check_draw, host_images};
use crate::images::write_images;
use crate::link::{Board, Collected, Decoder, defmt_table};
use crate::request::DrawArgs;

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
    /// and `images.jsonl` (one line per image).
    #[arg(long)]
    out: PathBuf,
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
    let port = serialport::new(&args.port, args.baud)
        .timeout(Duration::from_millis(50))
        .open()
        .with_context(|| format!("cannot open serial port {}", args.port))
        .map_err(bad_input)?;
    let timeout = Duration::from_secs(args.timeout);
    let mut board = Board::connect(port, decoder, timeout, &args.port)?;
    eprintln!(
        "{} on {}: firmware {}, protocol {}",
        board.status.board, args.port, board.status.firmware, board.status.protocol
    );
    board.on_log = Box::new(|line| eprintln!("board: {}", log_line(line)));
    // Without the blob, the board's model decides: a blob with a latent
    // density draws from it by default.
    let default = match &blob {
        Some(file) => file.model()?.default_draw(),
        None => board.model()?.default_draw,
    };
    let request = Request::new(args.draw.draw(default), args.count, args.seed);
    collect(
        &mut board,
        request,
        blob.as_ref(),
        args.check,
        &args.out,
        "images",
    )
}

/// Asks `board` for `request`'s images and writes `out/{stem}.raw`,
/// `.png` and `.jsonl`; with `check`, replays each image with `blob` on
/// the host and fails (exit 1) on any difference, after writing.
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
    let total = request.count;
    let terminal = std::io::stderr().is_terminal();
    let collected = board.generate(request, |n| {
        if terminal {
            eprint!("\rreceived {n}/{total} images");
        }
    })?;
    if terminal {
        eprintln!();
    }
    eprintln!(
        "seed {} (from the {}){}",
        collected.seed,
        seed_origin(collected.source),
        if collected.damaged + collected.resent > 0 {
            format!(
                "; {} damaged frames dropped, {} images asked for again",
                collected.damaged, collected.resent
            )
        } else {
            String::new()
        }
    );
    write_collected(&collected, shape, model.as_ref(), check, out, stem)
}

/// Writes `out/{stem}.raw`, `.png` and `.jsonl` for `collected`; with
/// `check`, replays each image with `model` on the host and fails (exit 1)
/// on any difference, after writing. `tinyvae qemu` writes the lab
/// machine's images through it too.
pub fn write_collected(
    collected: &Collected,
    shape: Hwc,
    model: Option<&Model<'_>>,
    check: bool,
    out: &Path,
    stem: &str,
) -> Result<()> {
    let request = collected.request;
    let pixels: Vec<u8> = collected
        .images
        .iter()
        .flat_map(|i| i.pixels.iter().copied())
        .collect();
    let host = match (model, check) {
        (Some(model), true) => Some(host_images(
            model,
            collected.seed,
            request.count,
            request.draw,
        )?),
        _ => None,
    };
    let verified: Vec<Option<bool>> = collected
        .images
        .iter()
        .map(|image| {
            host.as_ref().map(|host| {
                let len = image.pixels.len();
                let at = image.index as usize * len;
                host.get(at..at + len) == Some(&image.pixels[..])
            })
        })
        .collect();
    let title = format!(
        "seed {} ({}), {}",
        collected.seed,
        seed_origin(collected.source),
        request.draw
    );
    write_images(out, stem, &pixels, shape, collected.images.len(), &title)?;
    let jsonl = out.join(format!("{stem}.jsonl"));
    std::fs::write(&jsonl, json_lines(collected, &verified))
        .with_context(|| format!("writing {}", jsonl.display()))?;
    eprintln!(
        "wrote {} images to {}",
        collected.images.len(),
        out.join(format!("{stem}.{{raw,png,jsonl}}")).display()
    );
    if check {
        if let Some(bad) = verified.iter().position(|v| *v != Some(true)) {
            bail!(
                "check failed: image {} differs from the host's replay of seed {}",
                collected.images[bad].index,
                collected.seed
            );
        }
        eprintln!(
            "check: {} images ({} bytes) identical to the host's",
            collected.images.len(),
            pixels.len()
        );
    }
    Ok(())
}

/// Where a seed came from, in words.
fn seed_origin(source: SeedSource) -> &'static str {
    match source {
        SeedSource::Host => "host",
        SeedSource::Hardware => "hardware RNG",
    }
}

/// One JSON object per image: index, seed, what was drawn, the latent and
/// whether the host's replay matched (null without --check).
fn json_lines(collected: &Collected, verified: &[Option<bool>]) -> String {
    let request = collected.request;
    let mut text = String::new();
    for (image, verified) in collected.images.iter().zip(verified) {
        let drawn = match request.draw {
            Draw::Prior => serde_json::json!({"prior": true}),
            Draw::Fitted => serde_json::json!({"fitted": true}),
            Draw::Class(k) => serde_json::json!({"class": k}),
            Draw::Interpolate => {
                serde_json::json!({"interpolation": {"step": image.index, "steps": request.count}})
            }
        };
        let line = serde_json::json!({
            "index": image.index,
            "seed": collected.seed,
            "seed_source": match collected.source {
                SeedSource::Host => "host",
                SeedSource::Hardware => "hardware",
            },
            "drawn": drawn,
            "latent": image.latent,
            "verified": verified,
        });
        let _ = writeln!(text, "{line}");
    }
    text
}
