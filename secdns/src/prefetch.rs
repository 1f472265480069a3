//! Hints that bring memory into the cache before a loop reaches it: where work walks data
//! spread over gigabytes (a zone's nodes, the XDP index), waiting for memory is most of it.

/// Asks the CPU to bring the cache line holding `at` into its cache. A hint: it never faults,
/// whatever `at` is.
#[inline(always)]
pub fn line<T>(at: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE is part of every x86_64 CPU; a prefetch never faults.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(at.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}
