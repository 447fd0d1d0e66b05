//! The host-board protocol: what `tinyvae listen` (or `tinyvae qemu`) and
//! the firmware say to each other over one byte stream, a UART on a real
//! board. `shared/PROTOCOL.md` is the byte-level specification; this module
//! is its one implementation, run by the firmware, the host tools and the
//! tests alike.
//!
//! Both directions carry *frames*: a body, its CRC-32 (little-endian, the
//! blob's CRC-32/ISO-HDLC) and a `0x00` delimiter, the body and CRC
//! byte-stuffed so that no `0x00` occurs inside a frame. A byte corrupted,
//! dropped or inserted on the wire breaks the CRC (or the stuffing) of the
//! one frame it hits; the next `0x00` resynchronises the reader.
//!
//! - Host to board: [`Command`]s, postcard-encoded, stuffed with COBS (the
//!   board decodes them in place in a 64-byte buffer).
//! - Board to host: [`Reply`]s, a tag byte and postcard fields, stuffed with
//!   rzCOBS (the framing defmt uses), whose encoder streams: the board sends
//!   an image straight from its pixel buffer, with no frame buffer. defmt
//!   log frames travel inside [`Reply::Log`] records, so logs and images
//!   share the line without confusing each other.
//!
//! Generation is deterministic in the seed, so a frame lost on the wire is
//! recovered by asking again: a [`Request`] names the seed and the slice
//! `first..end` of the `count`-image sequence to send.

use core::ops::Range;

use serde::{Deserialize, Serialize};

use crate::classes::ClassNames;
use crate::sampler::Draw;

/// CRC-32/ISO-HDLC, the blob's checksum, in a static: a streaming digest
/// borrows it for the whole frame.
static CRC: crc::Crc<u32> = crate::blob::CRC;

/// Protocol version, sent in every [`Status`]. Bump it on any change to
/// the bytes of a frame. Version 2 added [`Draw::Fitted`] (a request a
/// version-1 board cannot decode) and made an [`Image`]'s `latent` the
/// whole decoder input; version 3 made every [`Image`] name its sequence
/// (seed, draw, count), so that the host can never file an image under
/// another request's seed, and a [`ModelInfo`] carry the class names.
pub const VERSION: u16 = 3;

/// The frame delimiter.
pub const DELIMITER: u8 = 0x00;

/// The last byte of a reply frame before stuffing. rzCOBS may pad a
/// decoded frame with up to six trailing zero bytes; the host strips the
/// zeros back to this marker, so a body or CRC ending in zeros stays exact.
pub const REPLY_END: u8 = 0x01;

/// Longest command frame the board accepts, delimiter excluded (the
/// largest [`Command`] encodes to 36 bytes).
pub const MAX_COMMAND_FRAME: usize = 64;

/// Most images one request may ask for.
pub const MAX_COUNT: u32 = 100_000;

/// What the host asks of the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// "Who are you, and which model do you hold?": answered by a
    /// [`Reply::Status`].
    Hello,
    /// Generate images: answered by [`Reply::Begin`], one [`Reply::Image`]
    /// per image and [`Reply::Done`], or by one [`Reply::Error`].
    Generate(Request),
}

/// One generation request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The sampler's seed; `None`: the board draws one from its hardware
    /// random number generator (and reports it in [`Reply::Begin`]).
    pub seed: Option<u64>,
    /// What to draw.
    pub draw: Draw,
    /// Images in the whole sequence (an interpolation's number of steps).
    pub count: u32,
    /// First image of the sequence to send.
    pub first: u32,
    /// One past the last image to send.
    pub end: u32,
}

impl Request {
    /// The whole sequence of `count` images.
    pub const fn new(draw: Draw, count: u32, seed: Option<u64>) -> Self {
        Self {
            seed,
            draw,
            count,
            first: 0,
            end: count,
        }
    }

    /// The same sequence (and seed), sending only `images`: how the host
    /// asks again for images lost on the wire.
    pub fn resend(self, seed: u64, images: Range<u32>) -> Self {
        Self {
            seed: Some(seed),
            first: images.start,
            end: images.end,
            ..self
        }
    }

    /// The sequence this request's images belong to, drawn from `seed`.
    pub const fn sequence(&self, seed: u64) -> Sequence {
        Sequence {
            seed,
            draw: self.draw,
            count: self.count,
        }
    }

    /// The indices of the images this request sends.
    pub fn images(&self) -> Range<u32> {
        self.first..self.end
    }

    /// Checks `first < end <= count <= MAX_COUNT`.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.count == 0 || self.count > MAX_COUNT {
            Err("count must be 1 to 100000")
        } else if self.first >= self.end || self.end > self.count {
            Err("images first..end must be a non-empty part of 0..count")
        } else {
            Ok(())
        }
    }
}

/// Where a request's seed came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeedSource {
    /// The host's request.
    Host,
    /// The board's hardware random number generator.
    Hardware,
}

/// What the board tells the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'a> {
    /// The board, its firmware and its model: sent at boot and in answer
    /// to [`Command::Hello`].
    Status(Status<'a>),
    /// A request was accepted and is being generated with `seed`.
    Begin(Begin),
    /// One generated image.
    Image(Image<'a>),
    /// The request's images have all been sent.
    Done {
        /// How many were sent.
        images: u32,
    },
    /// A command was refused; the board keeps serving.
    Error(Refusal<'a>),
    /// One defmt log frame (decode it with the firmware ELF's defmt table).
    Log(&'a [u8]),
}

/// The board's self-description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status<'a> {
    /// [`VERSION`] of the firmware's protocol.
    pub protocol: u16,
    /// The board, e.g. `BBC micro:bit v1 (nRF51822, Cortex-M0)`.
    pub board: &'a str,
    /// The firmware's version.
    pub firmware: &'a str,
    /// The model in the blob region, or why it cannot serve (no valid
    /// model, or one that does not fit the board: `boards::Misfit`).
    pub model: Result<ModelInfo<&'a str>, &'a str>,
}

/// What the host needs to know of the board's model. `S` holds the class
/// names: `&str` on the wire, an owned `String` on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo<S> {
    /// Blob bytes (header included).
    pub blob_len: u32,
    /// CRC-32 of the blob's payload (its header's checksum): which blob
    /// this is.
    pub blob_crc32: u32,
    /// Latent dimensions.
    pub latent: u16,
    /// Image height, width and channels.
    pub shape: [u16; 3],
    /// Classes a [`Draw::Class`] may name (`Model::classes`: the class
    /// condition's, else the fitted density's, else 0).
    pub classes: u16,
    /// What the board draws unless a request names a draw of its own
    /// (`Model::default_draw`: [`Draw::Fitted`] when the blob has a latent
    /// density, else [`Draw::Prior`]).
    pub default_draw: Draw,
    /// The blob's class names, separated by `\n` (`Model::class_names`);
    /// empty when the blob stores none (format version 3), whose classes
    /// are then called `class k`. [`ModelInfo::names`] reads them.
    pub class_names: S,
}

impl<S: AsRef<str>> ModelInfo<S> {
    /// The name of every class: those the board sent, checked against
    /// [`ModelInfo::classes`], or `class k` when it sent none.
    pub fn names(&self) -> Result<ClassNames<'_>, crate::Error> {
        match self.class_names.as_ref() {
            "" => Ok(ClassNames::numbered(self.classes)),
            text => ClassNames::new(text, self.classes),
        }
    }
}

impl<S> ModelInfo<S> {
    /// The same information with the names turned by `f` (the host keeps
    /// an owned copy of a status it received).
    pub fn map_names<T>(self, f: impl FnOnce(S) -> T) -> ModelInfo<T> {
        ModelInfo {
            blob_len: self.blob_len,
            blob_crc32: self.blob_crc32,
            latent: self.latent,
            shape: self.shape,
            classes: self.classes,
            default_draw: self.default_draw,
            class_names: f(self.class_names),
        }
    }
}

/// The start of a request's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Begin {
    /// The seed the images are generated from: replay them with it.
    pub seed: u64,
    /// Where it came from.
    pub source: SeedSource,
    /// The request as the board runs it (with the seed filled in).
    pub request: Request,
}

/// Which sequence an image belongs to: images of one sequence are the same
/// whichever request (slice) asked for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sequence {
    /// The sampler's seed.
    pub seed: u64,
    /// What is drawn.
    pub draw: Draw,
    /// Images in the whole sequence.
    pub count: u32,
}

/// One image and the decoder input it was decoded from.
///
/// It names its [`Sequence`]: after a stall, a reset or a lost [`Begin`],
/// frames of an earlier answer can still be on the wire when the host has
/// asked again, and only this tells the host which sequence an image
/// belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image<'a> {
    /// The sequence it belongs to.
    pub sequence: Sequence,
    /// Its index in the sequence.
    pub index: u32,
    /// The whole int8 decoder input (`Model::input_len` codes: z, then a
    /// class-conditional decoder's one-hot codes), as two's complement
    /// bytes.
    pub latent: &'a [u8],
    /// The pixels, height x width x channels.
    pub pixels: &'a [u8],
}

/// Why a command was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal<'a> {
    /// The kind of problem.
    pub kind: Problem,
    /// The board's words for it.
    pub detail: &'a str,
}

/// The kinds of refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Problem {
    /// The board's blob region holds no valid model.
    NoModel,
    /// A command frame arrived damaged (CRC, stuffing, length) or did not
    /// decode as a command.
    BadFrame,
    /// A well-formed request the board cannot serve (count or range, or a
    /// fitted draw from a blob without a density).
    BadRequest,
    /// The request named a class the model does not have (at or above
    /// `Model::classes`: the class condition's, else the fitted density's).
    UnknownClass,
    /// The model does not fit the board (`boards::Layout::check`: its
    /// scratch or image needs more memory than the firmware reserves); the
    /// refusal's detail is the board's `Status` model error, word for word.
    TooBig,
    /// Decoding failed.
    Generate,
}

/// The tag byte that starts each [`Reply`] body.
mod tag {
    pub const STATUS: u8 = 1;
    pub const BEGIN: u8 = 2;
    pub const IMAGE: u8 = 3;
    pub const DONE: u8 = 4;
    pub const ERROR: u8 = 5;
    pub const LOG: u8 = 6;
}

/// Why a received frame was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, displaydoc::Display)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FrameError {
    /// frame longer than the {0} bytes the reader holds
    TooLong(u32),
    /// bad byte stuffing
    Stuffing,
    /// frame of {0} bytes is too short for its checksum
    TooShort(u32),
    /// checksum mismatch
    Checksum,
    /// unknown reply tag {0}
    UnknownTag(u8),
    /// the body does not decode as a message
    Malformed,
}

#[cfg(feature = "std")]
impl std::error::Error for FrameError {}

/// Streams one frame's body out through rzCOBS, appending the CRC: the
/// board's writer, which needs no buffer the size of a frame.
pub struct FrameWriter<W: embedded_io::Write> {
    encoder: rzcobs::Encoder<Sink<W>>,
    digest: crc::Digest<'static, u32>,
}

/// The rzCOBS encoder's output: the transport, behind a small buffer so
/// that the transport is called once per 32 bytes, not per byte.
struct Sink<W: embedded_io::Write> {
    writer: W,
    buffer: [u8; SINK_BYTES],
    len: usize,
}

/// Bytes the [`Sink`] collects before it calls the transport.
const SINK_BYTES: usize = 32;

impl<W: embedded_io::Write> Sink<W> {
    /// Passes the buffered bytes on.
    fn drain(&mut self) -> Result<(), W::Error> {
        let len = core::mem::take(&mut self.len);
        self.writer.write_all(&self.buffer[..len])
    }
}

impl<W: embedded_io::Write> rzcobs::Write for Sink<W> {
    type Error = W::Error;

    fn write(&mut self, byte: u8) -> Result<(), W::Error> {
        self.buffer[self.len] = byte;
        self.len += 1;
        if self.len == self.buffer.len() {
            self.drain()?;
        }
        Ok(())
    }
}

impl<W: embedded_io::Write> FrameWriter<W> {
    /// Starts a frame on `writer` (a `&mut` to a transport, or a handle).
    pub fn new(writer: W) -> Self {
        Self {
            encoder: rzcobs::Encoder::new(Sink {
                writer,
                buffer: [0; SINK_BYTES],
                len: 0,
            }),
            digest: CRC.digest(),
        }
    }

    /// Appends body bytes.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), W::Error> {
        self.digest.update(bytes);
        bytes.iter().try_for_each(|&b| self.encoder.write(b))
    }

    /// Ends the frame: CRC, end marker, end of stuffing, delimiter, and
    /// flushes the writer.
    pub fn finish(mut self) -> Result<(), W::Error> {
        let crc = self.digest.finalize().to_le_bytes();
        crc.iter()
            .chain(&[REPLY_END])
            .try_for_each(|&b| self.encoder.write(b))?;
        self.encoder.end()?;
        let sink = self.encoder.writer();
        sink.drain()?;
        sink.writer.write_all(&[DELIMITER])?;
        sink.writer.flush()
    }
}

/// postcard's output into a [`FrameWriter`].
struct Flavor<'f, W: embedded_io::Write> {
    frame: &'f mut FrameWriter<W>,
    /// The writer's error, which postcard's own error type cannot carry.
    error: &'f mut Option<W::Error>,
}

impl<W: embedded_io::Write> postcard::ser_flavors::Flavor for Flavor<'_, W> {
    type Output = ();

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.try_extend(&[byte])
    }

    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        self.frame.write(bytes).map_err(|error| {
            *self.error = Some(error);
            postcard::Error::SerializeBufferFull
        })
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Writes `tag` and `value`'s postcard bytes into `frame`.
fn put<W: embedded_io::Write, T: Serialize>(
    frame: &mut FrameWriter<W>,
    tag: u8,
    value: &T,
) -> Result<(), W::Error> {
    frame.write(&[tag])?;
    let mut error = None;
    let flavor = Flavor {
        frame,
        error: &mut error,
    };
    match postcard::serialize_with_flavor(value, flavor) {
        Ok(()) => Ok(()),
        Err(_) => match error {
            Some(error) => Err(error),
            // Our types always serialize; only the writer can fail.
            None => Ok(()),
        },
    }
}

impl Reply<'_> {
    /// Sends the reply as one frame.
    pub fn send<W: embedded_io::Write>(&self, writer: &mut W) -> Result<(), W::Error> {
        let mut frame = FrameWriter::new(writer);
        match self {
            Reply::Status(status) => put(&mut frame, tag::STATUS, status)?,
            Reply::Begin(begin) => put(&mut frame, tag::BEGIN, begin)?,
            Reply::Image(image) => put(&mut frame, tag::IMAGE, image)?,
            Reply::Done { images } => put(&mut frame, tag::DONE, images)?,
            Reply::Error(refusal) => put(&mut frame, tag::ERROR, refusal)?,
            Reply::Log(bytes) => {
                frame.write(&[tag::LOG])?;
                frame.write(bytes)?;
            }
        }
        frame.finish()
    }

    /// Starts a [`Reply::Log`] frame whose bytes arrive piecewise (a defmt
    /// logger's `write` calls): write them, then `finish` it.
    pub fn log_frame<W: embedded_io::Write>(writer: W) -> Result<FrameWriter<W>, W::Error> {
        let mut frame = FrameWriter::new(writer);
        frame.write(&[tag::LOG])?;
        Ok(frame)
    }

    /// Parses a reply body (a frame after [`unstuff_reply`]).
    pub fn parse(body: &[u8]) -> Result<Reply<'_>, FrameError> {
        let (&tag, rest) = body.split_first().ok_or(FrameError::Malformed)?;
        fn all<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, FrameError> {
            match postcard::take_from_bytes(bytes) {
                Ok((value, [])) => Ok(value),
                _ => Err(FrameError::Malformed),
            }
        }
        Ok(match tag {
            tag::STATUS => Reply::Status(all(rest)?),
            tag::BEGIN => Reply::Begin(all(rest)?),
            tag::IMAGE => Reply::Image(all(rest)?),
            tag::DONE => Reply::Done { images: all(rest)? },
            tag::ERROR => Reply::Error(all(rest)?),
            tag::LOG => Reply::Log(rest),
            other => return Err(FrameError::UnknownTag(other)),
        })
    }
}

/// Splits the CRC off `frame` (body and CRC, unstuffed) and checks it.
fn checked(frame: &[u8]) -> Result<&[u8], FrameError> {
    if frame.len() < 5 {
        return Err(FrameError::TooShort(frame.len() as u32));
    }
    let (body, crc) = frame.split_at(frame.len() - 4);
    if CRC.checksum(body).to_le_bytes() != crc {
        return Err(FrameError::Checksum);
    }
    Ok(body)
}

/// The board's reader of command frames: feed it bytes as they arrive.
pub struct CommandReader {
    buffer: heapless::Vec<u8, MAX_COMMAND_FRAME>,
    overflow: bool,
}

impl Default for CommandReader {
    fn default() -> Self {
        Self::new()
    }
}

impl CommandReader {
    /// An empty reader.
    pub const fn new() -> Self {
        Self {
            buffer: heapless::Vec::new(),
            overflow: false,
        }
    }

    /// Takes one received byte; at a delimiter that ends a non-empty
    /// frame, the command it carries or why it was dropped.
    pub fn push(&mut self, byte: u8) -> Option<Result<Command, FrameError>> {
        if byte != DELIMITER {
            if self.buffer.push(byte).is_err() {
                self.overflow = true;
            }
            return None;
        }
        if self.buffer.is_empty() && !self.overflow {
            return None;
        }
        let result = if self.overflow {
            Err(FrameError::TooLong(MAX_COMMAND_FRAME as u32))
        } else {
            parse_command(&mut self.buffer)
        };
        self.buffer.clear();
        self.overflow = false;
        Some(result)
    }
}

/// Unstuffs (in place), checks and decodes one command frame.
fn parse_command(frame: &mut [u8]) -> Result<Command, FrameError> {
    let len = cobs::decode_in_place(frame).map_err(|_| FrameError::Stuffing)?;
    let body = checked(&frame[..len])?;
    match postcard::take_from_bytes(body) {
        Ok((command, [])) => Ok(command),
        _ => Err(FrameError::Malformed),
    }
}

/// The host's side: encoding commands, unstuffing replies.
#[cfg(feature = "std")]
mod host;

#[cfg(feature = "std")]
pub use host::{MAX_REPLY_FRAME, ReplyReader, unstuff_reply};
