//! Host data to burn tensors and back: burn [`Batcher`]s for images
//! ([`ImageBatcher`]), labelled images ([`LabelledBatcher`]) and latent rows
//! ([`RowBatcher`]), [`batched`] (the one
//! loop that cuts a sequence of items into batches, used by evaluation,
//! export and the judge), and [`values`] (a tensor back to host floats).

use burn::data::dataloader::batcher::Batcher;
use burn::tensor::{Device, Tensor, TensorData};

use crate::data::Split;

/// Images per forward pass when encoding or decoding without gradients
/// (evaluation, calibration, fidelity): large enough to keep the kernels
/// busy, small enough to bound the memory of a pass (the conv encoder's
/// patch matrix takes 100 KB per image: [`crate::conv`]).
pub const INFERENCE_BATCH: usize = 250;

/// Batches images (H x W x C bytes each, all of one shape) into one
/// `[batch, H*W*C]` tensor of levels in [0, 1], the models' input.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImageBatcher;

impl<'a> Batcher<&'a [u8], Tensor<2>> for ImageBatcher {
    fn batch(&self, images: Vec<&'a [u8]>, device: &Device) -> Tensor<2> {
        let len = images.first().map_or(0, |image| image.len());
        let mut values = Vec::with_capacity(images.len() * len);
        for image in &images {
            debug_assert_eq!(image.len(), len, "images of one shape");
            values.extend(image.iter().map(|&p| f32::from(p) / 255.0));
        }
        Tensor::from_data(TensorData::new(values, [images.len(), len]), device)
    }
}

/// Batches labelled images: the images as [`ImageBatcher`] makes them,
/// with their labels (a conditional model's classes, see
/// [`Vae::one_hot`](crate::model::Vae::one_hot)).
#[derive(Debug, Clone, Copy, Default)]
pub struct LabelledBatcher;

impl<'a> Batcher<(&'a [u8], u8), (Tensor<2>, Vec<u8>)> for LabelledBatcher {
    fn batch(&self, items: Vec<(&'a [u8], u8)>, device: &Device) -> (Tensor<2>, Vec<u8>) {
        let (images, labels): (Vec<&[u8]>, Vec<u8>) = items.into_iter().unzip();
        (ImageBatcher.batch(images, device), labels)
    }
}

/// Batches rows of floats of one length (latents, each `latent` values)
/// into one `[batch, length]` tensor.
#[derive(Debug, Clone, Copy, Default)]
pub struct RowBatcher;

impl<'a> Batcher<&'a [f32], Tensor<2>> for RowBatcher {
    fn batch(&self, rows: Vec<&'a [f32]>, device: &Device) -> Tensor<2> {
        let cols = rows.first().map_or(0, |row| row.len());
        matrix(rows.concat(), cols, device)
    }
}

/// All images of `split` as one `[n, H*W*C]` tensor in [0, 1].
pub fn images_tensor(split: &Split, device: &Device) -> Tensor<2> {
    ImageBatcher.batch(split.images().collect(), device)
}

/// Row-major `values` as a `[values.len() / cols, cols]` tensor.
pub fn matrix(values: Vec<f32>, cols: usize, device: &Device) -> Tensor<2> {
    let rows = values.len() / cols.max(1);
    Tensor::from_data(TensorData::new(values, [rows, cols]), device)
}

/// `items` cut into consecutive batches of `size` (the last one shorter),
/// each batched by `batcher` onto `device`, lazily and in order.
pub fn batched<'a, I, O>(
    items: impl IntoIterator<Item = I> + 'a,
    size: usize,
    batcher: &'a impl Batcher<I, O>,
    device: &'a Device,
) -> impl Iterator<Item = O> + 'a
where
    I: 'a,
    O: 'a,
{
    let mut items = items.into_iter();
    std::iter::from_fn(move || {
        let batch: Vec<I> = items.by_ref().take(size).collect();
        (!batch.is_empty()).then(|| batcher.batch(batch, device))
    })
}

/// A tensor's values on the host, row-major, as f32.
pub fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 tensor data")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;

    #[test]
    fn batches_cover_the_items_in_order() {
        let device = Backend::default().device();
        // RGB images of 4x3: any shape batches the same way.
        let shape = crate::data::ImageShape {
            height: 4,
            width: 3,
            channels: 3,
        };
        let len = shape.len();
        let split = Split {
            pixels: (0..5 * len).map(|i| (i % 251) as u8).collect(),
            labels: vec![0; 5],
            shape,
        };
        let whole = values(images_tensor(&split, &device));
        let batches: Vec<Tensor<2>> = batched(split.images(), 2, &ImageBatcher, &device).collect();
        let rows: Vec<usize> = batches.iter().map(|b| b.dims()[0]).collect();
        assert_eq!(rows, [2, 2, 1]);
        let joined: Vec<f32> = batches.into_iter().flat_map(values).collect();
        assert_eq!(joined, whole);
        assert_eq!(whole.len(), 5 * len);
        assert_eq!(whole[len + 1], f32::from(((len + 1) % 251) as u8) / 255.0);
    }

    #[test]
    fn rows_batch_into_a_matrix() {
        let device = Backend::default().device();
        let flat: Vec<f32> = (0..12).map(|i| i as f32).collect();
        let batches: Vec<Tensor<2>> = batched(flat.chunks(3), 3, &RowBatcher, &device).collect();
        assert_eq!(batches[0].dims(), [3, 3]);
        assert_eq!(batches[1].dims(), [1, 3]);
        let joined: Vec<f32> = batches.into_iter().flat_map(values).collect();
        assert_eq!(joined, flat);
        assert_eq!(matrix(flat.clone(), 4, &device).dims(), [3, 4]);
    }
}
