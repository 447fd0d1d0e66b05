//! Whether a model fits a board (`boards::Layout::check`): the blob
//! region, the decoder's scratch and the image buffer, the first room a
//! model overflows named in one line.

mod common;

use tinyvae_shared::Model;
use tinyvae_shared::blob::{Activation, Hwc, Op, Quant};
use tinyvae_shared::boards::{ALL, MICROBIT, MICROBIT_V2, Misfit, Room};
use tinyvae_shared::write::{OwnedLayer, OwnedModel};

#[test]
fn the_fixture_fits_every_board() {
    let blob = common::fixture_blob();
    let model = Model::from_bytes(&blob).unwrap();
    for layout in ALL {
        assert_eq!(layout.check(&model), Ok(()), "{}", layout.name);
    }
}

/// latent 1 -> transposed convolution 1x1x1 -> 99x99x1 (kernel 99) ->
/// dense 9801 -> 4, a 2x2 image: 9805 bytes of scratch for a 49 KB blob,
/// over the micro:bit's 9728.
fn wide_activation() -> OwnedModel {
    let mut model = common::unconditional_model();
    let (z, logits) = (model.layers[0].input, model.layers[1].output);
    let hidden = Quant::from_range(0.0, 2.0).unwrap();
    let side = |n| Hwc {
        height: n,
        width: n,
        channels: 1,
    };
    let wide = Op::ConvTranspose2d {
        input: side(1),
        output: side(99),
        kernel: [99, 99],
        stride: [1, 1],
        padding: [0, 0],
    };
    let narrow = Op::Dense {
        inputs: 99 * 99,
        outputs: 4,
    };
    let weights = |op: Op| vec![0.01; op.weight_count().unwrap()];
    let layer = |op: Op, activation, input, output| {
        let bias = vec![0.0; op.channels()];
        OwnedLayer::quantize(op, activation, input, output, &weights(op), &bias).unwrap()
    };
    model.latent_dim = 1;
    model.image = side(2);
    model.layers = vec![
        layer(wide, Activation::Relu, z, hidden),
        layer(narrow, Activation::Linear, hidden, logits),
    ];
    model
}

#[test]
fn the_first_room_a_model_overflows_is_the_misfit() {
    let blob = wide_activation().to_blob().unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    // The dense layer's input and output side by side.
    assert_eq!(model.scratch_len(), 99 * 99 + 4);
    let misfit = MICROBIT.check(&model).unwrap_err();
    assert_eq!(
        misfit,
        Misfit {
            board: MICROBIT.name,
            what: Room::Scratch,
            needs: 9805,
            has: 9728,
        }
    );
    assert_eq!(
        misfit.to_string(),
        "the model does not fit the BBC micro:bit v1 (nRF51822, Cortex-M0): \
         its decoder needs 9805 bytes of scratch, the firmware reserves 9728"
    );
    assert_eq!(MICROBIT_V2.check(&model), Ok(()));
}
