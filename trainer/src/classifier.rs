//! A small image classifier, used as a measuring instrument: how confidently
//! does a model trained on real images recognise *generated* ones? Plausible
//! samples get confident predictions; blurry superpositions of several
//! garments do not. The demo uses it to put a number on the difference
//! between a VAE's and a plain autoencoder's prior samples.

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::{relu, softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::data::{PIXELS, Split};
use crate::training::{Rng, images_tensor};

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
        for batch in rng.permutation(train.len()).chunks(BATCH) {
            let chunk = Split {
                pixels: batch
                    .iter()
                    .flat_map(|&i| &train.pixels[i * PIXELS..(i + 1) * PIXELS])
                    .copied()
                    .collect(),
                labels: batch.iter().map(|&i| train.labels[i]).collect(),
            };
            let targets = Tensor::<1, Int>::from_data(
                TensorData::new(
                    chunk.labels.iter().map(|&l| i64::from(l)).collect(),
                    [chunk.len()],
                ),
                &device,
            );
            let logits = model.forward(images_tensor(&chunk, &device)); // [batch, classes]
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
    let split = Split {
        pixels: pixels.to_vec(),
        labels: vec![0; n],
    };
    let probs = softmax(model.forward(images_tensor(&split, &device)), 1); // [n, classes]
    let classes = probs.dims()[1];
    let values = probs
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 tensor data");
    let (mut confidence, mut correct) = (0.0, 0usize);
    for (i, row) in values.chunks(classes).enumerate() {
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
