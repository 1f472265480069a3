//! The kernel fast path seen from userspace: loading and attaching the XDP program
//! ([`loader`]) and compiling a zone snapshot into its answer maps ([`compile`]).

pub mod compile;
pub mod loader;
pub mod published;
pub mod value;

/// The XDP object built by `build.rs`.
pub static PROGRAM_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/secdns-xdp"));
