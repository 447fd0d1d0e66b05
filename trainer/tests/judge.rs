//! The judge of generated images: it must learn real classes well above
//! chance, and be less sure of blends of two classes than of real images,
//! and place them farther from the real images in its feature space (the
//! properties its scores rely on).

mod common;

use tinyvae_trainer::backend::Backend;
use tinyvae_trainer::data::{DataSet, PIXELS};
use tinyvae_trainer::judge::{Judge, Recipe};

#[test]
fn learns_classes_and_doubts_blends() {
    let device = Backend::default().device();
    let data = DataSet {
        train: common::quadrants(256, 1),
        test: common::quadrants(80, 2),
        names: None,
    };
    let recipe = Recipe {
        epochs: 2,
        batch: 32,
        ..Recipe::STANDARD
    };
    let judge = Judge::train(&data, &recipe, &device);
    let real = judge.score(&data.test.pixels, Some(&data.test.labels));
    // Chance is 0.25 over the 4 classes.
    assert!(judge.test_accuracy() >= 0.9, "{real:?}");
    assert_eq!(real.accuracy, Some(judge.test_accuracy()));
    // Pixel-wise averages of two images of different classes (quadrants
    // 0 and 3): the ghostly superpositions a decoder makes off its data.
    let blends: Vec<u8> = data
        .test
        .pixels
        .chunks_exact(PIXELS)
        .collect::<Vec<_>>()
        .chunks_exact(4)
        .flat_map(|four| {
            four[0]
                .iter()
                .zip(four[3])
                .map(|(&a, &b)| ((u16::from(a) + u16::from(b)) / 2) as u8)
        })
        .collect();
    let blended = judge.score(&blends, None);
    assert!(
        blended.confidence + 0.02 < real.confidence,
        "blends {blended:?} vs real {real:?}"
    );
    assert!(
        blended.frechet > real.frechet + 1.0,
        "blends {} vs real {}",
        blended.frechet,
        real.frechet
    );
}
