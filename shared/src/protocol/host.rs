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
