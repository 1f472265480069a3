//! Local records layered over a transferred zone: each replaces the transferred RRset of its
//! type at its name. A CNAME replaces everything at the name; an address replaces a
//! transferred CNAME there too, since a CNAME cannot share its name (RFC 1034 §3.6.2).

use super::{Rdata, Zone, ZoneBuilder, ZoneError};
use crate::dns::{
    Name,
    codes::{class, rtype},
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    pub owner: Name,
    pub rtype: u16,
    pub ttl: u32,
    pub rdatas: Vec<Rdata>,
}

/// `zone` with `overrides` applied. Pre-signed zones are not given here (their signatures
/// would no longer match); the caller refuses them.
pub fn apply(zone: &Zone, overrides: &[Override]) -> Result<Zone, ZoneError> {
    let mut builder = ZoneBuilder::from_zone(zone);
    for o in overrides {
        // A CNAME replaces everything at its name; an address replaces its own type and a
        // CNAME there.
        builder.remove_rrsets(&o.owner, |t| {
            o.rtype == rtype::CNAME || t == o.rtype || t == rtype::CNAME
        });
        for rdata in &o.rdatas {
            builder.add(o.owner.clone(), o.rtype, class::IN, o.ttl, rdata.clone())?;
        }
    }
    builder.finish()
}

/// The owner names (lowercased) that `overrides` may change.
pub fn owners(overrides: &[Override]) -> impl Iterator<Item = Box<[u8]>> + '_ {
    overrides.iter().map(|o| o.owner.lowercase_wire())
}
