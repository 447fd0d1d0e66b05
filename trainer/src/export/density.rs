//! The latent density the chip draws from: full-covariance Gaussian
//! mixtures fitted to the encoder's latents of the training images, one
//! mixture per class, weighted by how often each class occurs.
//!
//! A VAE's prior `N(0, I)` is only what the KL term pulls the encoder
//! towards; the latents real images occupy (the aggregate posterior) are
//! smaller, correlated and clustered, and `N(0, I)` draws that land between
//! the clusters decode to formless blends. Fitting a density to the
//! latents after training and drawing from it instead (ex-post density
//! estimation: Ghosh et al., "From Variational to Deterministic
//! Autoencoders", ICLR 2020; the second stage of Dai & Wipf, "Diagnosing
//! and Enhancing VAE Models", ICLR 2019) keeps the draws where the decoder
//! has learned to draw. Per class, so that a class draw picks among that
//! class's components only.
//!
//! Each component is stored as its mean and the lower-triangular Cholesky
//! factor `L` of its covariance (`cov = L L^T`), so the chip draws
//! `z = mu + L e` with `e ~ N(0, I)`. A covariance that is not numerically
//! positive definite is repaired with a growing multiple of the identity
//! (jitter) and refused if even that fails.

use linfa::DatasetBase;
use linfa::traits::Fit;
use linfa_clustering::GaussianMixtureModel;
use nalgebra::{Cholesky, DMatrix};
use ndarray::Array2;
use tinyvae_shared::write::{OwnedComponent, OwnedDensity};

use crate::data::Split;
use crate::model::Vae;

use super::ExportError;
use super::calibration::encode;

/// How the density is fitted; the defaults are what `tinyvae export` uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DensityOptions {
    /// Gaussian components per class (1: each class's latents' mean and
    /// covariance, no EM).
    pub components_per_class: usize,
    /// Multiplies every covariance by `temperature^2` (1: as fitted;
    /// below 1 draws closer to each component's mean, sharper and less
    /// varied).
    pub temperature: f64,
}

impl DensityOptions {
    /// Why these options cannot fit a density, if they cannot: checked
    /// before any work, so a bad flag fails at once.
    pub fn check(&self) -> Result<(), ExportError> {
        if self.components_per_class == 0 {
            return Err(ExportError::Density("0 components per class".into()));
        }
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(ExportError::Density(format!(
                "temperature {} is not positive",
                self.temperature
            )));
        }
        Ok(())
    }
}

impl Default for DensityOptions {
    fn default() -> Self {
        Self {
            components_per_class: DEFAULT_COMPONENTS_PER_CLASS,
            temperature: 1.0,
        }
    }
}

/// Components per class of `tinyvae export` (README.md, "What the chip
/// makes", compares the choices).
pub const DEFAULT_COMPONENTS_PER_CLASS: usize = 3;

/// EM stops when the lower bound moves less than this.
const EM_TOLERANCE: f64 = 1e-4;
/// EM gives up after this many iterations.
const EM_ITERATIONS: u64 = 300;
/// Added to every covariance's diagonal during EM (as scikit-learn's
/// `reg_covar`), so no component collapses onto a few points.
const EM_REGULARIZATION: f64 = 1e-6;
/// The largest jitter tried, relative to the covariance's mean variance.
const MAX_RELATIVE_JITTER: f64 = 1e-2;

/// Fits the density of `model`'s latents on `train` (the encoder's means
/// `mu(x)`, a conditional encoder given each image's label): per class,
/// `options.components_per_class` full-covariance Gaussians (fewer for a
/// class with too few images), weighted by the class's share of `train`.
pub fn fit_density(
    model: &Vae,
    train: &Split,
    options: &DensityOptions,
) -> Result<OwnedDensity, ExportError> {
    options.check()?;
    let latent = model.latent();
    // A conditional model's classes, even one the split happens to lack
    // (refused below with its count rather than as a mismatch later).
    let labels = train.labels.iter().max().map_or(0, |&m| usize::from(m) + 1);
    let classes = labels.max(model.classes());
    let (mu, _) = encode(model, train);
    let mut components = Vec::new();
    for class in 0..classes {
        let rows: Vec<&[f32]> = mu
            .chunks(latent)
            .zip(&train.labels)
            .filter(|&(_, &label)| usize::from(label) == class)
            .map(|(row, _)| row)
            .collect();
        if rows.len() < 2 {
            return Err(ExportError::Density(format!(
                "class {class} has {} training images; a density needs at least 2",
                rows.len()
            )));
        }
        let share = rows.len() as f64 / train.len() as f64;
        // Each component needs a few times its parameters' worth of points.
        let k = options
            .components_per_class
            .min((rows.len() / (4 * latent)).max(1));
        for (weight, mean, cov) in fit_class(&rows, latent, k, class)? {
            let cov = cov * (options.temperature * options.temperature);
            components.push(OwnedComponent {
                class: Some(class as u16),
                weight: share * weight,
                mean,
                scale_tril: cholesky_lower(&cov, class)?,
            });
        }
    }
    Ok(OwnedDensity {
        classes: classes as u16,
        components,
    })
}

/// One fitted Gaussian: its weight within the class, mean and covariance.
type Gaussian = (f64, Vec<f32>, DMatrix<f64>);

/// `k` Gaussians fitted to `rows` (each `latent` values).
fn fit_class(
    rows: &[&[f32]],
    latent: usize,
    k: usize,
    class: usize,
) -> Result<Vec<Gaussian>, ExportError> {
    let data = Array2::from_shape_fn((rows.len(), latent), |(i, d)| f64::from(rows[i][d]));
    if k == 1 {
        let n = rows.len() as f64;
        let mean = data.mean_axis(ndarray::Axis(0)).expect("at least 2 rows");
        let centered = &data - &mean;
        let cov = centered.t().dot(&centered) / (n - 1.0);
        let mean = mean.iter().map(|&m| m as f32).collect();
        let cov = DMatrix::from_fn(latent, latent, |i, j| cov[[i, j]]);
        return Ok(vec![(1.0, mean, cov)]);
    }
    let gmm = GaussianMixtureModel::params(k)
        .tolerance(EM_TOLERANCE)
        .max_n_iterations(EM_ITERATIONS)
        .reg_covariance(EM_REGULARIZATION)
        .fit(&DatasetBase::from(data))
        .map_err(|e| ExportError::Density(format!("class {class}: EM failed: {e}")))?;
    Ok((0..k)
        .map(|c| {
            let mean = gmm.means().row(c).iter().map(|&m| m as f32).collect();
            let cov = gmm.covariances().index_axis(ndarray::Axis(0), c);
            let cov = DMatrix::from_fn(latent, latent, |i, j| cov[[i, j]]);
            (gmm.weights()[c], mean, cov)
        })
        .collect())
}

/// The lower-triangular Cholesky factor of `cov`, rows of the lower
/// triangle (`L[i][0..=i]`) in order. A matrix that is not numerically
/// positive definite gets `jitter * I` added, the jitter growing tenfold
/// from `1e-8` up to [`MAX_RELATIVE_JITTER`] of its mean variance; beyond
/// that (or with a non-finite entry) it is refused.
pub fn cholesky_lower(cov: &DMatrix<f64>, class: usize) -> Result<Vec<f32>, ExportError> {
    let n = cov.nrows();
    let refuse = |why: &str| {
        ExportError::Density(format!(
            "class {class}: covariance is {why}; the encoder's latents may have collapsed"
        ))
    };
    if cov.iter().any(|v| !v.is_finite()) {
        return Err(refuse("not finite"));
    }
    let symmetric = (cov + cov.transpose()) * 0.5;
    let scale = (symmetric.trace() / n as f64).max(f64::MIN_POSITIVE);
    let mut jitter = 0.0;
    let factor = loop {
        let attempt = &symmetric + DMatrix::identity(n, n) * jitter;
        if let Some(c) = Cholesky::new(attempt) {
            break c.l();
        }
        jitter = if jitter == 0.0 {
            1e-8 * scale
        } else {
            jitter * 10.0
        };
        if jitter > MAX_RELATIVE_JITTER * scale {
            return Err(refuse("not positive definite"));
        }
    };
    Ok((0..n)
        .flat_map(|i| (0..=i).map(move |j| (i, j)))
        .map(|(i, j)| factor[(i, j)] as f32)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `L L^T` gives the covariance back, rows of the lower triangle in
    /// order.
    #[test]
    fn cholesky_rows_rebuild_the_covariance() {
        let cov = DMatrix::from_row_slice(3, 3, &[4.0, 2.0, 0.4, 2.0, 2.0, 0.5, 0.4, 0.5, 3.0]);
        let tril = cholesky_lower(&cov, 0).unwrap();
        assert_eq!(tril.len(), 6);
        assert_eq!(tril[0], 2.0); // sqrt(4)
        assert_eq!(tril[1], 1.0); // 2 / 2
        let mut l = DMatrix::zeros(3, 3);
        let mut at = 0;
        for i in 0..3 {
            for j in 0..=i {
                l[(i, j)] = f64::from(tril[at]);
                at += 1;
            }
        }
        let rebuilt = &l * l.transpose();
        assert!((rebuilt - cov).abs().max() < 1e-6);
    }

    /// A singular covariance (two identical dimensions) is repaired with a
    /// small jitter; a negative definite one is refused with a message.
    #[test]
    fn singular_covariances_are_repaired_and_indefinite_ones_refused() {
        let singular = DMatrix::from_row_slice(2, 2, &[1.0, 1.0, 1.0, 1.0]);
        let tril = cholesky_lower(&singular, 0).unwrap();
        assert!(tril[2] > 0.0 && tril[2] < 1e-2, "{tril:?}");
        let negative = DMatrix::from_row_slice(2, 2, &[1.0, 0.0, 0.0, -1.0]);
        let err = cholesky_lower(&negative, 7).unwrap_err().to_string();
        assert!(
            err.contains("class 7") && err.contains("positive definite"),
            "{err}"
        );
        let nan = DMatrix::from_row_slice(1, 1, &[f64::NAN]);
        assert!(cholesky_lower(&nan, 0).is_err());
    }

    /// One component per class is the class's sample mean and covariance;
    /// EM with two components separates two well-separated clusters.
    #[test]
    fn components_fit_their_clusters() {
        let mut rng = crate::rng::Rng::new(3);
        let points: Vec<Vec<f32>> = (0..400)
            .map(|i| {
                let centre = if i % 2 == 0 { -5.0 } else { 5.0 };
                vec![centre + rng.normals(1)[0], 2.0 * rng.normals(1)[0]]
            })
            .collect();
        let rows: Vec<&[f32]> = points.iter().map(|p| p.as_slice()).collect();
        let single = fit_class(&rows, 2, 1, 0).unwrap();
        assert!(single[0].1[0].abs() < 0.5, "{:?}", single[0].1);
        assert!((single[0].2[(0, 0)] - 26.0).abs() < 3.0, "{}", single[0].2);
        let mut two = fit_class(&rows, 2, 2, 0).unwrap();
        two.sort_by(|a, b| a.1[0].total_cmp(&b.1[0]));
        for ((weight, mean, cov), centre) in two.iter().zip([-5.0, 5.0]) {
            assert!((weight - 0.5).abs() < 0.05, "weight {weight}");
            assert!((mean[0] - centre).abs() < 0.3, "mean {mean:?}");
            assert!((cov[(0, 0)] - 1.0).abs() < 0.3, "variance {}", cov[(0, 0)]);
            assert!((cov[(1, 1)] - 4.0).abs() < 1.0, "variance {}", cov[(1, 1)]);
        }
    }
}
