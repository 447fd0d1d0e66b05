//! The host's side of the board protocol (`tinyvae_shared::protocol`,
//! shared/PROTOCOL.md): [`decoder`] turns the bytes a board sends into
//! [`Event`]s; [`Board`] is a session with a board over any byte stream (a
//! serial port, QEMU's pty, a test's fake) that asks for images and asks
//! again for any lost on the wire, damaged, or cut off by the board
//! restarting; [`patience`] is when it stops asking.

mod decoder;
mod patience;

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tinyvae_shared::protocol::{Begin, Command, ModelInfo, Problem, Request, SeedSource, VERSION};

pub use decoder::{BoardStatus, ChipImage, Decoder, Event, LogLine, defmt_table};
use patience::Record;

use crate::fail::bad_input;

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

/// What arrives for a request, in this order: its seed once the host knows
/// it, then each image the first time it arrives intact.
#[derive(Debug)]
pub enum Arrival {
    /// The seed (the request's own, or the board's `Begin`).
    Seed(Begin),
    /// A new image of the request's sequence.
    Image(ChipImage),
}

/// What the host already holds of a request: a resumed run's seed and
/// which images it has.
#[derive(Debug, Clone)]
pub struct Known {
    /// The seed, and where it came from.
    pub begin: Begin,
    /// Image `i` is held when `received[i]`.
    pub received: Vec<bool>,
}

/// How a request's collection went.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// The seed the images were drawn from.
    pub begin: Begin,
    /// Frames that arrived damaged and were dropped.
    pub damaged: u32,
    /// Images asked for again.
    pub resent: u32,
    /// Times the board restarted during the request.
    pub restarts: u32,
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

/// What the rounds of one request have gathered so far.
struct Gathered {
    /// Image `i` has arrived intact when `received[i]`.
    received: Vec<bool>,
    /// How many have.
    count: u32,
    /// The seed, once known.
    begin: Option<Begin>,
    /// Frames that arrived damaged.
    damaged: u32,
}

/// How one round (one command and its answer) ended.
enum RoundEnd {
    /// The board said `Done` (possibly an earlier answer's).
    Done,
    /// The board was silent for the timeout.
    Silent,
    /// The board announced itself mid-answer: it restarted.
    Restarted,
    /// The board received a damaged command.
    DamagedCommand,
}

impl Board<Box<dyn serialport::SerialPort>> {
    /// Opens the serial port `port` (a board's USB serial port, QEMU's or
    /// a relay's pty) at `baud` and greets the board there
    /// ([`Board::connect`]). A port that does not open is bad input.
    pub fn open(port: &str, baud: u32, decoder: Decoder, timeout: Duration) -> Result<Self> {
        let serial = serialport::new(port, baud)
            // Reads return what has arrived after at most this long: the
            // host's loops poll their deadlines at this pace.
            .timeout(Duration::from_millis(50))
            .open()
            .with_context(|| format!("cannot open serial port {port}"))
            .map_err(bad_input)?;
        Self::connect(serial, decoder, timeout, port)
    }
}

impl<P: Read + Write> Board<P> {
    /// Greets the board on `port` (`Hello` every second) until it answers
    /// with its status. No answer within `timeout`, or a board speaking
    /// another protocol version, is bad input.
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
                        Event::Status(status) if status.protocol != VERSION => {
                            return Err(bad_input(anyhow::anyhow!(
                                "the board on {name} speaks protocol version {}, this tinyvae {VERSION}: flash the firmware of this tinyvae version (tinyvae hex)",
                                status.protocol
                            )));
                        }
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

    /// The board's model, or bad input naming why it cannot serve one (no
    /// valid blob, or a model that does not fit the board).
    pub fn model(&self) -> Result<ModelInfo<String>> {
        self.status.model.clone().map_err(|why| {
            bad_input(anyhow::anyhow!(
                "the board ({}) has no model it can run: {why}",
                self.status.board
            ))
        })
    }

    /// Asks for `request`'s images and collects them in memory (see
    /// [`Board::stream`]); `progress` is called with the number of images
    /// received so far.
    pub fn generate(
        &mut self,
        request: Request,
        mut progress: impl FnMut(u32),
    ) -> Result<Collected> {
        let mut images: Vec<Option<ChipImage>> = vec![None; request.count as usize];
        let mut received = 0;
        let outcome = self.stream(request, None, |arrival| {
            if let Arrival::Image(image) = arrival {
                let at = image.index as usize;
                images[at] = Some(image);
                received += 1;
                progress(received);
            }
            Ok(())
        })?;
        Ok(Collected {
            seed: outcome.begin.seed,
            source: outcome.begin.source,
            request: outcome.begin.request,
            images: images.into_iter().flatten().collect(),
            damaged: outcome.damaged,
            resent: outcome.resent,
        })
    }

    /// Asks for `request`'s images (those `known` lacks, with its seed)
    /// and hands each to `on` as it arrives, so nothing but a bitmap stays
    /// in memory. Any image lost on the wire (a damaged frame, silence for
    /// `timeout`, a damaged command, the board restarting) is asked for
    /// again with the seed, or, while the seed is unknown, the request
    /// starts over; the host gives up when a run of rounds brings nothing
    /// for longer than the line's record makes likely ([`patience`]).
    pub fn stream(
        &mut self,
        request: Request,
        known: Option<Known>,
        mut on: impl FnMut(Arrival) -> Result<()>,
    ) -> Result<Outcome> {
        let mut gathered = match known {
            Some(known) => Gathered {
                count: known.received.iter().filter(|&&r| r).count() as u32,
                received: known.received,
                begin: Some(known.begin),
                damaged: 0,
            },
            None => Gathered {
                received: vec![false; request.count as usize],
                count: 0,
                begin: None,
                damaged: 0,
            },
        };
        if let (None, Some(seed)) = (gathered.begin, request.seed) {
            // The host's own seed: the start of the answer is not needed.
            let begin = Begin {
                seed,
                source: SeedSource::Host,
                request,
            };
            gathered.begin = Some(begin);
            on(Arrival::Seed(begin))?;
        }
        let (mut resent, mut restarts) = (0, 0);
        let mut record = Record::default();
        let mut first_round = true;
        loop {
            // The first round of a fresh request asks for it as it is (the
            // board checks it); later rounds for what is missing
            // (`Gathered::next_ask`).
            let asking = match (gathered.begin, gathered.next_ask()) {
                (_, None) if !first_round || gathered.count > 0 => break,
                (Some(begin), Some(run)) => request.resend(begin.seed, run),
                _ => request,
            };
            let (before, wanted) = (gathered.count, gathered.missing_in(asking.images()));
            if !first_round {
                resent += wanted;
            }
            first_round = false;
            write_command(&mut self.port, Command::Generate(asking))
                .context("writing to the board")?;
            let end = self.round(request, &mut gathered, &mut on)?;
            record.round(wanted, gathered.count - before);
            if gathered.next_ask().is_none() {
                break;
            }
            let why = match end {
                RoundEnd::Done => "the answer ended".to_owned(),
                RoundEnd::Silent => format!("the board was silent for {:?}", self.timeout),
                RoundEnd::Restarted => {
                    restarts += 1;
                    "the board restarted".to_owned()
                }
                RoundEnd::DamagedCommand => "the board received a damaged command".to_owned(),
            };
            let damaged = gathered.damaged;
            if let Some(streak) = record.exhausted() {
                let missing = gathered.received.len() as u32 - gathered.count;
                let line = match record.history() {
                    Some(share) => format!(
                        "a one-in-a-million run on a line that had delivered {:.0}% of the images asked for",
                        100.0 * share
                    ),
                    None => "and none ever arrived".to_owned(),
                };
                bail!(
                    "{missing} images still missing after {streak} rounds in a row brought none, {line} ({damaged} damaged frames, {} rounds in all)",
                    record.rounds()
                );
            }
            match (gathered.begin, gathered.next_ask()) {
                (Some(begin), Some(next)) => {
                    eprintln!(
                        "warning: images missing ({why}); asking for {}..{} again with seed {}",
                        next.start, next.end, begin.seed
                    );
                }
                _ => eprintln!(
                    "warning: the board's seed never arrived ({why}); starting over with a fresh seed"
                ),
            }
        }
        let begin = gathered.begin.context("no seed from the board")?;
        Ok(Outcome {
            begin,
            damaged: gathered.damaged,
            resent,
            restarts,
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

    /// Reads one answer to a command for `request`: until `Done`, a
    /// refusal, the board's `Status` once the answer has started (it
    /// restarted), or silence for `timeout`. Images of `request`'s sequence (with the gathered seed)
    /// go to `on` the first time each arrives; frames of any other sequence
    /// (an earlier answer still on the wire) are passed over.
    fn round(
        &mut self,
        request: Request,
        gathered: &mut Gathered,
        on: &mut impl FnMut(Arrival) -> Result<()>,
    ) -> Result<RoundEnd> {
        let image_len = self.status.model.as_ref().map_or(0, |model| {
            model
                .shape
                .iter()
                .map(|&d| usize::from(d))
                .product::<usize>()
        });
        let mut buffer = [0; 4096];
        let mut last = Instant::now();
        // Whether the board has started answering this round's command.
        let mut answering = false;
        loop {
            if last.elapsed() > self.timeout {
                return Ok(RoundEnd::Silent);
            }
            let n = read_some(&mut self.port, &mut buffer).context("reading from the board")?;
            if n > 0 {
                last = Instant::now();
            }
            for event in self.decoder.feed(&buffer[..n]) {
                answering |= !matches!(event, Event::Log(_) | Event::Status(_));
                match event {
                    Event::Begin(begin) => {
                        // A seed the board drew for this request (not an
                        // earlier request's, nor a resend's).
                        let ours = begin.source == SeedSource::Hardware
                            && begin.request.draw == request.draw
                            && begin.request.count == request.count;
                        if gathered.begin.is_none() && ours {
                            gathered.begin = Some(begin);
                            on(Arrival::Seed(begin))?;
                        }
                    }
                    Event::Image(sequence, image) => {
                        let Some(begin) = gathered.begin else {
                            continue;
                        };
                        if sequence != request.sequence(begin.seed) {
                            continue;
                        }
                        let slot = (image.pixels.len() == image_len)
                            .then(|| gathered.received.get_mut(image.index as usize))
                            .flatten();
                        let Some(slot) = slot else {
                            gathered.damaged += 1;
                            continue;
                        };
                        if !*slot {
                            *slot = true;
                            gathered.count += 1;
                            on(Arrival::Image(image))?;
                        }
                    }
                    Event::Done(_) => return Ok(RoundEnd::Done),
                    Event::Refused(Problem::BadFrame, _) => return Ok(RoundEnd::DamagedCommand),
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
                    // Before the answer has started, a status is the answer
                    // to an earlier `Hello` (the board answers commands in
                    // order); after, the board has restarted. (A board that
                    // restarts before answering loses the command, and the
                    // round ends in silence.)
                    Event::Status(status) => {
                        self.status = status;
                        if answering {
                            return Ok(RoundEnd::Restarted);
                        }
                    }
                }
            }
        }
    }
}

impl Gathered {
    /// What to ask for next: from the first image not yet received, as
    /// far as the images still missing are at least half of those asked
    /// for. On a clean line that is the first run of lost images; on a
    /// line that loses most, nearly all that are missing, in one round.
    fn next_ask(&self) -> Option<std::ops::Range<u32>> {
        let first = self.received.iter().position(|&r| !r)?;
        let (mut missing, mut end) = (0, first);
        for (i, &received) in self.received.iter().enumerate().skip(first) {
            missing += usize::from(!received);
            if 2 * missing >= i + 1 - first {
                end = i + 1;
            }
        }
        Some(first as u32..end as u32)
    }

    /// How many images in `range` have not arrived.
    fn missing_in(&self, range: std::ops::Range<u32>) -> u32 {
        self.received[range.start as usize..range.end as usize]
            .iter()
            .filter(|&&r| !r)
            .count() as u32
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
