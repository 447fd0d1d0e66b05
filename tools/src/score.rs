//! `tinyvae score`: how good are a blob's samples? The judge (a CNN trained
//! on the data's real training images, cached per data set:
//! `tinyvae_trainer::judge`) scores the chip's bytes for each kind of draw,
//! beside real training and test images for reference.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use serde::Serialize;
use tinyvae_trainer::data::{DEFAULT_DATA_DIR, DataOptions, PIXELS, SIDE};
use tinyvae_trainer::fsio::write_atomic;
use tinyvae_trainer::judge::{Judge, Origin, Scores};
use tinyvae_trainer::progress;

use crate::blobfile::BlobFile;
use crate::fail::bad_input;
use crate::judging::{box_blur, kind_images, load_judge, score_draws, uniform_noise};
use crate::train::load_data;

/// Score a blob's samples with a judge trained on the data's real images:
/// accuracy against the class asked for, confidence, spread of predicted
/// classes, and the Frechet distance to the real test images' features.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model blob (`tinyvae export` writes one).
    #[arg(long)]
    blob: PathBuf,
    /// Directory of the IDX files: the judge learns from its training
    /// images and measures distances to its test images.
    #[arg(long, default_value = DEFAULT_DATA_DIR)]
    data: PathBuf,
    /// Images per kind of draw (and real training images for reference).
    #[arg(long, default_value_t = 10_000)]
    count: u32,
    /// Seed of the sampler's PCG32 (part `i` of a kind of draw uses seed + i).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also write every score (per class too) to this JSON file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Directory of the trained judges [default: $XDG_CACHE_HOME/tinyvae/judge,
    /// else ~/.cache/tinyvae/judge].
    #[arg(long, value_name = "DIR")]
    judge_cache: Option<PathBuf>,
}

/// One row of the table: what was judged, and the judge's scores.
#[derive(Debug, Clone, Serialize)]
struct Row {
    kind: String,
    scores: Scores,
}

/// Runs `score`.
pub fn run(args: Args) -> Result<()> {
    let file = BlobFile::read(&args.blob)?;
    let model = file.model()?;
    if args.count == 0 {
        return Err(bad_input(anyhow!("--count must be at least 1")));
    }
    let shape = model.image_shape();
    if (shape.height, shape.width, shape.channels) != (SIDE as u16, SIDE as u16, 1) {
        return Err(bad_input(anyhow!(
            "{}: the judge scores {SIDE}x{SIDE} gray images, this blob makes {}x{}x{}",
            args.blob.display(),
            shape.height,
            shape.width,
            shape.channels
        )));
    }
    let data = load_data(Some(&args.data), None, &DataOptions::default())?;
    let cached = load_judge(&data, args.judge_cache.as_deref())?;
    let judge = &cached.judge;

    let kinds = score_draws(&model);
    let count = args.count as usize;
    let real_train = data.train.clone().truncated(count);
    // Each image counts twice: made (generated or read), then scored.
    let total = 2 * ((kinds.len() + 1) * count + real_train.len() + 2 * data.test.len());
    let bar = progress::bar(total as u64, "scoring");
    let mut rows = Vec::new();
    for kind in &kinds {
        let (pixels, asked) = kind_images(&model, kind, args.seed, args.count, |n| {
            bar.inc(u64::from(n))
        })?;
        let scores = judge.score(&pixels, asked.as_deref());
        bar.inc(scores.count as u64);
        rows.push(Row {
            kind: kind.name.to_owned(),
            scores,
        });
    }
    // The reference rows: real images (the floor of FD, the ceiling of
    // accuracy), real images blurred, and noise.
    let mut reference = |kind: &str, pixels: &[u8], labels: Option<&[u8]>| {
        let n = (pixels.len() / PIXELS) as u64;
        bar.inc(n);
        let scores = judge.score(pixels, labels);
        bar.inc(n);
        rows.push(Row {
            kind: kind.to_owned(),
            scores,
        });
    };
    let (train, test) = (&real_train, &data.test);
    reference("real training images", &train.pixels, Some(&train.labels));
    reference("real test images", &test.pixels, Some(&test.labels));
    let blurred = box_blur(&test.pixels);
    reference(
        "real test images, 3x3 box blur",
        &blurred,
        Some(&test.labels),
    );
    reference("uniform noise", &uniform_noise(count, args.seed), None);
    bar.finish_and_clear();

    let names = data.class_names(judge.classes() as u16);
    print!("{}", report(&args, judge, &rows, &names, data.test.len()));
    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "blob": args.blob,
            "data": args.data,
            "count": args.count,
            "seed": args.seed,
            "judge": {
                "file": cached.path,
                "origin": match &cached.origin {
                    Origin::Loaded => "loaded",
                    Origin::Trained => "trained",
                    Origin::Replaced { .. } => "replaced",
                },
                "recipe": judge.recipe(),
                "test_accuracy": judge.test_accuracy(),
                "test_accuracy_per_epoch": judge.test_accuracy_per_epoch(),
                "train_seconds": judge.train_seconds(),
            },
            "class_names": names,
            "rows": rows,
        });
        let text = serde_json::to_string_pretty(&json).expect("scores serialise");
        write_atomic(path, text.as_bytes()).context("writing the JSON scores")?;
    }
    Ok(())
}

/// The markdown report: what was scored, the table, per-class accuracies.
fn report(
    args: &Args,
    judge: &Judge,
    rows: &[Row],
    names: &[String],
    test_images: usize,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}: {} images per kind of draw, seed {}; judge: test accuracy {:.2}% ({} epochs)\n",
        args.blob.display(),
        args.count,
        args.seed,
        100.0 * judge.test_accuracy(),
        judge.recipe().epochs
    );
    let _ = writeln!(
        s,
        "| kind | N | accuracy vs asked (mean, worst class) | mean confidence | predicted-class entropy (nats) | FD |\n|---|---|---|---|---|---|"
    );
    let name = |class: u8| {
        names
            .get(usize::from(class))
            .cloned()
            .unwrap_or_else(|| format!("class {class}"))
    };
    for row in rows {
        let scores = &row.scores;
        let accuracy = match (scores.accuracy, scores.worst_class()) {
            (Some(mean), Some(worst)) => format!(
                "{:.3} (worst: {} {:.3})",
                mean,
                name(worst.class),
                worst.accuracy
            ),
            _ => "-".to_owned(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {accuracy} | {:.3} | {:.3} | {:.2} |",
            row.kind, scores.count, scores.confidence, scores.entropy, scores.frechet
        );
    }
    let _ = writeln!(
        s,
        "\nEntropy of the predicted classes: ln({}) = {:.3} when they are all equally frequent. \
         FD: Frechet distance between the judge's 128-d features of the images and of the {} \
         real test images (lower is closer).",
        judge.classes(),
        (judge.classes() as f64).ln(),
        test_images
    );
    for row in rows.iter().filter(|row| !row.scores.per_class.is_empty()) {
        let classes: Vec<String> = row
            .scores
            .per_class
            .iter()
            .map(|c| format!("{} {:.3}", name(c.class), c.accuracy))
            .collect();
        let _ = writeln!(s, "\n{} per class: {}", row.kind, classes.join(", "));
    }
    s
}
