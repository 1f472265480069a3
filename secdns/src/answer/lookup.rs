//! Finding the records that answer a question in the zone snapshot (RFC 1034 §4.3.2):
//! exact matches, CNAME chains inside the zone, referrals at delegations, NODATA and NXDOMAIN
//! with the SOA, REFUSED outside every zone, additional-section addresses for NS/MX/SRV.

use crate::{
    dns::{
        Name,
        codes::{rcode, rtype},
        name::label_offsets,
        rdata,
    },
    snapshot::{Served, Snapshot},
    zone::{Node, Rrset, Zone},
};

/// Longest CNAME chain followed inside a zone before giving up.
const MAX_CNAME_CHAIN: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rr<'a> {
    pub owner: &'a Name,
    pub rtype: u16,
    pub ttl: u32,
    pub rdata: &'a [u8],
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answer<'a> {
    pub rcode: u8,
    pub authoritative: bool,
    pub answer: Vec<Rr<'a>>,
    pub authority: Vec<Rr<'a>>,
    pub additional: Vec<Rr<'a>>,
    /// Extended DNS Error info code (RFC 8914), sent in OPT when the query had one.
    pub extended_error: Option<u16>,
}

/// RFC 8914 §4.21: the server is not authoritative for the name.
pub const EDE_NOT_AUTHORITATIVE: u16 = 20;

impl<'a> Answer<'a> {
    fn refused() -> Self {
        Self {
            rcode: rcode::REFUSED,
            extended_error: Some(EDE_NOT_AUTHORITATIVE),
            ..Default::default()
        }
    }

    fn push_rrset(section: &mut Vec<Rr<'a>>, owner: &'a Name, rrset: &'a Rrset) {
        section.extend(rrset.rdatas.iter().map(|rdata| Rr {
            owner,
            rtype: rrset.rtype,
            ttl: rrset.ttl,
            rdata,
        }));
    }

    /// NODATA or NXDOMAIN: the SOA goes in authority with the negative TTL (RFC 2308 §3).
    fn negative(&mut self, zone: &'a Zone, code: u8) {
        self.rcode = code;
        let soa = zone.soa();
        let ttl = soa
            .rdatas
            .first()
            .and_then(|r| rdata::soa_minimum(r))
            .map_or(soa.ttl, |m| m.min(soa.ttl));
        self.authority.extend(soa.rdatas.iter().map(|rdata| Rr {
            owner: zone.apex(),
            rtype: rtype::SOA,
            ttl,
            rdata,
        }));
    }

    /// Addresses of in-zone NS/MX/SRV targets (RFC 1035 §3.3.x "additional section processing").
    fn add_target_addresses(&mut self, zone: &'a Zone, records: &[Rr<'a>]) {
        for rr in records {
            let Some(target) = rdata::additional_target(rr.rtype, rr.rdata) else {
                continue;
            };
            let target: Vec<u8> = target
                .iter()
                .map(|&b| secdns_common::dns_lowercase(b))
                .collect();
            let Some(node) = zone.node(&target) else {
                continue;
            };
            for address_type in [rtype::A, rtype::AAAA] {
                if let Some(rrset) = node.rrset(address_type) {
                    let before = self.additional.len();
                    Self::push_rrset(&mut self.additional, &node.owner, rrset);
                    // Several records may point at one target: list its addresses once.
                    let added: Vec<Rr<'a>> = self.additional.drain(before..).collect();
                    for rr in added {
                        if !self.additional.contains(&rr) {
                            self.additional.push(rr);
                        }
                    }
                }
            }
        }
    }
}

/// Answers `qname` (lowercased wire form) / `qtype` from `snapshot`.
pub fn lookup<'a>(
    snapshot: &'a Snapshot,
    qname: &[u8],
    qtype: u16,
    _dnssec_ok: bool,
) -> Answer<'a> {
    let zone = match snapshot.find(qname) {
        None => return Answer::refused(),
        // Configured but without data (not transferred yet, or expired).
        Some(Served::Unavailable(_)) => {
            return Answer {
                rcode: rcode::SERVFAIL,
                ..Default::default()
            };
        }
        Some(Served::Zone(zone)) => zone,
    };
    let mut answer = Answer {
        authoritative: true,
        ..Default::default()
    };
    if let Some(cut) = delegation_above(zone, qname, qtype) {
        referral(&mut answer, zone, cut);
        return answer;
    }
    let mut current: Vec<u8> = qname.to_vec();
    for _ in 0..MAX_CNAME_CHAIN {
        let Some(node) = zone.node(&current) else {
            answer.negative(zone, rcode::NXDOMAIN);
            return answer;
        };
        // Minimal ANY (RFC 8482 §4.2): one RRset of the name, not all of them.
        let wanted = match qtype {
            rtype::ANY => node.rrsets.first(),
            _ => node.rrset(qtype),
        };
        if let Some(rrset) = wanted {
            let before = answer.answer.len();
            Answer::push_rrset(&mut answer.answer, &node.owner, rrset);
            let added: Vec<Rr<'a>> = answer.answer[before..].to_vec();
            answer.add_target_addresses(zone, &added);
            return answer;
        }
        let Some(cname) = node.rrset(rtype::CNAME).filter(|_| qtype != rtype::CNAME) else {
            answer.negative(zone, rcode::NOERROR);
            return answer;
        };
        Answer::push_rrset(&mut answer.answer, &node.owner, cname);
        let Some(target) = cname.rdatas.first() else {
            return answer;
        };
        let target: Vec<u8> = target
            .iter()
            .map(|&b| secdns_common::dns_lowercase(b))
            .collect();
        // The chain leaves the zone (or hits a delegation): the resolver takes it from here.
        let target_name = match Name::from_wire(&target) {
            Ok(name) if name.is_at_or_below(zone.apex()) => name,
            _ => return answer,
        };
        if delegation_above(zone, target_name.wire(), qtype).is_some() {
            return answer;
        }
        // A loop: every record of it is in the answer once; the resolver sees the loop.
        if answer
            .answer
            .iter()
            .any(|rr| rr.owner.lowercase_wire()[..] == target[..])
        {
            return answer;
        }
        current = target;
    }
    answer
}

/// The topmost delegation (an NS RRset below the apex) at or above `qname`, if any. A DS
/// question at the cut itself belongs to the parent side (RFC 4035 §3.1.4.1).
fn delegation_above<'a>(zone: &'a Zone, qname: &[u8], qtype: u16) -> Option<&'a Node> {
    let apex_len = zone.apex().wire().len();
    let below_apex = qname.len().checked_sub(apex_len)?;
    let offsets: Vec<usize> = label_offsets(qname)
        .take_while(|&o| o < below_apex)
        .collect();
    offsets.iter().rev().find_map(|&offset| {
        let node = zone.node(&qname[offset..])?;
        node.rrset(rtype::NS)?;
        if offset == 0 && qtype == rtype::DS {
            return None;
        }
        Some(node)
    })
}

fn referral<'a>(answer: &mut Answer<'a>, zone: &'a Zone, cut: &'a Node) {
    answer.authoritative = false;
    let Some(ns) = cut.rrset(rtype::NS) else {
        return;
    };
    Answer::push_rrset(&mut answer.authority, &cut.owner, ns);
    let records = answer.authority.clone();
    answer.add_target_addresses(zone, &records);
}
