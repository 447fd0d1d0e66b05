//! Fuzzes the host's reply reader (`protocol::ReplyReader`: frames split
//! at the delimiters, unstuffed, CRC-checked; the code `tinyvae`'s
//! `link::Decoder` runs) and `Reply::parse` with arbitrary byte streams,
//! as a noisy serial line delivers a board's replies.
//!
//! Whatever the bytes: no panic; the reader never holds more than
//! `MAX_REPLY_FRAME` bytes; every frame it ends unstuffs and parses to a
//! reply or a typed error; and every reply that parses is sent again
//! (`Reply::send`, the board's own encoder) to a frame that the reader
//! reads back to the same reply.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyvae_shared::protocol::{MAX_REPLY_FRAME, Reply, ReplyReader};

fuzz_target!(|data: &[u8]| {
    let mut reader = ReplyReader::new();
    for &byte in data {
        let frame = reader.push(byte);
        assert!(reader.pending() <= MAX_REPLY_FRAME);
        let Some(Ok(body)) = frame else {
            continue;
        };
        let Ok(reply) = Reply::parse(&body) else {
            continue;
        };
        let mut wire = Vec::new();
        reply.send(&mut wire).expect("a Vec takes every byte");
        let mut again = ReplyReader::new();
        let frames: Vec<_> = wire.iter().filter_map(|&b| again.push(b)).collect();
        assert_eq!(frames.len(), 1, "one reply, one frame");
        let again = frames[0].as_ref().expect("the board's frame reads");
        assert_eq!(
            Reply::parse(again).expect("the board's frame parses"),
            reply
        );
    }
});
