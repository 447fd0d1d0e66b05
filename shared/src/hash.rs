//! FNV-1a (32-bit): the image hash the `bench` firmware reports and the
//! host recomputes, so a run proves the chip's pixels without sending them.

/// FNV-1a of `bytes`.
pub fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::fnv1a;

    /// Published FNV-1a 32 test vectors (Fowler, Noll and Vo).
    #[test]
    fn published_vectors() {
        assert_eq!(fnv1a(b""), 0x811c_9dc5);
        assert_eq!(fnv1a(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a(b"foobar"), 0xbf9c_f968);
    }
}
