//! Synthetic data shared by the trainer's tests.
#![allow(dead_code)] // each test binary uses its own subset

use tinyvae_trainer::data::{PIXELS, SIDE, Split};

/// `n` images of a bright rectangle at a pseudo-random place on a dark
/// ground, labelled `k % 10`.
pub fn shapes(n: usize, seed: usize) -> Split {
    let mut pixels = vec![0u8; n * PIXELS];
    for (k, img) in pixels.chunks_exact_mut(PIXELS).enumerate() {
        let h = (k * 7919 + seed * 104_729) % 1_000_003;
        let (x0, y0) = (2 + h % 14, 2 + (h / 14) % 14);
        let (w, hgt) = (4 + (h / 196) % 8, 4 + (h / 1568) % 8);
        for y in y0..(y0 + hgt).min(SIDE) {
            for x in x0..(x0 + w).min(SIDE) {
                img[y * SIDE + x] = 160 + ((x + y) % 4) as u8 * 30;
            }
        }
    }
    Split {
        pixels,
        labels: (0..n).map(|k| (k % 10) as u8).collect(),
        shape: tinyvae_trainer::data::ImageShape::MNIST,
    }
}

/// `n` images in 4 classes: class `k` is a bright square of jittered size and
/// position in quadrant `k`, so a trained encoder separates the classes.
pub fn quadrants(n: usize, seed: usize) -> Split {
    let mut pixels = vec![0u8; n * PIXELS];
    let mut labels = Vec::with_capacity(n);
    for (k, img) in pixels.chunks_exact_mut(PIXELS).enumerate() {
        let class = k % 4;
        let h = (k * 7919 + seed * 104_729) % 1_000_003;
        let size = 6 + h % 5;
        let (qx, qy) = ((class % 2) * 14, (class / 2) * 14);
        let (x0, y0) = (
            qx + 1 + (h / 5) % (13 - size),
            qy + 1 + (h / 65) % (13 - size),
        );
        for y in y0..y0 + size {
            for x in x0..x0 + size {
                img[y * SIDE + x] = 220;
            }
        }
        labels.push(class as u8);
    }
    Split {
        pixels,
        labels,
        shape: tinyvae_trainer::data::ImageShape::MNIST,
    }
}

/// `n` RGB images of 32x32 in 10 classes: a rectangle of the class's
/// colour at a pseudo-random place on a dark ground, labelled `k % 10`.
pub fn coloured(n: usize, seed: usize) -> Split {
    let shape = tinyvae_trainer::data::ImageShape {
        height: 32,
        width: 32,
        channels: 3,
    };
    let mut pixels = vec![0u8; n * shape.len()];
    for (k, img) in pixels.chunks_exact_mut(shape.len()).enumerate() {
        let class = k % 10;
        let colour = [
            [230, 40, 40],
            [40, 230, 40],
            [40, 40, 230],
            [230, 230, 40],
            [40, 230, 230],
            [230, 40, 230],
            [240, 240, 240],
            [230, 140, 40],
            [140, 40, 230],
            [120, 120, 120],
        ][class];
        let h = (k * 7919 + seed * 104_729) % 1_000_003;
        let (x0, y0) = (2 + h % 16, 2 + (h / 16) % 16);
        let (w, hgt) = (6 + (h / 256) % 8, 6 + (h / 2048) % 8);
        for y in y0..(y0 + hgt).min(32) {
            for x in x0..(x0 + w).min(32) {
                img[(y * 32 + x) * 3..(y * 32 + x + 1) * 3].copy_from_slice(&colour);
            }
        }
    }
    Split {
        pixels,
        labels: (0..n).map(|k| (k % 10) as u8).collect(),
        shape,
    }
}
