//! Keeping freed tensor buffers in the process's heap during training.
//!
//! A training step allocates and frees the same few large buffers (the
//! conv layers' patch matrices, activations, gradients: up to a few MB
//! each) thousands of times per epoch. glibc serves blocks above its
//! mmap threshold (128 KiB, adapting up to 32 MiB) with fresh mappings
//! and returns them on free, so every step page-faults its buffers in
//! again: measured, a fifth of a conv epoch's CPU time was the kernel
//! zeroing pages. Raising the thresholds keeps those blocks in the heap
//! for the next step; the process's resident memory then stays at its
//! peak (the conv recipe: a few hundred MB) until it exits.

/// Blocks up to this size come from the heap, not from their own mapping.
const MMAP_THRESHOLD: i32 = 256 << 20;
/// Free memory at the top of the heap is returned to the system only
/// beyond this.
const TRIM_THRESHOLD: i32 = 1 << 30;

/// Sets the allocator thresholds above (glibc on Linux; elsewhere the
/// system allocator's own policy stays).
pub fn keep_freed_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's allocation policy; it is
    // thread-safe and takes effect for later allocations.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}
