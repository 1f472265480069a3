//! What webhooks are told: one JSON object per event, also written as a structured log line.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// No primary of a zone could be used in a refresh.
    AllPrimariesFailing,
    /// A refresh succeeded, but only after at least one primary failed.
    SomePrimariesFailing,
    /// A transfer brought a new copy of a zone.
    ZoneUpdated,
    /// Something that needs a person's look: a limit hit, a peer behind, a TSIG error,
    /// records skipped, overrides not applicable.
    Warning,
}

impl EventKind {
    pub const ALL: [EventKind; 4] = [
        EventKind::AllPrimariesFailing,
        EventKind::SomePrimariesFailing,
        EventKind::ZoneUpdated,
        EventKind::Warning,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::AllPrimariesFailing => "all_primaries_failing",
            EventKind::SomePrimariesFailing => "some_primaries_failing",
            EventKind::ZoneUpdated => "zone_updated",
            EventKind::Warning => "warning",
        }
    }
}

/// One primary's failure in a refresh.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PeerFailure {
    pub peer: String,
    pub address: String,
    pub error: String,
}

/// The JSON body of a webhook POST.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    pub event: EventKind,
    pub zone: String,
    /// Unix seconds.
    pub time: u64,
    /// Human-readable summary.
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<PeerFailure>,
    /// For `zone_updated`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_serial: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_serial: Option<u32>,
    /// "AXFR" or "IXFR".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer: Option<String>,
    /// Records added plus records removed (AXFR: the difference to the old copy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records_changed: Option<u64>,
    /// The peer the copy came from, or that the warning is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
}

impl Event {
    pub fn new(event: EventKind, zone: &crate::dns::Name, message: impl Into<String>) -> Self {
        Self {
            event,
            zone: zone.to_string(),
            time: crate::unix_time::now(),
            message: message.into(),
            failures: Vec::new(),
            old_serial: None,
            new_serial: None,
            transfer: None,
            records_changed: None,
            peer: None,
        }
    }
}
