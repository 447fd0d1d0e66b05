//! burn-flex's tensors as host memory, for the trainer's own autodiff
//! operations ([`crate::linear`], [`crate::conv`]): which tensors they can
//! take, and their numbers.

use std::borrow::Cow;

use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::tensor::Tensor;

/// burn-flex with autodiff, as `Device::autodiff` makes it.
pub(crate) type FlexAutodiff = Autodiff<Flex, NoCheckpointing>;

/// Whether `tensor` lives on burn-flex (with or without autodiff), where
/// the trainer's own operations run.
pub(crate) fn on_flex<const D: usize>(tensor: &Tensor<D>) -> bool {
    tensor.clone().try_into_primitive::<FlexAutodiff>().is_ok()
        || tensor.clone().try_into_primitive::<Flex>().is_ok()
}

/// A flex tensor's values in row-major order.
pub(crate) fn values(tensor: &FlexTensor) -> Cow<'_, [f32]> {
    match tensor.as_slice::<f32>() {
        Some(slice) if tensor.is_contiguous() => Cow::Borrowed(slice),
        _ => Cow::Owned(
            tensor
                .to_contiguous()
                .into_data()
                .try_into_vec::<f32>()
                .expect("the trainer's flex operations run on f32"),
        ),
    }
}
