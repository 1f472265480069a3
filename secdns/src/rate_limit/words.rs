//! The words the buckets (and the kernel's counts) live in: this process's memory when no
//! XDP program runs, else a mapping of the program's array, so that both charge one bucket.

use std::{
    any::Any,
    ptr::NonNull,
    sync::{Mutex, atomic::AtomicU64},
};

pub struct Words {
    ptr: NonNull<AtomicU64>,
    len: usize,
    /// What keeps the memory alive (never used, only dropped).
    _owner: Mutex<Box<dyn Any + Send>>,
}

// SAFETY: the words are only ever touched atomically; the owner is behind a mutex.
unsafe impl Send for Words {}
unsafe impl Sync for Words {}

impl Words {
    /// `len` zeroed words of this process (one at least).
    pub fn in_memory(len: usize) -> Self {
        let words: Box<[AtomicU64]> = (0..len.max(1)).map(|_| AtomicU64::new(0)).collect();
        let ptr = NonNull::from(&words[0]);
        Self {
            ptr,
            len: words.len(),
            _owner: Mutex::new(Box::new(words)),
        }
    }

    /// Words at `ptr`, which `owner` keeps mapped.
    ///
    /// # Safety
    /// `ptr` must be 8-aligned and valid for `len` u64 for as long as `owner` lives, and
    /// changed by others only atomically.
    pub unsafe fn mapped(ptr: NonNull<u64>, len: usize, owner: Box<dyn Any + Send>) -> Self {
        Self {
            ptr: ptr.cast(),
            len,
            _owner: Mutex::new(owner),
        }
    }

    pub fn as_slice(&self) -> &[AtomicU64] {
        // SAFETY: see the constructors.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}
