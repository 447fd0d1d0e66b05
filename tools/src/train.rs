//! `tinyvae train`: train a VAE with burn on MNIST-format IDX files or an
//! image folder.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::ValueEnum;
use tinyvae_trainer::backend::Backend;
use tinyvae_trainer::checkpoint::CheckpointError;
use tinyvae_trainer::config::{LrSchedule, Recipe, TrainingConfig};
use tinyvae_trainer::data::{
    self, Channels, DEFAULT_DATA_DIR, DEFAULT_TEST_FRACTION, DataError, DataOptions, DataSet,
    ImageShape, Size,
};
use tinyvae_trainer::error::TrainError;
use tinyvae_trainer::model::{Arch, CONV_DECODER_CHANNELS, VaeConfig};
use tinyvae_trainer::pictures::write_pictures;
use tinyvae_trainer::training::{RunOptions, Trained, train};

use crate::fail::bad_input;

/// Train a VAE on MNIST-format IDX files or an image folder (checkpoints,
/// metrics, pictures).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model: `mlp` (pytorch/examples vae, 784-400-z) or `conv`
    /// (convolutional, with a decoder small enough for a Cortex-M).
    #[arg(long, value_enum, default_value_t = Model::Mlp)]
    pub model: Model,
    /// Weight of the KL term (0: a plain autoencoder).
    #[arg(long, default_value_t = 1.0)]
    pub beta: f64,
    /// Size of the latent z.
    #[arg(long, default_value_t = 20)]
    pub latent: usize,
    #[arg(long, value_parser = parse_channels, value_name = "C0,C1", help = format!(
        "With --model conv: channels C0,C1 of the decoder's 7x7 and 14x14 feature maps. \
         Its int8 weights take (latent + classes)*49*C0 + 16*C0*C1 + 16*C1 bytes and its scratch \
         196*C1 + max(49*C0, 784) bytes; the default fits a Cortex-M0 with 16 KB of RAM \
         [default: {}]",
        channels_text(CONV_DECODER_CHANNELS)
    ))]
    pub decoder_channels: Option<[usize; 2]>,
    /// Epochs to train in total (a resumed run counts the epochs it already has).
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    #[arg(long, help = recipe_help("Images per Adam step", |r| r.batch_size.to_string()))]
    pub batch_size: Option<usize>,
    #[arg(long, help = recipe_help("Adam's learning rate", |r| r.lr.to_string()))]
    pub lr: Option<f64>,
    #[arg(long, value_enum, help = recipe_help(
        "How the learning rate moves: `constant`, or `cosine` (from --lr down to 0 over the run's steps)",
        |r| schedule_name(r.lr_schedule),
    ))]
    pub lr_schedule: Option<Schedule>,
    /// Seed of the initialisation, the data order and the noise.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// CPU threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    #[arg(long, help = format!(
        "The data: a directory of IDX files (`train-images-idx3-ubyte[.gz]` and the other three), \
         or an image folder of PNG and JPEG files: DIR/<class>/*.png, or DIR/train/<class>/... \
         and DIR/test/<class>/..., or the images directly in DIR (no classes: unconditional) \
         [default: {DEFAULT_DATA_DIR}, or data/<name> with --download]"
    ))]
    pub data: Option<PathBuf>,
    /// Resize every image of an image folder to HxW pixels (e.g. 32x32;
    /// Lanczos3, stretched, not cropped). Without it, all its images must
    /// have one size.
    #[arg(long, value_name = "HxW")]
    pub size: Option<Size>,
    /// Make an image folder's images gray (1: RGB by ITU-R 601 luma) or
    /// RGB (3: gray repeated); alpha is composited onto black. Without it:
    /// 1 if every image file is gray, else 3.
    #[arg(long, value_name = "1|3")]
    pub channels: Option<Channels>,
    #[arg(long, value_name = "F", help = format!(
        "The share of each class that an image folder without train/ and test/ holds out as \
         its test split, the same files every time (chosen by a hash of their names) \
         [default: {DEFAULT_TEST_FRACTION}]"
    ))]
    pub test_fraction: Option<f64>,
    /// Download this data set into --data first (needs the internet, and a
    /// tinyvae built with `--features download`: without it, this flag fails
    /// and says how to rebuild). Over https only; each file is checked
    /// against its SHA-256 pinned in tinyvae before it is used.
    #[arg(long, value_enum)]
    pub download: Option<Download>,
    /// Output directory: checkpoints, metrics.jsonl, PNG pictures.
    #[arg(long, default_value = "out/train")]
    pub out: PathBuf,
    /// Continue from the checkpoint in --out; fail if there is none. (Without
    /// it, a checkpoint of the same run in --out is resumed as well.)
    #[arg(long)]
    pub resume: bool,
    /// The burn backend.
    #[arg(long, default_value_t = Backend::default())]
    pub backend: Backend,
    /// Train on the first N training images only (quick runs).
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Train an unconditional VAE. By default the VAE is conditional on the
    /// data's labels (a CVAE: the class is an input of the encoder and of
    /// the decoder), so that a draw can ask for a class and get it; its
    /// test NELBO then bounds -log p(x | class).
    #[arg(long)]
    pub unconditional: bool,
}

/// `{help} [default: the model's recipe: X for mlp, Y for conv]`, the
/// values read from [`Recipe`] by `value`.
fn recipe_help(help: &str, value: impl Fn(Recipe) -> String) -> String {
    format!(
        "{help} [default: the model's recipe: {} for mlp, {} for conv]",
        value(Recipe::of(Arch::Mlp)),
        value(Recipe::of(Arch::Conv))
    )
}

/// `C0,C1`, as [`parse_channels`] reads it.
fn channels_text([c0, c1]: [usize; 2]) -> String {
    format!("{c0},{c1}")
}

/// `C0,C1`: two channel counts of at least 1.
fn parse_channels(text: &str) -> Result<[usize; 2], String> {
    let usage = || format!("expected two channel counts C0,C1 (e.g. 32,40), got {text:?}");
    let (c0, c1) = text.split_once(',').ok_or_else(usage)?;
    let count = |s: &str| s.trim().parse::<usize>().ok().filter(|&c| c >= 1);
    Ok([count(c0).ok_or_else(usage)?, count(c1).ok_or_else(usage)?])
}

/// The models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Model {
    /// pytorch/examples vae: 784-400-z, ReLU.
    Mlp,
    /// Convolutional encoder, dense + transposed-convolution decoder.
    Conv,
}

/// Learning-rate schedules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Schedule {
    /// --lr at every step.
    Constant,
    /// Half a cosine from --lr to 0.
    Cosine,
}

/// Data sets --download knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Download {
    /// Handwritten digits.
    Mnist,
    /// Zalando's clothing images.
    FashionMnist,
}

impl From<Schedule> for LrSchedule {
    fn from(schedule: Schedule) -> Self {
        match schedule {
            Schedule::Constant => LrSchedule::Constant,
            Schedule::Cosine => LrSchedule::Cosine,
        }
    }
}

/// The name on the command line of `schedule`.
fn schedule_name(schedule: LrSchedule) -> String {
    Schedule::value_variants()
        .iter()
        .find(|s| LrSchedule::from(**s) == schedule)
        .and_then(|s| s.to_possible_value())
        .map(|value| value.get_name().to_owned())
        .expect("every LrSchedule has a Schedule")
}

impl Args {
    /// How to read the data: `--size`, `--channels`, `--test-fraction`.
    pub fn data_options(&self) -> DataOptions {
        DataOptions {
            size: self.size,
            channels: self.channels,
            test_fraction: self.test_fraction,
        }
    }

    /// The run's configuration, for data of `classes` classes (conditional
    /// on them unless `--unconditional`) and images of `image`'s shape.
    pub fn config(&self, classes: usize, image: ImageShape) -> TrainingConfig {
        let arch = match self.model {
            Model::Mlp => Arch::Mlp,
            Model::Conv => Arch::Conv,
        };
        let classes = if self.unconditional { 0 } else { classes };
        let mut model = VaeConfig::new(arch)
            .with_latent(self.latent)
            .with_classes(classes)
            .with_image(image);
        if let Some(channels) = self.decoder_channels {
            model = model.with_decoder_channels(channels);
        }
        let recipe = Recipe::of(arch);
        let lr_schedule = self
            .lr_schedule
            .map_or(recipe.lr_schedule, LrSchedule::from);
        TrainingConfig::new(model, self.backend)
            .with_epochs(self.epochs)
            .with_batch_size(self.batch_size.unwrap_or(recipe.batch_size))
            .with_lr(self.lr.unwrap_or(recipe.lr))
            .with_lr_schedule(lr_schedule)
            .with_beta(self.beta)
            .with_seed(self.seed)
            .with_train_limit(self.train_limit)
            .with_data(self.data_options())
    }
}

/// The directory of the data set: `data`, or with `download` and no
/// `data` `data/<name>`, or [`DEFAULT_DATA_DIR`].
fn data_dir(data: Option<&Path>, download: Option<Download>) -> PathBuf {
    match (data, download) {
        (Some(dir), _) => dir.to_owned(),
        (None, Some(which)) => Path::new("data").join(which.source().1),
        (None, None) => PathBuf::from(DEFAULT_DATA_DIR),
    }
}

impl Download {
    /// The trainer's source, and the data set's name.
    fn source(self) -> (data::Source, &'static str) {
        match self {
            Download::Mnist => (data::Source::Mnist, "mnist"),
            Download::FashionMnist => (data::Source::FashionMnist, "fashion-mnist"),
        }
    }
}

/// Loads the data set in [`data_dir`] as `options` say (IDX files or an
/// image folder, [`data::load`]), downloading it first if asked.
pub fn load_data(
    data: Option<&Path>,
    download: Option<Download>,
    options: &DataOptions,
) -> anyhow::Result<DataSet> {
    let dir = data_dir(data, download);
    let loaded = match download {
        Some(which) => {
            let (source, name) = which.source();
            data::refuse_options_for_idx(&dir, options).and_then(|()| {
                if data::CAN_DOWNLOAD {
                    eprintln!("downloading {name} into {}", dir.display());
                }
                data::download(source, &dir)
            })
        }
        None => data::load(&dir, options),
    };
    loaded.map_err(|err| match err {
        // A failed or altered download is the network's fault, not the
        // user's input (a build without `download` is: it exits with 2).
        DataError::Download { .. } | DataError::Checksum { .. } | DataError::NotHttps { .. } => {
            anyhow::Error::new(err)
        }
        _ => bad_input(err),
    })
}

/// Classifies a training error: bad flags and foreign checkpoints are bad input.
pub fn classify(err: TrainError) -> anyhow::Error {
    match err {
        TrainError::BadOption(_)
        | TrainError::Checkpoint(
            CheckpointError::OtherRun { .. } | CheckpointError::NoCheckpoint { .. },
        ) => bad_input(err),
        _ => anyhow::Error::new(err),
    }
}

/// Trains `config` on `data` into `options.out` (checkpoints, metrics) and
/// draws the run's pictures there: `tinyvae train`, and each of `tinyvae
/// demo`'s models. Returns the run and the pictures' paths.
pub fn train_and_draw(
    config: &TrainingConfig,
    data: &DataSet,
    options: &RunOptions,
) -> anyhow::Result<(Trained, Vec<PathBuf>)> {
    let trained = train(config, data, options).map_err(classify)?;
    let pictures = write_pictures(
        &options.out,
        &trained.model,
        &data.test,
        &trained.metrics,
        config.seed,
    )
    .context("writing the pictures")?;
    Ok((trained, pictures))
}

/// Runs `train`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.decoder_channels.is_some() && args.model != Model::Conv {
        return Err(bad_input(anyhow::anyhow!(
            "--decoder-channels shapes the conv decoder: use it with --model conv"
        )));
    }
    let started = Instant::now();
    let data = load_data(args.data.as_deref(), args.download, &args.data_options())?;
    eprintln!(
        "loaded {} training and {} test images ({}, {}) in {:.1} s",
        data.train.len(),
        data.test.len(),
        data.shape(),
        match data.classes() {
            0 => "no classes".to_owned(),
            k => format!("{k} classes"),
        },
        started.elapsed().as_secs_f64()
    );
    let config = args.config(data.classes(), data.shape());
    let condition = match config.model.classes {
        0 => "unconditional".to_owned(),
        k => format!("conditional on {k} classes"),
    };
    eprintln!(
        "training {:?} (latent {}, {condition}) on {} images, testing on {}, backend {}; output in {}",
        args.model,
        args.latent,
        args.train_limit
            .map_or(data.train.len(), |n| n.min(data.train.len())),
        data.test.len(),
        args.backend,
        args.out.display()
    );
    let options = RunOptions {
        out: args.out.clone(),
        threads: args.threads,
        resume: args.resume,
        stop_after: None,
    };
    let (trained, pictures) = train_and_draw(&config, &data, &options)?;
    if let Some(last) = trained.metrics.last() {
        println!(
            "test NELBO after epoch {}: {:.3} nats/image (BCE {:.3} + KL {:.3}){}",
            last.epoch,
            last.test.nelbo,
            last.test.bce,
            last.test.kl,
            if config.model.classes > 0 {
                ", of -log p(x | class)"
            } else {
                ""
            }
        );
    }
    println!("checkpoint: {}", trained.checkpoint.display());
    for path in pictures {
        println!("picture: {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};
    use tinyvae_trainer::config::{LrSchedule, Recipe};
    use tinyvae_trainer::data::ImageShape;
    use tinyvae_trainer::model::Arch;

    use super::Args;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn config(flags: &[&str]) -> tinyvae_trainer::config::TrainingConfig {
        let argv = std::iter::once("train").chain(flags.iter().copied());
        Cli::try_parse_from(argv)
            .unwrap()
            .args
            .config(10, ImageShape::MNIST)
    }

    /// Conditional on the data's classes unless --unconditional.
    #[test]
    fn models_are_conditional_unless_asked() {
        assert_eq!(config(&[]).model.classes, 10);
        assert_eq!(config(&["--unconditional"]).model.classes, 0);
    }

    #[test]
    fn each_model_defaults_to_its_recipe() {
        for (flag, arch) in [("mlp", Arch::Mlp), ("conv", Arch::Conv)] {
            let config = config(&["--model", flag]);
            let recipe = Recipe::of(arch);
            assert_eq!(config.batch_size, recipe.batch_size, "{flag}");
            assert_eq!(config.lr, recipe.lr, "{flag}");
            assert_eq!(config.lr_schedule, recipe.lr_schedule, "{flag}");
        }
        assert_ne!(Recipe::of(Arch::Mlp), Recipe::of(Arch::Conv));
    }

    #[test]
    fn flags_override_the_recipe() {
        let config = config(&[
            "--model",
            "conv",
            "--batch-size",
            "64",
            "--lr",
            "0.003",
            "--lr-schedule",
            "constant",
        ]);
        assert_eq!(config.batch_size, 64);
        assert_eq!(config.lr, 0.003);
        assert_eq!(config.lr_schedule, LrSchedule::Constant);
    }

    /// The folder options are recorded in the run's config, for export.
    #[test]
    fn data_options_reach_the_config() {
        use tinyvae_trainer::data::{Channels, DataOptions, Size};
        assert_eq!(config(&[]).data, DataOptions::default());
        let flags = [
            "--size",
            "8x12",
            "--channels",
            "3",
            "--test-fraction",
            "0.2",
        ];
        assert_eq!(
            config(&flags).data,
            DataOptions {
                size: Some(Size {
                    height: 8,
                    width: 12
                }),
                channels: Some(Channels::Rgb),
                test_fraction: Some(0.2),
            }
        );
    }

    /// The help text states the recipes' values: it cannot drift from them.
    #[test]
    fn help_names_the_recipes() {
        let help = Cli::command().render_long_help().to_string();
        let (mlp, conv) = (Recipe::of(Arch::Mlp), Recipe::of(Arch::Conv));
        for expected in [
            format!("{} for mlp, {} for conv", mlp.batch_size, conv.batch_size),
            format!("{} for mlp", mlp.lr),
            format!("{} for conv", conv.lr),
        ] {
            assert!(help.contains(&expected), "help lacks {expected:?}:\n{help}");
        }
    }
}
