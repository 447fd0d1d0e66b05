//! Judging a blob's samples (`tinyvae score`, `tinyvae demo`): the kinds of
//! draw scored, their pooled images, and the judge of a data set from the
//! user's cache (`tinyvae_trainer::judge`).

use std::path::Path;

use anyhow::{Result, anyhow};
use tinyvae_shared::splitmix::SplitMix64;
use tinyvae_shared::{Draw, Model};
use tinyvae_trainer::backend::Backend;
use tinyvae_trainer::data::{DataSet, PIXELS, SIDE};
use tinyvae_trainer::judge::{Cached, Origin, Recipe, load_or_train};

use crate::cache::cache_home;
use crate::fail::bad_input;
use crate::generate::host_images;

/// A kind of draw scored as one row: its name and its parts, each a draw
/// with the class it asks for (the images of all parts are pooled).
#[derive(Debug, Clone, PartialEq)]
pub struct DrawKind {
    /// The row's name.
    pub name: &'static str,
    /// The draws, each with the class its images are asked to be.
    pub parts: Vec<(Draw, Option<u16>)>,
}

/// The kinds of draw `score` judges, one row each, in order: every way the
/// chip can be asked for images of the data (a new kind of draw is one more
/// entry here). Kinds the blob cannot draw (fitted draws of a blob without
/// a latent density, class draws of a blob without classes) are left out.
pub fn score_draws(model: &Model<'_>) -> Vec<DrawKind> {
    let kinds = vec![
        DrawKind {
            name: "prior N(0, I)",
            parts: vec![(Draw::Prior, None)],
        },
        DrawKind {
            name: "fitted density",
            parts: model
                .density()
                .map(|_| (Draw::Fitted, None))
                .into_iter()
                .collect(),
        },
        DrawKind {
            name: "class draws",
            parts: (0..model.classes())
                .map(|k| (Draw::Class(k), Some(k)))
                .collect(),
        },
    ];
    kinds.into_iter().filter(|k| !k.parts.is_empty()).collect()
}

/// `kind`'s images (`count` in all, split evenly over its parts, part `i`
/// drawn with seed `seed + i`) and, when its parts ask for classes, the
/// class each image is asked to be. `done` hears of each part's images.
pub fn kind_images(
    model: &Model<'_>,
    kind: &DrawKind,
    seed: u64,
    count: u32,
    mut done: impl FnMut(u32),
) -> Result<(Vec<u8>, Option<Vec<u8>>)> {
    let parts = kind.parts.len() as u32;
    let mut pixels = Vec::with_capacity(count as usize * PIXELS);
    let mut asked = Vec::with_capacity(count as usize);
    for (i, &(draw, class)) in kind.parts.iter().enumerate() {
        let n = count / parts + u32::from((i as u32) < count % parts);
        pixels.extend(host_images(model, seed.wrapping_add(i as u64), n, draw)?);
        if let Some(class) = class {
            let label = u8::try_from(class).map_err(|_| {
                bad_input(anyhow!(
                    "class {class}: the judge tells at most 256 classes apart"
                ))
            })?;
            asked.extend(std::iter::repeat_n(label, n as usize));
        }
        done(n);
    }
    let asks = kind.parts.iter().any(|(_, class)| class.is_some());
    Ok((pixels, asks.then_some(asked)))
}

/// The judge for `data`, from `dir` (default: the cache's `judge/`),
/// trained first when it is not there; says on stderr where it came from.
pub fn load_judge(data: &DataSet, dir: Option<&Path>) -> Result<Cached> {
    let dir = match dir {
        Some(dir) => dir.to_owned(),
        None => cache_home().map(|home| home.join("judge")).ok_or_else(|| {
            bad_input(anyhow!(
                "no cache directory for the judge (neither XDG_CACHE_HOME nor HOME is set): pass --judge-cache DIR"
            ))
        })?,
    };
    let cached = load_or_train(data, &dir, &Recipe::STANDARD, &Backend::default().device())?;
    let judge = &cached.judge;
    let trained = format!(
        "trained the judge ({} epochs, {:.0} s, test accuracy {:.2}%) into {}",
        judge.recipe().epochs,
        judge.train_seconds(),
        100.0 * judge.test_accuracy(),
        cached.path.display()
    );
    match &cached.origin {
        Origin::Loaded => eprintln!(
            "judge: {} (test accuracy {:.2}%)",
            cached.path.display(),
            100.0 * judge.test_accuracy()
        ),
        Origin::Trained => eprintln!("{trained}"),
        Origin::Replaced { reason } => {
            eprintln!("note: the judge's cache file was unusable ({reason}): {trained}")
        }
    }
    Ok(cached)
}

/// `pixels` (28x28 gray images, one after another) each blurred with a 3x3
/// box: every pixel becomes the rounded mean of itself and its neighbours
/// inside the image. A reference row of `tinyvae score`: how the judge
/// rates real images made blurry, as decoders make them.
pub fn box_blur(pixels: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; pixels.len()];
    for (image, blurred) in pixels
        .chunks_exact(PIXELS)
        .zip(out.chunks_exact_mut(PIXELS))
    {
        for y in 0..SIDE {
            for x in 0..SIDE {
                let (mut sum, mut n) = (0u32, 0u32);
                for ny in y.saturating_sub(1)..(y + 2).min(SIDE) {
                    for nx in x.saturating_sub(1)..(x + 2).min(SIDE) {
                        sum += u32::from(image[ny * SIDE + nx]);
                        n += 1;
                    }
                }
                blurred[y * SIDE + x] = ((sum + n / 2) / n) as u8;
            }
        }
    }
    out
}

/// `count` 28x28 images of independent gray levels uniform in 0..=255,
/// from `seed` (SplitMix64): the far end of `tinyvae score`'s scale.
pub fn uniform_noise(count: usize, seed: u64) -> Vec<u8> {
    let mut rng = SplitMix64::new(seed);
    let mut pixels = Vec::with_capacity(count * PIXELS + 8);
    while pixels.len() < count * PIXELS {
        pixels.extend(rng.next_u64().to_le_bytes());
    }
    pixels.truncate(count * PIXELS);
    pixels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_blur_spreads_a_point_and_keeps_flat_images() {
        let flat = vec![77u8; 2 * PIXELS];
        assert_eq!(box_blur(&flat), flat);
        let mut point = vec![0u8; PIXELS];
        point[5 * SIDE + 5] = 90; // inside: 9 neighbours
        point[0] = 200; // a corner: 4 neighbours
        let blurred = box_blur(&point);
        for y in 4..=6 {
            for x in 4..=6 {
                assert_eq!(blurred[y * SIDE + x], 10, "({x}, {y})");
            }
        }
        assert_eq!(blurred[0], 50);
        assert_eq!(blurred[1], 33); // an edge: 6 neighbours, 200 / 6 rounded
        assert_eq!(blurred[SIDE], 33);
        assert_eq!(blurred[SIDE + 1], 22); // 200 / 9, rounded
        assert_eq!(blurred[3 * SIDE + 3], 0, "beyond the neighbours");
    }

    #[test]
    fn noise_is_seeded_and_spread() {
        let a = uniform_noise(3, 7);
        assert_eq!(a.len(), 3 * PIXELS);
        assert_eq!(a, uniform_noise(3, 7));
        assert_ne!(a, uniform_noise(3, 8));
        let mean = a.iter().map(|&p| f64::from(p)).sum::<f64>() / a.len() as f64;
        assert!((mean - 127.5).abs() < 5.0, "{mean}");
    }
}
