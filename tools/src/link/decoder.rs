//! Turning the bytes a board sends into [`Event`]s: frames split at the
//! delimiter, unstuffed, checked and parsed, log records decoded with the
//! firmware's defmt table.

use anyhow::{Context, Result};
use tinyvae_shared::protocol::{
    Begin, FrameError, ModelInfo, Problem, Reply, ReplyReader, Sequence,
};

/// One level-tagged log line from the firmware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// `INFO`, `ERROR`, ... (empty for `println!` frames).
    pub level: String,
    /// The formatted message.
    pub message: String,
}

/// A board's [`tinyvae_shared::protocol::Status`], owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardStatus {
    /// The board's protocol version.
    pub protocol: u16,
    /// The board's name.
    pub board: String,
    /// The firmware's version.
    pub firmware: String,
    /// The model it holds (its class names owned), or why it cannot
    /// serve one.
    pub model: Result<ModelInfo<String>, String>,
}

/// One generated image as the board sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChipImage {
    /// Index in the request's sequence.
    pub index: u32,
    /// The int8 latent it was decoded from.
    pub latent: Vec<i8>,
    /// Its pixels, H x W x C.
    pub pixels: Vec<u8>,
}

/// What one frame from the board said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The board described itself.
    Status(BoardStatus),
    /// A request was accepted.
    Begin(Begin),
    /// An image of `sequence`.
    Image(Sequence, ChipImage),
    /// A request's images have been sent.
    Done(u32),
    /// A command was refused.
    Refused(Problem, String),
    /// A log line (its text needs the firmware's defmt table; without it,
    /// `[defmt frame of N bytes]`).
    Log(LogLine),
    /// A frame arrived damaged and was dropped.
    Damaged(FrameError),
}

/// Splits a byte stream into frames and decodes them.
pub struct Decoder {
    frames: ReplyReader,
    table: Option<defmt_decoder::Table>,
}

impl Decoder {
    /// A decoder; `table` (from the firmware ELF) turns log records into text.
    pub fn new(table: Option<defmt_decoder::Table>) -> Self {
        Self {
            frames: ReplyReader::new(),
            table,
        }
    }

    /// The events of every frame that `bytes` completes.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Event> {
        let mut events = Vec::new();
        for &byte in bytes {
            match self.frames.push(byte) {
                Some(Ok(body)) => events.push(self.event(&body)),
                Some(Err(error)) => events.push(Event::Damaged(error)),
                None => {}
            }
        }
        events
    }

    fn event(&self, body: &[u8]) -> Event {
        match Reply::parse(body) {
            Ok(Reply::Status(status)) => Event::Status(BoardStatus {
                protocol: status.protocol,
                board: status.board.to_owned(),
                firmware: status.firmware.to_owned(),
                model: status
                    .model
                    .map(|info| info.map_names(str::to_owned))
                    .map_err(str::to_owned),
            }),
            Ok(Reply::Begin(begin)) => Event::Begin(begin),
            Ok(Reply::Image(image)) => Event::Image(
                image.sequence,
                ChipImage {
                    index: image.index,
                    latent: image.latent.iter().map(|&b| b as i8).collect(),
                    pixels: image.pixels.to_vec(),
                },
            ),
            Ok(Reply::Done { images }) => Event::Done(images),
            Ok(Reply::Error(refusal)) => Event::Refused(refusal.kind, refusal.detail.to_owned()),
            Ok(Reply::Log(bytes)) => Event::Log(self.log_line(bytes)),
            Err(error) => Event::Damaged(error),
        }
    }

    fn log_line(&self, bytes: &[u8]) -> LogLine {
        let unknown = || LogLine {
            level: String::new(),
            message: format!("[defmt frame of {} bytes]", bytes.len()),
        };
        let Some(table) = &self.table else {
            return unknown();
        };
        let mut stream = table.new_stream_decoder();
        stream.received(bytes);
        match stream.decode() {
            Ok(frame) => LogLine {
                level: frame
                    .level()
                    .map(|l| l.as_str().to_uppercase())
                    .unwrap_or_default(),
                message: frame.display_message().to_string(),
            },
            Err(_) => unknown(),
        }
    }
}

/// Reads the defmt table of a firmware ELF.
pub fn defmt_table(elf: &[u8], name: &str) -> Result<defmt_decoder::Table> {
    defmt_decoder::Table::parse(elf)
        .with_context(|| format!("reading defmt symbols from {name}"))?
        .with_context(|| format!("{name} has no defmt table"))
}
