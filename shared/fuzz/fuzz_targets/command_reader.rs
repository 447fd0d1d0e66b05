//! Fuzzes the board's command reader with arbitrary byte streams, as a
//! noisy serial line delivers them.
//!
//! Whatever the bytes: no panic; every frame the reader hands back is a
//! command or a typed error; the reader's buffer is bounded by its type
//! (`heapless`, `MAX_COMMAND_FRAME` bytes); and after the garbage, a
//! delimiter and one valid command frame are read as exactly that command
//! (a board recovers from any noise at the next delimiter).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyvae_shared::Draw;
use tinyvae_shared::protocol::{Command, CommandReader, DELIMITER, Request};

fuzz_target!(|data: &[u8]| {
    let mut reader = CommandReader::new();
    for &byte in data {
        if let Some(Ok(command)) = reader.push(byte) {
            // Whatever parses is a command the board could act on: it
            // encodes again to a frame that reads back as itself.
            let frame = command.to_frame();
            let mut again = CommandReader::new();
            let read: Vec<_> = frame.iter().filter_map(|&b| again.push(b)).collect();
            assert_eq!(read, [Ok(command)]);
        }
    }
    let expected = Command::Generate(Request::new(Draw::Fitted, 3, Some(7)));
    let mut read = Vec::new();
    for &byte in std::iter::once(&DELIMITER).chain(&expected.to_frame()) {
        read.extend(reader.push(byte));
    }
    assert_eq!(
        read.last(),
        Some(&Ok(expected)),
        "after {} bytes",
        data.len()
    );
});
