//! The conv fixture that the QEMU tests run (on the M0 too) has exactly the
//! shapes of the decoder `tinyvae train --model conv` builds and `tinyvae
//! export` writes, so the M0 end-to-end test covers the trained model's
//! memory footprint and code path, not just a model that happens to fit.

use tinyvae_shared::Model;
use tinyvae_shared::boards::MICROBIT;
use tinyvae_tests::fixtures::{CLASSES, LATENT, conv_blob};
use tinyvae_trainer::backend::Backend;
use tinyvae_trainer::export::float_layers;
use tinyvae_trainer::model::{Arch, VaeConfig};
use tinyvae_trainer::rng::Rng;

#[test]
fn conv_fixture_has_the_trained_decoders_shapes() {
    let device = Backend::default().device();
    let trained = VaeConfig::new(Arch::Conv)
        .with_latent(usize::from(LATENT))
        .with_classes(usize::from(CLASSES))
        .init(&device, &mut Rng::new(1));
    let trained_ops: Vec<_> = float_layers(&trained.decoder)
        .iter()
        .map(|l| (l.op, l.activation))
        .collect();
    let blob = conv_blob();
    let fixture = Model::from_bytes(&blob).unwrap();
    let fixture_ops: Vec<_> = fixture
        .body()
        .layers
        .iter()
        .map(|l| (l.op, l.activation))
        .collect();
    assert_eq!(fixture_ops, trained_ops);
    assert_eq!(
        MICROBIT.check(&fixture),
        Ok(()),
        "the conv decoder fits the micro:bit"
    );
}
