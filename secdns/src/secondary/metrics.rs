//! Counters of one secondary zone for `/metrics`: transfers by kind and result, and failures
//! of each peer by reason.

use std::collections::BTreeMap;

use crate::transfer::client::TransferError;

#[derive(Clone, Debug, Default)]
pub struct ZoneMetrics {
    /// ("axfr" | "ixfr", "success" | "failure") -> count.
    pub transfers: BTreeMap<(&'static str, &'static str), u64>,
    /// (peer, reason) -> count.
    pub peer_failures: BTreeMap<(String, &'static str), u64>,
}

impl ZoneMetrics {
    pub fn transfer(&mut self, kind: &'static str, ok: bool) {
        let result = if ok { "success" } else { "failure" };
        *self.transfers.entry((kind, result)).or_default() += 1;
    }

    pub fn peer_failure(&mut self, peer: &str, reason: &'static str) {
        *self
            .peer_failures
            .entry((peer.to_owned(), reason))
            .or_default() += 1;
    }
}

/// A short, stable label for why a primary could not be used.
pub fn reason(e: &TransferError) -> &'static str {
    match e {
        TransferError::Connect(_) => "connect",
        TransferError::Io(_) | TransferError::Broken => "network",
        TransferError::Timeout(_) | TransferError::TransferTimeout(_) => "timeout",
        TransferError::Message(_) => "malformed",
        TransferError::Tsig(_) => "tsig",
        TransferError::Rcode(_) => "rcode",
        TransferError::Protocol(_) => "protocol",
        TransferError::Limit(_) => "limit",
    }
}
