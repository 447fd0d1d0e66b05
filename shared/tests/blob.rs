//! The blob format: golden bytes, round trips, and robustness against
//! every truncation, every single-byte change and random bytes.

mod common;

use proptest::prelude::*;
use tinyvae_shared::blob::{
    self, Activation, Body, Condition, Density, HEADER_LEN, Hwc, Layer, Metadata, Op, Quant,
};
use tinyvae_shared::classes::{ClassName, ClassNames};
use tinyvae_shared::sampler::standard_normal_q24;
use tinyvae_shared::write::{encode, seal};
use tinyvae_shared::{Draw, Error, Model, ModelProblem, seeded_rng};

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
        condition: None,
        density: None,
        metadata: Metadata {
            dataset: "d",
            model: "m",
            epochs: 1,
            test_nelbo: 0.0,
        },
        class_names: "",
    }
}

/// The golden blob, assembled from the commented fields of BLOB-FORMAT.md.
fn golden_bytes() -> Vec<u8> {
    let mut payload = golden_bytes_v3()[HEADER_LEN..].to_vec();
    payload.push(0x00); // class_names: "" (no classes)
    assert_eq!(payload.len(), 322);
    let mut blob = vec![
        b'T', b'V', b'A', b'E', // magic
        0x04, 0x00, // version 4
        0x00, 0x00, // reserved flags
        0x42, 0x01, 0x00, 0x00, // payload length 322
        0x93, 0x69, 0x41, 0xcf, // CRC-32 0xcf416993 (computed independently with zlib.crc32)
    ];
    blob.extend(payload);
    blob
}

/// The same model as a version-3 blob (BLOB-FORMAT.md before class
/// names): the payload ends with the metadata.
fn golden_bytes_v3() -> Vec<u8> {
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
        0x00, // condition: None
        0x00, // density: None
        0x01, b'd', // metadata.dataset: "d"
        0x01, b'm', // metadata.model: "m"
        0x01, // metadata.epochs: 1
        0x00, 0x00, 0x00, 0x00, // metadata.test_nelbo: 0.0f32
    ]);
    assert_eq!(payload.len(), 321);
    let mut blob = vec![
        b'T', b'V', b'A', b'E', // magic
        0x03, 0x00, // version 3
        0x00, 0x00, // reserved flags
        0x41, 0x01, 0x00, 0x00, // payload length 321
        0x10, 0x7a, 0x96, 0xf4, // CRC-32 0xf4967a10 (computed independently with zlib.crc32)
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
    assert_eq!(model.class_names().iter().count(), 0);
}

/// A version-3 blob (no class names) still reads, the same model but for
/// the names; its classes are called `class k`.
#[test]
fn version_3_blobs_still_read() {
    let v3 = golden_bytes_v3();
    let model = Model::from_bytes(&v3).unwrap();
    assert_eq!(model.header().version, 3);
    assert_eq!(model.body(), &golden_body());
    let mut conditional = conditional_bytes();
    // Back to version 3: no names after the metadata, the length and CRC
    // to match.
    conditional.truncate(conditional.len() - 6);
    let v3 = seal_version(3, &conditional[HEADER_LEN..]);
    let model = Model::from_bytes(&v3).unwrap();
    assert_eq!(model.class_names(), ClassNames::numbered(1));
    assert_eq!(model.class_names().get(0).unwrap().to_string(), "class 0");
    assert_eq!(model.class_names().text(), "");
}

/// `payload` behind a header of format `version`.
fn seal_version(version: u16, payload: &[u8]) -> Vec<u8> {
    let mut blob = seal(payload);
    blob[4..6].copy_from_slice(&version.to_le_bytes());
    blob
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

/// The second example of BLOB-FORMAT.md: a class-conditional decoder (one
/// class) with a one-component density, latent 1. z quantized with scale
/// 0.25, zero point 0, so the one-hot code is `0 + round(1 / 0.25) = 4`;
/// one dense layer over `[z, class]` with weights `[2, 3]`, otherwise as
/// the first example; the component has mean 0.5 (2 steps, Q16 131072)
/// and `L = 0.375` (1.5 steps, Q16 98304).
fn conditional_body() -> Body<'static> {
    let mut body = golden_body();
    let layer = &mut body.layers[0];
    layer.op = Op::Dense {
        inputs: 2,
        outputs: 1,
    };
    layer.input.scale = 0.25;
    // Row [2, 3] in the row-quad layout: 2 ^ 0x80, 0, 3 ^ 0x80, 0, then
    // the padding pair of rows.
    layer.weights = &[0x82, 0x00, 0x83, 0x00, 0x80, 0x00, 0x80, 0x00];
    body.z_inv_scale_q16 = 4 << 16;
    body.condition = Some(Condition { classes: 1, one: 4 });
    body.density = Some(Density {
        components: 1,
        classes: 1,
        class_of: &[0x00, 0x00],
        pick: &[0xff; 4],
        pick_in_class: &[0xff; 4],
        mean: &[0x00, 0x00, 0x02, 0x00],
        scale_tril: &[0x00, 0x80, 0x01, 0x00],
    });
    body.class_names = "Dress";
    body
}

/// The second example's bytes, as commented in BLOB-FORMAT.md.
fn conditional_bytes() -> Vec<u8> {
    let mut payload: Vec<u8> = vec![
        0x01, // latent_dim 1
        0x01, 0x01, 0x01, // image 1 x 1 x 1
        0x80, 0x80, 0x20, // z_inv_scale_q16 = 262144 (zigzag 524288)
        0x01, // 1 layer:
        0x00, 0x02, 0x01, // op Dense, inputs 2 (z and one class), outputs 1
        0x00, // activation Linear
        0x00, 0x00, 0x80, 0x3e, 0x00, // input: scale 0.25, zero point 0
        0x00, 0x00, 0x00, 0x3f, 0xfd, // output: scale 0.5, zero point -3
        0x04, 0x00, 0x00, 0x80, 0x3f, // weight_scales [1.0]
        0x04, 0xff, 0xff, 0xff, 0xff, // bias [-1]
        0x04, 0x00, 0x00, 0x00, 0x40, // multipliers [2^30]
        0x01, 0xff, // shifts [-1]
        0x03, 0x00, 0x00, 0x00, // align: 3 zero bytes
        0x08, 0x82, 0x00, 0x83, 0x00, 0x80, 0x00, 0x80, 0x00, // weights [2, 3]
        0x80, 0x02, // output_table: 256 bytes ...
    ];
    payload.extend(0..=255u8);
    payload.extend([
        0x01, 0x01, 0x04, // condition: Some, classes 1, one 4
        0x01, // density: Some
        0x01, 0x01, // components 1, classes 1
        0x02, 0x00, 0x00, // class_of: [0u16]
        0x04, 0xff, 0xff, 0xff, 0xff, // pick: [u32::MAX]
        0x04, 0xff, 0xff, 0xff, 0xff, // pick_in_class: [u32::MAX]
        0x04, 0x00, 0x00, 0x02, 0x00, // mean: [131072] (2 steps)
        0x04, 0x00, 0x80, 0x01, 0x00, // scale_tril: [98304] (1.5 steps)
        0x01, b'd', 0x01, b'm', 0x01, // metadata: "d", "m", epochs 1
        0x00, 0x00, 0x00, 0x00, // test_nelbo 0.0
        0x05, b'D', b'r', b'e', b's', b's', // class_names: "Dress"
    ]);
    assert_eq!(payload.len(), 354);
    let mut blob = vec![
        b'T', b'V', b'A', b'E', 0x04, 0x00, 0x00, 0x00, // magic, version 4, flags
        0x62, 0x01, 0x00, 0x00, // payload length 354
        0xf0, 0x89, 0xc9, 0x69, // CRC-32 0x69c989f0 (zlib.crc32)
    ];
    blob.extend(payload);
    blob
}

#[test]
fn conditional_golden_bytes_are_pinned() {
    let encoded = encode(&conditional_body());
    assert_eq!(
        encoded,
        conditional_bytes(),
        "the wire format changed: update BLOB-FORMAT.md and FORMAT_VERSION"
    );
    let model = Model::from_bytes(&encoded).unwrap();
    assert_eq!(model.body(), &conditional_body());
    assert_eq!((model.latent_dim(), model.input_len()), (1, 2));
    assert_eq!(model.classes(), 1);
    assert_eq!(model.default_draw(), Draw::Fitted);
    assert_eq!(model.class_names().get(0), Some(ClassName::Named("Dress")));
}

/// Random words given in advance.
struct Words<'w>(&'w [u32]);

impl rand_core::RngCore for Words<'_> {
    fn next_u32(&mut self) -> u32 {
        let (&first, rest) = self.0.split_first().expect("the test gave enough words");
        self.0 = rest;
        first
    }
    fn next_u64(&mut self) -> u64 {
        u64::from(self.next_u32())
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        dst.fill(0)
    }
}

/// Draws and decodes from the second example by hand. The word
/// `0x4000_0000` has tail probability 1/2, so `e = Q(1/2) = 0.67449`
/// (an exact table entry; its sign bit set gives `-0.67449`).
///
/// - fitted: word 1 picks the only component; `z = round(2 + 1.5 e)`:
///   `round(3.0117) = 3` (or `round(0.9883) = 1`); the class is the
///   component's, 0, so the input is `[z, 4]`.
/// - prior: word 1 picks class `(w * 1) >> 32 = 0`; `z = round(e / 0.25)
///   = round(2.698) = 3`.
/// - decoding `[3, 4]`: `acc = 2 * 3 + 3 * 4 - 1 = 17`; SRDHM(17, 2^30) =
///   8.5 -> 9; RDBPOT(9, 1) = 4.5 -> 5; -3 gives 2; pixel 130. `[1, 4]`:
///   `acc = 13` -> 6.5 -> 7 -> 3.5 -> 4 -> 1: pixel 129.
#[test]
fn conditional_golden_model_draws_and_decodes_by_hand() {
    let blob = conditional_bytes();
    let model = Model::from_bytes(&blob).unwrap();
    let e = f64::from(standard_normal_q24(0x4000_0000)) / f64::from(1 << 24);
    assert!((e - 0.674_49).abs() < 1e-5, "e = {e}");
    let mut scratch = vec![0i8; model.scratch_len()];
    let cases: &[(Draw, [u32; 2], [i8; 2], u8)] = &[
        (Draw::Fitted, [0x1234_5678, 0x4000_0000], [3, 4], 130),
        (Draw::Fitted, [0xffff_ffff, 0xc000_0000], [1, 4], 129),
        (Draw::Class(0), [0, 0x4000_0000], [3, 4], 130),
        (Draw::Prior, [0xffff_ffff, 0x4000_0000], [3, 4], 130),
    ];
    for &(draw, words, input, pixel) in cases {
        let mut got = Vec::new();
        model
            .for_each_latent(draw, 1, &mut Words(&words), |_, z| {
                got.extend_from_slice(z);
                Ok::<(), Error>(())
            })
            .unwrap();
        assert_eq!(got, input, "{draw} from {words:08x?}");
        let mut out = [0u8];
        model.decode(&got, &mut scratch, &mut out).unwrap();
        assert_eq!(out[0], pixel, "{draw}: decoding {input:?}");
    }
}

#[test]
fn round_trip_keeps_every_field() {
    let owned = fixture_model();
    let blob = owned.to_blob().unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    assert_eq!(
        encode(model.body()),
        blob,
        "decode then encode is the identity"
    );
    assert_eq!(model.latent_dim(), 4);
    assert_eq!(model.input_len(), 7);
    assert_eq!(model.image_len(), 36);
    assert_eq!(model.classes(), 3);
    let condition = model.condition().unwrap();
    assert_eq!(condition.classes, 3);
    // z scale 4 / 127: one = 0 + round(31.75).
    assert_eq!(condition.one, 32);
    // The density's values come back in real units within half a Q16
    // step of z, and its weights within 2^-32.
    let density = model.density().unwrap();
    let owned_density = owned.density.as_ref().unwrap();
    let scale = model.z_quant().scale;
    let half_step = f64::from(scale) / 65536.0;
    for (k, c) in owned_density.components.iter().enumerate() {
        assert_eq!(Some(density.class_of(k)), c.class);
        assert!((density.weight(k) - c.weight).abs() < 1e-9, "component {k}");
        for (got, &want) in density.mean_real(k, scale).zip(&c.mean) {
            assert!(
                (got - f64::from(want)).abs() <= half_step * 1.001,
                "{got} vs {want}"
            );
        }
        let tril: Vec<f64> = density.scale_tril_real(k, scale).collect();
        assert_eq!(tril.len(), c.scale_tril.len());
        for (got, &want) in tril.iter().zip(&c.scale_tril) {
            assert!(
                (got - f64::from(want)).abs() <= half_step * 1.001,
                "{got} vs {want}"
            );
        }
    }
    // Class 1 owns components 1 and 3 (weights 0.1 and 0.2): 1/3, 2/3.
    assert!((density.weight_in_class(1) - 1.0 / 3.0).abs() < 1e-9);
    assert!((density.weight_in_class(3) - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(density.weight_in_class(0), 1.0);
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
    let mut rng = seeded_rng(1);
    let classes = (0..model.classes().min(4)).map(Draw::Class);
    for draw in [Draw::Prior, Draw::Fitted, Draw::Interpolate]
        .into_iter()
        .chain(classes)
    {
        let result = model.for_each_latent(draw, 2, &mut rng, |_, input| {
            model.decode(input, &mut scratch, &mut pixels)
        });
        // Only a draw the model cannot serve fails, and it says why.
        assert_eq!(result.err(), model.check_draw(draw).err(), "{draw}");
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
        with(4, 5),
        Error::UnsupportedVersion {
            found: 5,
            supported: 4
        }
    );
    // An older format: one line that says what to do.
    for old in [1, 2] {
        let error = with(4, old);
        assert_eq!(
            error,
            Error::OutdatedVersion {
                found: u16::from(old),
                supported: 4
            }
        );
        assert_eq!(
            error.to_string(),
            format!(
                "blob format version {old} is older than this tinyvae's 4: \
                 re-export the model with `tinyvae export`"
            )
        );
    }
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
    let blob = common::unconditional_model().to_blob().unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    let check = |edit: &dyn Fn(&mut Body<'_>), expected: &dyn Fn(&Error) -> bool| {
        let mut body = model.body().clone();
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

/// A damaged condition or density is refused at load with its typed
/// problem, never misread.
#[test]
fn validation_rejects_a_damaged_condition_or_density() {
    let blob = fixture_blob();
    let model = Model::from_bytes(&blob).unwrap();
    let refused = |edit: &dyn Fn(&mut Body<'_>)| {
        let mut body = model.body().clone();
        edit(&mut body);
        Model::from_bytes(&encode(&body)).unwrap_err()
    };
    let density = |edit: &dyn Fn(&mut Density<'_>)| {
        let error = refused(&|b| edit(b.density.as_mut().unwrap()));
        assert_eq!(error, Error::Inconsistent(ModelProblem::Density));
        assert_eq!(
            error.to_string(),
            "inconsistent model: the fitted density is inconsistent (sizes, thresholds, classes, \
             magnitudes or a non-positive Cholesky diagonal)"
        );
    };
    let condition = |edit: &dyn Fn(&mut Body<'_>)| {
        assert_eq!(refused(edit), Error::Inconsistent(ModelProblem::Condition));
    };
    // Thresholds over all components that decrease.
    static DECREASING: [u8; 16] = [
        0, 0, 0, 0x80, 0, 0, 0, 0x40, 0, 0, 0, 0xc0, 0xff, 0xff, 0xff, 0xff,
    ];
    density(&|d| d.pick = &DECREASING);
    // Class 1 owns components 1 and 3: thresholds u32::MAX then 0.
    static IN_CLASS: [u8; 16] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0,
    ];
    density(&|d| d.pick_in_class = &IN_CLASS);
    // A class out of range, and a class (2) left without a component.
    density(&|d| d.class_of = &[0, 0, 3, 0, 2, 0, 1, 0]);
    density(&|d| d.class_of = &[0, 0, 1, 0, 0, 0, 1, 0]);
    // A zero diagonal entry of L (component 0's L[0][0]).
    let mut tril = model.density().unwrap().scale_tril.to_vec();
    tril[..4].fill(0);
    let tril: &'static [u8] = tril.leak();
    density(&|d| d.scale_tril = tril);
    // A mean beyond 256 steps (2^24 + 1 in Q16).
    let mut mean = model.density().unwrap().mean.to_vec();
    mean[..4].copy_from_slice(&((1 << 24) + 1_i32).to_le_bytes());
    let mean: &'static [u8] = mean.leak();
    density(&|d| d.mean = mean);
    // Wrong lengths, no components, tags that differ from the condition.
    density(&|d| d.mean = &d.mean[4..]);
    density(&|d| d.pick_in_class = &[]);
    density(&|d| d.components = 0);
    density(&|d| d.classes = 2);
    density(&|d| {
        d.classes = 0;
        d.class_of = &[];
        d.pick_in_class = &[];
    });
    // The condition: no classes, a one-hot code at the zero point, a
    // first layer that does not take latent + classes inputs.
    condition(&|b| b.condition.as_mut().unwrap().classes = 0);
    condition(&|b| b.condition.as_mut().unwrap().one = 0);
    condition(&|b| b.latent_dim = 5);
    condition(&|b| b.condition.as_mut().unwrap().classes = u16::MAX);
}

/// A version-4 blob names every class: a count that differs from the
/// classes, or a name that is empty, too long or holds a control
/// character, is refused with its typed error; the writer refuses the same
/// (and a name given twice) before writing, naming the class.
#[test]
fn class_names_are_one_valid_name_per_class() {
    let blob = fixture_blob();
    let model = Model::from_bytes(&blob).unwrap();
    let names: Vec<String> = model.class_names().iter().map(|n| n.to_string()).collect();
    assert_eq!(names, common::CLASS_NAMES);
    let parsed = |text: &'static str| {
        let mut body = model.body().clone();
        body.class_names = text;
        Model::from_bytes(&encode(&body)).map(|_| ())
    };
    for (text, names) in [("circle\nsquare", 2), ("", 0), ("a\nb\nc\nd", 4)] {
        assert_eq!(
            parsed(text),
            Err(Error::ClassNameCount { names, classes: 3 }),
            "{text:?}"
        );
    }
    for text in [
        "a\n\nc",
        "a\nb\tb\nc",
        "a\nb\nthis name is longer than 32 bytes",
    ] {
        assert_eq!(
            parsed(text),
            Err(Error::Inconsistent(ModelProblem::ClassName)),
            "{text:?}"
        );
    }
    assert_eq!(parsed("a\nb\nc"), Ok(()));

    let written = |names: &[&str]| {
        let mut owned = fixture_model();
        owned.class_names = names.iter().map(|n| n.to_string()).collect();
        owned.to_blob().map(|_| ()).map_err(|e| e.to_string())
    };
    assert_eq!(
        written(&["a", "b"]),
        Err("2 class names for 3 classes".into())
    );
    assert_eq!(
        written(&["a", "two\nlines", "c"]),
        Err(
            "class 1's name \"two\\nlines\" holds a control character (a newline, a tab, ...)"
                .into()
        )
    );
    assert_eq!(
        written(&["a", "", "c"]),
        Err("class 1's name \"\" is empty".into())
    );
    assert_eq!(
        written(&["a", "b", "a"]),
        Err("class 2's name \"a\" is the name of an earlier class".into())
    );
    assert_eq!(written(&["a", "b", "c"]), Ok(()));
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
