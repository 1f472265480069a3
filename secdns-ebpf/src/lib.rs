//! The XDP program lives in `main.rs` (built for the bpf target by `secdns/build.rs`); this
//! empty library lets the userspace crate declare a build dependency on it.
#![no_std]
