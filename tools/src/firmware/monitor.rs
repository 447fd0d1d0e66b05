//! QEMU's human monitor (HMP) on a unix socket: the `-monitor` option that
//! puts it there, and one command sent through it. A test resets the
//! emulated board this way while it keeps its UART's pty and its flash.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// What the monitor prints when it is ready for a command.
const PROMPT: &str = "(qemu) ";

/// `-monitor`'s argument for a monitor listening on `socket`, which QEMU
/// creates; `wait=off`: QEMU boots without waiting for a client.
pub(crate) fn option(socket: &Path) -> String {
    format!("unix:{},server=on,wait=off", socket.display())
}

/// Sends `command` to the monitor on `socket` and returns what it printed
/// in answer (empty when a command such as `system_reset` succeeds), its
/// echo of the command and its prompt left out. Waits at most `timeout`
/// for the monitor.
pub(crate) fn send(socket: &Path, command: &str, timeout: Duration) -> Result<String> {
    let deadline = Instant::now() + timeout;
    let mut stream = UnixStream::connect(socket)
        .with_context(|| format!("connecting to QEMU's monitor at {}", socket.display()))?;
    read_to_prompt(&mut stream, deadline).context("waiting for QEMU's monitor prompt")?;
    stream
        .write_all(format!("{command}\n").as_bytes())
        .context("writing to QEMU's monitor")?;
    let answer = read_to_prompt(&mut stream, deadline)
        .with_context(|| format!("waiting for QEMU's monitor to run {command}"))?;
    // The first line is the monitor's echo of the command (as typed, with
    // terminal escapes); what follows it is the command's output.
    let output = answer.split_once("\r\n").map_or("", |(_, output)| output);
    Ok(output.trim().to_owned())
}

/// Reads from the monitor until it prints its prompt, by `deadline`.
fn read_to_prompt(stream: &mut UnixStream, deadline: Instant) -> Result<String> {
    let mut text = Vec::new();
    let mut buffer = [0; 1024];
    while !text.ends_with(PROMPT.as_bytes()) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!("no prompt from QEMU's monitor");
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buffer) {
            Ok(0) => bail!("QEMU's monitor closed the connection"),
            Ok(n) => text.extend_from_slice(&buffer[..n]),
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                bail!("no prompt from QEMU's monitor")
            }
            Err(err) => return Err(err).context("reading QEMU's monitor"),
        }
    }
    text.truncate(text.len() - PROMPT.len());
    Ok(String::from_utf8_lossy(&text).into_owned())
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::os::unix::net::UnixListener;

    use super::*;

    /// A monitor that answers one command as QEMU 7.2's does: banner and
    /// prompt, the command echoed with terminal escapes, `output`, prompt.
    fn fake_monitor(socket: &Path, output: &'static str) -> std::thread::JoinHandle<String> {
        let listener = UnixListener::bind(socket).unwrap();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream
                .write_all(b"QEMU 7.2.22 monitor - type 'help' for more information\r\n(qemu) ")
                .unwrap();
            let mut command = String::new();
            BufReader::new(&stream).read_line(&mut command).unwrap();
            let command = command.trim_end();
            let echo = format!("{command}\x1b[K\x1b[D\r\n{output}(qemu) ");
            stream.write_all(echo.as_bytes()).unwrap();
            command.to_owned()
        })
    }

    #[test]
    fn a_command_s_output_comes_back_without_echo_and_prompt() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("monitor.sock");
        let timeout = Duration::from_secs(10);
        let monitor = fake_monitor(&socket, "");
        assert_eq!(send(&socket, "system_reset", timeout).unwrap(), "");
        assert_eq!(monitor.join().unwrap(), "system_reset");

        std::fs::remove_file(&socket).unwrap();
        let monitor = fake_monitor(&socket, "unknown command: 'bogus'\r\n");
        let output = send(&socket, "bogus", timeout).unwrap();
        assert_eq!(output, "unknown command: 'bogus'");
        monitor.join().unwrap();
    }

    #[test]
    fn no_monitor_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("monitor.sock");
        let error = send(&socket, "system_reset", Duration::from_secs(1)).unwrap_err();
        assert!(
            format!("{error:#}").starts_with("connecting to QEMU's monitor at "),
            "{error:#}"
        );
    }
}
