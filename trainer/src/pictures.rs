//! PNG pictures of a trained model: reconstructions, samples from the prior,
//! and the loss curve.

use std::path::{Path, PathBuf};

use burn::tensor::Tensor;
use burn::tensor::activation::sigmoid;
use plotters::prelude::*;

use crate::batch::images_tensor;
use crate::data::{PIXELS, SIDE, Split};
use crate::evaluation::EpochMetrics;
use crate::model::Vae;
use crate::rng::Rng;

/// Images per row of the grids.
const GRID_COLS: usize = 8;
/// Pixels between images.
const GRID_PAD: usize = 2;
/// Each image pixel becomes SCALE x SCALE picture pixels.
const SCALE: usize = 3;

/// Errors writing pictures.
#[derive(Debug, thiserror::Error)]
pub enum PictureError {
    /// Encoding or writing a PNG failed.
    #[error("{path}: {reason}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Writes `reconstructions.png` (rows of test images, each over its
/// reconstruction), `samples.png` (decoded z ~ N(0, I)) and `loss.png` into
/// `out`; returns their paths.
pub fn write_pictures(
    out: &Path,
    model: &Vae,
    test: &Split,
    metrics: &[EpochMetrics],
    seed: u64,
) -> Result<Vec<PathBuf>, PictureError> {
    let recon = out.join("reconstructions.png");
    let samples = out.join("samples.png");
    let loss = out.join("loss.png");
    save_grid(&recon, &reconstruction_rows(model, test, 4), GRID_COLS)?;
    save_grid(&samples, &prior_samples(model, 64, seed), GRID_COLS)?;
    loss_curve(&loss, metrics)?;
    Ok(vec![recon, samples, loss])
}

/// Pixel logits `[n, 784]` to gray levels (the Bernoulli means).
pub fn to_gray(logits: Tensor<2>) -> Vec<u8> {
    sigmoid(logits)
        .into_data()
        .try_into_vec::<f32>()
        .expect("float tensor")
        .into_iter()
        .map(|p| (p * 255.0).round().clamp(0.0, 255.0) as u8)
        .collect()
}

/// `pairs` x 8 test images: a row of inputs, then a row of their
/// reconstructions (decoded posterior means), and so on.
fn reconstruction_rows(model: &Vae, test: &Split, pairs: usize) -> Vec<u8> {
    let n = (pairs * GRID_COLS).min(test.len());
    let device = model.device();
    let inputs = test.clone().truncated(n);
    let (mu, _) = model.encode(images_tensor(&inputs, &device));
    let recon = to_gray(model.decode_logits(mu)); // [n, 784]
    let mut out = Vec::with_capacity(2 * n * PIXELS);
    for row in (0..n).step_by(GRID_COLS) {
        let end = (row + GRID_COLS).min(n);
        out.extend_from_slice(&inputs.pixels[row * PIXELS..end * PIXELS]);
        out.extend_from_slice(&recon[row * PIXELS..end * PIXELS]);
    }
    out
}

/// `count` images decoded from z ~ N(0, I).
fn prior_samples(model: &Vae, count: usize, seed: u64) -> Vec<u8> {
    let device = model.device();
    let z = Rng::new(seed ^ 0x5a3_91e5).noise(count, model.latent(), &device);
    to_gray(model.decode_logits(z))
}

/// Writes 28x28 gray images (`pixels.len() / 784` of them) as a PNG grid with
/// `cols` images per row, on a white background.
pub fn save_grid(path: &Path, pixels: &[u8], cols: usize) -> Result<(), PictureError> {
    let n = pixels.len() / PIXELS;
    let rows = n.div_ceil(cols).max(1);
    let cell = SIDE * SCALE + GRID_PAD;
    let (width, height) = (cols * cell + GRID_PAD, rows * cell + GRID_PAD);
    let mut canvas = image::GrayImage::from_pixel(width as u32, height as u32, image::Luma([255]));
    for (k, img) in pixels.chunks_exact(PIXELS).enumerate() {
        let (x0, y0) = (GRID_PAD + (k % cols) * cell, GRID_PAD + (k / cols) * cell);
        for (i, &value) in img.iter().enumerate() {
            for dy in 0..SCALE {
                for dx in 0..SCALE {
                    let x = x0 + (i % SIDE) * SCALE + dx;
                    let y = y0 + (i / SIDE) * SCALE + dy;
                    canvas.put_pixel(x as u32, y as u32, image::Luma([value]));
                }
            }
        }
    }
    canvas.save(path).map_err(|err| PictureError::Write {
        path: path.to_owned(),
        reason: err.to_string(),
    })
}

/// Registers a system sans-serif font for plot labels; false if none found.
fn register_font() -> bool {
    const CANDIDATES: &[&str] = &[
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
        "/System/Library/Fonts/Supplemental/Arial.ttf",
        "C:\\Windows\\Fonts\\arial.ttf",
    ];
    CANDIDATES.iter().any(|path| {
        std::fs::read(path).is_ok_and(|bytes| {
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes.leak()).is_ok()
        })
    })
}

/// Plots training loss and test NELBO (nats/image) per epoch. Axis labels
/// need a system TrueType font (DejaVu Sans or similar); without one the
/// curves are drawn unlabelled.
pub fn loss_curve(path: &Path, metrics: &[EpochMetrics]) -> Result<(), PictureError> {
    let failed = |err: &dyn std::fmt::Display| PictureError::Write {
        path: path.to_owned(),
        reason: err.to_string(),
    };
    let labelled = register_font();
    let train: Vec<(f64, f64)> = metrics
        .iter()
        .map(|m| (m.epoch as f64, m.train_loss))
        .collect();
    let test: Vec<(f64, f64)> = metrics
        .iter()
        .map(|m| (m.epoch as f64, m.test.nelbo))
        .collect();
    let values = train.iter().chain(&test).map(|&(_, v)| v);
    let lo = values.clone().fold(f64::INFINITY, f64::min);
    let hi = values.fold(f64::NEG_INFINITY, f64::max);
    let margin = ((hi - lo) * 0.05).max(0.5);
    let epochs = metrics.len().max(2) as f64;

    let root = BitMapBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| failed(&e))?;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(15);
    if labelled {
        builder
            .caption("VAE loss (nats/image)", ("sans-serif", 24))
            .x_label_area_size(40)
            .y_label_area_size(60);
    }
    let mut chart = builder
        .build_cartesian_2d(1.0..epochs, (lo - margin)..(hi + margin))
        .map_err(|e| failed(&e))?;
    let mut mesh = chart.configure_mesh();
    if labelled {
        mesh.x_desc("epoch").y_desc("nats / image");
    } else {
        mesh.disable_x_axis().disable_y_axis();
    }
    mesh.draw().map_err(|e| failed(&e))?;
    let series = [
        (train, BLUE, "train loss (BCE + beta KL)"),
        (test, RED, "test NELBO"),
    ];
    for (points, color, label) in series {
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(|e| failed(&e))?;
        let drawn = chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| failed(&e))?;
        if labelled {
            drawn
                .label(label)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color));
        }
    }
    if labelled {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| failed(&e))?;
    }
    root.present().map_err(|e| failed(&e))
}
