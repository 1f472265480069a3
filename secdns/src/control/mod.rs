//! The control API: a local HTTP/JSON server ([`api`]), the client the CLI uses ([`client`]),
//! the Prometheus page ([`metrics`]), and the request and response bodies they share (here).

pub mod api;
pub mod client;
pub mod metrics;

use serde::{Deserialize, Serialize};

use crate::{
    catalog::{Origin, PeerDef},
    dns::Name,
    dns::tsig::Algorithm,
    webhooks::WebhookDef,
};

/// What secrets are shown as after creation.
pub const MASKED: &str = "********";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ZoneSummary {
    pub name: String,
    /// "file" or "secondary".
    pub kind: String,
    pub serial: Option<u32>,
    pub records: usize,
    pub serving: bool,
    /// Where a secondary zone is defined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// A TSIG key; the secret is [`MASKED`] except in the reply to its creation or replacement.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyListing {
    pub name: Name,
    pub algorithm: Algorithm,
    pub secret: String,
    pub origin: Origin,
}

/// `POST /tsigs`: the secret may be left out, and is then generated and returned once.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    pub name: Name,
    pub algorithm: Option<Algorithm>,
    pub secret: Option<String>,
}

/// `PUT /tsigs/{name}`: a new algorithm, a new secret, or (with `generate`) a generated
/// secret. The secret stays as it was unless one of the last two is given.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyChange {
    pub algorithm: Option<Algorithm>,
    pub secret: Option<String>,
    #[serde(default)]
    pub generate: bool,
}

/// An object as listed: its definition, and where it is defined.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Listing<T> {
    #[serde(flatten)]
    pub object: T,
    pub origin: Origin,
}

impl<T: Clone> Listing<T> {
    pub fn of((object, origin): (&T, Origin)) -> Self {
        Self {
            object: object.clone(),
            origin,
        }
    }
}

pub type PeerListing = Listing<PeerDef>;
pub type WebhookListing = Listing<WebhookDef>;

/// One record of a served zone.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecordListing {
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
    pub ttl: u32,
    pub data: String,
    /// The record data in wire form, hex: exact whatever the presentation form can show.
    pub wire: String,
}

/// `GET /health`: 200 when every zone is served, 503 otherwise.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Health {
    /// "ok", or "degraded" while a zone is not served.
    pub status: String,
    pub zones: usize,
    /// Zones answered with SERVFAIL: never transferred, or expired.
    pub not_serving: Vec<String>,
    /// Whether the XDP program is attached (always false without [xdp]).
    pub xdp: bool,
}
