//! Gaussians of feature vectors and the Frechet distance between two of
//! them (FID's formula):
//!
//! `FD = |mu1 - mu2|^2 + Tr(C1 + C2 - 2 (C1^(1/2) C2 C1^(1/2))^(1/2))`
//!
//! in f64. Both square roots are of symmetric positive semi-definite
//! matrices, so a symmetric eigendecomposition (nalgebra's
//! [`SymmetricEigen`]) takes them, with eigenvalues that rounding made
//! slightly negative clamped to 0; no general matrix square root is needed.

use nalgebra::{DMatrix, DVector, SymmetricEigen};
use serde::{Deserialize, Serialize};

/// A Gaussian in `dim` dimensions: a mean and a covariance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Gaussian {
    /// `dim` values.
    pub mean: Vec<f64>,
    /// `dim * dim` values, row-major, symmetric.
    pub covariance: Vec<f64>,
}

impl Gaussian {
    /// The sample mean and covariance (unbiased: divided by `n - 1`) of
    /// `rows`, `dim` values per row. Fewer than two rows give a zero
    /// covariance (and no rows a zero mean).
    pub fn fit(rows: &[f32], dim: usize) -> Self {
        let n = rows.len() / dim.max(1);
        let data = DMatrix::from_row_iterator(n, dim, rows.iter().map(|&v| f64::from(v))); // [n, dim]
        let mean: DVector<f64> = if n == 0 {
            DVector::zeros(dim)
        } else {
            data.row_mean().transpose() // [dim]
        };
        let mean_row = mean.transpose(); // [1, dim]
        let mut centred = data; // [n, dim]
        for mut row in centred.row_iter_mut() {
            row -= &mean_row;
        }
        let covariance = centred.transpose() * &centred / (n.max(2) - 1) as f64; // [dim, dim]
        Self {
            mean: mean.as_slice().to_vec(),
            covariance: covariance.transpose().as_slice().to_vec(),
        }
    }

    /// Dimensions.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Its values as bytes: `dim` (u64), the mean, the covariance, each
    /// value an f64, all little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = (self.dim() as u64).to_le_bytes().to_vec();
        for value in self.mean.iter().chain(&self.covariance) {
            bytes.extend(value.to_le_bytes());
        }
        bytes
    }

    /// The Gaussian at the start of `bytes` (as [`Gaussian::to_bytes`]
    /// writes it) and the bytes after it, or `None` when they end first.
    pub fn from_bytes(bytes: &[u8]) -> Option<(Self, &[u8])> {
        let (dim, mut rest) = bytes.split_first_chunk::<8>()?;
        let dim = usize::try_from(u64::from_le_bytes(*dim)).ok()?;
        let values = dim.checked_mul(dim)?.checked_add(dim)?;
        if rest.len() / 8 < values {
            return None;
        }
        let mut next = || {
            let (value, tail) = rest.split_first_chunk::<8>().expect("length checked");
            rest = tail;
            f64::from_le_bytes(*value)
        };
        let mean = (0..dim).map(|_| next()).collect();
        let covariance = (0..dim * dim).map(|_| next()).collect();
        Some((Self { mean, covariance }, rest))
    }

    fn covariance_matrix(&self) -> DMatrix<f64> {
        DMatrix::from_row_slice(self.dim(), self.dim(), &self.covariance)
    }
}

/// The Frechet distance between `a` and `b` (of the same dimension), at
/// least 0.
pub fn frechet_distance(a: &Gaussian, b: &Gaussian) -> f64 {
    assert_eq!(a.dim(), b.dim(), "Gaussians of different dimensions");
    let mean_term: f64 = a
        .mean
        .iter()
        .zip(&b.mean)
        .map(|(x, y)| (x - y).powi(2))
        .sum();
    let (c1, c2) = (a.covariance_matrix(), b.covariance_matrix());
    let root1 = psd_sqrt(&c1); // C1^(1/2)
    let inner = &root1 * &c2 * &root1; // [dim, dim], symmetric PSD
    let cross: f64 = psd_eigenvalues(&inner).iter().map(|&l| l.sqrt()).sum(); // Tr(inner^(1/2))
    // Non-negative in exact arithmetic; rounding can push a distance of ~0
    // just below.
    (mean_term + c1.trace() + c2.trace() - 2.0 * cross).max(0.0)
}

/// The eigenvalues of the symmetric positive semi-definite `m` (its
/// symmetric part, against rounding), negatives clamped to 0.
fn psd_eigenvalues(m: &DMatrix<f64>) -> DVector<f64> {
    let symmetric = (m + m.transpose()) * 0.5;
    symmetric.symmetric_eigenvalues().map(|l| l.max(0.0))
}

/// The square root of the symmetric positive semi-definite `m`:
/// `V diag(sqrt(max(l, 0))) V^T` from its eigendecomposition.
fn psd_sqrt(m: &DMatrix<f64>) -> DMatrix<f64> {
    let symmetric = (m + m.transpose()) * 0.5;
    let eigen = SymmetricEigen::new(symmetric);
    let roots = eigen.eigenvalues.map(|l| l.max(0.0).sqrt());
    let v = &eigen.eigenvectors; // [dim, dim], orthonormal columns
    v * DMatrix::from_diagonal(&roots) * v.transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Gaussian with the given mean and diagonal covariance.
    fn diagonal(mean: &[f64], variances: &[f64]) -> Gaussian {
        let covariance = DMatrix::from_diagonal(&DVector::from_row_slice(variances));
        Gaussian {
            mean: mean.to_vec(),
            covariance: covariance.as_slice().to_vec(),
        }
    }

    /// 500 rows of 6 correlated, uneven features (a deterministic mix).
    fn sample() -> Vec<f32> {
        let mut rng = crate::rng::Rng::new(5);
        let base = rng.normals(500 * 3);
        base.chunks_exact(3)
            .flat_map(|r| {
                [
                    r[0],
                    2.0 * r[0] + r[1],
                    0.1 * r[2],
                    r[1] - r[2] + 3.0,
                    0.0,
                    r[0] * 0.5 - 1.0,
                ]
            })
            .collect()
    }

    #[test]
    fn a_sample_is_at_distance_zero_from_itself() {
        let g = Gaussian::fit(&sample(), 6);
        let fd = frechet_distance(&g, &g);
        // A rank-deficient covariance (a constant feature): the clamped
        // eigenvalues keep the distance at rounding level.
        assert!(fd.abs() < 1e-6, "{fd}");
    }

    #[test]
    fn bytes_round_trip_bit_for_bit() {
        let g = Gaussian::fit(&sample(), 6);
        let mut bytes = g.to_bytes();
        assert_eq!(bytes.len(), 8 + 8 * (6 + 36));
        bytes.push(9);
        let (back, rest) = Gaussian::from_bytes(&bytes).unwrap();
        assert_eq!(back, g);
        assert_eq!(rest, [9]);
        assert!(Gaussian::from_bytes(&bytes[..bytes.len() - 2]).is_none());
        assert!(Gaussian::from_bytes(&u64::MAX.to_le_bytes()).is_none());
    }

    #[test]
    fn fit_gives_the_sample_mean_and_unbiased_covariance() {
        let rows = [1.0, 2.0, 3.0, 6.0, 5.0, 10.0]; // 3 rows of 2
        let g = Gaussian::fit(&rows, 2);
        assert_eq!(g.mean, [3.0, 6.0]);
        // x: -2, 0, 2; y: -4, 0, 4: var x 4, var y 16, cov 8 (over n - 1).
        assert_eq!(g.covariance, [4.0, 8.0, 8.0, 16.0]);
        let single = Gaussian::fit(&[1.0, 2.0], 2);
        assert_eq!(single.covariance, [0.0; 4]);
    }

    /// Diagonal covariances commute: FD = |dmu|^2 + sum (sqrt(a) - sqrt(b))^2.
    #[test]
    fn diagonal_gaussians_match_the_closed_form() {
        let (a_var, b_var) = ([1.0, 4.0, 0.25, 9.0, 0.0], [2.0, 1.0, 0.25, 16.0, 3.0]);
        let a = diagonal(&[0.0, 1.0, 2.0, -1.0, 0.5], &a_var);
        let b = diagonal(&[1.0, 1.0, 0.0, 2.0, 0.5], &b_var);
        let mean_term = 1.0 + 0.0 + 4.0 + 9.0 + 0.0;
        let cov_term: f64 = a_var
            .iter()
            .zip(&b_var)
            .map(|(x, y): (&f64, &f64)| (x.sqrt() - y.sqrt()).powi(2))
            .sum();
        let fd = frechet_distance(&a, &b);
        assert!((fd - (mean_term + cov_term)).abs() < 1e-9, "{fd}");
        assert!((frechet_distance(&b, &a) - fd).abs() < 1e-9);
    }

    /// Non-commuting covariances, worked by hand: C1 = [[2, 1], [1, 2]]
    /// (eigenvalues 3 and 1, so C1^(1/2) = [[s, t], [t, s]] with
    /// s = (sqrt 3 + 1) / 2, t = (sqrt 3 - 1) / 2) and C2 = diag(1, 4).
    /// C1^(1/2) C2 C1^(1/2) = [[s^2 + 4t^2, 5st], [5st, t^2 + 4s^2]], whose
    /// trace is 5(s^2 + t^2) = 10 and determinant
    /// (s^2 + 4t^2)(t^2 + 4s^2) - 25 s^2 t^2 = 4 (s^2 - t^2)^2 = 12, so the
    /// trace of its square root is sqrt(10 + 2 sqrt 12). Means (0, 0) and
    /// (1, 2): FD = 5 + (4 + 5) - 2 sqrt(10 + 4 sqrt 3) = 5.7712...
    #[test]
    fn non_diagonal_gaussians_match_a_hand_computed_value() {
        let a = Gaussian {
            mean: vec![0.0, 0.0],
            covariance: vec![2.0, 1.0, 1.0, 2.0],
        };
        let b = diagonal(&[1.0, 2.0], &[1.0, 4.0]);
        let expected = 14.0 - 2.0 * (10.0 + 4.0 * 3f64.sqrt()).sqrt();
        let fd = frechet_distance(&a, &b);
        assert!((fd - expected).abs() < 1e-9, "{fd} vs {expected}");
        assert!((frechet_distance(&b, &a) - expected).abs() < 1e-9);
    }
}
