//! What the judge says of a set of images: how often it sees the class
//! each image was asked to be (overall and per class), how sure it is, how
//! the predicted classes spread (their histogram and its entropy), and how
//! far the images' features are from the real test images' (the Frechet
//! distance).

use serde::Serialize;

use super::frechet::{Gaussian, frechet_distance};
use super::{FEATURES, Judge, predictions};
use crate::data::PIXELS;

/// The judge's accuracy on the images asked to be one class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClassAccuracy {
    /// The class asked for.
    pub class: u8,
    /// Images asked to be it.
    pub count: usize,
    /// Fraction of them the judge classifies as it.
    pub accuracy: f64,
}

/// The judge's verdict on a set of images.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scores {
    /// Images judged.
    pub count: usize,
    /// Fraction of the images classified as the class they were asked to be
    /// (when classes were asked).
    pub accuracy: Option<f64>,
    /// The accuracy per class asked, in class order (empty when no class
    /// was asked).
    pub per_class: Vec<ClassAccuracy>,
    /// Mean over images of the largest class probability. Not a quality
    /// signal alone: a classifier can be sure of noise.
    pub confidence: f64,
    /// Images predicted as each of the judge's classes.
    pub predicted: Vec<usize>,
    /// Entropy of `predicted` as a distribution, in nats: ln(classes) when
    /// the classes are equally often predicted, 0 when one class takes all.
    pub entropy: f64,
    /// Frechet distance between the images' features and the real test
    /// images'.
    pub frechet: f64,
}

impl Scores {
    /// The class asked for whose images the judge recognises least often.
    pub fn worst_class(&self) -> Option<&ClassAccuracy> {
        self.per_class
            .iter()
            .min_by(|a, b| a.accuracy.total_cmp(&b.accuracy))
    }
}

/// The entropy in nats of the distribution whose counts are `histogram`
/// (0 for an empty one).
pub fn entropy_nats(histogram: &[usize]) -> f64 {
    let total: usize = histogram.iter().sum();
    histogram
        .iter()
        .filter(|&&count| count > 0)
        .map(|&count| {
            let p = count as f64 / total as f64;
            -p * p.ln()
        })
        .sum()
}

impl Judge {
    /// Judges `pixels` (28x28 u8 images, one after another, as the chip
    /// makes them), each asked to be the class at its index in `asked` when
    /// given (`asked` then has one label per image).
    pub fn score(&self, pixels: &[u8], asked: Option<&[u8]>) -> Scores {
        let count = pixels.len() / PIXELS;
        if let Some(asked) = asked {
            assert_eq!(asked.len(), count, "one asked label per image");
        }
        let outputs = self.outputs(pixels);
        let classes = self.classes();
        let mut predicted = vec![0; classes];
        let mut confidence = 0.0;
        // Per class asked: (images, recognised).
        let mut asked_counts = vec![(0usize, 0usize); 256];
        for (i, (class, p)) in predictions(&outputs.probabilities, classes).enumerate() {
            predicted[class] += 1;
            confidence += f64::from(p);
            if let Some(asked) = asked {
                let tally = &mut asked_counts[usize::from(asked[i])];
                tally.0 += 1;
                tally.1 += usize::from(usize::from(asked[i]) == class);
            }
        }
        let per_class: Vec<ClassAccuracy> = asked_counts
            .iter()
            .enumerate()
            .filter(|(_, (n, _))| *n > 0)
            .map(|(class, &(n, right))| ClassAccuracy {
                class: class as u8,
                count: n,
                accuracy: right as f64 / n as f64,
            })
            .collect();
        let recognised: usize = asked_counts.iter().map(|(_, right)| right).sum();
        Scores {
            count,
            accuracy: asked.map(|_| recognised as f64 / count.max(1) as f64),
            per_class,
            confidence: confidence / count.max(1) as f64,
            entropy: entropy_nats(&predicted),
            predicted,
            frechet: frechet_distance(
                &Gaussian::fit(&outputs.features, FEATURES),
                self.reference(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_of_known_histograms() {
        assert_eq!(entropy_nats(&[]), 0.0);
        assert_eq!(entropy_nats(&[0, 0]), 0.0);
        assert_eq!(entropy_nats(&[7, 0, 0]), 0.0);
        let uniform = entropy_nats(&[5; 10]);
        assert!((uniform - 10f64.ln()).abs() < 1e-12, "{uniform}");
        assert!((entropy_nats(&[3, 3, 0]) - 2f64.ln()).abs() < 1e-12);
        // p = (1/4, 3/4): -(1/4 ln 1/4 + 3/4 ln 3/4) = 0.5623351446...
        assert!((entropy_nats(&[1, 3]) - 0.562_335_144_6).abs() < 1e-9);
    }
}
