//! A validated model and its int8 decoder.
//!
//! [`Model::from_bytes`] checks everything the kernels rely on (the layer
//! chain, every array length, shift ranges, transposed-convolution
//! geometry, the class condition and the fitted density), so that
//! [`Model::decode`] and the sampler can never index out of bounds,
//! overflow or panic, whatever bytes the blob held.

use rand_core::RngCore;

use crate::Error;
use crate::blob::{
    self, Body, Condition, Density, Hwc, Layer, Le, MAX_DENSITY_Q16, MAX_LATENT, Op, Quant,
    tril_len,
};
use crate::classes::ClassNames;
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
    /// Codes of the decoder input: the latent, then the one-hot classes.
    input_len: usize,
    /// The class names, checked against the classes.
    class_names: ClassNames<'a>,
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
        let body = blob::decode_body(header.version, payload)?;
        let sizes = validate(&body)?;
        let classes = classes(&body);
        let class_names = if header.version >= blob::CLASS_NAMES_VERSION {
            ClassNames::new(body.class_names, classes)?
        } else {
            ClassNames::numbered(classes)
        };
        Ok(Self {
            body,
            header,
            scratch_len: sizes.scratch,
            image_len: sizes.image,
            input_len: sizes.input,
            class_names,
        })
    }

    /// The decoded body: layers, table, condition, density, metadata.
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

    /// Codes of the decoder input that [`Model::decode`] takes and
    /// [`Model::sample_latent`] fills: `latent_dim + classes` for a
    /// class-conditional decoder (z, then the one-hot codes), else
    /// `latent_dim`.
    pub fn input_len(&self) -> usize {
        self.input_len
    }

    /// The class condition of a class-conditional decoder.
    pub fn condition(&self) -> Option<Condition> {
        self.body.condition
    }

    /// The fitted density over z, if the blob has one.
    pub fn density(&self) -> Option<Density<'a>> {
        self.body.density
    }

    /// What a request draws when it names nothing else (and what an
    /// interpolation's ends are drawn with): [`Draw::Fitted`] when the
    /// blob has a density, else [`Draw::Prior`].
    pub fn default_draw(&self) -> Draw {
        if self.body.density.is_some() {
            Draw::Fitted
        } else {
            Draw::Prior
        }
    }

    /// Checks that this model can serve `draw`: a class below
    /// [`Model::classes`], a density for [`Draw::Fitted`]. What a board
    /// checks before it answers a request; the sampler checks the same.
    pub fn check_draw(&self, draw: Draw) -> Result<(), Error> {
        match draw {
            Draw::Class(class) if class >= self.classes() => Err(Error::NoSuchClass {
                class,
                classes: self.classes(),
            }),
            Draw::Fitted if self.body.density.is_none() => Err(Error::NoDensity),
            _ => Ok(()),
        }
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

    /// Classes a [`Draw::Class`] may name: the condition's, else the
    /// density's tags, else 0 (validation makes the two agree when both
    /// are present).
    pub fn classes(&self) -> u16 {
        classes(&self.body)
    }

    /// The name of every class ([`Model::classes`] of them): the blob's,
    /// or `class k` for a version-3 blob, which stores none.
    pub fn class_names(&self) -> ClassNames<'a> {
        self.class_names
    }

    /// int8 elements of scratch [`Model::decode`] needs: the largest input
    /// plus output of any one layer (the first layer's input is the whole
    /// decoder input, [`Model::input_len`]). Layers alternate between reading from
    /// the front of the scratch and writing to its back and the other way
    /// round, so two large activations of different layers never have to
    /// coexist (what lets a conv decoder run in a Cortex-M0's 16 KB).
    pub fn scratch_len(&self) -> usize {
        self.scratch_len
    }

    /// Decodes one int8 decoder input `z` ([`Model::input_len`] codes: the
    /// latent, then a conditional decoder's one-hot codes) into `pixels`
    /// (u8, HWC), using `scratch` of at least [`Model::scratch_len`]
    /// elements.
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

    /// Runs the layers on the decoder input `z` ([`Model::input_len`]
    /// codes) and returns the int8 output logits (before the sigmoid
    /// table), which live in `scratch`. The host uses them to
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
        check_len(z.len(), self.input_len, |found, expected| {
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

    /// Draws the int8 decoder input for `latent` from `rng` into `input`
    /// ([`Model::input_len`] codes: z, then a conditional decoder's one-hot
    /// codes), taking the words in the order [`crate::sampler`] documents.
    pub fn sample_latent<R: RngCore + ?Sized>(
        &self,
        latent: Latent<'_>,
        rng: &mut R,
        input: &mut [i8],
    ) -> Result<(), Error> {
        check_len(input.len(), self.input_len, |found, expected| {
            Error::LatentSize { found, expected }
        })?;
        let (z, one_hot) = input.split_at_mut(self.latent_dim());
        let zero_point = self.z_quant().zero_point;
        let prior = |rng: &mut R, z: &mut [i8]| {
            for z in z.iter_mut() {
                *z = sampler::draw(
                    sampler::ONE_Q16,
                    0,
                    rng,
                    self.body.z_inv_scale_q16,
                    zero_point,
                );
            }
        };
        let class = match latent {
            Latent::Prior => {
                let class = self
                    .body
                    .condition
                    .map(|c| ((u64::from(rng.next_u32()) * u64::from(c.classes)) >> 32) as u16);
                prior(rng, z);
                class
            }
            Latent::Fitted => {
                let density = self.body.density.ok_or(Error::NoDensity)?;
                let k = density.pick(rng.next_u32());
                sampler::draw_component(&density, k, rng, zero_point, z);
                Some(density.class_of(k))
            }
            Latent::Class(class) => {
                self.check_draw(Draw::Class(class))?;
                match self.body.density {
                    Some(density) => {
                        let k = density.pick_in_class(class, rng.next_u32()).ok_or(
                            Error::NoSuchClass {
                                class,
                                classes: self.classes(),
                            },
                        )?;
                        sampler::draw_component(&density, k, rng, zero_point, z);
                    }
                    None => prior(rng, z),
                }
                Some(class)
            }
            Latent::Posterior {
                mu_q16,
                sigma_q16,
                class,
            } => {
                match (self.body.condition, class) {
                    (Some(_), None) => return Err(Error::ClassNeeded),
                    (None, Some(_)) => return Err(Error::NotConditional),
                    (Some(c), Some(class)) if class >= c.classes => {
                        return Err(Error::NoSuchClass {
                            class,
                            classes: c.classes,
                        });
                    }
                    _ => {}
                }
                let expected = self.latent_dim();
                for given in [mu_q16.len(), sigma_q16.len()] {
                    check_len(given, expected, |found, expected| Error::LatentSize {
                        found,
                        expected,
                    })?;
                }
                for ((z, &mu), &sigma) in z.iter_mut().zip(mu_q16).zip(sigma_q16) {
                    *z = sampler::draw(sigma, mu, rng, self.body.z_inv_scale_q16, zero_point);
                }
                class
            }
        };
        // A conditional decoder always has a class here (validated or
        // checked above); `one_hot` is empty without a condition.
        if let (Some(condition), Some(class)) = (self.body.condition, class) {
            one_hot.fill(zero_point);
            if let Some(code) = one_hot.get_mut(usize::from(class)) {
                *code = condition.one;
            }
        }
        Ok(())
    }

    /// The decoder inputs of a request for `count` images, in order, passed
    /// to `each(i, input)` ([`Model::input_len`] codes each): prior,
    /// fitted or class draws one after another from `rng`, or for
    /// [`Draw::Interpolate`] two draws with [`Model::default_draw`] and
    /// `count` points between them. Host and firmware generate through
    /// this one sequence, so a seed means the same images on both.
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
    /// only: the inputs before them are drawn (so each image is the one
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
        let len = self.input_len;
        let mut input = [0_i8; MAX_LATENT as usize];
        let input = &mut input[..len];
        let latent = |draw| match draw {
            Draw::Prior | Draw::Interpolate => Latent::Prior,
            Draw::Fitted => Latent::Fitted,
            Draw::Class(class) => Latent::Class(class),
        };
        if draw == Draw::Interpolate {
            let (mut from, mut to) = ([0_i8; MAX_LATENT as usize], [0_i8; MAX_LATENT as usize]);
            let (from, to) = (&mut from[..len], &mut to[..len]);
            let ends = latent(self.default_draw());
            self.sample_latent(ends, rng, from)?;
            self.sample_latent(ends, rng, to)?;
            for i in images {
                sampler::interpolate(from, to, i, count, input);
                each(i, input)?;
            }
        } else {
            for i in 0..images.end {
                self.sample_latent(latent(draw), rng, input)?;
                if i >= images.start {
                    each(i, input)?;
                }
            }
        }
        Ok(())
    }

    /// Draws a decoder input and decodes it: one generated image. `input`
    /// ([`Model::input_len`] codes) receives what was decoded so a caller
    /// can log or replay it.
    pub fn generate<R: RngCore + ?Sized>(
        &self,
        latent: Latent<'_>,
        rng: &mut R,
        input: &mut [i8],
        scratch: &mut [i8],
        pixels: &mut [u8],
    ) -> Result<(), Error> {
        self.sample_latent(latent, rng, input)?;
        self.decode(input, scratch, pixels)
    }
}

/// A body's classes: the condition's, else the density's tags, else 0.
fn classes(body: &Body<'_>) -> u16 {
    match (body.condition, body.density) {
        (Some(condition), _) => condition.classes,
        (None, Some(density)) => density.classes,
        (None, None) => 0,
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

/// What validation measured of a model.
struct Sizes {
    /// Scratch elements: the largest input plus output of a layer.
    scratch: usize,
    /// Pixels per image.
    image: usize,
    /// Codes of the decoder input.
    input: usize,
}

/// Checks a decoded body; returns the sizes the decoder needs.
fn validate(body: &Body<'_>) -> Result<Sizes, Error> {
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
    let input_len = match body.condition {
        None => usize::from(latent),
        Some(condition) => validate_condition(condition, first, latent)?,
    };
    let mut len = input_len;
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
    if let Some(density) = body.density {
        let classes = body.condition.map(|c| c.classes);
        validate_density(&density, usize::from(latent), classes)
            .map_err(|()| Error::Inconsistent(ModelProblem::Density))?;
    }
    Ok(Sizes {
        scratch: scratch_len,
        image: image_len,
        input: input_len,
    })
}

/// Checks a class condition against the first layer; returns the decoder
/// input's length (`latent + classes`).
fn validate_condition(
    condition: Condition,
    first: &Layer<'_>,
    latent: u16,
) -> Result<usize, Error> {
    let fail = Error::Inconsistent(ModelProblem::Condition);
    let input = latent.checked_add(condition.classes).ok_or(fail)?;
    if condition.classes == 0
        || input > MAX_LATENT
        || condition.one == first.input.zero_point
        || !matches!(first.op, Op::Dense { inputs, .. } if inputs == input)
    {
        return Err(fail);
    }
    Ok(usize::from(input))
}

/// Checks a density over `latent` dimensions; `condition_classes` is the
/// class condition's classes, which its tags must match.
fn validate_density(
    density: &Density<'_>,
    latent: usize,
    condition_classes: Option<u16>,
) -> Result<(), ()> {
    let components = usize::from(density.components);
    let classes = usize::from(density.classes);
    let tagged = usize::from(classes > 0);
    let bytes = |per_component: usize| components.checked_mul(per_component).ok_or(());
    // Lengths first: everything after reads within them. A class owns at
    // least one component, so classes <= components (which also bounds the
    // per-class scans below by components^2).
    if components == 0
        || classes > components
        || condition_classes.is_some_and(|c| c != density.classes)
        || density.class_of.len() != bytes(2 * tagged)?
        || density.pick.len() != bytes(4)?
        || density.pick_in_class.len() != bytes(4 * tagged)?
        || density.mean.len() != bytes(4 * latent)?
        || density.scale_tril.len() != bytes(4 * tril_len(latent))?
    {
        return Err(());
    }
    let in_range = |bytes: &[u8]| {
        bytes
            .chunks_exact(4)
            .all(|b| (-MAX_DENSITY_Q16..=MAX_DENSITY_Q16).contains(&Le::i32(b, 0)))
    };
    let diagonal_positive =
        (0..components).all(|k| (0..latent).all(|i| density.scale_tril_q16(k, i, i) > 0));
    if !in_range(density.mean)
        || !in_range(density.scale_tril)
        || !diagonal_positive
        || !non_decreasing(0..components, |k| density.pick_threshold(k))
        || (0..components).any(|k| usize::from(density.class_of(k)) >= classes.max(1))
    {
        return Err(());
    }
    for class in 0..density.classes {
        let mut members = (0..components)
            .filter(|&k| density.class_of(k) == class)
            .peekable();
        if members.peek().is_none()
            || !non_decreasing(members, |k| density.pick_in_class_threshold(k))
        {
            return Err(());
        }
    }
    Ok(())
}

/// Whether the thresholds of the pick sequence `members` never decrease.
fn non_decreasing(members: impl Iterator<Item = usize>, threshold: impl Fn(usize) -> u32) -> bool {
    let mut previous = 0;
    members.map(threshold).all(|t| {
        let ok = t >= previous;
        previous = t;
        ok
    })
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
