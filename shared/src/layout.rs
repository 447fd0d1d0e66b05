//! How a dense layer's int8 weights are stored in a blob (format version 2).
//!
//! Rows are taken four at a time (a *quad*; the last quad is padded with
//! zero rows) and split into two row *pairs* `(a, b)`. Inputs are taken two
//! at a time (the last pair padded with a zero input). For quad `g`, input
//! pair `k` and row pair `p` one little-endian 32-bit word holds
//!
//! ```text
//! byte 0: a[2k] ^ 0x80    byte 1: b[2k]    byte 2: a[2k+1] ^ 0x80    byte 3: b[2k+1]
//! ```
//!
//! at word index `(g * pairs + k) * 2 + p`, where `pairs = ceil(inputs / 2)`.
//! Each quad is thus one contiguous run of `2 * pairs` words, read front to
//! back.
//!
//! Why: read as two signed 16-bit halves, such a word is
//! `(256 * b[2k] + a[2k] + 128, 256 * b[2k+1] + a[2k+1] + 128)`, exactly
//! (`a ^ 0x80` is `a + 128` as an unsigned byte). One SMLAD of the raw word
//! against the activations `(x[2k], x[2k+1])` therefore accumulates
//! `256 * b.x + a.x + 128 * sum(x)`; one UXTB16 (zero-extend bytes 0 and 2)
//! and a second SMLAD accumulate `a.x + 128 * sum(x)`. The difference is
//! `256 * b.x`, so two rows cost two SMLAD and one UXTB16 per two inputs,
//! where sign-extending each row costs two SXTB16 and two SMLAD (`crate::dsp`
//! has the kernel and the range argument). The portable kernel reads the
//! same bytes as plain int8 weights; both give the same sums.
//!
//! Every int8 value is representable in both rows (no clamping, no
//! reserved codes), so any stored byte string of the right length is a
//! valid layer.

/// The storage of one dense layer's weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DenseLayout {
    inputs: usize,
    outputs: usize,
}

impl DenseLayout {
    /// The layout of an `inputs` -> `outputs` layer.
    pub const fn new(inputs: usize, outputs: usize) -> Self {
        Self { inputs, outputs }
    }

    /// Input pairs per row: `ceil(inputs / 2)`.
    pub const fn pairs(&self) -> usize {
        self.inputs.div_ceil(2)
    }

    /// Row quads: `ceil(outputs / 4)`.
    pub const fn quads(&self) -> usize {
        self.outputs.div_ceil(4)
    }

    /// Bytes of one quad: two words per input pair.
    pub const fn quad_bytes(&self) -> usize {
        8 * self.pairs()
    }

    /// Stored bytes, padding included, or `None` on overflow.
    pub fn stored_len(&self) -> Option<usize> {
        self.quads().checked_mul(self.quad_bytes())
    }

    /// Byte offset of weight `(row, input)` and whether it is stored XOR
    /// 0x80 (the `a` row of its pair).
    pub const fn position(&self, row: usize, input: usize) -> (usize, bool) {
        let (quad, in_quad) = (row / 4, row % 4);
        let word = (quad * self.pairs() + input / 2) * 2 + in_quad / 2;
        let is_a = in_quad % 2 == 0;
        (word * 4 + (input % 2) * 2 + !is_a as usize, is_a)
    }

    /// Weight `(row, input)` from the stored bytes.
    pub fn weight(&self, stored: &[u8], row: usize, input: usize) -> i8 {
        let (at, is_a) = self.position(row, input);
        (stored[at] ^ if is_a { 0x80 } else { 0 }) as i8
    }

    /// Fills `stored` (of [`DenseLayout::stored_len`] bytes) from
    /// `weight(row, input)`, padding with zero weights.
    pub fn pack(&self, stored: &mut [u8], weight: impl Fn(usize, usize) -> i8) {
        for (i, byte) in stored.iter_mut().enumerate() {
            // Even bytes belong to `a` rows: a zero weight is stored as 0x80.
            *byte = if i % 2 == 0 { 0x80 } else { 0 };
        }
        for row in 0..self.outputs {
            for input in 0..self.inputs {
                let (at, is_a) = self.position(row, input);
                stored[at] = weight(row, input) as u8 ^ if is_a { 0x80 } else { 0 };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (row, input) has its own byte, and unpacking inverts packing,
    /// on shapes with odd inputs and partial quads.
    #[test]
    fn pack_then_read_round_trips() {
        for (inputs, outputs) in [(1, 1), (3, 5), (4, 4), (7, 9), (20, 6)] {
            let layout = DenseLayout::new(inputs, outputs);
            let logical = |r: usize, i: usize| ((r * 31 + i * 17) % 256) as u8 as i8;
            let mut stored = vec![0u8; layout.stored_len().unwrap()];
            layout.pack(&mut stored, logical);
            let mut seen = vec![false; stored.len()];
            for r in 0..outputs {
                for i in 0..inputs {
                    assert_eq!(
                        layout.weight(&stored, r, i),
                        logical(r, i),
                        "{inputs}x{outputs} ({r},{i})"
                    );
                    let (at, _) = layout.position(r, i);
                    assert!(!seen[at], "two weights share byte {at}");
                    seen[at] = true;
                }
            }
        }
    }

    /// The example in `BLOB-FORMAT.md`: rows a = [1, -2], b = [3, -128].
    #[test]
    fn documented_word() {
        let layout = DenseLayout::new(2, 2);
        let w = [[1i8, -2], [3, -128]];
        let mut stored = vec![0u8; layout.stored_len().unwrap()];
        layout.pack(&mut stored, |r, i| w[r][i]);
        // One quad (rows 2 and 3 are padding), one input pair.
        assert_eq!(stored, [0x81, 0x03, 0x7e, 0x80, 0x80, 0x00, 0x80, 0x00]);
        // Read as int16 halves: 256 * b + a + 128.
        let lo = i16::from_le_bytes([stored[0], stored[1]]);
        let hi = i16::from_le_bytes([stored[2], stored[3]]);
        assert_eq!((lo, hi), (256 * 3 + 1 + 128, 256 * -128 + (-2 + 128)));
    }

    /// The DSP kernel's arithmetic (`crate::dsp`), emulated: SMLAD of the
    /// raw words and of their UXTB16, then `a.x = t - 128 * sum(x)` and
    /// `b.x = (s - t) >> 8`. Exact up to 510 inputs at the worst case (all
    /// weights and activations -128), wrong at 512: the bound is real.
    #[test]
    fn dsp_identity_holds_up_to_510_inputs() {
        fn smlad(acc: i32, w: u32, x: u32) -> i32 {
            let h = |v: u32, s: u32| i32::from((v >> s) as u16 as i16);
            acc.wrapping_add(h(w, 0) * h(x, 0))
                .wrapping_add(h(w, 16) * h(x, 16))
        }
        let check = |inputs: usize,
                     a: &dyn Fn(usize) -> i8,
                     b: &dyn Fn(usize) -> i8,
                     x: &dyn Fn(usize) -> i8| {
            let layout = DenseLayout::new(inputs, 2);
            let mut stored = vec![0u8; layout.stored_len().unwrap()];
            layout.pack(&mut stored, |r, i| if r == 0 { a(i) } else { b(i) });
            let (mut s, mut t, mut sum) = (0i32, 0i32, 0i32);
            for k in 0..layout.pairs() {
                let at = k * 8; // row pair 0's word of input pair k
                let w = u32::from_le_bytes(stored[at..at + 4].try_into().unwrap());
                let xv = |i: usize| if i < inputs { x(i) } else { 0 };
                let xw = u32::from(xv(2 * k) as i16 as u16)
                    | (u32::from(xv(2 * k + 1) as i16 as u16) << 16);
                sum += i32::from(xv(2 * k)) + i32::from(xv(2 * k + 1));
                s = smlad(s, w, xw);
                t = smlad(t, w & 0x00ff_00ff, xw);
            }
            let exact = |f: &dyn Fn(usize) -> i8| {
                (0..inputs)
                    .map(|i| i32::from(f(i)) * i32::from(x(i)))
                    .sum::<i32>()
            };
            (t.wrapping_sub(sum * 128) == exact(a)) && (s.wrapping_sub(t) >> 8 == exact(b))
        };
        let min = |_: usize| -128i8;
        let max = |_: usize| 127i8;
        let wavy = |i: usize| ((i * 37 + 11) % 256) as u8 as i8;
        for inputs in [1, 2, 3, 20, 400, 509, 510] {
            assert!(check(inputs, &min, &min, &min), "{inputs}: all -128");
            assert!(check(inputs, &max, &min, &min), "{inputs}: a 127");
            assert!(check(inputs, &min, &max, &max), "{inputs}: b 127");
            assert!(check(inputs, &wavy, &min, &wavy), "{inputs}: wavy");
        }
        assert!(!check(512, &min, &min, &min), "512 inputs overflow 24 bits");
    }
}
