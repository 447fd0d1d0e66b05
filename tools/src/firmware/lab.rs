//! The lab builds in QEMU (`mps2-an386`, and the `bench` builds): the
//! command frame and the blob loaded by QEMU's generic loader, the reply
//! frames read from semihosting's stdout when QEMU exits.

use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tinyvae_shared::protocol::{self, Request};

use super::Machine;
use super::elf::read_defmt_table;
use super::qemu::{Qemu, ScratchDir, drain, loader};
use crate::link::{Decoder, Event, LogLine};

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

    /// The first log line at `ERROR` level: why the firmware stopped.
    pub fn error(&self) -> Option<&str> {
        self.log
            .iter()
            .find(|line| line.level == "ERROR")
            .map(|line| line.message.as_str())
    }
}

/// One log line as the CLI prints it: `LEVEL message` (the level padded
/// to five columns), no newline.
pub fn log_line(line: &LogLine) -> String {
    format!("{:<5} {}", line.level, line.message)
}

/// Log lines, [`log_line`] and a newline per line.
pub fn log_text(log: &[LogLine]) -> String {
    log.iter().map(|line| log_line(line) + "\n").collect()
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
    LabQemu::new(machine, blob, request)?.run(elf, timeout)
}

/// A lab run's QEMU, set up but not started: its command line, to which a
/// caller may add arguments (`bench` adds `-icount shift=0`), and the
/// files it loads.
pub(crate) struct LabQemu {
    /// `qemu-system-arm` with the machine, semihosting and the loaders.
    pub(crate) command: Command,
    _scratch: ScratchDir,
}

impl LabQemu {
    /// QEMU for `machine` with semihosting on, `blob` at the machine's
    /// blob address and the command frame for `request` at its command
    /// address.
    pub(crate) fn new(
        machine: Machine,
        blob: Option<&Path>,
        request: Option<&Request>,
    ) -> Result<Self> {
        let scratch = ScratchDir::new()?;
        let mut command = Qemu::command(machine, "none", "none");
        command.args(["-semihosting-config", "enable=on,target=native"]);
        if let Some(request) = request {
            let address = machine
                .layout()
                .command
                .context("this machine reads its commands from its UART, not from memory")?;
            let frame = protocol::Command::Generate(*request).to_frame();
            let path = scratch.write("request.bin", &frame)?;
            command.arg("-device").arg(loader(&path, Some(address)));
        }
        if let Some(blob) = blob {
            command
                .arg("-device")
                .arg(loader(blob, Some(machine.blob_address())));
        }
        Ok(Self {
            command,
            _scratch: scratch,
        })
    }

    /// Boots `elf`, waits for it to exit (killing it after `timeout`) and
    /// decodes what it sent.
    pub(crate) fn run(mut self, elf: &Path, timeout: Duration) -> Result<Run> {
        let table = read_defmt_table(elf)?;
        let mut qemu = Qemu::start(&mut self.command, elf, Stdio::piped())?;
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
                Event::Image(_, image) => {
                    let expected = run.images.len();
                    if image.index as usize != expected {
                        bail!(
                            "image {} arrived where image {expected} was expected",
                            image.index
                        );
                    }
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
}
