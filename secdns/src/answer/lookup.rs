//! Finding the records that answer a question in the zone snapshot (RFC 1034 §4.3.2):
//! exact matches, CNAME chains inside the zone, DNAME substitution (RFC 6672), wildcards
//! (RFC 4592), referrals at delegations, NODATA and NXDOMAIN with the SOA (RFC 2308), REFUSED
//! outside every zone, minimal ANY (RFC 8482), additional addresses for NS/MX/SRV targets.

use std::borrow::Cow;

use secdns_common::{MAX_NAME_LEN, dns_lowercase};

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

/// Longest CNAME/DNAME chain followed inside a zone before giving up.
const MAX_CHAIN: usize = 16;
/// RFC 6672 §2.2: a substitution that would make an over-long name.
const YXDOMAIN: u8 = 6;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rr<'a> {
    /// A zone's owner name, or one made for the answer (wildcard and DNAME synthesis).
    pub owner: Cow<'a, Name>,
    pub rtype: u16,
    pub ttl: u32,
    pub rdata: Cow<'a, [u8]>,
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

fn lowercase(wire: &[u8]) -> Vec<u8> {
    wire.iter().map(|&b| dns_lowercase(b)).collect()
}

impl<'a> Answer<'a> {
    fn refused() -> Self {
        Self {
            rcode: rcode::REFUSED,
            extended_error: Some(EDE_NOT_AUTHORITATIVE),
            ..Default::default()
        }
    }

    fn rrset(owner: Cow<'a, Name>, rrset: &'a Rrset) -> impl Iterator<Item = Rr<'a>> + 'a {
        rrset.rdatas.iter().map(move |data| Rr {
            owner: owner.clone(),
            rtype: rrset.rtype,
            ttl: rrset.ttl,
            rdata: Cow::Borrowed(&data[..]),
        })
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
        self.authority.extend(soa.rdatas.iter().map(|data| Rr {
            owner: Cow::Borrowed(zone.apex()),
            rtype: rtype::SOA,
            ttl,
            rdata: Cow::Borrowed(&data[..]),
        }));
    }

    /// Addresses of in-zone NS/MX/SRV targets (RFC 1035 §3.3 additional section processing).
    fn add_target_addresses(&mut self, zone: &'a Zone, from: usize, authority: bool) {
        let records: Vec<Rr<'a>> = if authority {
            self.authority[from..].to_vec()
        } else {
            self.answer[from..].to_vec()
        };
        for rr in records {
            let Some(target) = rdata::additional_target(rr.rtype, &rr.rdata) else {
                continue;
            };
            let Some(node) = zone.node(&lowercase(target)) else {
                continue;
            };
            for address_type in [rtype::A, rtype::AAAA] {
                let Some(rrset) = node.rrset(address_type) else {
                    continue;
                };
                for rr in Self::rrset(Cow::Borrowed(&node.owner), rrset) {
                    // Several records may point at one target: list its addresses once.
                    if !self.additional.contains(&rr) {
                        self.additional.push(rr);
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
    let mut current: Vec<u8> = qname.to_vec();
    for step in 0..MAX_CHAIN {
        // A chain that leaves the zone is the resolver's to follow.
        if Name::from_wire(&current).map_or(true, |n| !n.is_at_or_below(zone.apex())) {
            return answer;
        }
        match find(zone, &current, qtype) {
            Found::Delegation(cut) => {
                // Only the question itself is referred; a chain into a delegation stops here.
                if step == 0 {
                    referral(&mut answer, zone, cut);
                }
                return answer;
            }
            Found::Dname(node, dname) => {
                answer
                    .answer
                    .extend(Answer::rrset(Cow::Borrowed(&node.owner), dname));
                let Some(target) = substitute(&current, &node.owner, dname) else {
                    answer.rcode = YXDOMAIN;
                    return answer;
                };
                let owner = Cow::Owned(Name::from_wire(&current).unwrap_or_else(|_| Name::root()));
                answer.answer.push(Rr {
                    owner,
                    rtype: rtype::CNAME,
                    ttl: dname.ttl,
                    rdata: Cow::Owned(target.clone()),
                });
                // The synthesized CNAME is itself the answer to a CNAME question.
                if qtype == rtype::CNAME {
                    return answer;
                }
                current = lowercase(&target);
            }
            Found::Node(node, owner) => {
                // Minimal ANY (RFC 8482 §4.2): one RRset of the name, not all of them.
                let wanted = match qtype {
                    rtype::ANY => node.rrsets.first(),
                    _ => node.rrset(qtype),
                };
                if let Some(rrset) = wanted {
                    let from = answer.answer.len();
                    answer.answer.extend(Answer::rrset(owner, rrset));
                    answer.add_target_addresses(zone, from, false);
                    return answer;
                }
                // CNAME does not apply to the types that live beside it (RFC 4035 §2.5).
                let chase = !matches!(qtype, rtype::CNAME | rtype::RRSIG | rtype::NSEC);
                let Some(cname) = node.rrset(rtype::CNAME).filter(|_| chase) else {
                    answer.negative(zone, rcode::NOERROR);
                    return answer;
                };
                answer.answer.extend(Answer::rrset(owner, cname));
                let Some(target) = cname.rdatas.first() else {
                    return answer;
                };
                let target = lowercase(target);
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
            Found::Nothing => {
                // NXDOMAIN only for the question itself: a chain's dangling end is NXDOMAIN
                // too (RFC 6604 §2.1 keeps the rcode of the last name).
                answer.negative(zone, rcode::NXDOMAIN);
                return answer;
            }
        }
    }
    answer
}

enum Found<'a> {
    Delegation(&'a Node),
    Dname(&'a Node, &'a Rrset),
    /// The node that answers, and the owner to give its records (the name asked for, when a
    /// wildcard answers).
    Node(&'a Node, Cow<'a, Name>),
    Nothing,
}

/// What the zone holds for `name`: walking down from the apex, a delegation or a DNAME above
/// the name takes over; then the name itself; then the wildcard of its closest encloser.
fn find<'a>(zone: &'a Zone, name: &[u8], qtype: u16) -> Found<'a> {
    let apex_len = zone.apex().wire().len();
    let Some(below_apex) = name.len().checked_sub(apex_len) else {
        return Found::Nothing;
    };
    let offsets: Vec<usize> = label_offsets(name).collect();
    // Ancestors from the apex down to the name itself (offset 0).
    let mut closest_encloser = below_apex;
    for &offset in offsets.iter().rev().filter(|&&o| o <= below_apex) {
        let Some(node) = zone.node(&name[offset..]) else {
            break;
        };
        closest_encloser = offset;
        let at_apex = offset == below_apex;
        if !at_apex && node.rrset(rtype::NS).is_some() && !(offset == 0 && qtype == rtype::DS) {
            return Found::Delegation(node);
        }
        if offset > 0
            && let Some(dname) = node.rrset(rtype::DNAME)
        {
            return Found::Dname(node, dname);
        }
        if offset == 0 {
            return Found::Node(node, Cow::Borrowed(&node.owner));
        }
    }
    // No such name: the wildcard at the closest encloser answers for it (RFC 4592 §3.3.1).
    let mut source = vec![1, b'*'];
    source.extend_from_slice(&name[closest_encloser..]);
    match zone.node(&source) {
        Some(wildcard) if !wildcard.is_empty_non_terminal() => {
            let owner = Name::from_wire(name).unwrap_or_else(|_| Name::root());
            Found::Node(wildcard, Cow::Owned(owner))
        }
        _ => Found::Nothing,
    }
}

/// RFC 6672 §2.2: `name` with the DNAME owner's suffix replaced by the DNAME target; `None`
/// when the result would be longer than a name may be.
fn substitute(name: &[u8], owner: &Name, dname: &Rrset) -> Option<Vec<u8>> {
    let target = dname.rdatas.first()?;
    let prefix = name.len().checked_sub(owner.wire().len())?;
    let mut out = name[..prefix].to_vec();
    out.extend_from_slice(target);
    (out.len() <= MAX_NAME_LEN).then_some(out)
}

fn referral<'a>(answer: &mut Answer<'a>, zone: &'a Zone, cut: &'a Node) {
    answer.authoritative = false;
    let Some(ns) = cut.rrset(rtype::NS) else {
        return;
    };
    answer
        .authority
        .extend(Answer::rrset(Cow::Borrowed(&cut.owner), ns));
    answer.add_target_addresses(zone, 0, true);
}
