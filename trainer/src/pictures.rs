//! PNG pictures of a trained model: reconstructions, samples from the prior,
//! and the loss curve.

use std::path::{Path, PathBuf};

use burn::tensor::Tensor;
use burn::tensor::activation::sigmoid;
use plotters::prelude::*;

use crate::batch::images_tensor;
use crate::data::Split;
use crate::evaluation::EpochMetrics;
use crate::model::Vae;
use crate::rng::Rng;

mod grid;

pub use grid::{Canvas, Grid, PictureError};

/// Images per row of the grids.
const GRID_COLS: usize = 8;

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
    let shape = model.image.hwc();
    let pairs = reconstruction_rows(model, test, 4);
    Grid::new(&pairs, shape, GRID_COLS)?
        .title("test images over their reconstructions")
        .row_labels(["test", "recon"].repeat(4))
        .save(&recon)?;
    Grid::new(&prior_samples(model, 64, seed), shape, GRID_COLS)?
        .title("decoded z ~ N(0, I)")
        .save(&samples)?;
    loss_curve(&loss, metrics)?;
    Ok(vec![recon, samples, loss])
}

/// Pixel logits `[n, H*W*C]` to levels (the Bernoulli means).
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
    let class = model.one_hot(&inputs.labels, &device); // [n, classes]
    let (mu, _) = model.encode(images_tensor(&inputs, &device), class.clone());
    let recon = to_gray(model.decode_logits(Vae::decoder_input(mu, class))); // [n, H*W*C]
    let len = test.shape.len();
    let mut out = Vec::with_capacity(2 * n * len);
    for row in (0..n).step_by(GRID_COLS) {
        let end = (row + GRID_COLS).min(n);
        out.extend_from_slice(&inputs.pixels[row * len..end * len]);
        out.extend_from_slice(&recon[row * len..end * len]);
    }
    out
}

/// `count` images decoded from z ~ N(0, I); a conditional model's in rows
/// of one class each (row `r`: class `r % classes`).
fn prior_samples(model: &Vae, count: usize, seed: u64) -> Vec<u8> {
    let device = model.device();
    let z = Rng::new(seed ^ 0x5a3_91e5).noise(count, model.latent(), &device);
    let classes = model.classes().max(1);
    let labels: Vec<u8> = (0..count)
        .map(|i| (i / GRID_COLS % classes) as u8)
        .collect();
    let class = model.one_hot(&labels, &device);
    to_gray(model.decode_logits(Vae::decoder_input(z, class)))
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
    let (width, height) = (800, 500);
    let mut rgb = vec![0; width * height * 3];
    draw_curves(&mut rgb, (width, height), &train, &test, labelled).map_err(|e| failed(&e))?;
    Canvas::from_rgb(width, height, rgb)
        .expect("the buffer holds width x height RGB pixels")
        .save(path)
}

/// Draws the two curves into an RGB buffer of `size`.
fn draw_curves(
    rgb: &mut [u8],
    (width, height): (usize, usize),
    train: &[(f64, f64)],
    test: &[(f64, f64)],
    labelled: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let values = train.iter().chain(test).map(|&(_, v)| v);
    let lo = values.clone().fold(f64::INFINITY, f64::min);
    let hi = values.fold(f64::NEG_INFINITY, f64::max);
    let margin = ((hi - lo) * 0.05).max(0.5);
    let epochs = train.len().max(2) as f64;
    let root = BitMapBackend::with_buffer(rgb, (width as u32, height as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(15);
    if labelled {
        builder
            .caption("VAE loss (nats/image)", ("sans-serif", 24))
            .x_label_area_size(40)
            .y_label_area_size(60);
    }
    let mut chart = builder.build_cartesian_2d(1.0..epochs, (lo - margin)..(hi + margin))?;
    let mut mesh = chart.configure_mesh();
    if labelled {
        mesh.x_desc("epoch").y_desc("nats / image");
    } else {
        mesh.disable_x_axis().disable_y_axis();
    }
    mesh.draw()?;
    let series = [
        (train, BLUE, "train loss (BCE + beta KL)"),
        (test, RED, "test NELBO"),
    ];
    for (points, color, label) in series {
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
        let drawn = chart.draw_series(LineSeries::new(
            points.iter().copied(),
            color.stroke_width(2),
        ))?;
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
            .draw()?;
    }
    root.present()?;
    Ok(())
}
