//! A validated model and its int8 decoder.
//!
//! [`Model::from_bytes`] checks everything the kernels rely on (the layer
//! chain, every array length, shift ranges, transposed-convolution
//! geometry), so that [`Model::decode`] can never index out of bounds or
//! panic, whatever bytes the blob held.

use rand_core::RngCore;

use crate::Error;
use crate::blob::{self, Body, Hwc, Layer, MAX_LATENT, Op, Prototypes, Quant};
use crate::error::{LayerProblem, ModelProblem};
use crate::fixedpoint::{MAX_SHIFT, MIN_SHIFT};
use crate::layers::{self, Kernels};
use crate::sampler::{self, Draw, Latent};

/// A parsed and validated model blob, borrowing its bytes.
#[derive(Debug, Clone)]
pub struct Model<'a> {
    body: Body<'a>,
    header: blob::Header,
    /// Scratch elements the decoder needs: the largest input plus output
    /// of any layer.
    scratch_len: usize,
    image_len: usize,
}

impl<'a> Model<'a> {
    /// Parses a blob that must be exactly one header plus its payload.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, Error> {
        let (header, payload, trailing) = blob::split(bytes)?;
        if !trailing.is_empty() {
            return Err(Error::TrailingBytes(trailing.len() as u32));
        }
        Self::from_payload(header, payload)
    }

    /// Parses a blob at the start of a larger region (a flash sector or a
    /// memory window), ignoring whatever follows its payload.
    pub fn from_region(region: &'a [u8]) -> Result<Self, Error> {
        let (header, payload, _) = blob::split(region)?;
        Self::from_payload(header, payload)
    }

    fn from_payload(header: blob::Header, payload: &'a [u8]) -> Result<Self, Error> {
        let body = blob::decode_body(payload)?;
        let (scratch_len, image_len) = validate(&body)?;
        Ok(Self {
            body,
            header,
            scratch_len,
            image_len,
        })
    }

    /// The decoded body: layers, table, prototypes, metadata.
    pub fn body(&self) -> &Body<'a> {
        &self.body
    }

    /// The blob's header.
    pub fn header(&self) -> &blob::Header {
        &self.header
    }

    /// Dimensions of z.
    pub fn latent_dim(&self) -> usize {
        usize::from(self.body.latent_dim)
    }

    /// Quantization of z (the first layer's input).
    pub fn z_quant(&self) -> Quant {
        self.body.layers[0].input
    }

    /// Shape of a generated image.
    pub fn image_shape(&self) -> Hwc {
        self.body.image
    }

    /// Pixels (bytes) per generated image.
    pub fn image_len(&self) -> usize {
        self.image_len
    }

    /// Number of class prototypes (0 when the blob has none).
    pub fn classes(&self) -> u16 {
        self.body.prototypes.map_or(0, |p| p.classes)
    }

    /// int8 elements of scratch [`Model::decode`] needs: the largest input
    /// plus output of any one layer. Layers alternate between reading from
    /// the front of the scratch and writing to its back and the other way
    /// round, so two large activations of different layers never have to
    /// coexist (what lets a conv decoder run in a Cortex-M0's 16 KB).
    pub fn scratch_len(&self) -> usize {
        self.scratch_len
    }

    /// Decodes one int8 latent `z` into `pixels` (u8, HWC), using `scratch`
    /// of at least [`Model::scratch_len`] elements.
    pub fn decode(&self, z: &[i8], scratch: &mut [i8], pixels: &mut [u8]) -> Result<(), Error> {
        self.decode_with(z, scratch, pixels, |_| {})
    }

    /// [`Model::decode`], calling `hook(i)` after layer `i` has run and
    /// `hook(layers)` after the output table: the marks an instruction
    /// counter needs to attribute cost per layer.
    pub fn decode_with(
        &self,
        z: &[i8],
        scratch: &mut [i8],
        pixels: &mut [u8],
        hook: impl FnMut(usize),
    ) -> Result<(), Error> {
        self.decode_using(Kernels::BEST, z, scratch, pixels, hook)
    }

    /// [`Model::decode_with`] with the given kernels (all give the same
    /// bytes; a benchmark compares their speed).
    pub fn decode_using(
        &self,
        kernels: Kernels,
        z: &[i8],
        scratch: &mut [i8],
        pixels: &mut [u8],
        mut hook: impl FnMut(usize),
    ) -> Result<(), Error> {
        check_buffer(pixels.len(), self.image_len)?;
        let logits = self.run_layers(kernels, z, scratch, &mut hook)?;
        // 256 entries (validated): indexed by a byte, with no bounds check.
        let table: &[u8; 256] = self
            .body
            .output_table
            .try_into()
            .map_err(|_| Error::Inconsistent(ModelProblem::OutputTable))?;
        for (pixel, &logit) in pixels.iter_mut().zip(logits) {
            *pixel = table[usize::from((logit as u8) ^ 0x80)];
        }
        hook(self.body.layers.len());
        Ok(())
    }

    /// Runs the layers on `z` and returns the int8 output logits (before
    /// the sigmoid table), which live in `scratch`. The host uses them to
    /// score the int8 decoder with the same loss as the float one.
    pub fn decode_logits<'s>(&self, z: &[i8], scratch: &'s mut [i8]) -> Result<&'s [i8], Error> {
        self.run_layers(Kernels::BEST, z, scratch, &mut |_| {})
    }

    fn run_layers<'s>(
        &self,
        kernels: Kernels,
        z: &[i8],
        scratch: &'s mut [i8],
        hook: &mut impl FnMut(usize),
    ) -> Result<&'s [i8], Error> {
        check_len(z.len(), self.latent_dim(), |found, expected| {
            Error::LatentSize { found, expected }
        })?;
        check_buffer(scratch.len(), self.scratch_len)?;
        let total = self.scratch_len;
        let scratch = &mut scratch[..total];
        scratch[..z.len()].copy_from_slice(z);
        // Where the current activation lies: at the front or at the back.
        let mut at_front = true;
        let mut len = z.len();
        for (i, layer) in self.body.layers.iter().enumerate() {
            // Validation proved len + out_len <= total for every layer.
            let out_len = layer.op.output_len().unwrap_or(0);
            if at_front {
                let (head, tail) = scratch.split_at_mut(total - out_len);
                layers::run(kernels, layer, &mut head[..len], tail);
            } else {
                let (head, tail) = scratch.split_at_mut(out_len);
                let at = tail.len() - len;
                layers::run(kernels, layer, &mut tail[at..], head);
            }
            at_front = !at_front;
            len = out_len;
            hook(i);
        }
        let logits: &'s [i8] = scratch;
        Ok(if at_front {
            &logits[..len]
        } else {
            &logits[total - len..]
        })
    }

    /// Draws the int8 latent for `latent` from `rng` into `z`
    /// (see [`crate::sampler`]).
    pub fn sample_latent<R: RngCore + ?Sized>(
        &self,
        latent: Latent<'_>,
        rng: &mut R,
        z: &mut [i8],
    ) -> Result<(), Error> {
        check_len(z.len(), self.latent_dim(), |found, expected| {
            Error::LatentSize { found, expected }
        })?;
        let inv_scale = self.body.z_inv_scale_q16;
        let zero_point = self.z_quant().zero_point;
        match latent {
            Latent::Prior => {
                for z in z.iter_mut() {
                    *z = sampler::draw(sampler::ONE_Q16, 0, rng, inv_scale, zero_point);
                }
            }
            Latent::Class(class) => {
                let p = self.prototype(class)?;
                let (dims, class) = (self.latent_dim(), usize::from(class));
                for (d, z) in z.iter_mut().enumerate() {
                    let (mu, sigma) = (p.mu_q16(dims, class, d), p.sigma_q16(dims, class, d));
                    *z = sampler::draw(sigma, mu, rng, inv_scale, zero_point);
                }
            }
            Latent::Posterior { mu_q16, sigma_q16 } => {
                let expected = self.latent_dim();
                for given in [mu_q16.len(), sigma_q16.len()] {
                    check_len(given, expected, |found, expected| Error::LatentSize {
                        found,
                        expected,
                    })?;
                }
                for ((z, &mu), &sigma) in z.iter_mut().zip(mu_q16).zip(sigma_q16) {
                    *z = sampler::draw(sigma, mu, rng, inv_scale, zero_point);
                }
            }
        }
        Ok(())
    }

    /// The latents of a request for `count` images, in order, passed to
    /// `each(i, z)`: prior or class draws one after another from `rng`, or
    /// for [`Draw::Interpolate`] two prior draws and `count` points between
    /// them. Host and firmware generate through this one sequence, so a
    /// seed means the same images on both.
    pub fn for_each_latent<R, E>(
        &self,
        draw: Draw,
        count: u32,
        rng: &mut R,
        each: impl FnMut(u32, &[i8]) -> Result<(), E>,
    ) -> Result<(), E>
    where
        R: RngCore + ?Sized,
        E: From<Error>,
    {
        self.for_each_latent_in(draw, count, 0..count, rng, each)
    }

    /// [`Model::for_each_latent`] for the images `images` of the `count`
    /// only: the latents before them are drawn (so each image is the one
    /// the whole sequence would give) but not passed on, and drawing stops
    /// after them. How a board sends again an image lost on the wire.
    pub fn for_each_latent_in<R, E>(
        &self,
        draw: Draw,
        count: u32,
        images: core::ops::Range<u32>,
        rng: &mut R,
        mut each: impl FnMut(u32, &[i8]) -> Result<(), E>,
    ) -> Result<(), E>
    where
        R: RngCore + ?Sized,
        E: From<Error>,
    {
        let images = images.start..images.end.min(count);
        let dims = self.latent_dim();
        let mut z = [0_i8; MAX_LATENT as usize];
        let z = &mut z[..dims];
        match draw {
            Draw::Prior | Draw::Class(_) => {
                let latent = match draw {
                    Draw::Class(class) => Latent::Class(class),
                    _ => Latent::Prior,
                };
                for i in 0..images.end {
                    self.sample_latent(latent, rng, z)?;
                    if i >= images.start {
                        each(i, z)?;
                    }
                }
            }
            Draw::Interpolate => {
                let (mut from, mut to) = ([0_i8; MAX_LATENT as usize], [0_i8; MAX_LATENT as usize]);
                let (from, to) = (&mut from[..dims], &mut to[..dims]);
                self.sample_latent(Latent::Prior, rng, from)?;
                self.sample_latent(Latent::Prior, rng, to)?;
                for i in images {
                    sampler::interpolate(from, to, i, count, z);
                    each(i, z)?;
                }
            }
        }
        Ok(())
    }

    /// Draws a latent and decodes it: one generated image. `z` receives the
    /// latent so a caller can log or replay it.
    pub fn generate<R: RngCore + ?Sized>(
        &self,
        latent: Latent<'_>,
        rng: &mut R,
        z: &mut [i8],
        scratch: &mut [i8],
        pixels: &mut [u8],
    ) -> Result<(), Error> {
        self.sample_latent(latent, rng, z)?;
        self.decode(z, scratch, pixels)
    }

    fn prototype(&self, class: u16) -> Result<Prototypes<'a>, Error> {
        let classes = self.classes();
        match self.body.prototypes {
            Some(p) if class < classes => Ok(p),
            _ => Err(Error::NoSuchClass { class, classes }),
        }
    }
}

fn check_len(found: usize, expected: usize, err: impl Fn(u32, u32) -> Error) -> Result<(), Error> {
    if found == expected {
        Ok(())
    } else {
        Err(err(found as u32, expected as u32))
    }
}

fn check_buffer(available: usize, needed: usize) -> Result<(), Error> {
    if available >= needed {
        Ok(())
    } else {
        Err(Error::BufferTooSmall {
            needed: needed as u32,
            available: available as u32,
        })
    }
}

/// Checks a decoded body; returns the scratch the decoder needs (the
/// largest input plus output of a layer) and the image length.
fn validate(body: &Body<'_>) -> Result<(usize, usize), Error> {
    let latent = body.latent_dim;
    if latent == 0 || latent > MAX_LATENT {
        return Err(Error::Inconsistent(ModelProblem::LatentSize));
    }
    let image_len = body
        .image
        .elements()
        .filter(|&n| n > 0)
        .ok_or(Error::Inconsistent(ModelProblem::ImageShape))?;
    if body.output_table.len() != 256 {
        return Err(Error::Inconsistent(ModelProblem::OutputTable));
    }
    if body.z_inv_scale_q16 <= 0 {
        return Err(Error::Inconsistent(ModelProblem::LatentScale));
    }
    let first = body.layers.first().ok_or(Error::NoLayers)?;
    let mut len = usize::from(latent);
    let mut scratch_len = len;
    let mut previous_output = first.input;
    for (i, layer) in body.layers.iter().enumerate() {
        let fail = |problem| Error::Layer {
            layer: i as u8,
            problem,
        };
        if layer.input.zero_point != previous_output.zero_point {
            return Err(fail(LayerProblem::ZeroPoint));
        }
        validate_layer(layer, len).map_err(fail)?;
        let out_len = layer
            .op
            .output_len()
            .ok_or(fail(LayerProblem::BadDimension))?;
        scratch_len = scratch_len.max(len.saturating_add(out_len));
        len = out_len;
        previous_output = layer.output;
    }
    if len != image_len {
        return Err(Error::Inconsistent(ModelProblem::OutputSize));
    }
    if let Some(p) = body.prototypes {
        let values = usize::from(p.classes) * usize::from(latent);
        // Lengths first: the sigma scan relies on them.
        if p.classes == 0
            || p.mu_q16.len() != values * 4
            || p.sigma_q16.len() != values * 4
            || p.sigma_q16.chunks_exact(4).any(|b| b[3] & 0x80 != 0)
        {
            return Err(Error::Inconsistent(ModelProblem::Prototypes));
        }
    }
    Ok((scratch_len, image_len))
}

/// Checks one layer whose input must have `expected_input` elements.
fn validate_layer(layer: &Layer<'_>, expected_input: usize) -> Result<(), LayerProblem> {
    let op = &layer.op;
    let (Some(input_len), Some(output_len), Some(weights)) =
        (op.input_len(), op.output_len(), op.weight_bytes())
    else {
        return Err(LayerProblem::BadDimension);
    };
    let channels = op.channels();
    if input_len == 0 || output_len == 0 || weights == 0 || channels == 0 {
        return Err(LayerProblem::BadDimension);
    }
    if input_len != expected_input {
        return Err(LayerProblem::InputSize {
            found: input_len as u32,
            expected: expected_input as u32,
        });
    }
    if layer.weights.len() != weights {
        return Err(LayerProblem::WeightBytes {
            found: layer.weights.len() as u32,
            expected: u32::try_from(weights).unwrap_or(u32::MAX),
        });
    }
    if layer.align.len() > 3 || layer.align.iter().any(|&b| b != 0) {
        return Err(LayerProblem::Align);
    }
    for (name, bytes, per_channel) in [
        ("weight_scales", layer.weight_scales, 4),
        ("bias", layer.bias, 4),
        ("multipliers", layer.multipliers, 4),
        ("shifts", layer.shifts, 1),
    ] {
        if bytes.len() != channels * per_channel {
            return Err(LayerProblem::ChannelArray(name));
        }
    }
    if layer
        .shifts
        .iter()
        .any(|&s| !(MIN_SHIFT..=MAX_SHIFT).contains(&(s as i8)))
    {
        return Err(LayerProblem::Shift);
    }
    if (0..channels).any(|c| layer.multiplier(c) < 0) {
        return Err(LayerProblem::Multiplier);
    }
    if let Op::ConvTranspose2d {
        input,
        output,
        kernel,
        stride,
        padding,
    } = op
    {
        for axis in 0..2 {
            let (i, o) = if axis == 0 {
                (input.height, output.height)
            } else {
                (input.width, output.width)
            };
            if !geometry_ok(i, o, kernel[axis], stride[axis], padding[axis]) {
                return Err(LayerProblem::Geometry);
            }
        }
    }
    Ok(())
}

/// PyTorch's rule: `out = (in - 1) * stride - 2 * padding + kernel +
/// output_padding` with `0 <= output_padding < stride` and `padding < kernel`.
fn geometry_ok(input: u16, output: u16, kernel: u8, stride: u8, padding: u8) -> bool {
    if kernel == 0 || stride == 0 || padding >= kernel {
        return false;
    }
    let base =
        (i64::from(input) - 1) * i64::from(stride) - 2 * i64::from(padding) + i64::from(kernel);
    let extra = i64::from(output) - base;
    (0..i64::from(stride)).contains(&extra)
}
