//! What `secdns zone show` reports about a secondary zone.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::catalog::Origin;

/// Where a served zone comes from.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ZoneKind {
    /// Transferred from primaries.
    #[default]
    Secondary,
    /// Read from a zone file of the config.
    File,
}

crate::text_forms::display_as_serialized!(ZoneKind);

/// A primary as a secondary zone last saw it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct PeerStatus {
    pub name: String,
    pub address: String,
    /// "up to date (serial N)", "AXFR serial N", "IXFR serial N", ...
    pub last_result: Option<String>,
    pub last_error: Option<String>,
    pub last_serial: Option<u32>,
    /// Unix seconds.
    pub last_contact: Option<u64>,
}

/// A served zone's state: for a secondary zone, its timers, transfers and primaries too.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct ZoneStatus {
    pub name: String,
    #[serde(default)]
    pub kind: ZoneKind,
    /// Where a secondary zone is defined.
    #[serde(default)]
    pub origin: Option<Origin>,
    /// Overrides layered over the transferred records.
    #[serde(default)]
    pub overrides: usize,
    pub serial: Option<u32>,
    pub records: usize,
    /// Effective timers in seconds (configured, or from the SOA).
    pub refresh: Option<u32>,
    pub retry: Option<u32>,
    pub expire: Option<u32>,
    /// Unix seconds.
    pub last_check: Option<u64>,
    pub last_check_result: Option<String>,
    pub last_transfer: Option<u64>,
    pub last_transfer_kind: Option<String>,
    pub last_success: Option<u64>,
    pub next_refresh: Option<u64>,
    pub expires: Option<u64>,
    pub expired: bool,
    /// Answering from a copy (false: SERVFAIL).
    pub serving: bool,
    pub consecutive_failures: u32,
    pub warnings: Vec<String>,
    pub peers: Vec<PeerStatus>,
}
