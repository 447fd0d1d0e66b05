//! The host's side: encoding commands, unstuffing replies.

use super::*;

impl Command {
    /// The command as one frame, delimiter included: what the host sends.
    pub fn to_frame(&self) -> Vec<u8> {
        let mut body = postcard::to_allocvec(self).expect("commands always serialize");
        body.extend_from_slice(&CRC.checksum(&body).to_le_bytes());
        let mut frame = cobs::encode_vec(&body);
        frame.push(DELIMITER);
        frame
    }
}

/// Unstuffs a reply frame (the bytes between two delimiters), strips
/// rzCOBS's zero padding back to [`REPLY_END`] and checks the CRC: the
/// body [`Reply::parse`] reads.
pub fn unstuff_reply(frame: &[u8]) -> Result<Vec<u8>, FrameError> {
    let mut unstuffed = rzcobs::decode(frame).map_err(|_| FrameError::Stuffing)?;
    while unstuffed.last() == Some(&0) {
        unstuffed.pop();
    }
    if unstuffed.pop() != Some(REPLY_END) {
        return Err(FrameError::Stuffing);
    }
    let len = checked(&unstuffed)?.len();
    unstuffed.truncate(len);
    Ok(unstuffed)
}

/// Longest reply frame the host collects, stuffed, delimiter excluded: a
/// frame of the largest image the blob format describes that a board could
/// hold (256 x 256 x 3 bytes) fits with room to spare. A longer run of
/// bytes without a delimiter is noise (or frames merged by lost
/// delimiters) and is dropped.
pub const MAX_REPLY_FRAME: usize = 256 * 1024;

/// The host's reader of a board's byte stream: splits it into frames at
/// the delimiters and unstuffs each ([`unstuff_reply`]), holding at most
/// [`MAX_REPLY_FRAME`] bytes whatever arrives.
#[derive(Debug, Default)]
pub struct ReplyReader {
    pending: Vec<u8>,
    /// Bytes of the current frame were dropped: it is too long.
    overflowed: bool,
}

impl ReplyReader {
    /// A reader at the start of a frame.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one byte from the wire. A delimiter ends a frame: returns its
    /// body, or why it was dropped; an empty frame (`00 00`) is skipped.
    pub fn push(&mut self, byte: u8) -> Option<Result<Vec<u8>, FrameError>> {
        if byte != DELIMITER {
            if self.pending.len() < MAX_REPLY_FRAME {
                self.pending.push(byte);
            } else {
                self.overflowed = true;
            }
            return None;
        }
        if core::mem::take(&mut self.overflowed) {
            self.pending.clear();
            return Some(Err(FrameError::TooLong(MAX_REPLY_FRAME as u32)));
        }
        if self.pending.is_empty() {
            return None;
        }
        let frame = core::mem::take(&mut self.pending);
        Some(unstuff_reply(&frame))
    }

    /// Bytes held of the frame under way (at most [`MAX_REPLY_FRAME`]).
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}
