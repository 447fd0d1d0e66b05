//! The classifier the demo uses to judge generated images: it must learn
//! real classes, and be less sure of blends of two classes than of real
//! images (the property the demo's comparison relies on).

mod common;

use tinyvae_trainer::backend::Backend;
use tinyvae_trainer::classifier::{judge, train_classifier};

#[test]
fn learns_classes_and_doubts_blends() {
    let device = Backend::default().device();
    let train = common::quadrants(400, 1);
    let test = common::quadrants(80, 2);
    let model = train_classifier(&train, 8, 3, &device);
    let real = judge(&model, &test.pixels, Some(&test.labels));
    assert!(real.accuracy.unwrap() >= 0.9, "{real:?}");
    // Pixel-wise averages of two images of different classes (quadrants
    // 0 and 3): the ghostly superpositions a decoder makes off its data.
    let blends: Vec<u8> = test
        .pixels
        .chunks_exact(784)
        .collect::<Vec<_>>()
        .chunks_exact(4)
        .flat_map(|four| {
            four[0]
                .iter()
                .zip(four[3])
                .map(|(&a, &b)| ((u16::from(a) + u16::from(b)) / 2) as u8)
        })
        .collect();
    let blended = judge(&model, &blends, None);
    assert!(
        blended.confidence + 0.02 < real.confidence,
        "blends {blended:?} vs real {real:?}"
    );
}
