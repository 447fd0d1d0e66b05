//! `tinyvae bench`: executed instructions per generated image on the
//! Cortex-M4F (QEMU `mps2-an386`) and the Cortex-M0 (QEMU `microbit`),
//! counted deterministically (`-icount shift=0` and a hardware timer, see
//! firmware/src/bench.rs), in total and per phase (sampler, each layer,
//! output table), for every kernel the target has: the portable int8
//! kernels, the fast path (`dsp` on the M4F, `armv6m` assembly on the M0)
//! and, on the M4F, a float32 decoder with the same dequantized weights. Flash and static RAM come from the production
//! firmware ELF; stack peaks from the bench run. One table on stdout, the
//! same numbers as JSON in `--json`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tinyvae_shared::Draw;

use crate::blobfile::BlobFile;
use tinyvae_shared::protocol::Request;
use tinyvae_tools::firmware::{self, Machine};
use tinyvae_tools::generate::host_images;

/// Count instructions per image on the Cortex-M4F and M0 in QEMU.
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

pub fn run(args: Args) -> Result<()> {
    let mut machines = vec![Machine::Mps2An386];
    if args.m0 {
        machines.push(Machine::Microbit);
    }
    let bench_dir = firmware::firmware_dir().join("target/bench");
    let mut rows = Vec::new();
    let mut sizes = Vec::new();
    for &machine in &machines {
        let elf = firmware::build_with(machine, &["bench"], &bench_dir)?;
        let production = firmware::build(machine)?;
        let size = |path: &PathBuf| -> Result<firmware::Sizes> {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            firmware::elf_sizes(&bytes, machine.ram())
        };
        let (prod, bench) = (size(&production)?, size(&elf)?);
        sizes.push(json!({
            "machine": format!("{machine:?}"),
            "flash": prod.flash, "static_ram": prod.static_ram,
            "bench_flash": bench.flash, "bench_static_ram": bench.static_ram,
        }));
        for path in &args.blobs {
            let file = BlobFile::read(path)?;
            let model = file.model()?;
            let (scratch, pixels) = machine.buffers();
            if file.bytes().len() > machine.blob_capacity()
                || model.scratch_len() > scratch
                || model.image_len() > pixels
            {
                continue;
            }
            let request = Request::new(Draw::Prior, args.count, Some(args.seed));
            let result =
                firmware::bench(&elf, machine, path, &request, Duration::from_secs(300))
                    .with_context(|| format!("benchmarking {} on {machine:?}", path.display()))?;
            if !result.mismatches.is_empty() {
                bail!("kernels disagree on the chip: {:?}", result.mismatches);
            }
            let host = host_images(&model, args.seed, args.count, Draw::Prior)?;
            let macs: u64 = model.body().layers.iter().map(|l| l.op.macs()).sum();
            let mut kernels: Vec<&str> = Vec::new();
            for image in &result.images {
                if !kernels.contains(&image.kernel.as_str()) {
                    kernels.push(&image.kernel);
                }
                if image.kernel != "float" {
                    let expected = tinyvae_shared::hash::fnv1a(
                        &host[image.image as usize * model.image_len()..][..model.image_len()],
                    );
                    if image.fnv1a != expected {
                        bail!(
                            "{} image {} on {machine:?} differs from the host's",
                            image.kernel,
                            image.image
                        );
                    }
                }
            }
            for kernel in kernels {
                let runs: Vec<_> = result
                    .images
                    .iter()
                    .filter(|i| i.kernel == kernel)
                    .collect();
                let phases = runs[0].instructions.len();
                let mean = |f: &dyn Fn(&firmware::BenchImage) -> u64| {
                    (runs.iter().map(|r| f(r)).sum::<u64>() as f64 / runs.len() as f64).round()
                        as u64
                };
                let per_phase: Vec<u64> =
                    (0..phases).map(|p| mean(&|r| r.instructions[p])).collect();
                let total: u64 = per_phase.iter().sum();
                let stack = runs.iter().map(|r| r.stack).max().unwrap_or(0);
                let mut row = json!({
                    "blob": path.display().to_string(),
                    "machine": format!("{machine:?}"),
                    "kernel": kernel,
                    "macs": macs,
                    "instructions": total,
                    "per_mac": total as f64 / macs as f64,
                    "phases": per_phase,
                    "stack_peak": stack,
                });
                if kernel == "portable" && !result.protocol.is_empty() {
                    let sum: u64 = result.protocol.iter().map(|p| p.1).sum();
                    let protocol = sum / result.protocol.len() as u64;
                    row["protocol"] = json!(protocol);
                    row["protocol_share"] = json!(protocol as f64 / total as f64);
                }
                if kernel == "float" {
                    let max = result.float_diff.iter().map(|d| d.1).max().unwrap_or(0);
                    let sum: u64 = result.float_diff.iter().map(|d| d.2).sum();
                    row["float_vs_int8_max_abs"] = json!(max);
                    row["float_vs_int8_mean_abs"] =
                        json!(sum as f64 / (result.float_diff.len() * model.image_len()) as f64);
                }
                rows.push(row);
            }
        }
    }
    print_table(&rows, &sizes);
    let value = json!({ "seed": args.seed, "count": args.count, "rows": rows, "memory": sizes });
    std::fs::write(&args.json, serde_json::to_string_pretty(&value)? + "\n")
        .with_context(|| format!("writing {}", args.json.display()))?;
    println!("wrote {}", args.json.display());
    Ok(())
}

fn print_table(rows: &[Value], sizes: &[Value]) {
    println!(
        "{:<24} {:<10} {:<9} {:>12} {:>9} {:>7}  per phase (sampler, layers..., table)",
        "blob", "machine", "kernel", "instr/image", "instr/MAC", "stack"
    );
    for r in rows {
        let name = r["blob"].as_str().unwrap_or("");
        let name = name.rsplit('/').next().unwrap_or(name);
        let phases: Vec<String> = r["phases"]
            .as_array()
            .map(|a| a.iter().map(|v| v.to_string()).collect())
            .unwrap_or_default();
        println!(
            "{:<24} {:<10} {:<9} {:>12} {:>9.3} {:>7}  {}",
            name,
            r["machine"].as_str().unwrap_or(""),
            r["kernel"].as_str().unwrap_or(""),
            r["instructions"],
            r["per_mac"].as_f64().unwrap_or(0.0),
            r["stack_peak"],
            phases.join(" ")
        );
    }
    for r in rows.iter().filter(|r| r.get("protocol").is_some()) {
        let name = r["blob"].as_str().unwrap_or("");
        println!(
            "{} on {}: the image's reply frame costs {} instructions, {:.2}% of the portable decode",
            name.rsplit('/').next().unwrap_or(name),
            r["machine"].as_str().unwrap_or(""),
            r["protocol"],
            100.0 * r["protocol_share"].as_f64().unwrap_or(0.0)
        );
    }
    for s in sizes {
        println!(
            "{}: flash {} B, static RAM {} B (bench build: flash {} B, static RAM {} B)",
            s["machine"].as_str().unwrap_or(""),
            s["flash"],
            s["static_ram"],
            s["bench_flash"],
            s["bench_static_ram"]
        );
    }
}
