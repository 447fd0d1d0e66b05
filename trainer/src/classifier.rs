//! A small image classifier, used as a measuring instrument: how confidently
//! does a model trained on real images recognise *generated* ones? Plausible
//! samples get confident predictions; blurry superpositions of several
//! garments do not. The demo uses it to put a number on the difference
//! between a VAE's and a plain autoencoder's prior samples.

use burn::data::dataloader::batcher::Batcher;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::{relu, softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::batch::{ImageBatcher, batched, values};
use crate::data::{PIXELS, Split};
use crate::rng::Rng;

/// Hidden units of the classifier.
const HIDDEN: usize = 256;
/// Images per Adam step.
const BATCH: usize = 128;

/// 784 -> 256 ReLU -> classes.
#[derive(Module, Debug)]
pub struct Classifier {
    /// 784 -> 256.
    pub fc1: Linear,
    /// 256 -> classes.
    pub fc2: Linear,
}

impl Classifier {
    /// Images `[batch, 784]` in [0, 1] to class logits `[batch, classes]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.fc2.forward(relu(self.fc1.forward(x))) // [batch, classes]
    }
}

/// Batches labelled images: the images as [`ImageBatcher`] makes them, and
/// their labels as class indices `[batch]`.
#[derive(Debug, Clone, Copy)]
struct LabelledBatcher;

impl<'a> Batcher<(&'a [u8], u8), (Tensor<2>, Tensor<1, Int>)> for LabelledBatcher {
    fn batch(&self, items: Vec<(&'a [u8], u8)>, device: &Device) -> (Tensor<2>, Tensor<1, Int>) {
        let (images, labels): (Vec<&[u8]>, Vec<i64>) = items
            .into_iter()
            .map(|(image, label)| (image, i64::from(label)))
            .unzip();
        let targets = Tensor::from_data(TensorData::new(labels, [images.len()]), device);
        (ImageBatcher.batch(images, device), targets)
    }
}

/// Trains a classifier on `train` for `epochs` epochs (Adam, 1e-3) on
/// `device` (a CPU device; autodiff is added here).
pub fn train_classifier(train: &Split, epochs: usize, seed: u64, device: &Device) -> Classifier {
    let classes = train
        .labels
        .iter()
        .copied()
        .max()
        .map_or(1, |m| usize::from(m) + 1);
    let device = device.clone().autodiff();
    device.seed(seed);
    let mut model = Classifier {
        fc1: LinearConfig::new(PIXELS, HIDDEN).init(&device),
        fc2: LinearConfig::new(HIDDEN, classes).init(&device),
    };
    let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
    let loss = CrossEntropyLossConfig::new().init(&device);
    let mut rng = Rng::new(seed);
    for _ in 0..epochs {
        let order = rng.permutation(train.len());
        let items = order.into_iter().map(|i| (train.image(i), train.labels[i]));
        for (x, targets) in batched(items, BATCH, &LabelledBatcher, &device) {
            let logits = model.forward(x); // [batch, classes]
            let grads =
                GradientsParams::from_grads(loss.forward(logits, targets).backward(), &model);
            model = optim.step(1e-3, model, grads);
        }
    }
    model.valid()
}

/// What the classifier makes of a set of images.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// Mean over images of the largest class probability.
    pub confidence: f64,
    /// Fraction of images whose label is the predicted class (when labels
    /// are given).
    pub accuracy: Option<f64>,
}

/// The classifier's mean confidence on `pixels` (28x28 images, u8), and
/// its accuracy when `labels` are given.
pub fn judge(model: &Classifier, pixels: &[u8], labels: Option<&[u8]>) -> Verdict {
    let device = model.fc1.weight.val().device();
    let n = pixels.len() / PIXELS;
    let images = ImageBatcher.batch(pixels.chunks_exact(PIXELS).collect(), &device);
    let probs = softmax(model.forward(images), 1); // [n, classes]
    let classes = probs.dims()[1];
    let probs = values(probs);
    let (mut confidence, mut correct) = (0.0, 0usize);
    for (i, row) in probs.chunks(classes).enumerate() {
        let (best, p) = row
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .expect("at least one class");
        confidence += f64::from(*p);
        if labels.is_some_and(|l| usize::from(l[i]) == best) {
            correct += 1;
        }
    }
    Verdict {
        confidence: confidence / n.max(1) as f64,
        accuracy: labels.map(|_| correct as f64 / n.max(1) as f64),
    }
}
