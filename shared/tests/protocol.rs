//! The host-board protocol (`shared/PROTOCOL.md`): golden bytes of each
//! frame kind, round trips, and damage on the wire (every flipped,
//! dropped or truncated byte) detected, never decoded as a message.

use tinyvae_shared::Draw;
use tinyvae_shared::protocol::{
    Begin, Command, CommandReader, FrameError, Image, MAX_REPLY_FRAME, ModelInfo, Problem, Refusal,
    Reply, ReplyReader, Request, SeedSource, Sequence, Status, unstuff_reply,
};

/// The frame `reply` sends.
fn reply_frame(reply: &Reply<'_>) -> Vec<u8> {
    let mut wire = Vec::new();
    reply.send(&mut wire).expect("a Vec takes every byte");
    wire
}

/// Every frame in `wire`, parsed with its own body kept alive.
/// Every frame in `wire`, as the host's [`ReplyReader`] reads them.
fn replies(wire: &[u8]) -> Vec<Result<Vec<u8>, FrameError>> {
    let mut reader = ReplyReader::new();
    wire.iter().filter_map(|&b| reader.push(b)).collect()
}

fn command_from_wire(wire: &[u8]) -> Vec<Result<Command, FrameError>> {
    let mut reader = CommandReader::new();
    wire.iter().filter_map(|&b| reader.push(b)).collect()
}

const REQUEST: Request = Request {
    seed: Some(7),
    draw: Draw::Class(3),
    count: 16,
    first: 2,
    end: 5,
};

fn image() -> Reply<'static> {
    static PIXELS: [u8; 6] = [0, 1, 2, 254, 255, 0];
    static LATENT: [u8; 3] = [0x80, 0, 0x7f];
    Reply::Image(Image {
        sequence: REQUEST.sequence(7),
        index: 9,
        latent: &LATENT,
        pixels: &PIXELS,
    })
}

/// Golden bytes. Command bodies are postcard: `Hello` is variant 0;
/// `Generate` is variant 1 followed by the request (seed `Some(7)`:
/// 01 07; draw `Class(3)`: variant 1, u16 3; count 16, first 2, end 5 as
/// varints). The CRC-32 follows, little-endian, then COBS and 0x00.
#[test]
fn command_golden_bytes() {
    let hello = Command::Hello.to_frame();
    assert_eq!(hello, [0x01, 0x05, 0x8d, 0xef, 0x02, 0xd2, 0x00]);
    let generate = Command::Generate(REQUEST).to_frame();
    let body = [0x01, 0x01, 0x07, 0x01, 0x03, 0x10, 0x02, 0x05];
    assert_eq!(
        tinyvae_shared::blob::CRC.checksum(&body),
        u32::from_le_bytes([generate[9], generate[10], generate[11], generate[12]]),
        "{generate:02x?}"
    );
    assert_eq!(
        generate,
        [
            0x0d, 0x01, 0x01, 0x07, 0x01, 0x03, 0x10, 0x02, 0x05, 0xd8, 0x57, 0x55, 0x63, 0x00
        ]
    );
}

/// `Draw::Fitted`, appended to `Draw` in protocol version 2, is variant
/// 3 (the other variants keep their indices, so the frames above are
/// unchanged): images 2..5 of 16 from the fitted density, seed 7.
#[test]
fn fitted_request_golden_bytes() {
    let request = Request {
        draw: Draw::Fitted,
        ..REQUEST
    };
    let frame = Command::Generate(request).to_frame();
    assert_eq!(
        frame,
        [
            0x0c, 0x01, 0x01, 0x07, 0x03, 0x10, 0x02, 0x05, 0xec, 0x41, 0xa8, 0x0e, 0x00
        ]
    );
    assert_eq!(command_from_wire(&frame), [Ok(Command::Generate(request))]);
    assert_eq!(tinyvae_shared::protocol::VERSION, 3);
}

/// Reply bodies: a tag byte, then postcard. `Done { images: 3 }` is tag 4
/// and varint 3, then its CRC-32 and the end marker 0x01: seven non-zero
/// bytes, which rzCOBS passes through and closes with 0x80 ("a run of 7,
/// then a zero", the zero being its padding).
#[test]
fn reply_golden_bytes() {
    let done = reply_frame(&Reply::Done { images: 3 });
    assert_eq!(done, [0x04, 0x03, 0x41, 0x86, 0xbc, 0xbc, 0x01, 0x80, 0x00]);
    assert_eq!(unstuff_reply(&done[..done.len() - 1]).unwrap()[..2], [4, 3]);
    let image = reply_frame(&image());
    // Body: tag 3; the sequence: seed 7, draw Class(3) (variant 1, 3),
    // count 16; index 9; latent [0x80, 0, 0x7f] and 6 pixels 0 1 2 254
    // 255 0, each behind its length; then the CRC-32 and the end marker.
    let body = [
        0x03, 0x07, 0x01, 0x03, 0x10, 0x09, 0x03, 0x80, 0x00, 0x7f, 0x06, 0x00, 0x01, 0x02, 0xfe,
        0xff, 0x00,
    ];
    let unstuffed = unstuff_reply(&image[..image.len() - 1]).unwrap();
    assert_eq!(unstuffed, body);
    let crc = tinyvae_shared::blob::CRC.checksum(&body).to_le_bytes();
    assert_eq!(crc, [0xa1, 0xab, 0xe8, 0x59]);
    // rzCOBS leaves the four zeros out and marks their places in a bitmap
    // byte after every seven bytes.
    assert_eq!(
        image,
        [
            0x03, 0x07, 0x01, 0x03, 0x10, 0x09, 0x03, 0x80, 0x81, 0x7f, 0x06, 0x01, 0x02, 0xfe,
            0xff, 0x04, 0xa1, 0xab, 0xe8, 0x59, 0x01, 0x41, 0x00
        ]
    );
}

#[test]
fn commands_round_trip_through_the_board_reader() {
    let commands = [
        Command::Hello,
        Command::Generate(REQUEST),
        Command::Generate(Request::new(Draw::Prior, 100_000, None)),
        Command::Generate(Request::new(Draw::Interpolate, 12, Some(u64::MAX))),
    ];
    let wire: Vec<u8> = commands.iter().flat_map(|c| c.to_frame()).collect();
    let read: Vec<_> = command_from_wire(&wire)
        .into_iter()
        .map(|c| c.unwrap())
        .collect();
    assert_eq!(read, commands);
    // The largest command, every field at its widest, fits the board's
    // buffer (which keeps the frame without its delimiter).
    let widest = Command::Generate(Request {
        seed: Some(u64::MAX),
        draw: Draw::Class(u16::MAX),
        count: u32::MAX,
        first: u32::MAX,
        end: u32::MAX,
    });
    assert_eq!(
        widest.to_frame().len() - 1,
        36,
        "the size MAX_COMMAND_FRAME's doc gives"
    );
    assert_eq!(command_from_wire(&widest.to_frame()), [Ok(widest)]);
}

#[test]
fn replies_round_trip() {
    let status = Status {
        protocol: tinyvae_shared::protocol::VERSION,
        board: "BBC micro:bit v1",
        firmware: "0.1.0",
        model: Ok(ModelInfo {
            blob_len: 75_000,
            blob_crc32: 0xdead_beef,
            latent: 20,
            shape: [28, 28, 1],
            classes: 10,
            default_draw: Draw::Fitted,
            class_names: FASHION_MNIST,
        }),
    };
    let no_model = Status {
        model: Err("bad magic"),
        ..status
    };
    let all = [
        Reply::Status(status),
        Reply::Status(no_model),
        Reply::Begin(Begin {
            seed: 0x0123_4567_89ab_cdef,
            source: SeedSource::Hardware,
            request: REQUEST,
        }),
        image(),
        Reply::Done { images: 3 },
        Reply::Error(Refusal {
            kind: Problem::UnknownClass,
            detail: "the model has no such class",
        }),
        Reply::Log(&[0x00, 0x01, 0xff, 0x00]),
    ];
    let wire: Vec<u8> = all.iter().flat_map(reply_frame).collect();
    let bodies: Vec<Vec<u8>> = replies(&wire).into_iter().map(|b| b.unwrap()).collect();
    assert_eq!(bodies.len(), all.len());
    for (body, sent) in bodies.iter().zip(&all) {
        assert_eq!(Reply::parse(body).unwrap(), *sent);
    }
}

/// Fashion-MNIST's class names as a blob (and a status) stores them.
const FASHION_MNIST: &str =
    "T-shirt/top\nTrouser\nPullover\nDress\nCoat\nSandal\nShirt\nSneaker\nBag\nAnkle boot";

/// A status's class names: its model's names, checked against its
/// classes; none (a version-3 blob on the board) is `class k`; the host's
/// owned copy reads the same.
#[test]
fn status_class_names_are_read_and_checked() {
    let info = ModelInfo {
        blob_len: 1,
        blob_crc32: 2,
        latent: 20,
        shape: [28, 28, 1],
        classes: 10,
        default_draw: Draw::Prior,
        class_names: FASHION_MNIST,
    };
    let names: Vec<String> = info
        .names()
        .unwrap()
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(names[0], "T-shirt/top");
    assert_eq!(names[9], "Ankle boot");
    let owned = info.map_names(str::to_owned);
    assert_eq!(owned.names().unwrap(), info.names().unwrap());
    let unnamed = ModelInfo {
        class_names: "",
        ..info
    };
    assert_eq!(
        unnamed.names().unwrap().get(3).unwrap().to_string(),
        "class 3"
    );
    let short = ModelInfo {
        class_names: "a\nb",
        ..info
    };
    assert_eq!(
        short.names(),
        Err(tinyvae_shared::Error::ClassNameCount {
            names: 2,
            classes: 10
        })
    );
}

/// A large image (784 bytes, every value) survives the streaming encoder.
#[test]
fn large_image_round_trips() {
    let pixels: Vec<u8> = (0..784).map(|i| (i * 7 % 256) as u8).collect();
    let latent = [0_u8; 20];
    let reply = Reply::Image(Image {
        sequence: Sequence {
            seed: u64::MAX,
            draw: Draw::Fitted,
            count: 100_000,
        },
        index: 99_999,
        latent: &latent,
        pixels: &pixels,
    });
    let wire = reply_frame(&reply);
    assert_eq!(wire.iter().filter(|&&b| b == 0).count(), 1);
    let body = unstuff_reply(&wire[..wire.len() - 1]).unwrap();
    assert_eq!(Reply::parse(&body).unwrap(), reply);
}

/// Every single byte of a reply frame changed (to every other value),
/// dropped, or the frame cut short: the host never gets a message from it
/// (CRC-32 catches every error of up to 32 bits).
#[test]
fn damaged_reply_frames_are_detected() {
    let wire = reply_frame(&image());
    let good = replies(&wire);
    assert!(good.iter().all(Result::is_ok));
    let frame = &wire[..wire.len() - 1];
    for at in 0..frame.len() {
        for value in 0..=255_u8 {
            if value == frame[at] {
                continue;
            }
            let mut bad = wire.clone();
            bad[at] = value;
            assert!(
                replies(&bad).iter().all(Result::is_err),
                "byte {at} set to {value:#04x} went undetected"
            );
        }
        let mut dropped = wire.clone();
        dropped.remove(at);
        assert!(
            replies(&dropped).iter().all(Result::is_err),
            "byte {at} dropped"
        );
        assert!(unstuff_reply(&frame[..at]).is_err(), "cut after {at} bytes");
    }
}

#[test]
fn damaged_command_frames_are_refused_and_the_reader_resynchronises() {
    let frame = Command::Generate(REQUEST).to_frame();
    for at in 0..frame.len() - 1 {
        for value in 1..=255_u8 {
            if value == frame[at] {
                continue;
            }
            let mut bad = frame.clone();
            bad[at] = value;
            bad.extend_from_slice(&Command::Hello.to_frame());
            let read = command_from_wire(&bad);
            assert!(read[0].is_err(), "byte {at} set to {value:#04x}: {read:?}");
            assert_eq!(
                read.last(),
                Some(&Ok(Command::Hello)),
                "no resync after {at}"
            );
        }
    }
    // Too long for the board's buffer: refused, and the next frame is read.
    let mut long = vec![0x55; 200];
    long.push(0);
    long.extend_from_slice(&Command::Hello.to_frame());
    assert_eq!(
        command_from_wire(&long),
        [Err(FrameError::TooLong(64)), Ok(Command::Hello)]
    );
    // Idle delimiters are not frames.
    assert_eq!(command_from_wire(&[0, 0, 0]), []);
    // A well-framed body that is not a command.
    let mut body = vec![0x09];
    body.extend_from_slice(&tinyvae_shared::blob::CRC.checksum(&[0x09]).to_le_bytes());
    let mut junk = cobs::encode_vec(&body);
    junk.push(0);
    assert_eq!(command_from_wire(&junk), [Err(FrameError::Malformed)]);
}

#[test]
fn requests_are_checked() {
    assert_eq!(REQUEST.check(), Ok(()));
    assert_eq!(REQUEST.images(), 2..5);
    let resend = Request::new(Draw::Prior, 8, None).resend(42, 3..4);
    assert_eq!(
        (resend.seed, resend.images(), resend.count),
        (Some(42), 3..4, 8)
    );
    for bad in [
        Request::new(Draw::Prior, 0, None),
        Request::new(Draw::Prior, 100_001, None),
        Request {
            first: 5,
            ..REQUEST
        },
        Request { end: 17, ..REQUEST },
    ] {
        assert!(bad.check().is_err(), "{bad:?}");
    }
}

#[test]
fn unknown_reply_tags_are_reported() {
    assert_eq!(Reply::parse(&[0x2a, 1]), Err(FrameError::UnknownTag(0x2a)));
    assert_eq!(Reply::parse(&[]), Err(FrameError::Malformed));
    // Trailing bytes after a message are malformed, not ignored.
    assert_eq!(Reply::parse(&[4, 3, 0]), Err(FrameError::Malformed));
}

/// Bytes without a delimiter beyond the longest frame: the reader holds no
/// more than [`MAX_REPLY_FRAME`] of them, drops the run as too long at the
/// next delimiter, and reads the frame after it.
#[test]
fn the_reply_reader_holds_a_bounded_frame_and_recovers() {
    let mut reader = ReplyReader::new();
    for i in 0..MAX_REPLY_FRAME + 1000 {
        assert_eq!(reader.push((i % 255 + 1) as u8), None);
    }
    assert_eq!(reader.pending(), MAX_REPLY_FRAME);
    assert_eq!(
        reader.push(0),
        Some(Err(FrameError::TooLong(MAX_REPLY_FRAME as u32)))
    );
    assert_eq!(reader.pending(), 0);
    let done = reply_frame(&Reply::Done { images: 3 });
    let read: Vec<_> = done.iter().filter_map(|&b| reader.push(b)).collect();
    assert_eq!(read.len(), 1);
    assert_eq!(
        Reply::parse(read[0].as_ref().unwrap()).unwrap(),
        Reply::Done { images: 3 }
    );
}
