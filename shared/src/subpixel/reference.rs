//! Plain-Rust backends of the decompositions, which the host's tests hold
//! to the gather kernels (`layers`' tests).

use super::{BlockTap, ChannelBackend, LANES, LaneBackend, PixelTap};

/// Plain-Rust [`LaneBackend`]: the host's check of the phase
/// decomposition against the gather kernels (`layers`' tests).
pub(crate) struct Portable<'a> {
    input: &'a [i8],
    channels: usize,
    zero_point: i32,
    taps: std::vec::Vec<BlockTap>,
    weights: &'a [i8],
}

impl<'a> Portable<'a> {
    /// A backend over the NHWC `input` of `channels` channels per pixel.
    pub(crate) fn new(input: &'a [i8], channels: usize, zero_point: i32) -> Self {
        Self {
            input,
            channels,
            zero_point,
            taps: std::vec::Vec::new(),
            weights: &[],
        }
    }
}

impl<'a> LaneBackend<'a> for Portable<'a> {
    fn taps(&mut self, taps: &[BlockTap]) {
        self.taps = taps.to_vec();
    }

    fn channel(&mut self, channel: &'a [i8]) -> i32 {
        self.weights = channel;
        0
    }

    fn dot(&mut self, lanes: [usize; LANES], acc: &mut [i32; LANES]) {
        let c = self.channels;
        for tap in &self.taps {
            let w = &self.weights[tap.weights..][..c];
            for (acc, q) in acc.iter_mut().zip(lanes) {
                let x = &self.input[(q - tap.back) * c..][..c];
                for (&w, &x) in w.iter().zip(x) {
                    *acc = acc.wrapping_add(i32::from(w) * (i32::from(x) - self.zero_point));
                }
            }
        }
    }
}

/// Plain-Rust [`ChannelBackend`], for the same check.
pub(crate) struct PortableChannels<'a> {
    input: &'a [i8],
    channels: usize,
    zero_point: i32,
    weights: std::vec::Vec<i8>,
    lanes: usize,
}

impl<'a> PortableChannels<'a> {
    /// A backend over the NHWC `input` of `channels` channels per pixel.
    pub(crate) fn new(input: &'a [i8], channels: usize, zero_point: i32) -> Self {
        Self {
            input,
            channels,
            zero_point,
            weights: std::vec::Vec::new(),
            lanes: 0,
        }
    }
}

impl ChannelBackend<'_> for PortableChannels<'_> {
    fn taps(&mut self, _: &mut [PixelTap]) {}

    fn channels(&mut self, weights: &[i8], lanes: usize) {
        self.weights = weights.to_vec();
        self.lanes = lanes;
    }

    fn run(&mut self, taps: &[PixelTap], bias: [i32; LANES], acc: &mut [[i32; LANES]]) {
        let c = self.channels;
        let vector = self.weights.len() / self.lanes;
        for (p, acc) in acc.iter_mut().enumerate() {
            *acc = bias;
            for tap in taps {
                let x = &self.input[(tap.pixel + p) * c..][..c];
                for (j, acc) in acc.iter_mut().enumerate().take(self.lanes) {
                    let w = &self.weights[j * vector + tap.tap * c..][..c];
                    for (&w, &x) in w.iter().zip(x) {
                        *acc = acc.wrapping_add(i32::from(w) * (i32::from(x) - self.zero_point));
                    }
                }
            }
        }
    }
}
