//! Plain-Rust backends of the decompositions, which the host's tests hold
//! to the gather kernels (`layers`' tests).

use super::{ChannelBackend, GroupTap, LANES, LaneBackend, MAX_PHASE_TAPS, PixelTap};

/// Plain-Rust [`LaneBackend`]: the host's check of the phase
/// decomposition against the gather kernels (`layers`' tests).
pub(crate) struct Portable<'a> {
    input: &'a [i8],
    channels: usize,
    zero_point: i32,
    taps: [GroupTap; MAX_PHASE_TAPS],
    count: usize,
}

impl<'a> Portable<'a> {
    /// A backend over the NHWC `input` of `channels` channels per pixel.
    pub(crate) fn new(input: &'a [i8], channels: usize, zero_point: i32) -> Self {
        Self {
            input,
            channels,
            zero_point,
            taps: [GroupTap::default(); MAX_PHASE_TAPS],
            count: 0,
        }
    }
}

impl LaneBackend for Portable<'_> {
    fn group(&mut self, taps: &[GroupTap]) {
        self.taps[..taps.len()].copy_from_slice(taps);
        self.count = taps.len();
    }

    fn dot(&mut self, channel: &[i8], acc: &mut [i32; LANES]) {
        let c = self.channels;
        for tap in &self.taps[..self.count] {
            let w = &channel[tap.weights..][..c];
            for (acc, pixel) in acc.iter_mut().zip(tap.pixels) {
                let Some(p) = pixel else { continue };
                let x = &self.input[p * c..][..c];
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
