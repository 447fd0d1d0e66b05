//! The judge of generated images: a small CNN trained on the data's real
//! training images, used as a measuring instrument. Generated images that
//! look like the data are classified confidently, as the class they were
//! asked to be, with a spread of classes like the data's, and their
//! features (the CNN's 128-d penultimate layer) are distributed like the
//! real test images' (the Frechet distance, FID's formula in this CNN's
//! feature space: Inception weights are neither available offline nor a
//! judge of 28x28 gray images).
//!
//! The judge is the ruler: another architecture, recipe or data set gives
//! other absolute numbers, so its [`Recipe`] and [`VERSION`] are fixed, it is
//! trained once per data set and cached ([`cache`]), and every score should
//! be reported with its test accuracy ([`Judge::test_accuracy`]).
//!
//! - [`frechet`]: Gaussians of features and the Frechet distance;
//! - [`scores`]: what the judge says of a set of images ([`Scores`]);
//! - [`cache`]: the trained judge on disk, per data set.

pub mod cache;
pub mod frechet;
pub mod scores;

use std::time::Instant;

use burn::module::Module;
use burn::nn::Linear;
use burn::nn::conv::Conv2d;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::{relu, softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::backend::run_in_pool;
use crate::batch::{INFERENCE_BATCH, ImageBatcher, LabelledBatcher, batched, values};
use crate::data::{DataSet, PIXELS, SIDE, Split};
use crate::model::{dense_layer, halving_conv};
use crate::progress;
use crate::rng::Rng;

pub use cache::{Cached, JudgeError, Origin, load_or_train};
pub use frechet::{Gaussian, frechet_distance};
pub use scores::{ClassAccuracy, Scores, entropy_nats};

/// The judge's architecture, in words; part of every cache file's name
/// (with the [`Recipe`]), so a change here retrains every cached judge.
pub const VERSION: &str = "tinyvae judge 1: conv 1->32 k4 s2 ReLU, conv 32->64 k4 s2 ReLU, \
                           dense 3136->128 ReLU (features), dense 128->classes; Adam";

/// Width of the judge's feature layer, where the Frechet distance is taken.
pub const FEATURES: usize = 128;

/// How the judge is trained.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// Passes over the training images.
    pub epochs: usize,
    /// Images per Adam step.
    pub batch: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// Seed of the initialisation and of the data order.
    pub seed: u64,
}

impl Recipe {
    /// The judge every score is measured with: 6 epochs, the fewest that
    /// reach 90% test accuracy on Fashion-MNIST (after each epoch: 86.3,
    /// 87.2, 88.6, 88.8, 89.9, 90.2%; README.md, "Judging samples").
    pub const STANDARD: Recipe = Recipe {
        epochs: 6,
        batch: 128,
        lr: 1e-3,
        seed: 1,
    };
}

/// conv 1->32 (28 -> 14) ReLU, conv 32->64 (14 -> 7) ReLU, dense 3136 ->
/// 128 ReLU (the features), dense 128 -> classes.
#[derive(Module, Debug)]
struct JudgeNet {
    /// 1 -> 32 channels, 28x28 -> 14x14.
    conv1: Conv2d,
    /// 32 -> 64 channels, 14x14 -> 7x7.
    conv2: Conv2d,
    /// 64*7*7 -> 128: the features.
    fc: Linear,
    /// 128 -> classes.
    out: Linear,
}

impl JudgeNet {
    /// A freshly initialised net (PyTorch's default initialisation, drawn
    /// from `rng`, as the VAEs are).
    fn init(classes: usize, rng: &mut Rng, device: &Device) -> Self {
        Self {
            conv1: halving_conv(rng, 1, 32, device),
            conv2: halving_conv(rng, 32, 64, device),
            fc: dense_layer(rng, 64 * 7 * 7, FEATURES, device),
            out: dense_layer(rng, FEATURES, classes, device),
        }
    }

    /// Images `[batch, 784]` in [0, 1] to `(features [batch, 128], logits
    /// [batch, classes])`.
    fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let [batch, _] = x.dims();
        let x = x.reshape([batch, 1, SIDE, SIDE]); // [batch, 1, 28, 28]
        let h = relu(self.conv1.forward(x)); // [batch, 32, 14, 14]
        let h = relu(self.conv2.forward(h)); // [batch, 64, 7, 7]
        let features = relu(self.fc.forward(h.flatten::<2>(1, 3))); // [batch, 128]
        let logits = self.out.forward(features.clone()); // [batch, classes]
        (features, logits)
    }

    /// Classes it tells apart.
    fn classes(&self) -> usize {
        self.out.weight.dims()[1]
    }
}

/// What the judge computes for each image.
#[derive(Debug, Clone, PartialEq)]
pub struct Outputs {
    /// Features, [`FEATURES`] per image, row-major.
    pub features: Vec<f32>,
    /// Class probabilities (softmax), [`Judge::classes`] per image.
    pub probabilities: Vec<f32>,
}

/// What a cache file keeps beside the weights: how the judge was made and
/// what it measured on the test images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Facts {
    /// [`VERSION`] of the code that trained it.
    version: String,
    /// How it was trained.
    recipe: Recipe,
    /// Classes it tells apart.
    classes: usize,
    /// Its accuracy on the test images after each epoch.
    test_accuracy: Vec<f64>,
    /// Seconds its training took.
    train_seconds: f64,
    /// Its features of the test images: the reference of the Frechet
    /// distance. Stored in binary beside the header ([`cache`]), as JSON
    /// need not give f64s back bit for bit.
    #[serde(skip)]
    reference: Gaussian,
}

/// A trained judge with what it measured on the real test images.
#[derive(Debug)]
pub struct Judge {
    net: JudgeNet,
    facts: Facts,
}

impl Judge {
    /// Trains a judge on `data.train` with `recipe` on `device` (a device
    /// without autodiff; autodiff is added here), on every core, then
    /// measures it on `data.test`. Deterministic for a recipe and data.
    pub fn train(data: &DataSet, recipe: &Recipe, device: &Device) -> Self {
        run_in_pool(0, || Self::train_here(data, recipe, device))
    }

    fn train_here(data: &DataSet, recipe: &Recipe, device: &Device) -> Self {
        let started = Instant::now();
        let classes = data.classes().max(1);
        let train_device = device.clone().autodiff();
        let mut rng = Rng::new(recipe.seed);
        let mut net = JudgeNet::init(classes, &mut rng, &train_device);
        let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
        let loss = CrossEntropyLossConfig::new().init(&train_device);
        let batches = data.train.len().div_ceil(recipe.batch.max(1)) as u64;
        let mut accuracies = Vec::with_capacity(recipe.epochs);
        let mut judge = None;
        for epoch in 1..=recipe.epochs.max(1) {
            let bar = progress::bar(batches, &format!("judge epoch {epoch}/{}", recipe.epochs));
            let order = rng.permutation(data.train.len());
            let items = order
                .into_iter()
                .map(|i| (data.train.image(i), data.train.labels[i]));
            for (x, labels) in batched(items, recipe.batch, &LabelledBatcher, &train_device) {
                let targets = class_indices(&labels, &train_device); // [batch]
                let (_, logits) = net.forward(x); // [batch, classes]
                let grads =
                    GradientsParams::from_grads(loss.forward(logits, targets).backward(), &net);
                net = optim.step(recipe.lr, net, grads);
                bar.inc(1);
            }
            bar.finish_and_clear();
            let measured = Self::measure(net.valid(), &data.test, recipe);
            accuracies.push(measured.test_accuracy());
            judge = Some(measured);
        }
        let mut judge = judge.expect("at least one epoch");
        judge.facts.test_accuracy = accuracies;
        judge.facts.train_seconds = started.elapsed().as_secs_f64();
        judge
    }

    /// `net` measured on `test`: its accuracy, and the Gaussian of its
    /// features (the reference of the Frechet distance).
    fn measure(net: JudgeNet, test: &Split, recipe: &Recipe) -> Self {
        let classes = net.classes();
        let mut judge = Self {
            net,
            facts: Facts {
                version: VERSION.to_owned(),
                recipe: *recipe,
                classes,
                test_accuracy: Vec::new(),
                train_seconds: 0.0,
                reference: Gaussian::fit(&[], FEATURES),
            },
        };
        let outputs = judge.outputs(&test.pixels);
        let correct = predictions(&outputs.probabilities, classes)
            .zip(&test.labels)
            .filter(|((class, _), label)| *class == usize::from(**label))
            .count();
        judge.facts.test_accuracy = vec![correct as f64 / test.len().max(1) as f64];
        judge.facts.reference = Gaussian::fit(&outputs.features, FEATURES);
        judge
    }

    /// The features and class probabilities of `pixels` (28x28 u8 images,
    /// one after another), in batches.
    pub fn outputs(&self, pixels: &[u8]) -> Outputs {
        let device = self.net.devices()[0].clone();
        let mut outputs = Outputs {
            features: Vec::with_capacity(pixels.len() / PIXELS * FEATURES),
            probabilities: Vec::with_capacity(pixels.len() / PIXELS * self.classes()),
        };
        let images = pixels.chunks_exact(PIXELS);
        for x in batched(images, INFERENCE_BATCH, &ImageBatcher, &device) {
            let (features, logits) = self.net.forward(x); // [batch, 128], [batch, classes]
            outputs.features.extend(values(features));
            outputs.probabilities.extend(values(softmax(logits, 1)));
        }
        outputs
    }

    /// Classes it tells apart.
    pub fn classes(&self) -> usize {
        self.facts.classes
    }

    /// Its accuracy on the real test images (after its last epoch).
    pub fn test_accuracy(&self) -> f64 {
        self.facts.test_accuracy.last().copied().unwrap_or(0.0)
    }

    /// Its accuracy on the real test images after each epoch of training.
    pub fn test_accuracy_per_epoch(&self) -> &[f64] {
        &self.facts.test_accuracy
    }

    /// How it was trained.
    pub fn recipe(&self) -> &Recipe {
        &self.facts.recipe
    }

    /// Seconds its training took (where it was trained, if it was loaded).
    pub fn train_seconds(&self) -> f64 {
        self.facts.train_seconds
    }

    /// The Gaussian of its features of the real test images.
    pub fn reference(&self) -> &Gaussian {
        &self.facts.reference
    }
}

/// Labels as the class indices `[n]` the cross-entropy loss takes.
fn class_indices(labels: &[u8], device: &Device) -> Tensor<1, Int> {
    let indices: Vec<i64> = labels.iter().map(|&l| i64::from(l)).collect();
    Tensor::from_data(TensorData::new(indices, [labels.len()]), device)
}

/// `(class, probability)` of the most probable class of each row of
/// `probabilities` (`classes` per image).
fn predictions(probabilities: &[f32], classes: usize) -> impl Iterator<Item = (usize, f32)> + '_ {
    probabilities.chunks_exact(classes).map(|row| {
        row.iter()
            .copied()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .expect("at least one class")
    })
}

#[cfg(test)]
mod tests;
