//! What defines a training run ([`TrainingConfig`], saved as `config.json` in
//! every checkpoint), its learning-rate schedule, and reading configs that
//! older runs wrote.

use burn::config::Config;
use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::data::{DataOptions, ImageShape};
use crate::model::{Arch, CONV_DECODER_CHANNELS, VaeConfig};

/// Everything that defines a run; saved as `config.json` in every checkpoint.
#[derive(Config, Debug)]
pub struct TrainingConfig {
    /// The model.
    pub model: VaeConfig,
    /// Backend the run trains on.
    pub backend: Backend,
    /// Epochs to train in total.
    #[config(default = 10)]
    pub epochs: usize,
    /// Images per Adam step.
    #[config(default = 128)]
    pub batch_size: usize,
    /// Adam's learning rate.
    #[config(default = 1e-3)]
    pub lr: f64,
    /// How the learning rate moves over the run.
    #[config(default = "LrSchedule::Constant")]
    pub lr_schedule: LrSchedule,
    /// Weight of the KL term (1: the ELBO; 0: a plain autoencoder).
    #[config(default = 1.0)]
    pub beta: f64,
    /// Seed of the initialisation, the data order and the noise.
    #[config(default = 1)]
    pub seed: u64,
    /// Use only the first this many training images (all: `None`).
    #[config(default = "None")]
    pub train_limit: Option<usize>,
    /// How the data was read (an image folder's size, channels and test
    /// share), so that export reads it the same way.
    #[config(default = "DataOptions::default()")]
    pub data: DataOptions,
}

impl TrainingConfig {
    /// Why the run cannot start, if a setting is out of range: the message
    /// names the setting.
    pub(crate) fn out_of_range(&self) -> Option<String> {
        if self.batch_size == 0 || self.epochs == 0 || self.model.latent == 0 {
            return Some("epochs, batch size and latent size must be at least 1".into());
        }
        if self.model.decoder_channels.contains(&0) {
            return Some("the conv decoder's channels must be at least 1".into());
        }
        if !(self.beta >= 0.0 && self.lr > 0.0) {
            return Some(format!(
                "need beta >= 0 and lr > 0 (got beta {}, lr {})",
                self.beta, self.lr
            ));
        }
        None
    }
}

/// A model's recommended optimizer settings: what `tinyvae train` uses
/// where its flags say nothing. Measured on Fashion-MNIST at 10 epochs
/// (README.md, "Training"): the MLP reaches pytorch/examples' figure with
/// its recipe; the conv model gains ~3 nats from smaller batches and a
/// cosine schedule over [`TrainingConfig`]'s plain defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recipe {
    /// Images per Adam step.
    pub batch_size: usize,
    /// Adam's (peak) learning rate.
    pub lr: f64,
    /// How the learning rate moves.
    pub lr_schedule: LrSchedule,
}

impl Recipe {
    /// The recipe for `arch`.
    pub const fn of(arch: Arch) -> Self {
        match arch {
            Arch::Mlp => Recipe {
                batch_size: 128,
                lr: 1e-3,
                lr_schedule: LrSchedule::Constant,
            },
            Arch::Conv => Recipe {
                batch_size: 16,
                lr: 2e-3,
                lr_schedule: LrSchedule::Cosine,
            },
        }
    }
}

/// How the learning rate moves over a run's Adam steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LrSchedule {
    /// `lr` at every step (pytorch/examples' recipe).
    #[default]
    Constant,
    /// Half a cosine from `lr` at the first step down towards 0 at the
    /// last: `lr * (1 + cos(pi * step / steps)) / 2`. Extending a finished
    /// run (more `--epochs`) stretches the rest of the curve.
    Cosine,
}

impl LrSchedule {
    /// The learning rate at `step` (from 0) of `steps` in all.
    pub fn at(self, lr: f64, step: usize, steps: usize) -> f64 {
        match self {
            LrSchedule::Constant => lr,
            LrSchedule::Cosine => {
                let progress = step as f64 / steps.max(1) as f64;
                lr * 0.5 * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos())
            }
        }
    }
}

/// A config from its JSON, settings added since the file was written
/// taking the values that runs had before them (burn's `Config`
/// deserializer has no field defaults): `lr_schedule` constant, the
/// model's `decoder_channels` [`CONV_DECODER_CHANNELS`], `classes` 0
/// (unconditional) and `image` 28x28 gray, and the default `data` options
/// (IDX files read as they are).
pub(crate) fn config_from_json(
    mut value: serde_json::Value,
) -> Result<TrainingConfig, serde_json::Error> {
    if let Some(object) = value.as_object_mut() {
        object
            .entry("lr_schedule")
            .or_insert_with(|| serde_json::json!(LrSchedule::Constant));
        object
            .entry("data")
            .or_insert_with(|| serde_json::json!(DataOptions::default()));
        if let Some(model) = object.get_mut("model").and_then(|m| m.as_object_mut()) {
            model
                .entry("decoder_channels")
                .or_insert_with(|| serde_json::json!(CONV_DECODER_CHANNELS));
            model
                .entry("classes")
                .or_insert_with(|| serde_json::json!(0));
            model
                .entry("image")
                .or_insert_with(|| serde_json::json!(ImageShape::MNIST));
        }
    }
    serde_json::from_value(value)
}

/// The first setting in which two configs differ, as `(setting, theirs,
/// ours)` with the values in JSON, ignoring the number of epochs (a finished
/// run may be extended) and the backend: whether a checkpoint may be resumed
/// with `ours`.
pub(crate) fn config_difference(
    theirs: &TrainingConfig,
    ours: &TrainingConfig,
) -> Option<(String, String, String)> {
    let json = |c: &TrainingConfig| {
        let mut value = serde_json::to_value(c).expect("config serialises");
        let object = value.as_object_mut().expect("config is an object");
        object.remove("epochs");
        object.remove("backend");
        value
    };
    let (theirs, ours) = (json(theirs), json(ours));
    theirs
        .as_object()
        .expect("object")
        .iter()
        .find(|(key, value)| ours.get(key.as_str()) != Some(value))
        .map(|(key, value)| {
            let other = ours.get(key.as_str()).cloned().unwrap_or_default();
            (key.clone(), value.to_string(), other.to_string())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lr_schedules() {
        let constant = LrSchedule::Constant;
        assert_eq!(constant.at(1e-3, 0, 100), 1e-3);
        assert_eq!(constant.at(1e-3, 99, 100), 1e-3);
        let cosine = LrSchedule::Cosine;
        assert_eq!(cosine.at(2e-3, 0, 100), 2e-3);
        assert!((cosine.at(2e-3, 50, 100) - 1e-3).abs() < 1e-15);
        assert!((cosine.at(2e-3, 25, 100) - 1e-3 * (1.0 + 0.5f64.sqrt())).abs() < 1e-15);
        assert!(cosine.at(2e-3, 99, 100) < 1e-6);
        assert!(cosine.at(2e-3, 100, 100).abs() < 1e-18);
    }

    /// A config.json written before `lr_schedule`, `decoder_channels`,
    /// `classes` and `data` existed still loads, as a constant schedule,
    /// the decoder shape and data reading runs had then (resume and export
    /// read old runs).
    #[test]
    fn old_configs_load_with_the_settings_they_were_trained_with() {
        let config = TrainingConfig::new(
            VaeConfig::new(crate::model::Arch::Conv).with_decoder_channels([8, 8]),
            Backend::default(),
        )
        .with_lr_schedule(LrSchedule::Cosine)
        .with_data(DataOptions {
            channels: Some(crate::data::Channels::Rgb),
            ..DataOptions::default()
        });
        let mut json = serde_json::to_value(&config).unwrap();
        let object = json.as_object_mut().unwrap();
        object.remove("lr_schedule");
        object.remove("data");
        let model = object["model"].as_object_mut().unwrap();
        model.remove("decoder_channels").unwrap();
        model.remove("classes").unwrap();
        model.remove("image").unwrap();
        let loaded = config_from_json(json).unwrap();
        assert_eq!(loaded.lr_schedule, LrSchedule::Constant);
        assert_eq!(loaded.model.decoder_channels, CONV_DECODER_CHANNELS);
        assert_eq!(loaded.model.classes, 0);
        assert_eq!(loaded.data, DataOptions::default());
        assert_eq!(loaded.model.image, ImageShape::MNIST);
    }

    /// Only the epochs and the backend may differ between a checkpoint and
    /// the run that resumes it.
    #[test]
    fn differences_name_the_first_setting() {
        let config =
            || TrainingConfig::new(VaeConfig::new(crate::model::Arch::Mlp), Backend::default());
        assert_eq!(
            config_difference(&config(), &config().with_epochs(30)),
            None
        );
        let (field, theirs, ours) = config_difference(&config(), &config().with_lr(3e-4)).unwrap();
        assert_eq!(
            (field.as_str(), theirs.as_str(), ours.as_str()),
            ("lr", "0.001", "0.0003")
        );
    }
}
