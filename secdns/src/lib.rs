//! secdns: an authoritative secondary DNS server with an XDP fast path.
pub mod xdp;
