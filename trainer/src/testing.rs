//! Test helpers: the trainer's own layers against burn's, in value and in
//! gradient.

use burn::tensor::{Distribution, Gradients, Tensor};

/// Asserts `ours` equals burn's `theirs` to 1e-5 of their largest value.
pub(crate) fn close<const D: usize>(ours: Tensor<D>, theirs: Tensor<D>, what: &str) {
    let (ours, theirs) = (ours.into_data(), theirs.into_data());
    let (ours, theirs) = (
        ours.as_slice::<f32>().unwrap(),
        theirs.as_slice::<f32>().unwrap(),
    );
    assert_eq!(ours.len(), theirs.len(), "{what}");
    let scale = theirs.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        assert!(
            (a - b).abs() <= 1e-5 * scale,
            "{what}[{i}]: {a} vs burn's {b}"
        );
    }
}

/// The gradients of one random projection of two outputs of the same
/// layer (ours, burn's), after checking the outputs [`close`].
pub(crate) struct BothGradients {
    ours: Gradients,
    theirs: Gradients,
    what: String,
}

impl BothGradients {
    /// Checks `ours` against `theirs` and takes the gradients of `sum(y *
    /// probe)` for one random probe, the same for both.
    pub(crate) fn of<const D: usize>(ours: Tensor<D>, theirs: Tensor<D>, what: &str) -> Self {
        close(ours.clone(), theirs.clone(), what);
        let probe = Tensor::<D>::random(theirs.dims(), Distribution::Default, &theirs.device());
        BothGradients {
            theirs: (theirs * probe.clone()).sum().backward(),
            ours: (ours * probe).sum().backward(),
            what: what.to_owned(),
        }
    }

    /// Asserts the two gradients of `tensor` are [`close`].
    pub(crate) fn agree<const D: usize>(&self, tensor: &Tensor<D>, name: &str) {
        close(
            tensor.grad(&self.ours).unwrap(),
            tensor.grad(&self.theirs).unwrap(),
            &format!("{}: {name}", self.what),
        );
    }
}
