//! The kernel fast path seen from userspace: compiling a zone snapshot into answers
//! ([`compile`]), what was published and how the next snapshot changes it ([`published`],
//! with who read what in [`readers`]), compiled answers held compactly ([`packed`], each
//! body once by [`content_index`]),
//! the layout of the answer maps ([`layout`]), writing them ([`maps`]), and loading and
//! attaching the XDP program ([`loader`]), its links pinned across restarts ([`pins`]).

pub mod compile;
pub mod content_index;
pub mod fast_path;
pub mod layout;
pub mod loader;
pub mod maps;
pub mod packed;
pub mod pins;
pub mod published;
pub mod readers;
pub mod settings;
pub mod value;

/// The XDP object built by `build.rs`.
pub static PROGRAM_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/secdns-xdp"));
