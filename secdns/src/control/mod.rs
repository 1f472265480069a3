//! The control API: a local HTTP/JSON server ([`api`]), the client the CLI uses ([`client`]),
//! the Prometheus page ([`metrics`]), and the request and response bodies they share (here).

pub mod api;
pub mod client;
pub mod metrics;
pub mod paths;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{RefOr, Schema, schema::Ref},
};

use crate::{
    catalog::{Origin, PeerDef},
    dns::Name,
    dns::tsig::{Algorithm, SecretText},
    secondary::status::ZoneKind,
    webhooks::WebhookDef,
};

/// What secrets are shown as after creation.
pub const MASKED: &str = "********";

/// A served zone in the list of them.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct ZoneSummary {
    pub name: String,
    pub kind: ZoneKind,
    /// None before the first transfer.
    pub serial: Option<u32>,
    pub records: usize,
    pub serving: bool,
    /// Where a secondary zone is defined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// A TSIG key; the secret is [`MASKED`] except in the reply to its creation or replacement.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[schema(as = TsigKey)]
pub struct KeyListing {
    /// Must be the primary's name for the key.
    pub name: Name,
    pub algorithm: Algorithm,
    /// Base64; shown only in the reply to POST and PUT, `********` otherwise.
    pub secret: String,
    pub origin: Origin,
}

/// `POST /tsigs`: the secret may be left out, and is then generated and returned once.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewTsigKey)]
pub struct NewKey {
    pub name: Name,
    /// hmac-sha256 when absent.
    pub algorithm: Option<Algorithm>,
    /// Generated when absent.
    #[schema(value_type = Option<SecretText>)]
    pub secret: Option<String>,
}

/// `PUT /tsigs/{name}`: a new algorithm, a new secret, or (with `generate`) a generated
/// secret. The secret stays as it was unless one of the last two is given.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TsigKeyChange)]
pub struct KeyChange {
    pub algorithm: Option<Algorithm>,
    /// A new secret.
    #[schema(value_type = Option<SecretText>)]
    pub secret: Option<String>,
    /// Generate a new secret (not with `secret`).
    #[serde(default)]
    #[schema(default = false)]
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

/// The object's own schema with `origin` added. Not derived: a derive describes `flatten` as
/// allOf the object and `origin`, which no listing satisfies, as the object's schema refuses
/// properties it does not name.
impl<T: ToSchema> PartialSchema for Listing<T> {
    fn schema() -> RefOr<Schema> {
        let RefOr::T(Schema::Object(mut object)) = T::schema() else {
            return T::schema();
        };
        object.properties.insert(
            "origin".into(),
            Ref::from_schema_name(Origin::name()).into(),
        );
        object.required.push("origin".into());
        object.description = Some(format!(
            "{} as listed: its definition, and where it is defined",
            T::name()
        ));
        RefOr::T(Schema::Object(object))
    }
}

impl<T: ToSchema> ToSchema for Listing<T> {
    fn name() -> Cow<'static, str> {
        format!("{}Listing", T::name()).into()
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((Origin::name().into(), Origin::schema()));
        T::schemas(schemas);
    }
}

pub type PeerListing = Listing<PeerDef>;
pub type WebhookListing = Listing<WebhookDef>;

/// One record of a served zone.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[schema(as = Record)]
pub struct RecordListing {
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
    pub ttl: u32,
    /// Zone-file presentation.
    pub data: String,
    /// The record data in wire form, hex: exact whatever the presentation form can show.
    pub wire: String,
}

/// `GET /health`: 200 when every zone is served, 503 otherwise.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct Health {
    pub status: HealthState,
    pub zones: usize,
    /// Zones answered with SERVFAIL: never transferred, or expired.
    pub not_serving: Vec<String>,
    /// Whether the XDP program is attached (always false without `[xdp]`).
    pub xdp: bool,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthState {
    /// Every zone is served.
    Ok,
    /// A zone is not served.
    Degraded,
}

crate::text_forms::display_as_serialized!(HealthState);
