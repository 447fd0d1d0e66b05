//! The host's protocol session (`tinyvae_tools::link::Board`, what `listen`
//! and `qemu --machine microbit` run) against a fake board on a fake serial
//! line that corrupts, drops and truncates bytes: no damaged frame ever
//! becomes an image, lost images are asked for again and arrive intact,
//! and a line too damaged to recover from ends with a clear error.
//!
//! The fake board answers with the protocol's own encoder (`shared`) and
//! the same sampler and decoder as the chip, so its bytes are the chip's.

mod common;

use std::cell::Cell;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::time::Duration;

use tinyvae_shared::protocol::{
    Begin, Command, CommandReader, Image, ModelInfo, Reply, Request, SeedSource, Status, VERSION,
};
use tinyvae_shared::{Draw, Model, seeded_rng};
use tinyvae_tools::generate::host_images;
use tinyvae_tools::link::{Arrival, Board, Collected, Decoder, Known};

/// What the line does to one frame the board sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Flips the bits of the byte at this offset in the frame.
    Flip(usize),
    /// Loses the byte at this offset.
    Drop(usize),
    /// Loses everything from this offset to the end of the frame, its
    /// delimiter included: the frame runs into the next one.
    Truncate(usize),
    /// Loses this frame and everything after it in the same answer: the
    /// host hears nothing more until it asks again.
    Silence,
    /// The board restarts instead of sending this frame: it announces
    /// itself (a `Status`, as at boot) and the rest of the answer is lost.
    Restart,
    /// An image of another sequence (the seed plus one) arrives in place
    /// of this image: an earlier answer's frame still on the wire.
    Foreign,
}

/// A board over a lossy line.
struct FakeBoard {
    blob: Vec<u8>,
    commands: CommandReader,
    line: VecDeque<u8>,
    /// Frames sent so far, over all answers.
    frames: usize,
    /// Faults by frame number.
    faults: Vec<(usize, Fault)>,
    /// Set by `Silence` until the next command.
    silent: bool,
    /// The "hardware" seeds, one per request without a seed.
    hardware_seed: u64,
    /// Image frames sent, over all answers.
    images_sent: Rc<Cell<u32>>,
}

impl FakeBoard {
    fn new(blob: Vec<u8>, faults: Vec<(usize, Fault)>) -> Self {
        Self {
            blob,
            commands: CommandReader::new(),
            line: VecDeque::new(),
            frames: 0,
            faults,
            silent: false,
            hardware_seed: 1000,
            images_sent: Rc::default(),
        }
    }

    /// Sends one frame through the faulty line.
    fn send(&mut self, reply: &Reply<'_>) {
        let mut frame = Vec::new();
        reply.send(&mut frame).unwrap();
        let number = self.frames;
        self.frames += 1;
        for &(_, fault) in self.faults.iter().filter(|(n, _)| *n == number) {
            match fault {
                Fault::Restart => {
                    let status = self.status();
                    self.line.extend(status);
                    self.silent = true;
                    return;
                }
                Fault::Foreign => {
                    let Reply::Image(image) = reply else {
                        panic!("Foreign applies to image frames");
                    };
                    let mut sequence = image.sequence;
                    sequence.seed += 1;
                    frame.clear();
                    Reply::Image(Image { sequence, ..*image })
                        .send(&mut frame)
                        .unwrap();
                }
                Fault::Flip(i) => frame[i] ^= 0xff,
                Fault::Drop(i) => {
                    frame.remove(i);
                }
                Fault::Truncate(i) => frame.truncate(i),
                Fault::Silence => self.silent = true,
            }
        }
        if !self.silent {
            self.line.extend(frame);
        }
    }

    /// The board's `Status` frame.
    fn status(&self) -> Vec<u8> {
        let model = Model::from_bytes(&self.blob).unwrap();
        let shape = model.image_shape();
        let mut frame = Vec::new();
        Reply::Status(Status {
            protocol: VERSION,
            board: "fake",
            firmware: "0",
            model: Ok(ModelInfo {
                blob_len: self.blob.len() as u32,
                blob_crc32: model.header().crc32,
                latent: model.latent_dim() as u16,
                shape: [shape.height, shape.width, shape.channels],
                classes: model.classes(),
                default_draw: model.default_draw(),
                class_names: model.class_names().text(),
            }),
        })
        .send(&mut frame)
        .unwrap();
        frame
    }

    fn answer(&mut self, command: Command) {
        self.silent = false;
        let blob = self.blob.clone();
        let model = Model::from_bytes(&blob).unwrap();
        match command {
            Command::Hello => {
                let status = self.status();
                self.line.extend(status);
                self.frames += 1;
            }
            Command::Generate(request) => {
                let (seed, source) = match request.seed {
                    Some(seed) => (seed, SeedSource::Host),
                    None => {
                        self.hardware_seed += 1;
                        (self.hardware_seed, SeedSource::Hardware)
                    }
                };
                self.send(&Reply::Begin(Begin {
                    seed,
                    source,
                    request,
                }));
                let mut scratch = vec![0; model.scratch_len()];
                let mut pixels = vec![0; model.image_len()];
                let mut images = Vec::new();
                model
                    .for_each_latent_in(
                        request.draw,
                        request.count,
                        request.images(),
                        &mut seeded_rng(seed),
                        |index, z| {
                            model.decode(z, &mut scratch, &mut pixels)?;
                            images.push((
                                index,
                                z.iter().map(|&v| v as u8).collect::<Vec<_>>(),
                                pixels.clone(),
                            ));
                            Ok::<(), tinyvae_shared::Error>(())
                        },
                    )
                    .unwrap();
                for (index, latent, pixels) in &images {
                    self.images_sent.set(self.images_sent.get() + 1);
                    self.send(&Reply::Image(Image {
                        sequence: request.sequence(seed),
                        index: *index,
                        latent,
                        pixels,
                    }));
                }
                self.send(&Reply::Done {
                    images: images.len() as u32,
                });
            }
        }
    }
}

impl Write for FakeBoard {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        for &byte in bytes {
            if let Some(command) = self.commands.push(byte) {
                self.answer(command.expect("the host sends valid frames"));
            }
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for FakeBoard {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if self.line.is_empty() {
            std::thread::sleep(Duration::from_millis(1));
            return Err(io::ErrorKind::TimedOut.into());
        }
        // A few bytes at a time, as a UART delivers them.
        let n = buffer.len().min(self.line.len()).min(7);
        for slot in &mut buffer[..n] {
            *slot = self.line.pop_front().unwrap();
        }
        Ok(n)
    }
}

fn blob() -> Vec<u8> {
    common::small_model().to_blob().unwrap()
}

fn connect(faults: Vec<(usize, Fault)>) -> Board<FakeBoard> {
    let board = FakeBoard::new(blob(), faults);
    Board::connect(
        board,
        Decoder::new(None),
        Duration::from_millis(300),
        "fake",
    )
    .unwrap()
}

/// Frame numbers of one request's answer, after the Status (frame 0):
/// Begin is frame 1, image `i` frame `2 + i`.
const fn image_frame(i: usize) -> usize {
    2 + i
}

#[test]
fn damaged_frames_never_become_images_and_lost_images_are_asked_for_again() {
    let faults = vec![
        (image_frame(1), Fault::Flip(5)),
        (image_frame(3), Fault::Drop(2)),
        // Image 4 loses its tail and delimiter, so it runs into image 5:
        // both lost.
        (image_frame(4), Fault::Truncate(6)),
        (image_frame(6), Fault::Flip(0)),
        // The line goes quiet from image 8 on (Done included).
        (image_frame(8), Fault::Silence),
    ];
    let mut board = connect(faults);
    let request = Request::new(Draw::Prior, 10, None);
    let collected = board.generate(request, |_| {}).expect("recovers");
    let model_blob = blob();
    let model = Model::from_bytes(&model_blob).unwrap();
    let host = host_images(&model, collected.seed, 10, Draw::Prior).unwrap();
    assert_eq!(collected.source, SeedSource::Hardware);
    assert_eq!(collected.images.len(), 10);
    for (i, image) in collected.images.iter().enumerate() {
        assert_eq!(image.index as usize, i);
        assert_eq!(image.pixels, host[i * 4..(i + 1) * 4], "image {i}");
    }
    // Four frames arrived damaged (the truncated one merged with the next
    // counts once); images 1, 3, 4, 5, 6, 8 and 9 were asked for again.
    assert_eq!(collected.damaged, 4);
    assert_eq!(collected.resent, 7);
}

#[test]
fn a_lost_seed_means_asking_again_from_the_start() {
    // The Begin frame (with the hardware seed) arrives damaged: the images
    // after it cannot be replayed and are not kept.
    let mut board = connect(vec![(1, Fault::Flip(3))]);
    let request = Request::new(Draw::Class(1), 3, None);
    let collected = board.generate(request, |_| {}).unwrap();
    let model_blob = blob();
    let model = Model::from_bytes(&model_blob).unwrap();
    // The second answer's seed: the fake board's second hardware seed.
    assert_eq!(collected.seed, 1002);
    let host = host_images(&model, collected.seed, 3, Draw::Class(1)).unwrap();
    let chip: Vec<u8> = collected
        .images
        .iter()
        .flat_map(|i| i.pixels.clone())
        .collect();
    assert_eq!(chip, host);
}

#[test]
fn a_line_that_damages_every_image_ends_with_a_clear_error() {
    // Every frame from the first image on, in every answer, flipped.
    let faults = (image_frame(0)..200).map(|n| (n, Fault::Flip(1))).collect();
    let mut board = connect(faults);
    let error = board
        .generate(Request::new(Draw::Prior, 2, Some(4)), |_| {})
        .expect_err("cannot recover");
    let text = format!("{error:#}");
    assert!(
        text.contains(
            "2 images still missing after 10 rounds in a row brought none, and none ever arrived"
        ),
        "{text}"
    );
}

#[test]
fn no_board_on_the_line_is_bad_input() {
    struct Mute;
    impl Read for Mute {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::ErrorKind::TimedOut.into())
        }
    }
    impl Write for Mute {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let error = Board::connect(Mute, Decoder::new(None), Duration::from_millis(200), "mute")
        .err()
        .expect("nobody answers");
    assert_eq!(tinyvae_tools::fail::exit_code(&error), 2);
    assert!(format!("{error:#}").contains("no tinyvae board answered on mute"));
}

/// The fake board's images of `request`'s sequence from `seed`, as the
/// host replays them, one `Vec` per image.
fn host_of(request: Request, seed: u64) -> Vec<Vec<u8>> {
    let model_blob = blob();
    let model = Model::from_bytes(&model_blob).unwrap();
    let host = host_images(&model, seed, request.count, request.draw).unwrap();
    host.chunks(model.image_len()).map(<[u8]>::to_vec).collect()
}

/// Asserts that `collected` holds every image of its request, each the
/// host's replay of its seed.
fn assert_replayed(collected: &Collected) {
    let host = host_of(collected.request, collected.seed);
    assert_eq!(collected.images.len(), host.len());
    for (image, host) in collected.images.iter().zip(&host) {
        assert_eq!(&image.pixels, host, "image {}", image.index);
    }
}

#[test]
fn a_board_that_restarts_mid_answer_is_asked_again_with_the_same_seed() {
    let mut board = connect(vec![(image_frame(3), Fault::Restart)]);
    let request = Request::new(Draw::Prior, 6, None);
    let collected = board.generate(request, |_| {}).unwrap();
    // The first answer's hardware seed, learnt from its Begin.
    assert_eq!(collected.seed, 1001);
    assert_eq!(collected.source, SeedSource::Hardware);
    assert_eq!(collected.resent, 3);
    assert_replayed(&collected);
}

#[test]
fn a_board_that_restarts_before_its_seed_arrived_starts_over() {
    let mut board = connect(vec![(1, Fault::Restart)]);
    let request = Request::new(Draw::Class(1), 3, None);
    let collected = board.generate(request, |_| {}).unwrap();
    // The seed of the second answer: the first was never heard.
    assert_eq!(collected.seed, 1002);
    assert_replayed(&collected);
}

#[test]
fn an_image_of_another_sequence_is_never_kept() {
    let mut board = connect(vec![
        (image_frame(2), Fault::Foreign),
        (image_frame(4), Fault::Foreign),
    ]);
    let request = Request::new(Draw::Fitted, 5, Some(9));
    let collected = board.generate(request, |_| {}).unwrap();
    assert_eq!((collected.damaged, collected.resent), (0, 2));
    assert_replayed(&collected);
}

#[test]
fn a_resumed_request_asks_for_what_it_lacks_and_keeps_only_that() {
    let fake = FakeBoard::new(blob(), vec![]);
    let images_sent = fake.images_sent.clone();
    let mut board =
        Board::connect(fake, Decoder::new(None), Duration::from_millis(300), "fake").unwrap();
    let request = Request::new(Draw::Prior, 8, None);
    let begin = Begin {
        seed: 77,
        source: SeedSource::Hardware,
        request: Request::new(Draw::Prior, 8, Some(77)),
    };
    let received = vec![true, false, false, true, true, false, true, true];
    let known = Known {
        begin,
        received: received.clone(),
    };
    let mut arrived = Vec::new();
    let outcome = board
        .stream(request, Some(known), |arrival| {
            match arrival {
                Arrival::Image(image) => arrived.push(image),
                Arrival::Seed(_) => panic!("the seed is known"),
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(
        (outcome.begin.seed, outcome.begin.source),
        (77, SeedSource::Hardware)
    );
    let indices: Vec<u32> = arrived.iter().map(|i| i.index).collect();
    assert_eq!(indices, [1, 2, 5]);
    let host = host_of(request, 77);
    for image in &arrived {
        assert_eq!(image.pixels, host[image.index as usize]);
    }
    // The host asked for 1..7 in one round: images it lacks are at least
    // half of what it asks for (`Gathered::next_ask`).
    assert_eq!(images_sent.get(), 6);
}
