//! `qemu-system-arm` as a child process: the command line for a machine,
//! starting it with a clear error when QEMU is missing, killing it on drop,
//! and the scratch files it loads.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use std::{fs, thread};

use anyhow::{Context, Result};

use super::Machine;

/// A running QEMU, killed when dropped (an early return, a panic, a
/// timeout) so that no emulator outlives its caller.
pub(crate) struct Qemu(pub(crate) Child);

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Qemu {
    /// `qemu-system-arm` for `machine`, headless, its first UART on
    /// `serial` (`none`, `pty`) and its monitor on `monitor` (`none`, or a
    /// socket: `monitor::option`); the caller adds the rest and
    /// [`start`]s it.
    ///
    /// [`start`]: Qemu::start
    pub(crate) fn command(machine: Machine, serial: &str, monitor: &str) -> Command {
        let mut command = Command::new("qemu-system-arm");
        command.args(machine.qemu_args()).args([
            "-nographic",
            "-monitor",
            monitor,
            "-serial",
            serial,
        ]);
        command
    }

    /// Boots `elf` with `command` (stdout piped, stderr as given), with a
    /// clear error when QEMU is not installed.
    pub(crate) fn start(command: &mut Command, elf: &Path, stderr: Stdio) -> Result<Self> {
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

    /// Reads QEMU's `char device redirected to /dev/pts/N` line: the pty
    /// its UART is on (a `-serial pty` machine).
    pub(crate) fn pty(&mut self, timeout: Duration) -> Result<String> {
        let stdout = self.0.stdout.take().context("QEMU's stdout")?;
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
}

/// QEMU's generic loader: `file`'s bytes at `address` (`None`: where the
/// file says, for an Intel HEX file).
pub(crate) fn loader(file: &Path, address: Option<u32>) -> String {
    match address {
        Some(address) => format!("loader,file={},addr={address:#x}", file.display()),
        None => format!("loader,file={}", file.display()),
    }
}

/// Reads `pipe` to its end on a thread of its own, so that a chatty QEMU
/// never blocks on a full pipe; the thread returns the bytes.
pub(crate) fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// A fresh directory under the system's temporary directory for the files
/// QEMU loads (a command frame, a HEX file), removed on drop.
pub(crate) struct ScratchDir(PathBuf);

impl ScratchDir {
    /// Creates the directory, named after this process and a counter.
    pub(crate) fn new() -> Result<Self> {
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

    /// The path of the file `name` in the directory (which need not
    /// exist: a socket QEMU creates).
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `bytes` to the file `name` in the directory and returns its
    /// path.
    pub(crate) fn write(&self, name: &str, bytes: &[u8]) -> Result<PathBuf> {
        let path = self.path(name);
        fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
