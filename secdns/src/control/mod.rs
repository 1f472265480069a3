//! The control API: a local HTTP/JSON server ([`api`]) and the client the CLI uses ([`client`]).

pub mod api;
pub mod client;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ZoneSummary {
    pub name: String,
    /// "file" or "secondary".
    pub kind: String,
    pub serial: Option<u32>,
    pub records: usize,
    pub serving: bool,
}
