//! Fuzzes the host's reply parsers (`protocol::unstuff_reply`, then
//! `Reply::parse`) with arbitrary byte streams, as a noisy serial line
//! delivers a board's replies.
//!
//! Whatever the bytes: no panic; every frame between two delimiters
//! unstuffs and parses to a reply or a typed error; and every reply that
//! parses is sent again (`Reply::send`, the board's own encoder) to a frame
//! that parses back to the same reply.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyvae_shared::protocol::{DELIMITER, Reply, unstuff_reply};

fuzz_target!(|data: &[u8]| {
    for frame in data.split(|&b| b == DELIMITER).filter(|f| !f.is_empty()) {
        let Ok(body) = unstuff_reply(frame) else {
            continue;
        };
        let Ok(reply) = Reply::parse(&body) else {
            continue;
        };
        let mut wire = Vec::new();
        reply.send(&mut wire).expect("a Vec takes every byte");
        let frames: Vec<&[u8]> = wire
            .split(|&b| b == DELIMITER)
            .filter(|f| !f.is_empty())
            .collect();
        assert_eq!(frames.len(), 1, "one reply, one frame");
        let again = unstuff_reply(frames[0]).expect("the board's frame unstuffs");
        assert_eq!(
            Reply::parse(&again).expect("the board's frame parses"),
            reply
        );
    }
});
