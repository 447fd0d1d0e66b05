//! `tinyvae export`: quantize a trained decoder to the int8 blob the chip
//! runs, and report how faithful it is to the float decoder.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tinyvae_shared::Model;
use tinyvae_trainer::backend::Backend;
use tinyvae_trainer::checkpoint::load_checkpoint;
use tinyvae_trainer::data::{self, DEFAULT_DATA_DIR, DataSet};
use tinyvae_trainer::export::{
    self as int8, DEFAULT_COMPONENTS_PER_CLASS, DensityOptions, ExportOptions, Fidelity,
};
use tinyvae_trainer::fsio;
use tinyvae_trainer::model::Vae;

use crate::fail::bad_input;

/// Quantize a trained decoder to the int8 blob, with a fidelity report.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A run's output directory (its newest checkpoint is used) or one
    /// checkpoint directory (`.../checkpoints/epoch-0010`).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The blob to write; the fidelity report goes beside it as
    /// `<stem>.fidelity.json`.
    #[arg(long, default_value = "out/model.tvae")]
    pub out: PathBuf,
    /// The training run's data (IDX files or an image folder), for
    /// calibration, the latent density and the fidelity report; read as
    /// the run read it (its --size, --channels and --test-fraction, kept in
    /// its config.json).
    #[arg(long, default_value = DEFAULT_DATA_DIR)]
    pub data: PathBuf,
    /// Prior samples and training posteriors (each) to calibrate on.
    #[arg(long, default_value_t = 2000)]
    pub calibration: usize,
    /// Prior samples and test posteriors (each) for the fidelity report.
    #[arg(long, default_value_t = 1000)]
    pub fidelity: usize,
    /// Seed of the calibration and fidelity latents.
    #[arg(long, default_value_t = 0x5eed)]
    pub seed: u64,
    /// Full-covariance Gaussian components per class of the latent density
    /// the chip draws from (fitted by EM to the encoder's means of the
    /// training images; 1: each class's mean and covariance).
    #[arg(long, default_value_t = DEFAULT_COMPONENTS_PER_CLASS)]
    pub components: usize,
    /// Scales every component's standard deviations: below 1 draws nearer
    /// the components' means (sharper, less varied images).
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f64,
}

/// The fidelity report file beside `blob`.
pub fn fidelity_path(blob: &Path) -> PathBuf {
    blob.with_extension("fidelity.json")
}

/// Runs `export`.
pub fn run(args: Args) -> Result<()> {
    let density = DensityOptions {
        components_per_class: args.components,
        temperature: args.temperature,
    };
    density.check().map_err(bad_input)?;
    let device = Backend::default().device();
    let checkpoint = load_checkpoint(&args.checkpoint, &device).map_err(|err| {
        bad_input(anyhow::anyhow!(
            "checkpoint {}: {err}",
            args.checkpoint.display()
        ))
    })?;
    let data = data::load(&args.data, &checkpoint.config.data).map_err(bad_input)?;
    let image = checkpoint.config.model.image;
    if data.shape() != image {
        return Err(bad_input(anyhow::anyhow!(
            "{}: its images are {}, but the model in {} was trained on {image} images",
            args.data.display(),
            data.shape(),
            checkpoint.dir.display()
        )));
    }
    let options = ExportOptions {
        calibration_samples: args.calibration,
        fidelity_samples: args.fidelity,
        seed: args.seed,
        density,
        ..options(&args.data, checkpoint.epoch)
    };
    eprintln!(
        "exporting {} (epoch {}) calibrated on {} prior + {} posterior latents",
        checkpoint.dir.display(),
        checkpoint.epoch,
        args.calibration,
        args.calibration
    );
    let (blob, report) = export(&checkpoint.model, &data, &options, &args.out)?;
    print!("{}", table(&report));
    println!(
        "wrote {} ({} bytes) and {}",
        args.out.display(),
        blob.len(),
        fidelity_path(&args.out).display()
    );
    Ok(())
}

/// The default export options for a model trained `epochs` epochs on the
/// data in `data_dir`: the blob's metadata names the data set after its
/// directory, so it says what the model really saw.
pub fn options(data_dir: &Path, epochs: usize) -> ExportOptions {
    ExportOptions {
        dataset: dataset_name(data_dir),
        epochs: u32::try_from(epochs).unwrap_or(u32::MAX),
        ..ExportOptions::default()
    }
}

/// Quantizes `model`'s decoder to the int8 blob (calibrated on `data`'s
/// training images, its classes named as `data` names them:
/// `DataSet::class_names`), measures it against the float decoder on the
/// test images, and writes the blob to `out` and the report beside it
/// ([`fidelity_path`]), each atomically (a reader never sees half a file).
/// Returns both.
pub fn export(
    model: &Vae,
    data: &DataSet,
    options: &ExportOptions,
    out: &Path,
) -> Result<(Vec<u8>, Fidelity)> {
    let labels = u16::try_from(data.classes()).expect("IDX labels are bytes: at most 256");
    let options = &ExportOptions {
        class_names: data.class_names(labels),
        ..options.clone()
    };
    let blob = int8::export(model, &data.train, &data.test, options).map_err(bad_input)?;
    let report = {
        let parsed = Model::from_bytes(&blob).context("the exported blob does not parse")?;
        eprintln!(
            "measuring int8 vs float on {} prior and {} test posterior latents",
            options.fidelity_samples, options.fidelity_samples
        );
        int8::fidelity(model, &parsed, &data.test, options)
    };
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let json = serde_json::to_string_pretty(&report).expect("the report serialises");
    fsio::write_atomic(&fidelity_path(out), json.as_bytes())?;
    fsio::write_atomic(out, &blob)?;
    Ok((blob, report))
}

/// The data set's name: its directory's name (`fashion-mnist`, `mnist`, ...).
fn dataset_name(dir: &Path) -> String {
    dir.canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "unknown".into())
}

/// The report as a table.
pub fn table(report: &Fidelity) -> String {
    let row = |name: &str, a: &int8::Agreement| {
        format!(
            "| {name:<15} | {:>6} | {:>9.2} | {:>14.3} | {:>13.0} |\n",
            a.images, a.psnr_db, a.mean_abs, a.max_abs
        )
    };
    let mut out = String::from(
        "| int8 vs float   | images | PSNR (dB) | mean abs (gray) | max abs (gray) |\n",
    );
    out.push_str("|-----------------|--------|-----------|----------------|---------------|\n");
    out.push_str(&row("prior samples", &report.prior));
    out.push_str(&row("test posteriors", &report.posterior));
    out.push_str(&format!(
        "test NELBO: float decoder {:.2} nats/image (BCE {:.2} + KL {:.2}), int8 decoder {:.2} ({:+.2})\n",
        report.nelbo_float.nelbo,
        report.nelbo_float.bce,
        report.nelbo_float.kl,
        report.nelbo_int8.nelbo,
        report.nelbo_int8.nelbo - report.nelbo_float.nelbo
    ));
    out
}
