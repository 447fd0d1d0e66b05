//! `tinyvae bench`: executed instructions per generated image on the
//! Cortex-M4F (QEMU `mps2-an386`) and the Cortex-M0 (QEMU `microbit`),
//! counted deterministically (`-icount shift=0` and a hardware timer, see
//! firmware/src/bench.rs), in total and per phase (sampler, each layer,
//! output table), for every kernel the target has: the portable int8
//! kernels, the fast path (`dsp` on the M4F, `armv6m` assembly on the M0)
//! and, on the M4F, a float32 decoder with the same dequantized weights.
//! Flash and static RAM come from the production firmware ELF; stack peaks
//! from the bench run. Every kind of draw the blob has is measured on its
//! own (N(0, I), the fitted density, class 0, an interpolation): the
//! sampler's share differs between them. One table on stdout, the same
//! numbers as JSON in `--json`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use tinyvae_shared::protocol::Request;
use tinyvae_shared::{Draw, Model};

use crate::blobfile::BlobFile;
use crate::firmware::{self, Machine, Sizes};
use crate::generate::{host_images, macs};

/// Count executed instructions per image on the Cortex-M4F/M0 in QEMU, per layer and kernel.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model blobs to measure (e.g. the MLP and the conv decoder).
    #[arg(long = "blob", required = true)]
    blobs: Vec<PathBuf>,
    /// Seed of the sampler.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Images per kernel (the table shows their mean).
    #[arg(long, default_value_t = 2)]
    count: u32,
    /// Also run on the Cortex-M0 (`microbit`) the blobs that fit it.
    #[arg(long)]
    m0: bool,
    /// Where to write the table as JSON.
    #[arg(long, default_value = "bench.json")]
    json: PathBuf,
}

// The JSON's keys come in alphabetical order (the order its first form,
// built as a `serde_json::Value`, wrote them in): the fields below are
// declared in that order so that the file stays the same.

/// What `--json` writes.
#[derive(Debug, Serialize)]
struct Report {
    /// Images per kernel.
    count: u32,
    /// Each machine's firmware sizes.
    memory: Vec<Memory>,
    /// One row per blob, machine and kernel.
    rows: Vec<Row>,
    /// The sampler's seed.
    seed: u64,
}

/// One kernel's mean cost per image, for one blob on one machine.
#[derive(Debug, Serialize)]
pub struct Row {
    /// The blob's path.
    pub blob: String,
    /// The kind of draw measured (`prior`, `fitted`, `class 0`,
    /// `interpolation`).
    pub draw: String,
    /// On the float kernel's row: the largest |float - int8| of a pixel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub float_vs_int8_max_abs: Option<u32>,
    /// On the float kernel's row: the mean |float - int8| of a pixel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub float_vs_int8_mean_abs: Option<f64>,
    /// Executed instructions per image.
    pub instructions: u64,
    /// The kernel's name (`portable`, `dsp`, `armv6m`, `float`).
    pub kernel: String,
    /// The machine (`Mps2An386`, `Microbit`).
    pub machine: String,
    /// Multiply-accumulates per image.
    pub macs: u64,
    /// Instructions per multiply-accumulate.
    pub per_mac: f64,
    /// Instructions per phase: sampler, each layer, output table.
    pub phases: Vec<u64>,
    /// On the portable kernel's row: instructions to send an image's reply
    /// frame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<u64>,
    /// [`protocol`](Self::protocol) as a share of the portable decode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_share: Option<f64>,
    /// Deepest stack use while decoding, bytes.
    pub stack_peak: u32,
}

/// The firmware's flash and static RAM on one machine.
#[derive(Debug, Serialize)]
struct Memory {
    /// The bench build's flash, bytes.
    bench_flash: u64,
    /// The bench build's static RAM, bytes.
    bench_static_ram: u64,
    /// The production build's flash, bytes.
    flash: u64,
    /// The machine (`Mps2An386`, `Microbit`).
    machine: String,
    /// The production build's static RAM, bytes.
    static_ram: u64,
}

/// Runs `bench`.
pub fn run(args: Args) -> Result<()> {
    let mut machines = vec![Machine::Mps2An386];
    if args.m0 {
        machines.push(Machine::Microbit);
    }
    let mut rows = Vec::new();
    let mut memory = Vec::new();
    for &machine in &machines {
        let elf = firmware::build_bench(machine)?;
        let production = firmware::build(machine)?;
        let (prod, bench) = (
            Sizes::of_file(&production, machine)?,
            Sizes::of_file(&elf, machine)?,
        );
        memory.push(Memory {
            machine: format!("{machine:?}"),
            flash: prod.flash,
            static_ram: prod.static_ram,
            bench_flash: bench.flash,
            bench_static_ram: bench.static_ram,
        });
        for path in &args.blobs {
            let file = BlobFile::read(path)?;
            let model = file.model()?;
            if machine.layout().check(&model).is_err() {
                continue;
            }
            for draw in draw_kinds(&model) {
                rows.extend(measure(
                    &elf, machine, path, &model, draw, args.seed, args.count,
                )?);
            }
        }
    }
    print_table(&rows, &memory);
    let report = Report {
        count: args.count,
        memory,
        rows,
        seed: args.seed,
    };
    std::fs::write(&args.json, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("writing {}", args.json.display()))?;
    println!("wrote {}", args.json.display());
    Ok(())
}

/// Every kind of draw `model` can make, the default draw first: N(0, I),
/// the fitted density (with one), class 0 (with classes), an
/// interpolation.
pub fn draw_kinds(model: &Model<'_>) -> Vec<Draw> {
    let default = model.default_draw();
    let others = [Draw::Prior, Draw::Fitted, Draw::Class(0), Draw::Interpolate];
    std::iter::once(default)
        .chain(others.into_iter().filter(|&d| d != default))
        .filter(|&d| model.check_draw(d).is_ok())
        .collect()
}

/// Runs `count` images drawn as `draw` from `seed` of the blob at `path`
/// (whose model is `model`) on `machine`'s bench firmware `elf`, checks
/// that the kernels agree on the chip and that every int8 image is the
/// host's, and returns one [`Row`] per kernel.
pub fn measure(
    elf: &Path,
    machine: Machine,
    path: &Path,
    model: &Model<'_>,
    draw: Draw,
    seed: u64,
    count: u32,
) -> Result<Vec<Row>> {
    let request = Request::new(draw, count, Some(seed));
    let result = firmware::bench(elf, machine, path, &request, Duration::from_secs(300))
        .with_context(|| format!("benchmarking {} on {machine:?}", path.display()))?;
    if !result.mismatches.is_empty() {
        bail!("kernels disagree on the chip: {:?}", result.mismatches);
    }
    let host = host_images(model, seed, count, draw)?;
    let image_len = model.image_len();
    for image in result.images.iter().filter(|i| i.kernel != "float") {
        let expected =
            tinyvae_shared::hash::fnv1a(&host[image.image as usize * image_len..][..image_len]);
        if image.fnv1a != expected {
            bail!(
                "{} image {} on {machine:?} differs from the host's",
                image.kernel,
                image.image
            );
        }
    }
    let macs = macs(model);
    let protocol = (!result.protocol.is_empty()).then(|| {
        let sum: u64 = result.protocol.iter().map(|p| p.instructions).sum();
        sum / result.protocol.len() as u64
    });
    let rows = result.kernel_means().into_iter().map(|mean| {
        let (portable, float) = (mean.kernel == "portable", mean.kernel == "float");
        let float_diff = &result.float_diff;
        Row {
            blob: path.display().to_string(),
            draw: draw.to_string(),
            float_vs_int8_max_abs: float
                .then(|| float_diff.iter().map(|d| d.max).max().unwrap_or(0)),
            float_vs_int8_mean_abs: float.then(|| {
                let sum: u64 = float_diff.iter().map(|d| d.sum).sum();
                sum as f64 / (float_diff.len() * image_len) as f64
            }),
            instructions: mean.instructions,
            machine: format!("{machine:?}"),
            macs,
            per_mac: mean.instructions as f64 / macs as f64,
            phases: mean.phases,
            protocol: protocol.filter(|_| portable),
            protocol_share: protocol
                .filter(|_| portable)
                .map(|p| p as f64 / mean.instructions as f64),
            stack_peak: mean.stack_peak,
            kernel: mean.kernel,
        }
    });
    Ok(rows.collect())
}

/// The rows and sizes as the table on stdout.
fn print_table(rows: &[Row], memory: &[Memory]) {
    let file_name = |path: &str| path.rsplit('/').next().unwrap_or(path).to_owned();
    println!(
        "{:<24} {:<13} {:<10} {:<9} {:>12} {:>9} {:>7}  per phase (sampler, layers..., table)",
        "blob", "draw", "machine", "kernel", "instr/image", "instr/MAC", "stack"
    );
    for r in rows {
        let phases: Vec<String> = r.phases.iter().map(u64::to_string).collect();
        // The instruction and stack columns are not padded: the first form
        // printed them from `serde_json::Value`s, whose `Display` ignores
        // widths, and the table stays as it was.
        println!(
            "{:<24} {:<13} {:<10} {:<9} {} {:>9.3} {}  {}",
            file_name(&r.blob),
            r.draw,
            r.machine,
            r.kernel,
            r.instructions,
            r.per_mac,
            r.stack_peak,
            phases.join(" ")
        );
    }
    // The reply frame costs the same whatever was drawn: one line per blob
    // and machine.
    let mut said = Vec::new();
    for r in rows {
        if said.contains(&(&r.blob, &r.machine)) {
            continue;
        }
        if let (Some(protocol), Some(share)) = (r.protocol, r.protocol_share) {
            said.push((&r.blob, &r.machine));
            println!(
                "{} on {}: the image's reply frame costs {protocol} instructions, {:.2}% of the portable decode",
                file_name(&r.blob),
                r.machine,
                100.0 * share
            );
        }
    }
    for s in memory {
        println!(
            "{}: flash {} B, static RAM {} B (bench build: flash {} B, static RAM {} B)",
            s.machine, s.flash, s.static_ram, s.bench_flash, s.bench_static_ram
        );
    }
}
