//! The blob format: golden bytes, round trips, and robustness against
//! every truncation, every single-byte change and random bytes.

mod common;

use proptest::prelude::*;
use tinyvae_shared::blob::{self, Activation, Body, HEADER_LEN, Hwc, Layer, Metadata, Op, Quant};
use tinyvae_shared::write::{encode, seal};
use tinyvae_shared::{Error, Latent, Model, seeded_rng};

use common::{fixture_blob, fixture_model};

/// The table `00 01 .. ff`: pixel = logit code + 128.
static IDENTITY_TABLE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i as u8;
        i += 1;
    }
    t
};

/// The smallest complete model, written out field by field in
/// BLOB-FORMAT.md: latent 1, one dense 1 -> 1 layer, a 1x1x1 image.
fn golden_body() -> Body<'static> {
    let mut layers = heapless::Vec::new();
    layers
        .push(Layer {
            op: Op::Dense {
                inputs: 1,
                outputs: 1,
            },
            activation: Activation::Linear,
            input: Quant {
                scale: 1.0,
                zero_point: 0,
            },
            output: Quant {
                scale: 0.5,
                zero_point: -3,
            },
            weight_scales: &[0x00, 0x00, 0x80, 0x3f], // 1.0f32
            bias: &[0xff, 0xff, 0xff, 0xff],          // -1
            multipliers: &[0x00, 0x00, 0x00, 0x40],   // 2^30 (0.5 in Q31)
            shifts: &[0xff],                          // -1
            align: &[0, 0, 0],
            // Weight 2 in the row-quad layout: 2 ^ 0x80, then zero padding
            // (0x80 in `a` rows, 0x00 in `b` rows).
            weights: &[0x82, 0x00, 0x80, 0x00, 0x80, 0x00, 0x80, 0x00],
        })
        .unwrap();
    Body {
        latent_dim: 1,
        image: Hwc {
            height: 1,
            width: 1,
            channels: 1,
        },
        z_inv_scale_q16: 1 << 16,
        layers,
        output_table: &IDENTITY_TABLE,
        prototypes: None,
        metadata: Metadata {
            dataset: "d",
            model: "m",
            epochs: 1,
            test_nelbo: 0.0,
        },
    }
}

/// The golden blob, assembled from the commented fields of BLOB-FORMAT.md.
fn golden_bytes() -> Vec<u8> {
    let mut payload: Vec<u8> = vec![
        0x01, // latent_dim: u16 varint 1
        0x01, 0x01, 0x01, // image: height, width, channels (u16 varints)
        0x80, 0x80, 0x08, // z_inv_scale_q16: i32 zigzag varint, 65536 -> 131072
        0x01, // layers: 1 element
        0x00, 0x01, 0x01, // op: Dense (variant 0), inputs 1, outputs 1
        0x00, // activation: Linear (variant 0)
        0x00, 0x00, 0x80, 0x3f, 0x00, // input: scale 1.0f32 LE, zero point 0 (i8 as one byte)
        0x00, 0x00, 0x00, 0x3f, 0xfd, // output: scale 0.5f32, zero point -3
        0x04, 0x00, 0x00, 0x80, 0x3f, // weight_scales: 4 bytes, [1.0f32]
        0x04, 0xff, 0xff, 0xff, 0xff, // bias: 4 bytes, [-1i32]
        0x04, 0x00, 0x00, 0x00, 0x40, // multipliers: 4 bytes, [2^30]
        0x01, 0xff, // shifts: 1 byte, [-1]
        0x03, 0x00, 0x00, 0x00, // align: 3 zero bytes, so the weights start at blob offset 60
        0x08, 0x82, 0x00, 0x80, 0x00, 0x80, 0x00, 0x80,
        0x00, // weights: 8 bytes, one row quad
        0x80, 0x02, // output_table: 256 bytes (varint 0x80 0x02) ...
    ];
    payload.extend(0..=255u8); // ... 00 01 .. ff
    payload.extend([
        0x00, // prototypes: None
        0x01, b'd', // metadata.dataset: "d"
        0x01, b'm', // metadata.model: "m"
        0x01, // metadata.epochs: 1
        0x00, 0x00, 0x00, 0x00, // metadata.test_nelbo: 0.0f32
    ]);
    assert_eq!(payload.len(), 320);
    let mut blob = vec![
        b'T', b'V', b'A', b'E', // magic
        0x02, 0x00, // version 2
        0x00, 0x00, // reserved flags
        0x40, 0x01, 0x00, 0x00, // payload length 320
        0xe6, 0xda, 0x13, 0x80, // CRC-32 0x8013dae6 (computed independently with zlib.crc32)
    ];
    blob.extend(payload);
    blob
}

#[test]
fn golden_bytes_are_pinned() {
    let encoded = encode(&golden_body());
    assert_eq!(
        encoded,
        golden_bytes(),
        "the wire format changed: update BLOB-FORMAT.md and FORMAT_VERSION"
    );
    let model = Model::from_bytes(&encoded).unwrap();
    assert_eq!(model.body(), &golden_body());
}

/// The golden model decodes as worked out by hand:
/// acc = 2 z - 1; SRDHM(acc, 2^30) = acc / 2 (ties up); RDBPOT(., 1)
/// halves again (ties away from zero); + zero point -3; pixel = code + 128.
#[test]
fn golden_model_decodes_by_hand() {
    let blob = golden_bytes();
    let model = Model::from_bytes(&blob).unwrap();
    let mut scratch = vec![0i8; model.scratch_len()];
    let cases: &[(i8, u8)] = &[
        // z = 10: acc 19 -> 9.5 -> 10 -> 5 -> 2 -> pixel 130.
        (10, 130),
        // z = -10: acc -21 -> -10.5 -> -10 (tie up) -> -5 -> -8 -> 120.
        (-10, 120),
        // z = 1: acc 1 -> 0.5 -> 1 -> 0.5 -> 1 (away) -> -2 -> 126.
        (1, 126),
        // z = 0: acc -1 -> -0.5 -> 0 (tie up) -> 0 -> -3 -> 125.
        (0, 125),
        // z = 127: acc 253 -> 126.5 -> 127 -> 63.5 -> 64 -> 61 -> 189.
        (127, 189),
        // z = -128: acc -257 -> -128.5 -> -128 -> -64 -> -67 -> 61.
        (-128, 61),
    ];
    for &(z, expected) in cases {
        let mut pixel = [0u8];
        model.decode(&[z], &mut scratch, &mut pixel).unwrap();
        assert_eq!(pixel[0], expected, "z = {z}");
    }
}

#[test]
fn round_trip_keeps_every_field() {
    let owned = fixture_model();
    let blob = owned.to_blob().unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    assert_eq!(model.body(), &owned.body().unwrap());
    assert_eq!(model.latent_dim(), 4);
    assert_eq!(model.image_len(), 36);
    assert_eq!(model.classes(), 3);
    assert_eq!(model.header().payload_len as usize, blob.len() - HEADER_LEN);
    // Parsing borrows: the weights point into the blob itself.
    let weights = model.body().layers[0].weights;
    let range = blob.as_ptr_range();
    assert!(
        range.contains(&weights.as_ptr()),
        "weights were copied out of the blob"
    );
    // `encode` aligns every layer's weights to 4 bytes from the blob start.
    for (i, layer) in model.body().layers.iter().enumerate() {
        let offset = layer.weights.as_ptr() as usize - blob.as_ptr() as usize;
        assert_eq!(offset % 4, 0, "layer {i} weights at blob offset {offset}");
    }
}

#[test]
fn every_truncation_is_an_error() {
    let blob = fixture_blob();
    for len in 0..blob.len() {
        match Model::from_bytes(&blob[..len]) {
            Err(Error::Truncated { needed, available }) => {
                assert_eq!(available as usize, len);
                assert!(needed as usize > len);
            }
            other => panic!("truncated to {len} of {} bytes: {other:?}", blob.len()),
        }
    }
}

/// Every position, every one of the 255 other values: the checksum or a
/// header check must reject it.
#[test]
fn every_single_byte_change_is_an_error() {
    let blob = fixture_blob();
    let mut changed = blob.clone();
    for at in 0..blob.len() {
        for mask in 1..=255u8 {
            changed[at] = blob[at] ^ mask;
            let result = Model::from_bytes(&changed);
            assert!(result.is_err(), "byte {at} ^ {mask:#04x} accepted");
        }
        changed[at] = blob[at];
    }
}

/// Behind the checksum: every single-byte change of the payload, resealed
/// with a correct CRC, either fails validation or yields a model whose
/// decoder and sampler run without panicking.
#[test]
fn every_resealed_payload_change_parses_or_errs_without_panic() {
    let blob = fixture_blob();
    let payload = &blob[HEADER_LEN..];
    let mut changed = payload.to_vec();
    let mut accepted = 0;
    for at in 0..payload.len() {
        for mask in 1..=255u8 {
            changed[at] = payload[at] ^ mask;
            if exercise(&seal(&changed)) {
                accepted += 1;
            }
        }
        changed[at] = payload[at];
    }
    // Changes inside weights and tables are valid models: the test must
    // have run the decoder on many of them.
    assert!(accepted > 10_000, "only {accepted} changed payloads parsed");
}

#[test]
fn every_resealed_payload_truncation_is_an_error() {
    let blob = fixture_blob();
    let payload = &blob[HEADER_LEN..];
    for len in 0..payload.len() {
        let sealed = seal(&payload[..len]);
        assert!(
            Model::from_bytes(&sealed).is_err(),
            "payload truncated to {len} accepted"
        );
    }
}

/// Parses `bytes`; if it is a model, decodes and samples with it. Returns
/// whether it parsed.
fn exercise(bytes: &[u8]) -> bool {
    let Ok(model) = Model::from_bytes(bytes) else {
        return false;
    };
    let mut scratch = vec![0i8; model.scratch_len()];
    let mut pixels = vec![0u8; model.image_len()];
    let mut z = vec![0i8; model.latent_dim()];
    let mut rng = seeded_rng(1);
    model
        .generate(Latent::Prior, &mut rng, &mut z, &mut scratch, &mut pixels)
        .unwrap();
    for class in 0..model.classes() {
        model
            .generate(
                Latent::Class(class),
                &mut rng,
                &mut z,
                &mut scratch,
                &mut pixels,
            )
            .unwrap();
    }
    true
}

#[test]
fn trailing_bytes_rejected_in_files_but_allowed_in_regions() {
    let mut region = fixture_blob();
    let len = region.len();
    region.extend([0xff; 100]); // erased flash after the blob
    assert_eq!(
        Model::from_bytes(&region).unwrap_err(),
        Error::TrailingBytes(100)
    );
    let model = Model::from_region(&region).unwrap();
    assert_eq!(model.header().blob_len(), len);
}

#[test]
fn header_errors_are_specific() {
    let blob = fixture_blob();
    let with = |at: usize, value: u8| {
        let mut b = blob.clone();
        b[at] = value;
        Model::from_bytes(&b).unwrap_err()
    };
    assert_eq!(with(0, b'X'), Error::BadMagic);
    assert_eq!(
        with(4, 3),
        Error::UnsupportedVersion {
            found: 3,
            supported: 2
        }
    );
    assert_eq!(with(6, 1), Error::ReservedFlags(1));
    assert!(matches!(with(20, blob[20] ^ 1), Error::Checksum { .. }));
    assert!(matches!(
        with(8, blob[8].wrapping_add(1)),
        Error::Truncated { .. }
    ));
    assert!(matches!(
        with(8, blob[8].wrapping_sub(1)),
        Error::TrailingBytes(1) | Error::Checksum { .. }
    ));
    assert_eq!(Model::from_bytes(&seal(&[])).unwrap_err(), Error::Malformed);
    let mut long = blob[HEADER_LEN..].to_vec();
    long.push(0);
    assert_eq!(
        Model::from_bytes(&seal(&long)).unwrap_err(),
        Error::TrailingPayload(1)
    );
}

#[test]
fn validation_rejects_inconsistent_models() {
    let owned = fixture_model();
    let check = |edit: &dyn Fn(&mut Body<'_>), expected: &dyn Fn(&Error) -> bool| {
        let mut body = owned.body().unwrap();
        edit(&mut body);
        let err = Model::from_bytes(&encode(&body)).unwrap_err();
        assert!(expected(&err), "got {err:?}");
        // Every error has a one-line message.
        assert!(!err.to_string().contains('\n'));
    };
    use tinyvae_shared::{LayerProblem as L, ModelProblem as M};
    check(&|b| b.latent_dim = 5, &|e| {
        matches!(
            e,
            Error::Layer {
                layer: 0,
                problem: L::InputSize {
                    found: 4,
                    expected: 5
                }
            }
        )
    });
    check(&|b| b.latent_dim = 0, &|e| {
        *e == Error::Inconsistent(M::LatentSize)
    });
    check(&|b| b.image.width = 7, &|e| {
        *e == Error::Inconsistent(M::OutputSize)
    });
    check(&|b| b.output_table = &[0; 255], &|e| {
        *e == Error::Inconsistent(M::OutputTable)
    });
    check(&|b| b.z_inv_scale_q16 = 0, &|e| {
        *e == Error::Inconsistent(M::LatentScale)
    });
    check(&|b| b.layers.clear(), &|e| *e == Error::NoLayers);
    check(&|b| b.layers[1].weights = &b.layers[1].weights[1..], &|e| {
        matches!(
            e,
            Error::Layer {
                layer: 1,
                problem: L::WeightBytes { .. }
            }
        )
    });
    check(&|b| b.layers[0].shifts = &[31; 36], &|e| {
        *e == Error::Layer {
            layer: 0,
            problem: L::Shift,
        }
    });
    check(&|b| b.layers[0].bias = &[0; 3], &|e| {
        *e == Error::Layer {
            layer: 0,
            problem: L::ChannelArray("bias"),
        }
    });
    check(&|b| b.layers[1].input.zero_point = 5, &|e| {
        *e == Error::Layer {
            layer: 1,
            problem: L::ZeroPoint,
        }
    });
    check(&|b| b.prototypes.as_mut().unwrap().classes = 4, &|e| {
        *e == Error::Inconsistent(M::Prototypes)
    });
    check(
        &|b| {
            if let Op::ConvTranspose2d { ref mut stride, .. } = b.layers[1].op {
                *stride = [3, 3];
            }
        },
        &|e| {
            *e == Error::Layer {
                layer: 1,
                problem: L::Geometry,
            }
        },
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary bytes never panic the parser.
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Model::from_bytes(&bytes);
        let _ = Model::from_region(&bytes);
    }

    /// Arbitrary payloads behind a valid header reach the postcard decoder
    /// and validation; whatever parses must decode without panicking.
    #[test]
    fn random_sealed_payloads_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..600)) {
        exercise(&seal(&payload));
    }

    /// Random edits of a real payload (several bytes at once) likewise.
    #[test]
    fn random_payload_edits_never_panic(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let blob = fixture_blob();
        let mut payload = blob[HEADER_LEN..].to_vec();
        for (at, value) in edits {
            let i = at.index(payload.len());
            payload[i] = value;
        }
        exercise(&seal(&payload));
    }
}

#[test]
fn header_round_trip() {
    let header = blob::Header {
        version: blob::FORMAT_VERSION,
        payload_len: 0x0102_0304,
        crc32: 0xdead_beef,
    };
    let bytes = header.to_bytes();
    assert_eq!(&bytes[..4], b"TVAE");
    assert_eq!(blob::Header::parse(&bytes).unwrap(), header);
}
