//! The objects of the secondary-DNS model as the config file and the control API give them,
//! and the checks each passes on its own (references between objects are checked by
//! [`super::Catalog`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Refused;
use crate::{
    dns::tsig::{self, Algorithm, Key},
    dns::{Name, codes::rtype},
    text_forms::{Handle, IpAddress, PeerAddress, is_handle, is_peer_address},
    webhooks::WebhookDef,
};

/// A zone lists between 1 and 30 primaries (as managed services allow).
pub const MAX_PEERS_PER_ZONE: usize = 30;
/// Overrides are a handful of local fixes, not a second zone.
pub const MAX_OVERRIDES_PER_ZONE: usize = 1000;
pub const MAX_OVERRIDE_DATA: usize = 64;
pub const MAX_WEBHOOKS: usize = 32;
/// RFC 2181 §8.
const MAX_TTL: u32 = (1 << 31) - 1;

fn default_algorithm() -> Algorithm {
    Algorithm::HmacSha256
}

fn default_port() -> u16 {
    53
}

fn default_override_ttl() -> u32 {
    300
}

/// Names of peers and webhooks appear in URLs and logs: letters, digits, `-`, `_`, `.`.
pub fn check_handle(what: &str, name: &str) -> Result<(), Refused> {
    if is_handle(name) {
        Ok(())
    } else {
        Err(Refused::invalid(
            "name",
            format!("{what} name {name:?}: use 1 to 63 letters, digits, '-', '_' or '.'"),
        ))
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TsigKeyDef {
    pub name: Name,
    #[serde(default = "default_algorithm")]
    pub algorithm: Algorithm,
    /// Base64. The control API generates one when none is given.
    pub secret: String,
}

/// Never shows the secret (configs and errors may be logged).
impl std::fmt::Debug for TsigKeyDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsigKeyDef")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret", &"********")
            .finish()
    }
}

impl TsigKeyDef {
    pub fn key(&self) -> Result<Key, Refused> {
        let secret = tsig::decode_secret(&self.secret)
            .map_err(|e| Refused::invalid("secret", format!("TSIG key {}: {e}", self.name)))?;
        Ok(Key {
            name: self.name.clone(),
            algorithm: self.algorithm,
            secret,
        })
    }
}

/// A primary secdns transfers zones from (or any server it talks to by name).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Peer)]
pub struct PeerDef {
    #[schema(value_type = Handle)]
    pub name: String,
    #[schema(value_type = PeerAddress)]
    pub address: IpAddr,
    #[serde(default = "default_port")]
    #[schema(minimum = 1, maximum = 65535, default = 53)]
    pub port: u16,
    /// Ask for IXFR before AXFR when we hold a copy.
    #[serde(default)]
    #[schema(default = false)]
    pub ixfr: bool,
    /// The TSIG key that signs the transfers, by name.
    pub tsig: Option<Name>,
    /// Local address for queries to this peer, to match its ACLs: of the address's IP
    /// version.
    #[schema(value_type = Option<IpAddress>)]
    pub source: Option<IpAddr>,
}

impl PeerDef {
    pub fn check(&self) -> Result<(), Refused> {
        check_handle("peer", &self.name)?;
        if self.port == 0 {
            return Err(Refused::invalid(
                "port",
                format!("peer {}: port 0", self.name),
            ));
        }
        if !is_peer_address(self.address) {
            return Err(Refused::invalid(
                "address",
                format!(
                    "peer {}: {} is not a primary's address",
                    self.name, self.address
                ),
            ));
        }
        if let Some(source) = self.source
            && source.is_ipv4() != self.address.is_ipv4()
        {
            return Err(Refused::invalid(
                "source",
                format!(
                    "peer {}: source {source} and address {} are of different IP versions",
                    self.name, self.address
                ),
            ));
        }
        Ok(())
    }
}

/// A zone secdns transfers from its primaries and serves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SecondaryZone)]
pub struct SecondaryDef {
    pub name: Name,
    /// Peer names, in the order to try them; each once.
    #[schema(value_type = std::collections::BTreeSet<Handle>, min_items = 1, max_items = 30)]
    pub peers: Vec<String>,
    /// Seconds; replaces the SOA REFRESH of the transferred zone.
    #[schema(minimum = 1, maximum = 2147483647)]
    pub refresh: Option<u32>,
    /// Seconds; the SOA RETRY when absent.
    #[schema(minimum = 1, maximum = 2147483647)]
    pub retry: Option<u32>,
    /// Seconds; the SOA EXPIRE when absent.
    #[schema(minimum = 1, maximum = 2147483647)]
    pub expire: Option<u32>,
}

impl SecondaryDef {
    pub fn check(&self) -> Result<(), Refused> {
        if self.peers.is_empty() || self.peers.len() > MAX_PEERS_PER_ZONE {
            return Err(Refused::invalid(
                "peers",
                format!(
                    "zone {} lists {} peers; give 1 to {MAX_PEERS_PER_ZONE}",
                    self.name,
                    self.peers.len()
                ),
            ));
        }
        for (i, peer) in self.peers.iter().enumerate() {
            if self.peers[..i].contains(peer) {
                return Err(Refused::invalid(
                    "peers",
                    format!("zone {} lists peer {peer} twice", self.name),
                ));
            }
        }
        for (what, value) in [
            ("refresh", self.refresh),
            ("retry", self.retry),
            ("expire", self.expire),
        ] {
            if value == Some(0) || value.is_some_and(|v| v > MAX_TTL) {
                return Err(Refused::invalid(
                    what,
                    format!("zone {}: {what} must be 1 to {MAX_TTL} seconds", self.name),
                ));
            }
        }
        Ok(())
    }
}

/// The record types an override may set.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
pub enum OverrideType {
    A,
    AAAA,
    CNAME,
}

impl OverrideType {
    pub fn code(self) -> u16 {
        match self {
            OverrideType::A => rtype::A,
            OverrideType::AAAA => rtype::AAAA,
            OverrideType::CNAME => rtype::CNAME,
        }
    }
}

impl std::fmt::Display for OverrideType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

impl std::str::FromStr for OverrideType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "A" => Ok(OverrideType::A),
            "AAAA" => Ok(OverrideType::AAAA),
            "CNAME" => Ok(OverrideType::CNAME),
            _ => Err(format!("override type {s:?}: use A, AAAA or CNAME")),
        }
    }
}

/// Local records replacing the transferred RRset of `type` at `name` (a CNAME replaces every
/// transferred RRset at the name).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Override)]
pub struct OverrideDef {
    /// Owner name, in the zone.
    pub name: Name,
    #[serde(rename = "type")]
    pub rtype: OverrideType,
    #[serde(default = "default_override_ttl")]
    #[schema(minimum = 0, maximum = 2147483647, default = 300)]
    pub ttl: u32,
    /// Addresses (A, AAAA) or the one target name (CNAME), each once.
    #[schema(value_type = std::collections::BTreeSet<String>, min_items = 1, max_items = 64)]
    pub data: Vec<String>,
}

impl OverrideDef {
    /// Checks the override against `zone` and returns its records' RDATA.
    pub fn rdatas(&self, zone: &Name) -> Result<Vec<Vec<u8>>, Refused> {
        let what = format!("override {} {}", self.name, self.rtype);
        if !self.name.is_at_or_below(zone) {
            return Err(Refused::conflict_at(
                "name",
                format!("{what}: the name is not in zone {zone}"),
            ));
        }
        if self.rtype == OverrideType::CNAME && self.name == *zone {
            return Err(Refused::conflict_at(
                "type",
                format!("{what}: a CNAME cannot replace the zone apex"),
            ));
        }
        if self.ttl > MAX_TTL {
            return Err(Refused::invalid(
                "ttl",
                format!("{what}: ttl above {MAX_TTL}"),
            ));
        }
        let most = match self.rtype {
            OverrideType::CNAME => 1,
            _ => MAX_OVERRIDE_DATA,
        };
        if self.data.is_empty() || self.data.len() > most {
            return Err(Refused::invalid(
                "data",
                format!("{what}: give 1 to {most} values"),
            ));
        }
        let mut rdatas: Vec<Vec<u8>> = Vec::with_capacity(self.data.len());
        for (i, text) in self.data.iter().enumerate() {
            let field = format!("data[{i}]");
            let not_an_address = |family: &str| {
                let refused = format!("{what}: {text:?} is not an {family} address");
                Refused::invalid(&field, refused)
            };
            let rdata = match self.rtype {
                OverrideType::A => match text.parse::<Ipv4Addr>() {
                    Ok(a) => a.octets().to_vec(),
                    Err(_) => return Err(not_an_address("IPv4")),
                },
                OverrideType::AAAA => match text.parse::<Ipv6Addr>() {
                    Ok(a) => a.octets().to_vec(),
                    Err(_) => return Err(not_an_address("IPv6")),
                },
                OverrideType::CNAME => text
                    .parse::<Name>()
                    .map(|n| n.wire().to_vec())
                    .map_err(|e| Refused::invalid(&field, format!("{what}: {e}")))?,
            };
            if rdatas.contains(&rdata) {
                return Err(Refused::invalid(
                    field,
                    format!("{what}: {text} given twice"),
                ));
            }
            rdatas.push(rdata);
        }
        Ok(rdatas)
    }
}

/// A webhook definition's checks: its name as every object's, then its URL and CA file. A
/// CA file the server cannot use is named, as a missing peer is (409 from the API).
pub fn check_webhook(def: &WebhookDef) -> Result<(), Refused> {
    check_handle("webhook", &def.name)?;
    if let Some((field, why)) = def.problem() {
        return Err(Refused::invalid(field, why));
    }
    match def.unusable_ca_file() {
        Some(why) => Err(Refused::conflict_at("ca_file", why)),
        None => Ok(()),
    }
}
