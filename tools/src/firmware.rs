//! Building the firmware, running it in QEMU and talking to it.
//!
//! Self-contained (std, anyhow, defmt-decoder, serialport): `tinyvae qemu`
//! and `bench` use it and the end-to-end tests in `tests/` compile the same
//! file, so both speak the firmware's protocol the same way. Two ways to
//! run:
//! - the lab machines ([`run`]: `mps2-an386`, and the `bench` builds): the
//!   command frame and the blob loaded by QEMU's generic loader, the reply
//!   frames read from semihosting's stdout when QEMU exits;
//! - the micro:bit board firmware unchanged ([`emulate_microbit`]): the blob
//!   flashed as Intel HEX, the protocol over the emulated UART on a pty,
//!   exactly as `tinyvae listen` talks to a real board.
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use std::{fs, thread};

use anyhow::{Context, Result, bail};
use tinyvae_shared::boards::{self, Layout};
use tinyvae_shared::protocol::{self, Request};

use crate::hex::{Chunk, intel_hex};
use crate::link::{self, Decoder, Event, LogLine};

/// The firmware's workspace (a sibling of this crate's directory).
pub fn firmware_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware")
}

/// A QEMU machine the firmware runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Machine {
    /// `mps2-an386`: Cortex-M4F, blob in PSRAM.
    Mps2An386,
    /// `microbit`: nRF51 Cortex-M0, blob in flash above the code.
    Microbit,
}

impl Machine {
    /// Rust target triple.
    pub fn target(self) -> &'static str {
        match self {
            Machine::Mps2An386 => "thumbv7em-none-eabihf",
            Machine::Microbit => "thumbv6m-none-eabi",
        }
    }

    /// The firmware's board feature.
    pub fn feature(self) -> &'static str {
        match self {
            Machine::Mps2An386 => "qemu",
            Machine::Microbit => "microbit",
        }
    }

    /// The machine's memory facts, the ones the firmware is built with.
    pub fn layout(self) -> &'static Layout {
        match self {
            Machine::Mps2An386 => &boards::MPS2_AN386,
            Machine::Microbit => &boards::MICROBIT,
        }
    }

    /// Where the blob goes.
    pub fn blob_address(self) -> u32 {
        self.layout().blob_start
    }

    /// Room for the blob.
    pub fn blob_capacity(self) -> usize {
        self.layout().blob_capacity()
    }

    /// The firmware's decoder scratch and image buffer, in bytes: the
    /// largest `Model::scratch_len` and `Model::image_len` this build runs.
    pub fn buffers(self) -> (usize, usize) {
        (self.layout().scratch, self.layout().pixels)
    }

    /// The machine's RAM: static RAM is what the ELF puts there.
    pub fn ram(self) -> std::ops::Range<u64> {
        let layout = self.layout();
        let start = u64::from(layout.ram_start);
        start..start + u64::from(layout.ram_len)
    }

    fn qemu_machine(self) -> &'static [&'static str] {
        match self {
            Machine::Mps2An386 => &["-cpu", "cortex-m4", "-machine", "mps2-an386"],
            Machine::Microbit => &["-machine", "microbit"],
        }
    }
}

/// Builds the firmware for `machine` (`cargo build --release` in
/// firmware/; a no-op when it is up to date) and returns the ELF's path.
pub fn build(machine: Machine) -> Result<PathBuf> {
    build_with(machine, &[], &firmware_dir().join("target"))
}

/// [`build`] with extra cargo features of the firmware (e.g. `bench`), in
/// `target_dir`, so that differently featured builds do not overwrite each
/// other.
pub fn build_with(machine: Machine, features: &[&str], target_dir: &Path) -> Result<PathBuf> {
    let dir = firmware_dir();
    let features = std::iter::once(machine.feature())
        .chain(features.iter().copied())
        .collect::<Vec<_>>()
        .join(",");
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(&dir)
        // The firmware keeps its own target directory whatever the caller's.
        .env("CARGO_TARGET_DIR", target_dir)
        .args(["build", "--release", "--quiet", "--no-default-features"])
        .args(["--features", &features, "--target", machine.target()])
        .status()
        .with_context(|| format!("running cargo build in {}", dir.display()))?;
    if !status.success() {
        bail!(
            "building the firmware in {} failed ({status})",
            dir.display()
        );
    }
    Ok(target_dir
        .join(machine.target())
        .join("release/tinyvae-firmware"))
}

/// Flash and static RAM of an ELF, from its section headers: flash is
/// every allocated section with contents outside RAM plus `.data`'s load
/// image; static RAM is every allocated section in `ram` (`.data`, `.bss`,
/// `.uninit`, ...) except the stack, which cortex-m-rt does not put in a
/// section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// Bytes programmed into flash.
    pub flash: u64,
    /// Bytes of RAM reserved before the stack.
    pub static_ram: u64,
}

/// Reads [`Sizes`] from a little-endian ELF32 file; `ram` is the RAM's
/// address range.
pub fn elf_sizes(elf: &[u8], ram: std::ops::Range<u64>) -> Result<Sizes> {
    let u16_at = |at: usize| -> Result<u64> {
        Ok(u64::from(u16::from_le_bytes(
            elf.get(at..at + 2).context("ELF truncated")?.try_into()?,
        )))
    };
    let u32_at = |at: usize| -> Result<u64> {
        Ok(u64::from(u32::from_le_bytes(
            elf.get(at..at + 4).context("ELF truncated")?.try_into()?,
        )))
    };
    if !elf.starts_with(b"\x7fELF\x01\x01") {
        bail!("not a little-endian ELF32 file");
    }
    let (shoff, shentsize, shnum) = (u32_at(0x20)?, u16_at(0x2e)?, u16_at(0x30)?);
    let (mut flash, mut static_ram) = (0, 0);
    for i in 0..shnum {
        let at = (shoff + i * shentsize) as usize;
        let (kind, flags, addr, size) = (
            u32_at(at + 4)?,
            u32_at(at + 8)?,
            u32_at(at + 12)?,
            u32_at(at + 20)?,
        );
        const SHF_ALLOC: u64 = 2;
        const SHT_NOBITS: u64 = 8;
        if flags & SHF_ALLOC == 0 || size == 0 {
            continue;
        }
        if ram.contains(&addr) {
            static_ram += size;
            if kind != SHT_NOBITS {
                flash += size; // .data's load image
            }
        } else if kind != SHT_NOBITS {
            flash += size;
        }
    }
    Ok(Sizes { flash, static_ram })
}

/// What one lab run gave back.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// QEMU's exit code (the firmware's semihosting exit code).
    pub exit_code: i32,
    /// The firmware's log lines, in order.
    pub log: Vec<LogLine>,
    /// The images' bytes, in order of their index.
    pub images: Vec<Vec<u8>>,
    /// The latents the firmware drew, in order.
    pub latents: Vec<Vec<i8>>,
    /// The seed the firmware reported.
    pub seed: Option<u64>,
    /// The firmware's refusal, if it refused.
    pub refusal: Option<String>,
    /// What QEMU itself printed on stderr.
    pub stderr: String,
}

impl Run {
    /// All log lines, `LEVEL message` per line.
    pub fn log_text(&self) -> String {
        log_text(&self.log)
    }

    /// The first log line at `ERROR` level.
    pub fn error(&self) -> Option<&str> {
        self.log
            .iter()
            .find(|line| line.level == "ERROR")
            .map(|line| line.message.as_str())
    }
}

/// Log lines, `LEVEL message` per line.
pub fn log_text(log: &[LogLine]) -> String {
    log.iter()
        .map(|line| format!("{:<5} {}\n", line.level, line.message))
        .collect()
}

/// Kills QEMU when dropped (an early return, a panic, a timeout).
struct Qemu(Child);

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `qemu-system-arm` for `machine`, headless, its first UART on `serial`
/// (`none`, `pty`).
fn qemu_command(machine: Machine, serial: &str) -> Command {
    let mut command = Command::new("qemu-system-arm");
    command.args(machine.qemu_machine()).args([
        "-nographic",
        "-monitor",
        "none",
        "-serial",
        serial,
    ]);
    command
}

impl Qemu {
    /// Boots `elf` with `command` (stdout piped, stderr as given), with a
    /// clear error when QEMU is not installed.
    fn start(command: &mut Command, elf: &Path, stderr: Stdio) -> Result<Self> {
        command
            .arg("-kernel")
            .arg(elf)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        command.spawn().map(Qemu).map_err(|err| {
            if err.kind() == std::io::ErrorKind::NotFound {
                anyhow::anyhow!(
                    "qemu-system-arm not found: install it (Debian/Ubuntu: apt-get install qemu-system-arm)"
                )
            } else {
                anyhow::Error::new(err).context("starting qemu-system-arm")
            }
        })
    }
}

/// The firmware ELF's bytes and defmt table.
fn read_elf(elf: &Path) -> Result<defmt_decoder::Table> {
    let bytes = fs::read(elf).with_context(|| format!("reading the firmware {}", elf.display()))?;
    link::defmt_table(&bytes, &elf.display().to_string())
}

/// Runs a lab build (`mps2-an386`, or a `bench` build) in QEMU with `blob`
/// and the command frame for `request` loaded (either may be left out, to
/// see the firmware refuse), decodes its replies and returns them. QEMU is
/// killed after `timeout`.
pub fn run(
    elf: &Path,
    machine: Machine,
    blob: Option<&Path>,
    request: Option<&Request>,
    timeout: Duration,
) -> Result<Run> {
    run_with(elf, machine, blob, request, timeout, &[])
}

/// [`run`] with extra QEMU arguments (`-icount shift=0` for counting
/// instructions).
pub fn run_with(
    elf: &Path,
    machine: Machine,
    blob: Option<&Path>,
    request: Option<&Request>,
    timeout: Duration,
    qemu_args: &[&str],
) -> Result<Run> {
    let table = read_elf(elf)?;
    let scratch = ScratchDir::new()?;
    let mut command = qemu_command(machine, "none");
    command.args(["-semihosting-config", "enable=on,target=native"]);
    command.args(qemu_args);
    if let Some(request) = request {
        let address = machine
            .layout()
            .command
            .context("this machine reads its commands from its UART, not from memory")?;
        let path = scratch.0.join("request.bin");
        fs::write(&path, protocol::Command::Generate(*request).to_frame())
            .with_context(|| format!("writing {}", path.display()))?;
        command.arg("-device").arg(loader(&path, address));
    }
    if let Some(blob) = blob {
        command
            .arg("-device")
            .arg(loader(blob, machine.blob_address()));
    }
    let mut qemu = Qemu::start(&mut command, elf, Stdio::piped())?;
    let stdout = drain(qemu.0.stdout.take());
    let stderr = drain(qemu.0.stderr.take());
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = qemu.0.try_wait().context("waiting for QEMU")? {
            break status;
        }
        if Instant::now() > deadline {
            bail!("QEMU ran longer than {timeout:?} (killed)");
        }
        thread::sleep(Duration::from_millis(2));
    };
    let stdout = stdout.join().unwrap_or_default();
    let mut run = Run {
        exit_code: status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned(),
        ..Run::default()
    };
    for event in Decoder::new(Some(table)).feed(&stdout) {
        match event {
            Event::Image(image) => {
                expect_index(image.index as usize, run.images.len())?;
                run.images.push(image.pixels);
                run.latents.push(image.latent);
            }
            Event::Log(line) => run.log.push(line),
            Event::Begin(begin) => run.seed = Some(begin.seed),
            Event::Refused(_, detail) => run.refusal = Some(detail),
            Event::Damaged(error) => bail!("a damaged frame from the lab firmware ({error})"),
            Event::Status(_) | Event::Done(_) => {}
        }
    }
    Ok(run)
}

fn loader(file: &Path, address: u32) -> String {
    format!("loader,file={},addr={address:#x}", file.display())
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

fn expect_index(index: usize, expected: usize) -> Result<()> {
    if index != expected {
        bail!("image {index} arrived where image {expected} was expected");
    }
    Ok(())
}

/// The micro:bit board firmware running in QEMU `-machine microbit`,
/// unchanged: its blob flashed from an Intel HEX file, its UART on a pty
/// that [`link::Board`] talks to, as to a real board. QEMU is killed when
/// this is dropped.
pub struct Emulator {
    /// The session with the emulated board.
    pub board: link::Board<Box<dyn serialport::SerialPort>>,
    /// The pty QEMU put the UART on.
    pub port: String,
    _qemu: Qemu,
    _scratch: ScratchDir,
}

/// Boots `elf` (the `microbit` board build) in QEMU with `blob` flashed at
/// the board's blob address (none: an empty blob region) and connects to
/// its UART. `timeout` bounds the boot and every silence of the board.
pub fn emulate_microbit(elf: &Path, blob: Option<&[u8]>, timeout: Duration) -> Result<Emulator> {
    let table = read_elf(elf)?;
    let scratch = ScratchDir::new()?;
    let mut command = qemu_command(Machine::Microbit, "pty");
    if let Some(blob) = blob {
        let path = scratch.0.join("blob.hex");
        let hex = intel_hex(&[Chunk {
            address: Machine::Microbit.blob_address(),
            bytes: blob.to_vec(),
        }])?;
        fs::write(&path, hex).with_context(|| format!("writing {}", path.display()))?;
        command
            .arg("-device")
            .arg(format!("loader,file={}", path.display()));
    }
    let mut qemu = Qemu::start(&mut command, elf, Stdio::null())?;
    let port = pty_of(&mut qemu, timeout)?;
    let serial = serialport::new(&port, 115_200)
        .timeout(Duration::from_millis(50))
        .open()
        .with_context(|| format!("opening QEMU's pty {port}"))?;
    let board = link::Board::connect(serial, Decoder::new(Some(table)), timeout, &port)?;
    Ok(Emulator {
        board,
        port,
        _qemu: qemu,
        _scratch: scratch,
    })
}

/// Reads QEMU's `char device redirected to /dev/pts/N` line.
fn pty_of(qemu: &mut Qemu, timeout: Duration) -> Result<String> {
    let stdout = qemu.0.stdout.take().context("QEMU's stdout")?;
    let (sender, receiver) = std::sync::mpsc::channel();
    thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(at) = line.find("/dev/") {
                let path = line[at..]
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                let _ = sender.send(path);
            }
        }
    });
    receiver
        .recv_timeout(timeout)
        .context("QEMU did not say which pty the micro:bit's UART is on")
}

/// Parses `"{index} [a, b, c]"`.
fn indexed_list<T: std::str::FromStr>(text: &str) -> Result<(usize, Vec<T>)> {
    let (index, list) = text.split_once(' ').context("no list")?;
    let list = list
        .strip_prefix('[')
        .and_then(|l| l.strip_suffix(']'))
        .context("list not in brackets")?;
    let values = list
        .split(", ")
        .filter(|v| !v.is_empty())
        .map(|v| v.parse::<T>().ok().context("not a number"))
        .collect::<Result<_>>()?;
    Ok((index.parse().context("bad index")?, values))
}

/// A fresh directory under the system's temporary directory, removed on drop.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> Result<Self> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "tinyvae-qemu-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// One kernel's measurement of one image from the `bench` firmware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchImage {
    /// `portable`, `dsp` or `float`.
    pub kernel: String,
    /// Image index.
    pub image: u32,
    /// FNV-1a of the image's bytes.
    pub fnv1a: u32,
    /// Deepest stack use while decoding, bytes.
    pub stack: u32,
    /// Executed instructions: sampler, each layer, output table.
    pub instructions: Vec<u64>,
}

/// What a `bench` firmware run reported.
#[derive(Debug, Clone, Default)]
pub struct Bench {
    /// Every kernel's every image, in the order measured.
    pub images: Vec<BenchImage>,
    /// `(image, max, sum)` of |float - int8| over the pixels.
    pub float_diff: Vec<(u32, u32, u64)>,
    /// `kernel image` of every image whose bytes differed from the portable kernels'.
    pub mismatches: Vec<String>,
    /// `(image, instructions)` of sending each image's reply frame.
    pub protocol: Vec<(u32, u64)>,
}

/// Runs a firmware built with the `bench` feature under `-icount shift=0`
/// (one executed instruction = 1 ns of virtual time, so the timer counts
/// instructions deterministically) and parses its `bench` frames.
pub fn bench(
    elf: &Path,
    machine: Machine,
    blob: &Path,
    request: &Request,
    timeout: Duration,
) -> Result<Bench> {
    let run = run_with(
        elf,
        machine,
        Some(blob),
        Some(request),
        timeout,
        &["-icount", "shift=0"],
    )?;
    if run.exit_code != 0 {
        bail!(
            "the bench firmware exited with {}: {}{}",
            run.exit_code,
            run.log_text(),
            run.stderr
        );
    }
    let mut bench = Bench::default();
    let mut ps_per_tick = None;
    for line in &run.log {
        let Some(rest) = line.message.strip_prefix("bench ") else {
            continue;
        };
        let words: Vec<&str> = rest.splitn(5, ' ').collect();
        let number = |i: usize| -> Result<u64> {
            words
                .get(i)
                .and_then(|w| w.parse().ok())
                .with_context(|| format!("bad bench frame {rest:?}"))
        };
        match words[0] {
            "clock" => ps_per_tick = Some(number(1)?),
            "mismatch" => bench.mismatches.push(words[1..].join(" ")),
            "protocol" => {
                let ps = ps_per_tick.context("bench frame before the clock frame")?;
                bench
                    .protocol
                    .push((number(1)? as u32, number(2)? * ps / 1000));
            }
            "float-diff" => {
                bench
                    .float_diff
                    .push((number(1)? as u32, number(2)? as u32, number(3)?))
            }
            kernel => {
                let ps = ps_per_tick.context("bench frame before the clock frame")?;
                let (_, ticks) = indexed_list::<u64>(&format!("0 {}", words.get(4).unwrap_or(&"")))
                    .with_context(|| format!("bad bench frame {rest:?}"))?;
                bench.images.push(BenchImage {
                    kernel: kernel.to_owned(),
                    image: number(1)? as u32,
                    fnv1a: number(2)? as u32,
                    stack: number(3)? as u32,
                    instructions: ticks.iter().map(|t| t * ps / 1000).collect(),
                });
            }
        }
    }
    if bench.images.is_empty() {
        bail!("the bench firmware reported nothing:\n{}", run.log_text());
    }
    Ok(bench)
}
