//! `tinyvae qemu`: run the firmware in QEMU on a blob, collect the images it
//! generates and, with `--check`, compare them byte for byte with the host
//! running the same `shared` code on the same seed. On `mps2-an386` it runs
//! the lab build (semihosting); on `microbit` the very board firmware a user
//! flashes, the blob loaded as Intel HEX, over the emulated UART with
//! `tinyvae listen`'s code.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use tinyvae_shared::Model;
use tinyvae_shared::protocol::{Request, SeedSource};

use crate::fail::exit_with;
use crate::firmware::{self, Machine};
use crate::link::{ChipImage, Collected, LogLine};
use crate::listen::{collect, write_collected};
use crate::request::RequestArgs;

/// Run the firmware in QEMU, collect its images, check them against the host.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    request: RequestArgs,
    /// Directory for `qemu.raw` (count x H x W x C bytes), `qemu.png` and
    /// `qemu.jsonl` (each image's seed, latent and check).
    #[arg(long)]
    out: PathBuf,
    /// Compare the chip's images with the host's, byte for byte.
    #[arg(long)]
    check: bool,
    /// QEMU machine (and so CPU) to run on.
    #[arg(long, value_enum, default_value_t = MachineArg::Mps2An386)]
    machine: MachineArg,
    /// Run this firmware ELF instead of building firmware/ (cargo build
    /// --release): for `microbit`, the board build.
    #[arg(long)]
    elf: Option<PathBuf>,
    /// Give up on QEMU after this many seconds (on the micro:bit: of silence).
    #[arg(long, default_value_t = 120)]
    timeout: u64,
}

/// The QEMU machines the firmware supports.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum MachineArg {
    /// Cortex-M4F (`mps2-an386`).
    Mps2An386,
    /// Cortex-M0 (`microbit`, nRF51: 256 KB flash, 16 KB RAM).
    Microbit,
}

/// Runs `qemu`.
pub fn run(args: Args) -> Result<()> {
    let machine = match args.machine {
        MachineArg::Mps2An386 => Machine::Mps2An386,
        MachineArg::Microbit => Machine::Microbit,
    };
    // The firmware validates the blob itself; the host needs it for the
    // image shape and for --check.
    let blob = args.request.read_blob()?;
    blob.check_fits(machine.layout())?;
    let model = blob.model()?;

    let elf = match &args.elf {
        Some(elf) => elf.clone(),
        None => firmware::build(machine)?,
    };
    let request = args.request.request(&model)?;
    let timeout = Duration::from_secs(args.timeout);
    let print = |line: &LogLine| eprintln!("{}", firmware::log_line(line));
    if machine == Machine::Microbit {
        let mut emulator = firmware::emulate_microbit(&elf, Some(blob.bytes()), timeout)?;
        eprintln!(
            "{} on {}",
            emulator.board.status.board, emulator.microbit.port
        );
        emulator.board.on_log = Box::new(print);
        return collect(
            &mut emulator.board,
            request,
            Some(&blob),
            args.check,
            &args.out,
            "qemu",
        );
    }
    let lab = Lab {
        elf: &elf,
        machine,
        blob: &args.request.blob,
        model: &model,
        timeout,
    };
    let collected = lab.generate(request, print)?;
    write_collected(&collected, &model, args.check, &args.out, "qemu")
}

/// A lab build (`mps2-an386`) and the blob it runs: what `tinyvae qemu`
/// and `tinyvae demo` generate on.
pub struct Lab<'a> {
    /// The firmware ELF.
    pub elf: &'a Path,
    /// The machine it was built for.
    pub machine: Machine,
    /// The blob file QEMU loads.
    pub blob: &'a Path,
    /// The blob's model: the shape the images must have.
    pub model: &'a Model<'a>,
    /// How long QEMU may run.
    pub timeout: Duration,
}

impl Lab<'_> {
    /// Runs `request` (which carries its seed) in QEMU, hands the
    /// firmware's log lines to `on_log`, and returns its images as
    /// collected. A firmware that stops with an error ends `tinyvae` with
    /// its exit code; missing or misshapen images are an error.
    pub fn generate(
        &self,
        request: Request,
        mut on_log: impl FnMut(&LogLine),
    ) -> Result<Collected> {
        let run = firmware::run(
            self.elf,
            self.machine,
            Some(self.blob),
            Some(&request),
            self.timeout,
        )?;
        run.log.iter().for_each(&mut on_log);
        if run.exit_code != 0 {
            return Err(exit_with(
                run.exit_code,
                anyhow::anyhow!(
                    "the firmware in QEMU exited with code {}{}",
                    run.exit_code,
                    run.error().map(|e| format!(": {e}")).unwrap_or_default()
                ),
            ));
        }
        if run.images.len() != request.count as usize {
            bail!(
                "the firmware sent {} images, {} were requested",
                run.images.len(),
                request.count
            );
        }
        let image_len = self.model.image_len();
        if let Some(index) = run.images.iter().position(|i| i.len() != image_len) {
            bail!(
                "the firmware sent image {index} with {} bytes, not {image_len}",
                run.images[index].len()
            );
        }
        Ok(Collected {
            seed: request
                .seed
                .or(run.seed)
                .context("the firmware reported no seed")?,
            source: SeedSource::Host,
            request,
            images: (0..)
                .zip(run.images.into_iter().zip(run.latents))
                .map(|(index, (pixels, latent))| ChipImage {
                    index,
                    latent,
                    pixels,
                })
                .collect(),
            damaged: 0,
            resent: 0,
        })
    }
}
