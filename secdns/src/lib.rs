//! secdns: an authoritative secondary DNS server with an XDP fast path.
//!
//! Where things are: the config file in [`config`]; zone files in [`zone::zonefile`]; zone
//! transfers in [`transfer`] and the zone work of secondaries in [`secondary`]; the served
//! zone set in [`snapshot`], and making a new one served in [`publish`]; answering a query
//! in [`answer`] (parse, lookup, encode); the UDP/TCP transports in [`server`], which hand
//! each message to [`handler`]; the kernel fast path in [`xdp`]; the control API in
//! [`control`]; response rate limiting in [`rate_limit`]; start-up in [`daemon`]. Which
//! module may import which: [`layers`].

// Documented for its developers (`cargo doc --document-private-items`): a module's doc
// links to its private parts on purpose.
#![allow(rustdoc::private_intra_doc_links)]

pub mod answer;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod control;
pub mod cookies;
pub mod daemon;
pub mod dns;
pub mod handler;
pub mod layers;
pub mod memory;
pub mod named_files;
pub mod parallel;
pub mod persist;
pub mod prefetch;
pub mod publish;
pub mod rate_limit;
pub mod secondary;
pub mod server;
pub mod snapshot;
pub mod stats;
pub mod text_forms;
pub mod transfer;
pub mod unix_time;
pub mod webhooks;
pub mod xdp;
pub mod zone;
