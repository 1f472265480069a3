//! secdns: an authoritative secondary DNS server with an XDP fast path.
//!
//! Where things are: the config file in [`config`]; zone files in [`zone::zonefile`]; the
//! served zone set in [`snapshot`]; answering a query in [`answer`] (parse, lookup, encode);
//! the UDP/TCP responders and start-up in [`server`]; the kernel fast path in [`xdp`]; the
//! control API in [`control`]; response rate limiting in [`rate_limit`].

pub mod answer;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod control;
pub mod cookies;
pub mod dns;
pub mod memory;
pub mod parallel;
pub mod persist;
pub mod prefetch;
pub mod rate_limit;
pub mod secondary;
pub mod server;
pub mod snapshot;
pub mod stats;
pub mod transfer;
pub mod unix_time;
pub mod webhooks;
pub mod xdp;
pub mod zone;
