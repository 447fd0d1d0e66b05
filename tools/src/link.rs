//! The host's side of the board protocol (`tinyvae_shared::protocol`,
//! shared/PROTOCOL.md): turning the bytes a board sends into [`Event`]s,
//! and [`Board`], a session with a board over any byte stream (a serial
//! port, QEMU's pty, a test's fake) that asks for images and asks again for
//! any lost on the wire.

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tinyvae_shared::protocol::{
    Begin, Command, DELIMITER, FrameError, ModelInfo, Problem, Reply, Request, SeedSource,
    unstuff_reply,
};

use crate::fail::bad_input;

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
    /// The model it holds, or why it holds none.
    pub model: Result<ModelInfo, String>,
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
    /// An image.
    Image(ChipImage),
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
    pending: Vec<u8>,
    table: Option<defmt_decoder::Table>,
}

impl Decoder {
    /// A decoder; `table` (from the firmware ELF) turns log records into text.
    pub fn new(table: Option<defmt_decoder::Table>) -> Self {
        Self {
            pending: Vec::new(),
            table,
        }
    }

    /// The events of every frame that `bytes` completes.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Event> {
        let mut events = Vec::new();
        for &byte in bytes {
            if byte != DELIMITER {
                self.pending.push(byte);
                continue;
            }
            if self.pending.is_empty() {
                continue;
            }
            let frame = std::mem::take(&mut self.pending);
            events.push(self.event(&frame));
        }
        events
    }

    fn event(&self, frame: &[u8]) -> Event {
        let body = match unstuff_reply(frame) {
            Ok(body) => body,
            Err(error) => return Event::Damaged(error),
        };
        match Reply::parse(&body) {
            Ok(Reply::Status(status)) => Event::Status(BoardStatus {
                protocol: status.protocol,
                board: status.board.to_owned(),
                firmware: status.firmware.to_owned(),
                model: status.model.map_err(str::to_owned),
            }),
            Ok(Reply::Begin(begin)) => Event::Begin(begin),
            Ok(Reply::Image(image)) => Event::Image(ChipImage {
                index: image.index,
                latent: image.latent.iter().map(|&b| b as i8).collect(),
                pixels: image.pixels.to_vec(),
            }),
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

/// The images of one request, as collected.
#[derive(Debug, Clone)]
pub struct Collected {
    /// The seed the board used.
    pub seed: u64,
    /// Where it came from.
    pub source: SeedSource,
    /// The request as the board ran it.
    pub request: Request,
    /// The images, in index order, each received intact.
    pub images: Vec<ChipImage>,
    /// Frames that arrived damaged and were dropped.
    pub damaged: u32,
    /// Images asked for again.
    pub resent: u32,
}

/// A session with a board over `port`: its reads return what has arrived,
/// or time out (`ErrorKind::TimedOut` or `WouldBlock`) when nothing has.
pub struct Board<P> {
    port: P,
    decoder: Decoder,
    /// How long the board may stay silent before the host gives up on a
    /// frame (and asks again) or on the board.
    pub timeout: Duration,
    /// The board's last status.
    pub status: BoardStatus,
    /// Every log line so far.
    pub log: Vec<LogLine>,
    /// Called with each log line as it arrives (e.g. to print it).
    pub on_log: Box<dyn FnMut(&LogLine)>,
}

/// What the rounds of one request have collected so far.
struct Gathered {
    /// The images by index, each received intact.
    images: Vec<Option<ChipImage>>,
    /// How many of `images` are there.
    received: u32,
    /// The start of the answer: the seed.
    begin: Option<Begin>,
    /// Frames that arrived damaged.
    damaged: u32,
}

/// How many rounds in a row may bring no image before the host gives up.
const RETRIES: u32 = 5;

impl<P: Read + Write> Board<P> {
    /// Greets the board on `port` (`Hello` every second) until it answers
    /// with its status. No answer within `timeout` is bad input: no board
    /// there, or not running this firmware.
    pub fn connect(
        mut port: P,
        mut decoder: Decoder,
        timeout: Duration,
        name: &str,
    ) -> Result<Self> {
        let deadline = Instant::now() + timeout;
        let mut log = Vec::new();
        let mut buffer = [0; 4096];
        while Instant::now() < deadline {
            write_command(&mut port, Command::Hello)
                .with_context(|| format!("writing to {name}"))?;
            let round = Instant::now() + Duration::from_secs(1);
            while Instant::now() < round.min(deadline) {
                let n =
                    read_some(&mut port, &mut buffer).with_context(|| format!("reading {name}"))?;
                for event in decoder.feed(&buffer[..n]) {
                    match event {
                        Event::Status(status) => {
                            return Ok(Self {
                                port,
                                decoder,
                                timeout,
                                status,
                                log,
                                on_log: Box::new(|_| {}),
                            });
                        }
                        Event::Log(line) => log.push(line),
                        _ => {}
                    }
                }
            }
        }
        Err(bad_input(anyhow::anyhow!(
            "no tinyvae board answered on {name} within {timeout:?}"
        )))
    }

    /// The board's model, or bad input naming why it has none.
    pub fn model(&self) -> Result<ModelInfo> {
        self.status.model.clone().map_err(|why| {
            bad_input(anyhow::anyhow!(
                "the board ({}) has no valid model blob: {why}",
                self.status.board
            ))
        })
    }

    /// Asks for `request`'s images and collects them; any image lost on the
    /// wire (a damaged frame, or silence for `timeout`) is asked for again
    /// with the seed the board reported, until five rounds in a row bring
    /// nothing. `progress` is called with the number of images received so
    /// far.
    pub fn generate(
        &mut self,
        request: Request,
        mut progress: impl FnMut(u32),
    ) -> Result<Collected> {
        // A board without a model refuses the request in its own words.
        let image_len = self.status.model.as_ref().map_or(0, |model| {
            model
                .shape
                .iter()
                .map(|&d| usize::from(d))
                .product::<usize>()
        });
        let mut gathered = Gathered {
            images: vec![None; request.count as usize],
            received: 0,
            // With the host's own seed, the start of the answer is not needed.
            begin: request.seed.map(|seed| Begin {
                seed,
                source: SeedSource::Host,
                request,
            }),
            damaged: 0,
        };
        // `tries` counts the rounds in a row that brought no image.
        let (mut resent, mut tries) = (0, 0);
        let mut asking = request;
        loop {
            write_command(&mut self.port, Command::Generate(asking))
                .context("writing to the board")?;
            let before = gathered.received;
            let round = self.round(image_len, &mut gathered, &mut progress)?;
            if gathered.received > before {
                tries = 0;
            }
            let damaged = gathered.damaged;
            let missing: Vec<u32> = request
                .images()
                .filter(|&i| gathered.images[i as usize].is_none())
                .collect();
            let Some(&first) = missing.first() else {
                break;
            };
            let Some(begin) = gathered.begin else {
                // The seed never arrived: start over (a fresh seed, unless
                // the host gave one).
                tries += 1;
                if tries > RETRIES {
                    bail!("the board's answer was lost {RETRIES} times ({damaged} damaged frames)");
                }
                eprintln!(
                    "warning: the start of the board's answer was lost ({round}); asking again"
                );
                continue;
            };
            tries += 1;
            if tries > RETRIES {
                bail!(
                    "{} images still missing after asking {RETRIES} times in vain ({damaged} damaged frames)",
                    missing.len()
                );
            }
            // Ask for the first missing run again; the rest on later rounds.
            let end = missing
                .iter()
                .zip(first..)
                .take_while(|(i, j)| *i == j)
                .count() as u32
                + first;
            eprintln!(
                "warning: images {first}..{end} lost on the wire ({round}); asking for them again"
            );
            resent += end - first;
            asking = request.resend(begin.seed, first..end);
        }
        let begin = gathered.begin.context("no seed from the board")?;
        Ok(Collected {
            seed: begin.seed,
            source: begin.source,
            request: begin.request,
            images: gathered.images.into_iter().flatten().collect(),
            damaged: gathered.damaged,
            resent,
        })
    }

    /// Writes `bytes` to the board as they are (a test's malformed frame),
    /// then returns the events of what it answers, up to the first pause
    /// of `timeout` after it has started answering.
    pub fn exchange_raw(&mut self, bytes: &[u8]) -> Result<Vec<Event>> {
        self.port.write_all(bytes).context("writing to the board")?;
        self.port.flush().ok();
        let mut events = Vec::new();
        let mut buffer = [0; 4096];
        let mut last = Instant::now();
        while last.elapsed() < self.timeout {
            let n = read_some(&mut self.port, &mut buffer).context("reading from the board")?;
            if n > 0 {
                last = Instant::now();
                events.extend(self.decoder.feed(&buffer[..n]));
            } else if events.iter().any(|e| !matches!(e, Event::Log(_))) {
                break;
            }
        }
        Ok(events)
    }

    /// Reads one answer: until `Done`, a refusal (an error), or silence for
    /// `timeout`. Returns how it ended, in words.
    fn round(
        &mut self,
        image_len: usize,
        gathered: &mut Gathered,
        progress: &mut impl FnMut(u32),
    ) -> Result<String> {
        let mut buffer = [0; 4096];
        let mut last = Instant::now();
        loop {
            if last.elapsed() > self.timeout {
                return Ok(format!("the board was silent for {:?}", self.timeout));
            }
            let n = read_some(&mut self.port, &mut buffer).context("reading from the board")?;
            if n > 0 {
                last = Instant::now();
            }
            for event in self.decoder.feed(&buffer[..n]) {
                match event {
                    Event::Begin(begin) => {
                        gathered.begin.get_or_insert(begin);
                    }
                    // An image whose seed is unknown (its Begin was lost,
                    // and the host sent none) cannot be kept.
                    Event::Image(_) if gathered.begin.is_none() => {}
                    Event::Image(image) => {
                        let slot = (image.pixels.len() == image_len)
                            .then(|| gathered.images.get_mut(image.index as usize))
                            .flatten();
                        let Some(slot) = slot else {
                            gathered.damaged += 1;
                            continue;
                        };
                        if slot.replace(image).is_none() {
                            gathered.received += 1;
                            progress(gathered.received);
                        }
                    }
                    Event::Done(_) => return Ok("done".into()),
                    Event::Refused(problem, detail) => {
                        let error = anyhow::anyhow!("the board refused the request: {detail}");
                        return Err(match problem {
                            Problem::NoModel
                            | Problem::BadRequest
                            | Problem::UnknownClass
                            | Problem::TooBig => bad_input(error),
                            _ => error,
                        });
                    }
                    Event::Log(line) => {
                        (self.on_log)(&line);
                        self.log.push(line);
                    }
                    Event::Damaged(error) => {
                        gathered.damaged += 1;
                        eprintln!("warning: dropped a damaged frame from the board ({error})");
                    }
                    Event::Status(status) => self.status = status,
                }
            }
        }
    }
}

/// Sends one command frame.
fn write_command(port: &mut impl Write, command: Command) -> std::io::Result<()> {
    port.write_all(&command.to_frame())?;
    port.flush()
}

/// Reads what has arrived; 0 when the read timed out.
fn read_some(port: &mut impl Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    match port.read(buffer) {
        Ok(0) => {
            // End of stream (a pipe): wait as a serial port's timeout would.
            std::thread::sleep(Duration::from_millis(10));
            Ok(0)
        }
        Ok(n) => Ok(n),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::TimedOut | ErrorKind::WouldBlock | ErrorKind::Interrupted
            ) =>
        {
            Ok(0)
        }
        Err(e) => Err(e),
    }
}
