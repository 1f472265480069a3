//! The transports of userspace's responders: UDP ([`udp`]) and TCP ([`tcp`], its connection
//! caps in [`tcp_connections`]). They know nothing of zones: each message goes to a
//! [`RequestHandler`] (`secdns serve`'s is `handler::Handler`), as hickory-dns
//! draws the line.

pub mod tcp;
mod tcp_connections;
pub mod udp;

use std::net::IpAddr;

use secdns_common::rrl::Verdict;

use crate::{answer::Transport, stats::ResponderStats};

/// What the transports hand each message to.
pub trait RequestHandler: Clone + Send + Sync + 'static {
    /// The reply to one message from `source`, and what rate limiting made of it (over UDP:
    /// a truncated reply in its place, or nothing to send); `None`: nothing to send.
    fn reply(&self, msg: &[u8], source: IpAddr, transport: Transport)
    -> Option<(Vec<u8>, Verdict)>;

    /// Where the transports count what they did.
    fn stats(&self) -> &ResponderStats;
}
