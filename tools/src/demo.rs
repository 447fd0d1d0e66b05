//! `tinyvae demo`: the whole mission in one command.
//!
//! Trains a VAE (beta 1) and, for the seed's argument, the same model as a
//! plain autoencoder (beta 0); exports both to int8 blobs; runs the VAE's
//! blob on the Cortex-M4 in QEMU (prior samples, one grid per class, a
//! latent interpolation); checks the chip's bytes against the host's; and
//! measures how far prior samples of each model are from real images.
//! Everything lands in `--out`, with `summary.md` last.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tinyvae_shared::protocol::Request;
use tinyvae_shared::{Draw, Model};
use tinyvae_trainer::backend::Backend;
use tinyvae_trainer::config::TrainingConfig;
use tinyvae_trainer::data::{DEFAULT_DATA_DIR, DataOptions, DataSet, PIXELS, Split};
use tinyvae_trainer::export::Fidelity;
use tinyvae_trainer::judge::Judge;
use tinyvae_trainer::model::{Arch, VaeConfig};
use tinyvae_trainer::pictures::Grid;
use tinyvae_trainer::training::{RunOptions, Trained};

use crate::firmware::{self, Machine, Sizes};
use crate::generate::{host_images, macs};
use crate::images::{hwc, write_grid};
use crate::judging::{kind_images, load_judge, score_draws};
use crate::qemu::Lab;
use crate::train::{load_data, train_and_draw};

/// The main job: train, export, generate on the chip in QEMU, check, summarize.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output directory for models, pictures and the summary.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// Epochs per model (the README's quality numbers use 10 with `tinyvae train`).
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    /// Directory of the IDX files.
    #[arg(long, default_value = DEFAULT_DATA_DIR)]
    data: PathBuf,
    /// Seed of training and of the chip's sampler.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// CPU threads for training (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Also copy the pictures README.md shows into this directory
    /// (`./demo.sh` passes `docs`).
    #[arg(long, value_name = "DIR")]
    readme_pictures: Option<PathBuf>,
}

/// The pictures README.md shows, as paths under `--out`.
const README_PICTURES: [&str; 6] = [
    "chip-samples.png",
    "chip-classes.png",
    "chip-interpolation.png",
    "cvae/reconstructions.png",
    "prior-vae.png",
    "prior-autoencoder.png",
];

/// Prior samples per model for the grids and the nearest-image measure.
const PRIOR_SAMPLES: u32 = 64;
/// Images per set the judge and the nearest-image measure judge.
const JUDGED: u32 = 500;
/// Training images the nearest-image measure searches.
const REFERENCE_IMAGES: usize = 10_000;
/// Images per class in the class grid.
const PER_CLASS: u32 = 8;
/// Interpolation strips, and images per strip.
const STRIPS: u64 = 4;
const STEPS: u32 = 10;

struct Step {
    index: usize,
    started: Instant,
}

impl Step {
    const TOTAL: usize = 9;

    fn first() -> Self {
        Self {
            index: 0,
            started: Instant::now(),
        }
    }

    fn next(&mut self, what: &str) {
        self.index += 1;
        eprintln!(
            "\n[{}/{}] {what} ({} s so far)",
            self.index,
            Self::TOTAL,
            self.started.elapsed().as_secs()
        );
    }
}

/// Runs `demo`.
pub fn run(args: Args) -> Result<()> {
    let mut step = Step::first();
    let data = load_data(Some(&args.data), None, &DataOptions::default())?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;

    step.next("training the VAE (beta 1), unconditional");
    let vae = train_model(&args, &data, 1.0, 0, "vae")?;
    step.next("training the same model as a plain autoencoder (beta 0)");
    let ae = train_model(&args, &data, 0.0, 0, "autoencoder")?;
    step.next("training the chip's model: the VAE conditional on the class");
    let cvae = train_model(&args, &data, 1.0, data.classes(), "cvae")?;

    step.next("exporting the decoders to int8 blobs");
    let (vae_blob, _) = export(&args, &vae, &data, "vae")?;
    let (ae_blob, _) = export(&args, &ae, &data, "autoencoder")?;
    let (cvae_blob, fidelity) = export(&args, &cvae, &data, "cvae")?;
    let vae_model = Model::from_bytes(&vae_blob).context("the VAE's blob")?;
    let ae_model = Model::from_bytes(&ae_blob).context("the autoencoder's blob")?;
    let cvae_model = Model::from_bytes(&cvae_blob).context("the conditional VAE's blob")?;

    step.next("prior samples on the host, and their distance to real images");
    let vae_prior = host_images(&vae_model, args.seed, PRIOR_SAMPLES, Draw::Prior)?;
    let ae_prior = host_images(&ae_model, args.seed, PRIOR_SAMPLES, Draw::Prior)?;
    let shape = hwc(vae_model.image_shape());
    write_grid(
        &args.out,
        "prior-vae",
        &Grid::new(&vae_prior, shape, 8)?.title("VAE (beta 1): z ~ N(0, I)"),
    )?;
    write_grid(
        &args.out,
        "prior-autoencoder",
        &Grid::new(&ae_prior, shape, 8)?.title("plain autoencoder (beta 0): z ~ N(0, I)"),
    )?;
    let reference = data.train.clone().truncated(REFERENCE_IMAGES);
    let judge_set = data.test.clone().truncated(JUDGED as usize);
    let judge = load_judge(&data, None)?.judge;
    let vae_judged = host_images(&vae_model, args.seed, JUDGED, Draw::Prior)?;
    let ae_judged = host_images(&ae_model, args.seed, JUDGED, Draw::Prior)?;
    let vae_fitted = host_images(&vae_model, args.seed, JUDGED, Draw::Fitted)?;
    let cvae_fitted = host_images(&cvae_model, args.seed, JUDGED, Draw::Fitted)?;
    let classes = score_draws(&cvae_model)
        .into_iter()
        .find(|kind| kind.parts.iter().all(|(_, class)| class.is_some()))
        .context("the conditional VAE draws classes")?;
    let (cvae_classes, asked) = kind_images(&cvae_model, &classes, args.seed, JUDGED, |_| {})?;
    let measures = [
        Measure::of(
            "test images (real)",
            &judge_set.pixels,
            Some(&judge_set.labels),
            &reference,
            &judge,
        ),
        Measure::of("VAE prior samples", &vae_judged, None, &reference, &judge),
        Measure::of(
            "autoencoder prior samples",
            &ae_judged,
            None,
            &reference,
            &judge,
        ),
        Measure::of(
            "VAE, fitted-density samples",
            &vae_fitted,
            None,
            &reference,
            &judge,
        ),
        Measure::of(
            "conditional VAE, fitted-density samples",
            &cvae_fitted,
            None,
            &reference,
            &judge,
        ),
        Measure::of(
            "conditional VAE, class draws",
            &cvae_classes,
            asked.as_deref(),
            &reference,
            &judge,
        ),
    ];

    step.next("building the firmware and generating on the Cortex-M4 in QEMU");
    let blob_path = args.out.join("cvae.tvae");
    let machine = Machine::Mps2An386;
    let elf = firmware::build(machine)?;
    let sizes = Sizes::of_file(&elf, machine)?;
    let chip = Lab {
        elf: &elf,
        machine,
        blob: &blob_path,
        model: &cvae_model,
        timeout: Duration::from_secs(300),
    };
    let (chip_samples, mut identical) =
        generate_checked(&chip, args.seed, PRIOR_SAMPLES, Draw::Fitted)?;
    write_grid(
        &args.out,
        "chip-samples",
        &Grid::new(&chip_samples, shape, 8)?.title(format!(
            "Cortex-M4 (QEMU), seed {}: the fitted density",
            args.seed
        )),
    )?;
    // N(0, I) on the chip too: checked, not drawn.
    identical &= generate_checked(&chip, args.seed, PRIOR_SAMPLES, Draw::Prior)?.1;

    step.next("one grid per class and interpolation strips on the chip");
    let mut class_grid = Vec::new();
    for class in 0..cvae_model.classes() {
        let seed = args.seed + u64::from(class);
        let (images, same) = generate_checked(&chip, seed, PER_CLASS, Draw::Class(class))?;
        identical &= same;
        class_grid.extend(images);
    }
    write_grid(
        &args.out,
        "chip-classes",
        &Grid::new(&class_grid, shape, PER_CLASS as usize)?
            .title("Cortex-M4 (QEMU): one row per class")
            .row_labels(data.class_names(cvae_model.classes())),
    )?;
    let mut strips = Vec::new();
    for strip in 0..STRIPS {
        let (images, same) = generate_checked(&chip, args.seed + strip, STEPS, Draw::Interpolate)?;
        identical &= same;
        strips.extend(images);
    }
    write_grid(
        &args.out,
        "chip-interpolation",
        &Grid::new(&strips, shape, STEPS as usize)?
            .title("Cortex-M4 (QEMU): from one draw to another")
            .row_labels((0..STRIPS).map(|strip| format!("seed {}", args.seed + strip))),
    )?;

    step.next("counting the chip's instructions per image (QEMU -icount)");
    let instructions = instructions_per_image(&chip, args.seed)?;

    step.next("summary");
    let summary = summary(&SummaryInput {
        args: &args,
        vae: &cvae,
        fidelity: &fidelity,
        blob_bytes: cvae_blob.len(),
        identical,
        measures: &measures,
        sizes,
        instructions,
        macs: macs(&cvae_model),
    });
    let path = args.out.join("summary.md");
    std::fs::write(&path, &summary).with_context(|| format!("writing {}", path.display()))?;
    println!("{summary}");
    eprintln!("pictures and models are in {}", args.out.display());
    if !identical {
        bail!(
            "the chip's images differ from the host's: see {}",
            path.display()
        );
    }
    // Only pictures whose bytes the chip and the host agree on go to the README.
    if let Some(dir) = &args.readme_pictures {
        copy_readme_pictures(&args.out, dir)?;
    }
    Ok(())
}

/// Copies [`README_PICTURES`] from `out` into `dir`, flat.
fn copy_readme_pictures(out: &std::path::Path, dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for picture in README_PICTURES {
        let from = out.join(picture);
        let name = from.file_name().expect("README_PICTURES are file paths");
        let to = dir.join(name);
        std::fs::copy(&from, &to)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    }
    eprintln!("the README's pictures are in {}", dir.display());
    Ok(())
}

/// Trains the demo's MLP with `beta` (conditional on `classes` classes, 0:
/// unconditional) into `out/name`, as `tinyvae train` does.
fn train_model(
    args: &Args,
    data: &DataSet,
    beta: f64,
    classes: usize,
    name: &str,
) -> Result<Trained> {
    let model = VaeConfig::new(Arch::Mlp).with_classes(classes);
    let config = TrainingConfig::new(model, Backend::default())
        .with_epochs(args.epochs)
        .with_beta(beta)
        .with_seed(args.seed);
    let options = RunOptions {
        out: args.out.join(name),
        threads: args.threads,
        resume: false,
        stop_after: None,
    };
    let (trained, _) =
        train_and_draw(&config, data, &options).with_context(|| format!("the {name}"))?;
    Ok(trained)
}

/// Exports `trained` to `out/name.tvae` (and its fidelity report) with
/// `tinyvae export`'s defaults, as `tinyvae export` does.
fn export(
    args: &Args,
    trained: &Trained,
    data: &DataSet,
    name: &str,
) -> Result<(Vec<u8>, Fidelity)> {
    let options = crate::export::options(&args.data, args.epochs);
    let path = args.out.join(format!("{name}.tvae"));
    let (blob, fidelity) = crate::export::export(&trained.model, data, &options, &path)?;
    eprint!("{name}: {}", crate::export::table(&fidelity));
    Ok((blob, fidelity))
}

/// How real a set of images looks, by three measures.
struct Measure {
    name: &'static str,
    confidence: f64,
    accuracy: Option<f64>,
    frechet: f64,
    distance: f64,
}

impl Measure {
    fn of(
        name: &'static str,
        images: &[u8],
        labels: Option<&[u8]>,
        reference: &Split,
        judge: &Judge,
    ) -> Self {
        let scores = judge.score(images, labels);
        Self {
            name,
            confidence: scores.confidence,
            accuracy: scores.accuracy,
            frechet: scores.frechet,
            distance: nearest_distance(images, reference),
        }
    }
}

/// Mean over `images` of the RMS distance (gray levels) to the nearest
/// image of `reference`: near real-image values for plausible samples,
/// far above them for noise.
fn nearest_distance(images: &[u8], reference: &Split) -> f64 {
    let total: f64 = images
        .chunks_exact(PIXELS)
        .map(|image| {
            let best = reference
                .pixels
                .chunks_exact(PIXELS)
                .map(|r| {
                    image
                        .iter()
                        .zip(r)
                        .map(|(&a, &b)| {
                            let d = i32::from(a) - i32::from(b);
                            (d * d) as u32
                        })
                        .sum::<u32>()
                })
                .min()
                .unwrap_or(0);
            (f64::from(best) / PIXELS as f64).sqrt()
        })
        .sum();
    total / (images.len() / PIXELS).max(1) as f64
}

/// The chip's images for one request, run as `tinyvae qemu` runs it, and
/// whether they equal the host's.
fn generate_checked(chip: &Lab<'_>, seed: u64, count: u32, draw: Draw) -> Result<(Vec<u8>, bool)> {
    let collected = chip.generate(Request::new(draw, count, Some(seed)), |_| {})?;
    let images: Vec<u8> = collected
        .images
        .into_iter()
        .flat_map(|i| i.pixels)
        .collect();
    let same = images == host_images(chip.model, seed, count, draw)?;
    Ok((images, same))
}

/// Executed instructions for one prior image (sampler, layers, table),
/// with the DSP fast path and with the portable kernels, measured as
/// `tinyvae bench` measures them.
fn instructions_per_image(chip: &Lab<'_>, seed: u64) -> Result<(u64, u64)> {
    let elf = firmware::build_bench(chip.machine)?;
    let draw = chip.model.default_draw();
    let rows = crate::bench::measure(&elf, chip.machine, chip.blob, chip.model, draw, seed, 1)?;
    let total = |kernel: &str| -> Result<u64> {
        rows.iter()
            .find(|row| row.kernel == kernel)
            .map(|row| row.instructions)
            .with_context(|| format!("the bench firmware measured no {kernel} image"))
    };
    Ok((total("dsp")?, total("portable")?))
}

/// What the summary reports.
struct SummaryInput<'a> {
    args: &'a Args,
    vae: &'a Trained,
    fidelity: &'a Fidelity,
    blob_bytes: usize,
    identical: bool,
    measures: &'a [Measure],
    /// The production firmware's flash and static RAM.
    sizes: Sizes,
    /// Executed instructions per image: (DSP fast path, portable kernels).
    instructions: (u64, u64),
    macs: u64,
}

fn summary(input: &SummaryInput<'_>) -> String {
    let mut s = String::new();
    let last = input.vae.metrics.last();
    let _ = writeln!(s, "# tinyvae demo summary\n");
    let _ = writeln!(s, "| what | value |\n|---|---|");
    if let Some(m) = last {
        let _ = writeln!(
            s,
            "| test NELBO (-log p(x | class)), float conditional MLP VAE after {} epochs | {:.2} nats/image (BCE {:.2} + KL {:.2}) |",
            m.epoch, m.test.nelbo, m.test.bce, m.test.kl
        );
    }
    let f = input.fidelity;
    let _ = writeln!(
        s,
        "| test NELBO with the int8 decoder | {:.2} nats/image ({:+.2}) |",
        f.nelbo_int8.nelbo,
        f.nelbo_int8.nelbo - f.nelbo_float.nelbo
    );
    let _ = writeln!(
        s,
        "| int8 vs float PSNR (prior / test posteriors) | {:.1} dB / {:.1} dB |",
        f.prior.psnr_db, f.posterior.psnr_db
    );
    let _ = writeln!(
        s,
        "| chip (QEMU Cortex-M4) bytes identical to the host's | {} |",
        if input.identical { "yes" } else { "NO" }
    );
    let (fast, portable) = input.instructions;
    let _ = writeln!(
        s,
        "| instructions per image on the M4 (DSP path / portable) | {fast} ({:.2} per MAC) / {portable} ({:.2} per MAC) |",
        fast as f64 / input.macs as f64,
        portable as f64 / input.macs as f64
    );
    let _ = writeln!(
        s,
        "| blob (weights, separate flash region) | {} bytes |",
        input.blob_bytes
    );
    let _ = writeln!(
        s,
        "| firmware flash / static RAM | {} / {} bytes |",
        input.sizes.flash, input.sizes.static_ram
    );
    let _ = writeln!(s, "\n## The seed's argument, and what the chip draws\n");
    let _ = writeln!(
        s,
        "{JUDGED} images each, decoded by the int8 decoders: prior samples z ~ N(0, I) of the \
         VAE and of the same model trained as a plain autoencoder, then the draws the chip \
         makes by default (the latent density fitted at export) and the conditional VAE's \
         class draws (accuracy: the judge's class against the class asked). Confidence: the \
         judge (a small CNN trained on the real training images, `tinyvae score`), mean of its \
         top class probability. FD: Frechet distance between the judge's features of the images and of \
         the real test images. Distance: mean RMS distance (gray levels) to the nearest of \
         {REFERENCE_IMAGES} training images.\n"
    );
    let _ = writeln!(
        s,
        "| images | judge confidence | FD | nearest-image distance |\n|---|---|---|---|"
    );
    for m in input.measures {
        let accuracy = m
            .accuracy
            .map(|a| format!(" (accuracy {:.0}%)", 100.0 * a))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "| {} | {:.3}{accuracy} | {:.1} | {:.1} |",
            m.name, m.confidence, m.frechet, m.distance
        );
    }
    let _ = writeln!(
        s,
        "\nPictures in {}: prior-vae.png, prior-autoencoder.png, chip-samples.png, chip-classes.png, chip-interpolation.png, vae/, autoencoder/ and cvae/ (reconstructions, samples, loss curve).",
        input.args.out.display()
    );
    s
}
