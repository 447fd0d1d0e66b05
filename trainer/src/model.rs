//! The two VAEs (`mlp`, `conv`): their shapes, initialisation and forward
//! passes, and the reparameterisation that joins encoder and decoder.
//!
//! Every model maps images `[batch, H*W*C]` (HWC order, as the data and
//! the chip hold them) in [0, 1] to `(mu, logvar)` `[batch, latent]` and
//! latents `[batch, latent]` to pixel logits `[batch, H*W*C]`; the decoder
//! ends in logits, not in a sigmoid, so the loss ([`crate::loss`]) is
//! computed stably from them. The image shape is the model's
//! ([`VaeConfig::image`]): 28x28 gray by default, any size the conv
//! model's two halvings divide (a multiple of 4), gray or RGB.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::conv::{conv_k4s2, conv_transpose_k4s2};
use crate::data::ImageShape;
use crate::linear::linear;
use crate::rng::Rng;

/// Which VAE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// pytorch/examples `vae`: 784-400-latent, ReLU.
    Mlp,
    /// Convolutional encoder; dense + transposed-convolution decoder whose int8
    /// weights fit in 64 KB.
    Conv,
}

/// The conv decoder's default channels: `[C0, C1]`, of its 7x7 map (after
/// the dense layer) and of its 14x14 map. Chosen so that the int8 decoder
/// runs on a Cortex-M0 with 16 KB of RAM: its largest layer input plus
/// output, 7x7x32 + 14x14x40 = 9,408 bytes, is all the scratch it needs,
/// and its int8 weights take 52.5 KB (58.9 KB with the int32 biases). Boards with more memory can take a larger
/// decoder ([`VaeConfig::decoder_channels`]).
pub const CONV_DECODER_CHANNELS: [usize; 2] = [32, 40];
/// Width of the conv encoder's dense layer.
pub const CONV_ENCODER_HIDDEN: usize = 512;
/// How many times the conv model halves (encoder) and doubles (decoder)
/// the image's sides: its first decoder feature map is H/4 x W/4.
pub const CONV_HALVINGS: u32 = 2;

/// The model's shape.
#[derive(Config, Debug)]
pub struct VaeConfig {
    /// Which VAE.
    pub arch: Arch,
    /// Size of z.
    #[config(default = 20)]
    pub latent: usize,
    /// Of `Arch::Conv`: channels `[C0, C1]` of the decoder's 7x7 and 14x14
    /// feature maps (ignored by `Arch::Mlp`). The int8 decoder's weights
    /// take `(latent + classes)*49*C0 + 16*C0*C1 + 16*C1` bytes and its scratch
    /// `196*C1 + max(49*C0, 784)` (the larger of the two transposed
    /// convolutions' input plus output).
    #[config(default = "CONV_DECODER_CHANNELS")]
    pub decoder_channels: [usize; 2],
    /// Classes of a class-conditional VAE (a CVAE), 0 for an unconditional
    /// one. A conditional model's encoder sees the image's class as a
    /// one-hot vector beside its features, and its decoder's input is
    /// `[z ; one-hot(class)]`: the class reaches the first dense layer, so
    /// a draw can ask for a class and get it.
    #[config(default = 0)]
    pub classes: usize,
    /// The images' shape (HWC). The conv model needs sides divisible by 4
    /// ([`VaeConfig::image_problem`]).
    #[config(default = "ImageShape::MNIST")]
    pub image: ImageShape,
}

impl VaeConfig {
    /// Why this model cannot take its images, if it cannot: the conv
    /// model halves each side twice, so the sides must be multiples of 4.
    pub fn image_problem(&self) -> Option<String> {
        let ImageShape {
            height,
            width,
            channels,
        } = self.image;
        let step = 1 << CONV_HALVINGS;
        if height == 0 || width == 0 || channels == 0 {
            Some(format!(
                "images of {height}x{width}x{channels} hold no pixels"
            ))
        } else if self.arch == Arch::Conv && (height % step != 0 || width % step != 0) {
            let round = |side: usize| (side / step).max(1) * step;
            Some(format!(
                "the conv model needs image sides that are multiples of {step} (it halves them twice), not {height}x{width}: resize with --size {}x{}, or use --model mlp",
                round(height),
                round(width)
            ))
        } else {
            None
        }
    }

    /// The conv decoder's first feature map's height and width (H/4, W/4).
    pub fn conv_base(&self) -> (usize, usize) {
        (
            self.image.height >> CONV_HALVINGS,
            self.image.width >> CONV_HALVINGS,
        )
    }

    /// Builds a freshly initialised model with PyTorch's default
    /// initialisation (weights and biases uniform in +-1/sqrt(fan_in)), drawn
    /// from `rng` rather than from the backend's global RNG, so that runs in
    /// one process (tests, benchmarks) do not disturb each other.
    pub fn init(&self, device: &Device, rng: &mut Rng) -> Vae {
        let (latent, classes) = (self.latent, self.classes);
        let image = self.image;
        let pixels = image.len();
        let mut linear = |i, o| dense_layer(rng, i, o, device);
        match self.arch {
            Arch::Mlp => Vae {
                encoder: Encoder::Mlp(MlpEncoder {
                    fc1: linear(pixels + classes, 400),
                    fc21: linear(400, latent),
                    fc22: linear(400, latent),
                }),
                decoder: Decoder::Mlp(MlpDecoder {
                    fc3: linear(latent + classes, 400),
                    fc4: linear(400, pixels),
                }),
                image,
            },
            Arch::Conv => {
                let (h0, w0) = self.conv_base();
                let fc = linear(64 * h0 * w0 + classes, CONV_ENCODER_HIDDEN);
                let fc_mu = linear(CONV_ENCODER_HIDDEN, latent);
                let fc_logvar = linear(CONV_ENCODER_HIDDEN, latent);
                let [c0, c1] = self.decoder_channels;
                let dense = linear(latent + classes, c0 * h0 * w0);
                let conv1 = halving_conv(rng, image.channels, 32, device);
                let conv2 = halving_conv(rng, 32, 64, device);
                // PyTorch takes a transposed convolution's fan-in from its
                // weight [in, out, k, k]: out * k * k.
                let mut deconv = |i, o| {
                    let mut layer = ConvTranspose2dConfig::new([i, o], [4, 4])
                        .with_stride([2, 2])
                        .with_padding([1, 1])
                        .with_initializer(Initializer::Zeros)
                        .init(device);
                    layer.weight = uniform(rng, [i, o, 4, 4], o * 16, device);
                    layer.bias = Some(uniform(rng, [o], o * 16, device));
                    layer
                };
                Vae {
                    encoder: Encoder::Conv(ConvEncoder {
                        conv1,
                        conv2,
                        fc,
                        fc_mu,
                        fc_logvar,
                        height: image.height,
                        width: image.width,
                    }),
                    decoder: Decoder::Conv(ConvDecoder {
                        fc: dense,
                        deconv1: deconv(c0, c1),
                        deconv2: deconv(c1, image.channels),
                        height: h0,
                        width: w0,
                    }),
                    image,
                }
            }
        }
    }
}

/// A dense layer `inputs -> outputs` with PyTorch's default initialisation
/// drawn from `rng`: the weight `[inputs, outputs]` (burn's order), then the
/// bias, both uniform in +-1/sqrt(inputs).
pub(crate) fn dense_layer(rng: &mut Rng, inputs: usize, outputs: usize, device: &Device) -> Linear {
    let mut layer = LinearConfig::new(inputs, outputs)
        .with_initializer(Initializer::Zeros)
        .init(device);
    layer.weight = uniform(rng, [inputs, outputs], inputs, device);
    layer.bias = Some(uniform(rng, [outputs], inputs, device));
    layer
}

/// A convolution `inputs -> outputs` channels that halves the side (kernel
/// 4, stride 2, padding 1: 28 -> 14 -> 7), with PyTorch's default
/// initialisation drawn from `rng` (fan-in `inputs * 16`): the conv
/// encoder's layers, and the judge's ([`crate::judge`]).
pub(crate) fn halving_conv(
    rng: &mut Rng,
    inputs: usize,
    outputs: usize,
    device: &Device,
) -> Conv2d {
    let mut layer = Conv2dConfig::new([inputs, outputs], [4, 4])
        .with_stride([2, 2])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_initializer(Initializer::Zeros)
        .init(device);
    layer.weight = uniform(rng, [outputs, inputs, 4, 4], inputs * 16, device);
    layer.bias = Some(uniform(rng, [outputs], inputs * 16, device));
    layer
}

/// A parameter of `shape` uniform in +-1/sqrt(fan_in).
fn uniform<const D: usize>(
    rng: &mut Rng,
    shape: [usize; D],
    fan_in: usize,
    device: &Device,
) -> Param<Tensor<D>> {
    let bound = 1.0 / (fan_in as f64).sqrt();
    let n = shape.iter().product();
    let values: Vec<f32> = (0..n)
        .map(|_| ((2.0 * rng.uniform() - 1.0) * bound) as f32)
        .collect();
    Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), device))
}

/// A VAE: q(z|x) and p(x|z).
#[derive(Module, Debug)]
pub struct Vae {
    /// x -> (mu, logvar).
    pub encoder: Encoder,
    /// z -> pixel logits.
    pub decoder: Decoder,
    /// The images' shape (a constant of the model, not a parameter).
    #[module(skip)]
    pub image: ImageShape,
}

/// The encoders.
// One per model, never in a collection: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Encoder {
    /// Of `Arch::Mlp`.
    Mlp(MlpEncoder),
    /// Of `Arch::Conv`.
    Conv(ConvEncoder),
}

/// The decoders.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Decoder {
    /// Of `Arch::Mlp`.
    Mlp(MlpDecoder),
    /// Of `Arch::Conv`.
    Conv(ConvDecoder),
}

/// H*W*C -> 400 ReLU -> (mu, logvar).
#[derive(Module, Debug)]
pub struct MlpEncoder {
    /// H*W*C (and a conditional model's classes) -> 400.
    pub fc1: Linear,
    /// 400 -> latent (mu).
    pub fc21: Linear,
    /// 400 -> latent (logvar).
    pub fc22: Linear,
}

/// latent -> 400 ReLU -> H*W*C logits.
#[derive(Module, Debug)]
pub struct MlpDecoder {
    /// latent -> 400.
    pub fc3: Linear,
    /// 400 -> H*W*C.
    pub fc4: Linear,
}

/// Two stride-2 convolutions, a dense layer, (mu, logvar).
#[derive(Module, Debug)]
pub struct ConvEncoder {
    /// C -> 32 channels, H x W -> H/2 x W/2 (28 -> 14).
    pub conv1: Conv2d,
    /// 32 -> 64 channels, H/2 -> H/4 (14 -> 7).
    pub conv2: Conv2d,
    /// 64*(H/4)*(W/4) (and a conditional model's classes) -> 512.
    pub fc: Linear,
    /// 512 -> latent.
    pub fc_mu: Linear,
    /// 512 -> latent.
    pub fc_logvar: Linear,
    /// The images' height (a constant of the model, not a parameter).
    pub height: usize,
    /// The images' width.
    pub width: usize,
}

/// Dense latent -> C0*H0*W0 (H0 = H/4, W0 = W/4: 7x7 for 28x28), ReLU,
/// reshape to [C0, H0, W0] (NCHW), transposed convolution C0 -> C1 (to
/// H/2 x W/2), ReLU, transposed convolution C1 -> C (to H x W) giving
/// logits, permuted to HWC. Both transposed convolutions: kernel 4, stride
/// 2, padding 1, no groups, no dilation.
#[derive(Module, Debug)]
pub struct ConvDecoder {
    /// latent -> C0*H0*W0.
    pub fc: Linear,
    /// C0 -> C1 channels, H0 x W0 -> 2*H0 x 2*W0.
    pub deconv1: ConvTranspose2d,
    /// C1 -> C channels, to H x W.
    pub deconv2: ConvTranspose2d,
    /// H0, the first feature map's height (a constant of the model).
    pub height: usize,
    /// W0, its width.
    pub width: usize,
}

impl Vae {
    /// The approximate posterior: images `[batch, H*W*C]` in [0, 1] (and, for
    /// a conditional model, their classes one-hot `[batch, classes]`, see
    /// [`Vae::one_hot`]) to `(mu, logvar)`, each `[batch, latent]`.
    pub fn encode(&self, x: Tensor<2>, class: Option<Tensor<2>>) -> (Tensor<2>, Tensor<2>) {
        self.encoder.forward(x, class)
    }

    /// The decoder: decoder inputs `[batch, input]` (see
    /// [`Vae::decoder_input`]) to pixel logits `[batch, H*W*C]`.
    pub fn decode_logits(&self, input: Tensor<2>) -> Tensor<2> {
        self.decoder.forward(input)
    }

    /// What the decoder reads: `z` `[batch, latent]`, followed for a
    /// conditional model by the one-hot class `[batch, classes]`: `[batch,
    /// latent + classes]`. The chip's decoder input has the same layout.
    pub fn decoder_input(z: Tensor<2>, class: Option<Tensor<2>>) -> Tensor<2> {
        match class {
            Some(class) => Tensor::cat(vec![z, class], 1),
            None => z,
        }
    }

    /// The classes as one-hot rows `[labels.len(), classes]` on `device`,
    /// or `None` for an unconditional model (0 classes). Labels must be
    /// below `classes` (checked when the data is loaded).
    pub fn one_hot(&self, labels: &[u8], device: &Device) -> Option<Tensor<2>> {
        let classes = self.classes();
        (classes > 0).then(|| {
            let mut rows = vec![0.0f32; labels.len() * classes];
            for (row, &label) in rows.chunks_exact_mut(classes).zip(labels) {
                row[usize::from(label)] = 1.0;
            }
            Tensor::from_data(TensorData::new(rows, [labels.len(), classes]), device)
        })
    }

    /// Encodes, draws z with the given noise `eps` `[batch, latent]`
    /// ([`Vae::reparameterize`]), decodes with the same class:
    /// `(logits, mu, logvar)`.
    pub fn forward(
        &self,
        x: Tensor<2>,
        class: Option<Tensor<2>>,
        eps: Tensor<2>,
    ) -> (Tensor<2>, Tensor<2>, Tensor<2>) {
        let (mu, logvar) = self.encode(x, class.clone()); // [batch, latent] each
        let z = Self::reparameterize(mu.clone(), logvar.clone(), eps); // [batch, latent]
        let logits = self.decode_logits(Self::decoder_input(z, class)); // [batch, H*W*C]
        (logits, mu, logvar)
    }

    /// A draw from the posterior `N(mu, exp(logvar))` given standard normal
    /// noise `e`: `z = mu + exp(logvar / 2) * e`, differentiable in `mu` and
    /// `logvar` (the reparameterisation trick). All `[batch, latent]`. The
    /// one place the formula lives: training, evaluation and the export's
    /// posterior latents all draw through it.
    pub fn reparameterize(mu: Tensor<2>, logvar: Tensor<2>, e: Tensor<2>) -> Tensor<2> {
        mu + logvar.mul_scalar(0.5).exp() * e
    }

    /// Size of z.
    pub fn latent(&self) -> usize {
        self.encoder.latent()
    }

    /// Classes of a conditional model, 0 for an unconditional one.
    pub fn classes(&self) -> usize {
        self.decoder.input() - self.latent()
    }

    /// The device its parameters live on.
    pub fn device(&self) -> Device {
        self.devices()[0].clone()
    }
}

impl Encoder {
    /// Images `[batch, H*W*C]` (and a conditional model's one-hot classes
    /// `[batch, classes]`) to `(mu, logvar)`, each `[batch, latent]`.
    pub fn forward(&self, x: Tensor<2>, class: Option<Tensor<2>>) -> (Tensor<2>, Tensor<2>) {
        let with_class = |h: Tensor<2>| match &class {
            Some(class) => Tensor::cat(vec![h, class.clone()], 1),
            None => h,
        };
        match self {
            Encoder::Mlp(m) => {
                let h = relu(linear(&m.fc1, with_class(x))); // [batch, 400]
                (linear(&m.fc21, h.clone()), linear(&m.fc22, h))
            }
            Encoder::Conv(m) => {
                let [batch, _] = x.dims();
                let channels = m.conv1.weight.dims()[1];
                let x = x.reshape([batch, m.height, m.width, channels]); // [batch, H, W, C]
                let h = relu(conv_k4s2(x, m.conv1.weight.val(), bias(&m.conv1.bias))); // [batch, H/2, W/2, 32]
                let h = relu(conv_k4s2(h, m.conv2.weight.val(), bias(&m.conv2.bias))); // [batch, H/4, W/4, 64]
                // Flattened channels first (c, y, x), the dense layer's row order.
                let h = with_class(h.permute([0, 3, 1, 2]).flatten::<2>(1, 3)); // [batch, 64*H/4*W/4 + classes]
                let h = relu(linear(&m.fc, h)); // [batch, 512]
                (linear(&m.fc_mu, h.clone()), linear(&m.fc_logvar, h))
            }
        }
    }

    /// Size of z.
    pub fn latent(&self) -> usize {
        match self {
            Encoder::Mlp(m) => m.fc21.weight.dims()[1],
            Encoder::Conv(m) => m.fc_mu.weight.dims()[1],
        }
    }
}

impl Decoder {
    /// Decoder inputs `[batch, input]` (z, and a conditional model's
    /// one-hot class) to pixel logits `[batch, H*W*C]`: the last of
    /// [`Decoder::forward_layers`], without keeping the others.
    pub fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        self.run(z, None)
    }

    /// The output of every layer (after its activation) for decoder inputs
    /// `[batch, input]`, each `[batch, elements]` (feature maps flattened
    /// channels-first, as burn holds them): what the export calibrates on.
    /// The last is the pixel logits `[batch, H*W*C]`, as [`Decoder::forward`]
    /// gives them.
    pub fn forward_layers(&self, z: Tensor<2>) -> Vec<Tensor<2>> {
        let mut layers = Vec::new();
        let logits = self.run(z, Some(&mut layers));
        layers.push(logits);
        layers
    }

    /// The one forward pass: the logits, and each hidden layer's output
    /// pushed onto `hidden` when given.
    fn run(&self, z: Tensor<2>, mut hidden: Option<&mut Vec<Tensor<2>>>) -> Tensor<2> {
        let [batch, _] = z.dims();
        match self {
            Decoder::Mlp(m) => {
                let h = relu(linear(&m.fc3, z)); // [batch, 400]
                keep(&mut hidden, || h.clone());
                linear(&m.fc4, h) // [batch, H*W*C]
            }
            Decoder::Conv(m) => {
                let c0 = m.deconv1.channels[0];
                let (h0, w0) = (m.height, m.width);
                let h = relu(linear(&m.fc, z)); // [batch, C0*H0*W0], channels first
                keep(&mut hidden, || h.clone());
                let h = h.reshape([batch, c0, h0, w0]).permute([0, 2, 3, 1]); // [batch, H0, W0, C0]
                let h = relu(conv_transpose_k4s2(
                    h,
                    m.deconv1.weight.val(),
                    bias(&m.deconv1.bias),
                )); // [batch, 2*H0, 2*W0, C1]
                keep(&mut hidden, || {
                    h.clone().permute([0, 3, 1, 2]).flatten::<2>(1, 3)
                }); // [batch, C1*2*H0*2*W0]
                conv_transpose_k4s2(h, m.deconv2.weight.val(), bias(&m.deconv2.bias))
                    .flatten::<2>(1, 3) // [batch, H*W*C]
            }
        }
    }

    /// Size of its input: z, and a conditional model's one-hot class.
    pub fn input(&self) -> usize {
        match self {
            Decoder::Mlp(m) => m.fc3.weight.dims()[0],
            Decoder::Conv(m) => m.fc.weight.dims()[0],
        }
    }

    /// Bytes of its parameters once exported: int8 weights, int32 biases.
    pub fn int8_bytes(&self) -> usize {
        fn bytes<const D: usize>(
            weight: &Param<Tensor<D>>,
            bias: &Option<Param<Tensor<1>>>,
        ) -> usize {
            weight.val().shape().num_elements() + 4 * bias.as_ref().map_or(0, |b| b.val().dims()[0])
        }
        match self {
            Decoder::Mlp(m) => {
                bytes(&m.fc3.weight, &m.fc3.bias) + bytes(&m.fc4.weight, &m.fc4.bias)
            }
            Decoder::Conv(m) => {
                bytes(&m.fc.weight, &m.fc.bias)
                    + bytes(&m.deconv1.weight, &m.deconv1.bias)
                    + bytes(&m.deconv2.weight, &m.deconv2.bias)
            }
        }
    }
}

/// A layer's bias, if it has one, as a tensor.
fn bias(bias: &Option<Param<Tensor<1>>>) -> Option<Tensor<1>> {
    bias.as_ref().map(Param::val)
}

/// Pushes `layer()` onto `hidden` when there is one (and only then
/// computes it).
fn keep(hidden: &mut Option<&mut Vec<Tensor<2>>>, layer: impl FnOnce() -> Tensor<2>) {
    if let Some(hidden) = hidden {
        hidden.push(layer());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::values;
    use crate::data::PIXELS;

    fn device() -> Device {
        crate::backend::Backend::default().device()
    }

    #[test]
    fn shapes_and_decoder_size() {
        let device = device();
        for arch in [Arch::Mlp, Arch::Conv] {
            for classes in [0, 4] {
                let model = VaeConfig::new(arch)
                    .with_latent(5)
                    .with_classes(classes)
                    .init(&device, &mut Rng::new(1));
                let x = Tensor::<2>::zeros([3, PIXELS], &device);
                let class = model.one_hot(&[0, 3, 1], &device);
                assert_eq!(class.is_some(), classes > 0);
                let (mu, logvar) = model.encode(x.clone(), class.clone());
                assert_eq!(mu.dims(), [3, 5], "{arch:?}");
                assert_eq!(logvar.dims(), [3, 5], "{arch:?}");
                let (logits, _, _) = model.forward(x, class, Tensor::zeros([3, 5], &device));
                assert_eq!(logits.dims(), [3, PIXELS], "{arch:?}");
                assert_eq!((model.latent(), model.classes()), (5, classes));
            }
        }
        let conv = VaeConfig::new(Arch::Conv).init(&device, &mut Rng::new(1));
        let bytes = conv.decoder.int8_bytes();
        assert!(bytes <= 64 * 1024, "conv decoder needs {bytes} bytes");
    }

    /// RGB images of 32x24: both models take and give `[batch, 32*24*3]`,
    /// and the conv decoder's output is its last transposed convolution's
    /// NCHW map in the data's HWC order.
    #[test]
    fn rgb_images_of_any_multiple_of_four() {
        let device = device();
        let image = ImageShape {
            height: 32,
            width: 24,
            channels: 3,
        };
        for arch in [Arch::Mlp, Arch::Conv] {
            let config = VaeConfig::new(arch)
                .with_latent(4)
                .with_classes(2)
                .with_image(image);
            assert_eq!(config.image_problem(), None);
            let model = config.init(&device, &mut Rng::new(3));
            assert_eq!(model.image, image);
            let x = Tensor::<2>::ones([2, image.len()], &device).mul_scalar(0.5);
            let class = model.one_hot(&[0, 1], &device);
            let (logits, mu, _) = model.forward(x, class, Tensor::zeros([2, 4], &device));
            assert_eq!(logits.dims(), [2, image.len()], "{arch:?}");
            assert_eq!(mu.dims(), [2, 4], "{arch:?}");
        }
        let model = VaeConfig::new(Arch::Conv)
            .with_latent(4)
            .with_image(image)
            .init(&device, &mut Rng::new(5));
        let Decoder::Conv(m) = &model.decoder else {
            panic!("a conv decoder")
        };
        assert_eq!((m.height, m.width), (8, 6));
        let z = Tensor::<2>::from_data(TensorData::new(vec![0.3, -0.2, 0.1, 0.7], [1, 4]), &device);
        let hwc = values(model.decode_logits(z.clone()));
        let h = relu(m.fc.forward(z)).reshape([1, m.deconv1.channels[0], 8, 6]);
        let nchw = values(m.deconv2.forward(relu(m.deconv1.forward(h))));
        for (y, x, c) in [(0, 0, 0), (0, 0, 2), (5, 3, 1), (31, 23, 2)] {
            // The same numbers up to rounding: the model's layers are its
            // own matrix products ([`crate::conv`]), not burn's modules.
            let (ours, burns) = (hwc[(y * 24 + x) * 3 + c], nchw[(c * 32 + y) * 24 + x]);
            assert!(
                (ours - burns).abs() < 1e-5,
                "({y}, {x}, {c}): {ours} vs {burns}"
            );
        }
    }

    #[test]
    fn the_conv_model_refuses_sides_it_cannot_halve_twice() {
        let odd = VaeConfig::new(Arch::Conv).with_image(ImageShape {
            height: 30,
            width: 28,
            channels: 1,
        });
        let problem = odd.image_problem().expect("30 is no multiple of 4");
        assert!(problem.contains("--size 28x28"), "{problem}");
        let mlp = VaeConfig::new(Arch::Mlp).with_image(odd.image);
        assert_eq!(mlp.image_problem(), None);
    }

    /// The one-hot rows have a single 1 at the label, and a conditional
    /// decoder's output depends on the class it is given.
    #[test]
    fn the_class_reaches_the_decoder() {
        let device = device();
        let model = VaeConfig::new(Arch::Conv)
            .with_latent(3)
            .with_classes(3)
            .init(&device, &mut Rng::new(4));
        let one_hot = values(model.one_hot(&[2, 0], &device).unwrap());
        assert_eq!(one_hot, [0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
        let z = Tensor::<2>::zeros([1, 3], &device);
        let decode = |label: u8| {
            let input = Vae::decoder_input(z.clone(), model.one_hot(&[label], &device));
            assert_eq!(input.dims(), [1, 6]);
            values(model.decode_logits(input))
        };
        assert_ne!(decode(0), decode(1));
    }

    /// `decoder_channels` sets the conv decoder's feature maps, and the
    /// decoder's size follows the formula its doc gives.
    #[test]
    fn decoder_channels_shape_the_conv_decoder() {
        let device = device();
        let model = VaeConfig::new(Arch::Conv)
            .with_latent(3)
            .with_decoder_channels([5, 7])
            .init(&device, &mut Rng::new(1));
        let Decoder::Conv(m) = &model.decoder else {
            panic!("a conv decoder")
        };
        assert_eq!(m.fc.weight.dims(), [3, 5 * 49]);
        assert_eq!(m.deconv1.channels, [5, 7]);
        assert_eq!(m.deconv2.channels, [7, 1]);
        let weights = 3 * 49 * 5 + 16 * 5 * 7 + 16 * 7;
        let biases = 4 * (5 * 49 + 7 + 1);
        assert_eq!(model.decoder.int8_bytes(), weights + biases);
        let z = Tensor::<2>::zeros([2, 3], &device);
        assert_eq!(model.decode_logits(z).dims(), [2, PIXELS]);
    }

    /// `forward` is the last of `forward_layers`, whose outputs have the
    /// sizes of the layers the blob holds.
    #[test]
    fn forward_is_the_last_layer_output() {
        let device = device();
        let z: Vec<f32> = (0..15).map(|i| i as f32 * 0.1 - 0.7).collect();
        let z = Tensor::<2>::from_data(TensorData::new(z, [3, 5]), &device);
        let archs = [
            (Arch::Mlp, vec![400, PIXELS]),
            (Arch::Conv, vec![32 * 49, 40 * 196, PIXELS]),
        ];
        for (arch, sizes) in archs {
            let model = VaeConfig::new(arch)
                .with_latent(5)
                .init(&device, &mut Rng::new(2));
            let layers = model.decoder.forward_layers(z.clone());
            let dims: Vec<[usize; 2]> = layers.iter().map(|l| l.dims()).collect();
            let expected: Vec<[usize; 2]> = sizes.iter().map(|&n| [3, n]).collect();
            assert_eq!(dims, expected, "{arch:?}");
            let last = values(layers.last().unwrap().clone());
            assert_eq!(last, values(model.decode_logits(z.clone())), "{arch:?}");
        }
    }

    #[test]
    fn reparameterize_is_mu_plus_sigma_times_e() {
        let device = device();
        let t = |v: [f32; 2]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [1, 2]), &device);
        // mu 1, sigma 2 (logvar ln 4), e 0.5: 2; mu -1, sigma 1, e -1: -2.
        let z = Vae::reparameterize(t([1.0, -1.0]), t([4f32.ln(), 0.0]), t([0.5, -1.0]));
        let z = crate::batch::values(z);
        assert!((z[0] - 2.0).abs() < 1e-6 && z[1] == -2.0, "{z:?}");
    }
}
