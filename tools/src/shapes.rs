//! A small labelled RGB data set, drawn here: coloured shapes on a noisy
//! dark ground, 32x32, written as an image folder (`DIR/train/<class>/N.png`
//! and `DIR/test/<class>/N.png`), so that the folder path from your own
//! pictures to the chip can be tried (and tested) without any download.
//! Each class is a shape of one colour; size, place and shade vary.

use std::path::Path;

use anyhow::{Context, Result};
use tinyvae_shared::splitmix::SplitMix64;
use tinyvae_trainer::pictures::Canvas;

/// Side of every image.
pub const SIDE: usize = 32;

/// The classes: folder names, each a colour and a shape.
pub const CLASSES: [&str; 6] = [
    "red-circle",
    "green-square",
    "blue-triangle",
    "yellow-diamond",
    "cyan-cross",
    "magenta-ring",
];

/// Each class's colour.
const COLOURS: [[u8; 3]; 6] = [
    [220, 50, 50],
    [50, 200, 70],
    [60, 90, 230],
    [230, 210, 50],
    [50, 210, 220],
    [210, 60, 210],
];

/// Writes `train` and `test` images per class into `dir` (created if
/// needed), drawn from `seed`.
pub fn write_shapes(dir: &Path, train: usize, test: usize, seed: u64) -> Result<()> {
    let mut rng = SplitMix64::new(seed);
    for (split, per_class) in [("train", train), ("test", test)] {
        for (class, name) in CLASSES.iter().enumerate() {
            let folder = dir.join(split).join(name);
            std::fs::create_dir_all(&folder)
                .with_context(|| format!("creating {}", folder.display()))?;
            for i in 0..per_class {
                let pixels = draw(class, &mut rng);
                let canvas = Canvas::from_rgb(SIDE, SIDE, pixels).expect("32x32 RGB");
                canvas.save(&folder.join(format!("{i}.png")))?;
            }
        }
    }
    Ok(())
}

/// One image of `class`: HWC RGB bytes.
pub fn draw(class: usize, rng: &mut SplitMix64) -> Vec<u8> {
    let mut uniform = |lo: i32, hi: i32| lo + rng.below((hi - lo + 1) as u64) as i32;
    let (cx, cy, r) = (uniform(11, 20), uniform(11, 20), uniform(6, 10));
    let shade = uniform(-30, 30);
    let colour = COLOURS[class].map(|c| (i32::from(c) + shade).clamp(0, 255) as u8);
    let mut pixels = Vec::with_capacity(SIDE * SIDE * 3);
    for y in 0..SIDE as i32 {
        for x in 0..SIDE as i32 {
            let (dx, dy) = (x - cx, y - cy);
            if inside(class, dx, dy, r) {
                pixels.extend_from_slice(&colour);
            } else {
                let ground = uniform(10, 35) as u8;
                pixels.extend_from_slice(&[ground, ground, ground + 5]);
            }
        }
    }
    pixels
}

/// Whether offset `(dx, dy)` from the centre is inside `class`'s shape of
/// size `r`.
fn inside(class: usize, dx: i32, dy: i32, r: i32) -> bool {
    let d2 = dx * dx + dy * dy;
    match class {
        0 => d2 <= r * r,
        1 => dx.abs() * 5 <= r * 4 && dy.abs() * 5 <= r * 4,
        // Apex at the top, base at the bottom.
        2 => (-r..=r).contains(&dy) && 2 * dx.abs() <= dy + r,
        3 => dx.abs() + dy.abs() <= r,
        4 => (dx.abs() * 3 <= r && dy.abs() <= r) || (dy.abs() * 3 <= r && dx.abs() <= r),
        _ => d2 <= r * r && d2 * 100 >= r * r * 30,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_class_draws_its_colour_and_shapes_differ() {
        let mut rng = SplitMix64::new(1);
        let images: Vec<Vec<u8>> = (0..CLASSES.len()).map(|c| draw(c, &mut rng)).collect();
        for (class, image) in images.iter().enumerate() {
            assert_eq!(image.len(), SIDE * SIDE * 3);
            // The brightest channel of the shape's pixels is the colour's.
            let lit = image
                .chunks_exact(3)
                .filter(|p| p.iter().any(|&v| v > 100))
                .count();
            assert!(lit > 20, "class {class}: {lit} lit pixels");
        }
        let centre = |dx, dy| (0..6).map(|c| inside(c, dx, dy, 8)).collect::<Vec<_>>();
        // The centre is inside every shape but the ring.
        assert_eq!(centre(0, 0), [true, true, true, true, true, false]);
        // An upper corner of the square only.
        assert_eq!(centre(6, -6), [false, true, false, false, false, false]);
    }

    #[test]
    fn the_folder_has_every_class_in_both_splits() {
        let dir = tempfile::tempdir().unwrap();
        write_shapes(dir.path(), 2, 1, 7).unwrap();
        for split in ["train", "test"] {
            for name in CLASSES {
                let n = std::fs::read_dir(dir.path().join(split).join(name))
                    .unwrap()
                    .count();
                assert_eq!(n, if split == "train" { 2 } else { 1 });
            }
        }
    }
}
