//! Matrix products on host memory through the `gemm` crate (the kernels
//! burn-flex itself calls), for the custom autodiff operations of the conv
//! model ([`crate::linear`], [`crate::conv`]).
//!
//! Calling `gemm` directly saves what a product costs around the kernel
//! when it goes through burn-flex's tensor operation: flex allocates its
//! output as bytes and copies them once more to align them, and zeroes
//! outputs it then overwrites (together a tenth of a conv training step);
//! and either operand may be read transposed in place, so a backward pass
//! never materialises a transpose.

use rayon::prelude::*;

/// A matrix in memory: `rows x cols`, element `(i, j)` at `i * row_stride
/// + j * col_stride`.
#[derive(Debug, Clone, Copy)]
pub struct Matrix<'a> {
    /// The numbers.
    pub data: &'a [f32],
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Distance between rows.
    pub row_stride: usize,
    /// Distance between columns.
    pub col_stride: usize,
}

impl<'a> Matrix<'a> {
    /// A row-major `rows x cols` matrix.
    pub fn rows(data: &'a [f32], rows: usize, cols: usize) -> Self {
        assert_eq!(data.len(), rows * cols, "a {rows}x{cols} matrix");
        Matrix {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The same numbers read transposed.
    pub fn t(self) -> Self {
        Matrix {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }
}

/// `lhs * rhs` as a new row-major matrix, `bias` (one value per column)
/// added to every row when given. Runs on the rayon pool when the product
/// is large enough for `gemm` to split it.
pub fn product(lhs: Matrix<'_>, rhs: Matrix<'_>, bias: Option<&[f32]>) -> Vec<f32> {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(rhs.rows, k, "inner dimensions");
    let mut out = match bias {
        Some(bias) => {
            assert_eq!(bias.len(), n, "one bias per column");
            let mut out = vec![0.0f32; m * n];
            out.par_chunks_mut(n.max(1))
                .with_min_len(64)
                .for_each(|row| row.copy_from_slice(bias));
            out
        }
        // gemm overwrites every element (read_dst is false below), so the
        // buffer is not zeroed first; with k = 0 the product is zero.
        None if k == 0 => vec![0.0f32; m * n],
        None => Vec::with_capacity(m * n),
    };
    if m == 0 || n == 0 || k == 0 {
        return out;
    }
    // Every element the strides reach lies inside the slices.
    let last = |a: &Matrix<'_>| (a.rows - 1) * a.row_stride + (a.cols - 1) * a.col_stride;
    assert!(last(&lhs) < lhs.data.len() && last(&rhs) < rhs.data.len());
    // SAFETY: dst is `m x n` row-major in `out`'s allocation (its capacity
    // is m * n), and gemm writes every element of it before `set_len`
    // (reading them first only when the bias filled them); lhs and rhs are
    // read through their strides, checked above to stay inside their
    // slices; the three do not overlap (out is fresh).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            bias.is_some(),
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::Rayon(0),
        );
        out.set_len(m * n);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn naive(lhs: Matrix<'_>, rhs: Matrix<'_>) -> Vec<f32> {
        let at = |a: &Matrix<'_>, i: usize, j: usize| a.data[i * a.row_stride + j * a.col_stride];
        let mut out = Vec::new();
        for i in 0..lhs.rows {
            for j in 0..rhs.cols {
                out.push((0..lhs.cols).map(|k| at(&lhs, i, k) * at(&rhs, k, j)).sum());
            }
        }
        out
    }

    /// Every combination of plain and transposed operands, with and
    /// without a bias, equals the textbook product.
    #[test]
    fn products_of_transposed_operands() {
        let mut rng = Rng::new(5);
        let mut random =
            |n: usize| -> Vec<f32> { (0..n).map(|_| rng.uniform() as f32 - 0.5).collect() };
        let (m, k, n) = (7, 33, 5);
        let (a, at, b, bt) = (random(m * k), random(k * m), random(k * n), random(n * k));
        let bias = random(n);
        for lhs in [Matrix::rows(&a, m, k), Matrix::rows(&at, k, m).t()] {
            for rhs in [Matrix::rows(&b, k, n), Matrix::rows(&bt, n, k).t()] {
                let want = naive(lhs, rhs);
                let got = product(lhs, rhs, None);
                let with_bias = product(lhs, rhs, Some(&bias));
                for (i, w) in want.iter().enumerate() {
                    assert!((got[i] - w).abs() < 1e-5, "{i}: {} vs {w}", got[i]);
                    assert!(
                        (with_bias[i] - w - bias[i % n]).abs() < 1e-5,
                        "{i} with bias"
                    );
                }
            }
        }
    }
}
