//! Finding the records that answer a question in the zone snapshot (RFC 1034 §4.3.2):
//! exact matches, CNAME chains inside the zone, DNAME substitution (RFC 6672), wildcards
//! (RFC 4592), referrals at delegations, NODATA and NXDOMAIN with the SOA (RFC 2308), REFUSED
//! outside every zone, minimal ANY (RFC 8482), additional addresses for NS/MX/SRV targets.
//! With the DO bit, the signatures and NSEC proofs of a pre-signed zone (RFC 4035 §3.1).

use std::borrow::Cow;

use secdns_common::{MAX_NAME_LEN, dns_lowercase};

use crate::{
    dns::{
        Dname, Name,
        codes::{extended_error, rcode, rtype},
        name::{self, label_offsets},
        rdata,
    },
    snapshot::{Served, Snapshot},
    zone::{Node, Rrset, Zone},
};

/// Longest CNAME/DNAME chain followed inside a zone before giving up.
const MAX_CHAIN: usize = 16;
/// RFC 6672 §2.2: a substitution that would make an over-long name.

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rr<'a> {
    /// A zone's owner name, or one made for the answer (wildcard and DNAME synthesis).
    pub owner: Cow<'a, Dname>,
    pub rtype: u16,
    pub ttl: u32,
    pub rdata: Cow<'a, [u8]>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answer<'a> {
    /// The apex of the zone that answered (or that is not available), for the counters.
    pub zone: Option<&'a Name>,
    pub rcode: u8,
    pub authoritative: bool,
    pub answer: Vec<Rr<'a>>,
    pub authority: Vec<Rr<'a>>,
    pub additional: Vec<Rr<'a>>,
    /// Extended DNS Error info code (RFC 8914), sent in OPT when the query had one.
    pub extended_error: Option<u16>,
    /// For a referral, the delegation: glue at or below it must fit (RFC 9471).
    pub cut: Option<&'a Dname>,
}

#[derive(Clone, Copy)]
enum Section {
    Answer,
    Authority,
    Additional,
}

fn lowercase(wire: &[u8]) -> Vec<u8> {
    wire.iter().map(|&b| dns_lowercase(b)).collect()
}

fn records<'a>(
    owner: Cow<'a, Dname>,
    rrset: Rrset<'a>,
    ttl: u32,
) -> impl Iterator<Item = Rr<'a>> + 'a {
    rrset.rdatas.iter().map(move |data| Rr {
        owner: owner.clone(),
        rtype: rrset.rtype,
        ttl,
        rdata: Cow::Borrowed(data),
    })
}

/// A record as duplicates are recognised: owner (lowercased), type, TTL, data.
type RrKey = (Vec<u8>, u16, u32, Vec<u8>);

fn rr_key(rr: &Rr<'_>) -> RrKey {
    (
        rr.owner.lowercase_wire().into(),
        rr.rtype,
        rr.ttl,
        rr.rdata.to_vec(),
    )
}

/// Sections up to this many records are searched for duplicates; larger ones are indexed,
/// so that a large RRset costs time in proportion to its size, not to its square.
const SEARCHED_SECTION: usize = 32;

/// Builds one answer; `dnssec` says whether signatures and proofs go in.
struct Builder<'a> {
    zone: &'a Zone,
    dnssec: bool,
    out: Answer<'a>,
    /// For each large section, the records it holds; dropped when a section is changed
    /// other than through `add`.
    seen: [Option<foldhash::HashSet<RrKey>>; 3],
}

impl<'a> Builder<'a> {
    fn section(&mut self, section: Section) -> &mut Vec<Rr<'a>> {
        self.section_and_index(section).0
    }

    fn section_and_index(
        &mut self,
        section: Section,
    ) -> (&mut Vec<Rr<'a>>, &mut Option<foldhash::HashSet<RrKey>>) {
        let [answer, authority, additional] = &mut self.seen;
        match section {
            Section::Answer => (&mut self.out.answer, answer),
            Section::Authority => (&mut self.out.authority, authority),
            Section::Additional => (&mut self.out.additional, additional),
        }
    }

    /// After a section was changed other than through `add`.
    fn forget_index(&mut self, section: Section) {
        *self.section_and_index(section).1 = None;
    }

    /// `rrset` of `node` under `owner` (with `ttl`, or its own), and its signatures when DNSSEC
    /// records are wanted. Records already present are not repeated.
    fn add(
        &mut self,
        section: Section,
        owner: Cow<'a, Dname>,
        node: &'a Node,
        rrset: Rrset<'a>,
        ttl: Option<u32>,
    ) {
        let ttl = ttl.unwrap_or(rrset.ttl);
        let signatures = node
            .signatures(rrset.rtype)
            .filter(|_| self.dnssec && rrset.rtype != rtype::RRSIG);
        let all: Vec<Rr<'a>> = records(owner.clone(), rrset, ttl)
            .chain(
                signatures
                    .into_iter()
                    .flat_map(|sigs| records(owner.clone(), sigs, ttl)),
            )
            .collect();
        let (target, index) = self.section_and_index(section);
        if target.is_empty() {
            // An RRset and its signatures hold no duplicates: nothing to search.
            *index = None;
            target.extend(all);
            return;
        }
        for rr in all {
            let new = if target.len() < SEARCHED_SECTION {
                !target.contains(&rr)
            } else {
                index
                    .get_or_insert_with(|| target.iter().map(rr_key).collect())
                    .insert(rr_key(&rr))
            };
            if new {
                target.push(rr);
            }
        }
    }

    /// NODATA or NXDOMAIN: the SOA goes in authority with the negative TTL (RFC 2308 §3).
    fn negative(&mut self, code: u8) {
        self.out.rcode = code;
        let zone = self.zone;
        let Some(apex) = zone.node(zone.apex_key()) else {
            return;
        };
        let soa = zone.soa();
        let ttl = soa
            .rdatas
            .first()
            .and_then(rdata::soa_minimum)
            .map_or(soa.ttl, |m| m.min(soa.ttl));
        self.add(
            Section::Authority,
            Cow::Borrowed(zone.apex()),
            apex,
            soa,
            Some(ttl),
        );
    }

    /// The NSEC record at `name` (what types it has) or covering it (that it does not exist),
    /// with its signatures (RFC 4035 §3.1.3).
    fn nsec_proof(&mut self, name: &[u8]) {
        let zone = self.zone;
        let Ok(name) = Name::from_wire(name) else {
            return;
        };
        self.authority_record(zone.nsec_covering(&name), rtype::NSEC);
    }

    /// The NSEC3 record owned by `owner` (a hashed name), with its signatures.
    fn nsec3_record(&mut self, owner: Option<&[u8]>) {
        let zone = self.zone;
        self.authority_record(owner.and_then(|o| zone.node(o)), rtype::NSEC3);
    }

    /// The `rtype` records of `node`, if it has them, with their signatures.
    fn authority_record(&mut self, node: Option<&'a Node>, rtype: u16) {
        if let Some(node) = node
            && let Some(rrset) = node.rrset(rtype)
        {
            let owner = Cow::Borrowed(node.owner());
            self.add(Section::Authority, owner, node, rrset, None);
        }
    }

    fn nsec3_matching(&mut self, name: &[u8]) -> bool {
        let Some(chain) = self.zone.nsec3() else {
            return false;
        };
        let owner = chain.matching(name).map(<[u8]>::to_vec);
        let found = owner.is_some();
        self.nsec3_record(owner.as_deref());
        found
    }

    fn nsec3_covering(&mut self, name: &[u8]) {
        let Some(chain) = self.zone.nsec3() else {
            return;
        };
        let owner = chain.covering(name).map(<[u8]>::to_vec);
        self.nsec3_record(owner.as_deref());
    }

    /// RFC 5155 §7.2.1: the NSEC3 matching the closest encloser (at `ce` in `name`) and the
    /// one covering the next closer name.
    fn closest_encloser_proof(&mut self, name: &[u8], ce: usize) {
        self.nsec3_matching(&name[ce..]);
        if let Some(next_closer) = label_offsets(name).take_while(|&o| o < ce).last() {
            self.nsec3_covering(&name[next_closer..]);
        }
    }

    /// RFC 5155 §7.2.4/§7.2.7 with opt-out: the closest ancestor of `name` with an NSEC3, and
    /// the NSEC3 covering the name below it.
    fn closest_provable_encloser_proof(&mut self, name: &[u8]) {
        let Some(chain) = self.zone.nsec3() else {
            return;
        };
        let encloser = label_offsets(name)
            .skip(1)
            .find(|&o| chain.matching(&name[o..]).is_some());
        if let Some(ce) = encloser {
            self.closest_encloser_proof(name, ce);
        }
    }

    /// NXDOMAIN: the name does not exist, nor the wildcard that could have made it.
    fn deny_name(&mut self, name: &[u8], ce: usize) {
        if !self.dnssec {
            return;
        }
        let mut wildcard = vec![1, b'*'];
        wildcard.extend_from_slice(&name[ce..]);
        if self.zone.nsec3().is_some() {
            self.closest_encloser_proof(name, ce);
            self.nsec3_covering(&wildcard);
        } else {
            self.nsec_proof(name);
            self.nsec_proof(&wildcard);
        }
    }

    /// NODATA at an existing name: which types it has.
    fn deny_type(&mut self, name: &[u8]) {
        if !self.dnssec {
            return;
        }
        if self.zone.nsec3().is_some() {
            if !self.nsec3_matching(name) {
                // An opt-out span holds the name (a DS question at an unsigned delegation).
                self.closest_provable_encloser_proof(name);
            }
        } else {
            self.nsec_proof(name);
        }
    }

    /// A wildcard at closest encloser `ce` answered for `name`: no closer name exists.
    fn deny_closer(&mut self, name: &[u8], ce: usize) {
        if !self.dnssec {
            return;
        }
        if self.zone.nsec3().is_some() {
            if let Some(next_closer) = label_offsets(name).take_while(|&o| o < ce).last() {
                self.nsec3_covering(&name[next_closer..]);
            }
        } else {
            self.nsec_proof(name);
        }
    }

    /// Addresses of in-zone NS/MX/SRV targets (RFC 1035 §3.3 additional section processing).
    fn target_addresses(&mut self, from: usize, section: Section) {
        self.addresses_of_targets(from, section, |_| true);
    }

    /// As [`Builder::target_addresses`], for the targets `wanted` accepts (lowercased wire).
    fn addresses_of_targets(
        &mut self,
        from: usize,
        section: Section,
        wanted: impl Fn(&[u8]) -> bool,
    ) {
        let zone = self.zone;
        let added: Vec<Rr<'a>> = self.section(section)[from..].to_vec();
        for rr in added {
            let Some(target) = rdata::additional_target(rr.rtype, &rr.rdata).map(lowercase) else {
                continue;
            };
            if !wanted(&target) {
                continue;
            }
            let Some(node) = zone.node(&target) else {
                continue;
            };
            for address_type in [rtype::A, rtype::AAAA] {
                if let Some(rrset) = node.rrset(address_type) {
                    self.add(
                        Section::Additional,
                        Cow::Borrowed(node.owner()),
                        node,
                        rrset,
                        None,
                    );
                }
            }
        }
    }
}

/// Answers `qname` (lowercased wire form) / `qtype` from `snapshot`.
pub fn lookup<'a>(snapshot: &'a Snapshot, qname: &[u8], qtype: u16, dnssec_ok: bool) -> Answer<'a> {
    let zone = match snapshot.find_for(qname, qtype) {
        None => {
            return Answer {
                rcode: rcode::REFUSED,
                extended_error: Some(extended_error::NOT_AUTHORITATIVE),
                ..Default::default()
            };
        }
        // Configured but without data (not transferred yet, or expired).
        Some(Served::Unavailable(name)) => {
            return Answer {
                zone: Some(name),
                rcode: rcode::SERVFAIL,
                ..Default::default()
            };
        }
        Some(Served::Zone(zone)) => zone,
    };
    let dnssec = dnssec_ok && zone.is_signed();
    let mut b = Builder {
        zone,
        dnssec,
        seen: [None, None, None],
        out: Answer {
            zone: Some(zone.apex()),
            authoritative: true,
            ..Default::default()
        },
    };
    let mut current: Vec<u8> = qname.to_vec();
    for step in 0..MAX_CHAIN {
        // A chain that leaves the zone is the resolver's to follow.
        if Name::from_wire(&current).map_or(true, |n| !n.is_at_or_below(zone.apex())) {
            break;
        }
        match find(zone, &current, qtype) {
            Found::Delegation(cut) => {
                referral(&mut b, cut);
                // A chain that ends at or below a cut is followed by the referral, as Knot
                // does; the CNAMEs before it are ours, so the answer stays authoritative.
                b.out.authoritative = step > 0;
                break;
            }
            Found::Dname(node, dname) => {
                b.add(
                    Section::Answer,
                    Cow::Borrowed(node.owner()),
                    node,
                    dname,
                    None,
                );
                let Some(target) = substitute(&current, node.owner(), dname) else {
                    b.out.rcode = rcode::YXDOMAIN;
                    break;
                };
                let owner = Cow::Owned(Name::from_wire(&current).unwrap_or_else(|_| Name::root()));
                b.out.answer.push(Rr {
                    owner,
                    rtype: rtype::CNAME,
                    ttl: dname.ttl,
                    rdata: Cow::Owned(target.clone()),
                });
                b.forget_index(Section::Answer);
                // The synthesized CNAME is itself the answer to a CNAME question.
                if qtype == rtype::CNAME {
                    break;
                }
                current = lowercase(&target);
            }
            Found::Node {
                node,
                owner,
                wildcard,
            } => {
                // A wildcard answers: prove the name itself does not exist (RFC 4035 §3.1.3.3,
                // §3.1.3.4).
                if let Some(ce) = wildcard {
                    b.deny_closer(&current, ce);
                }
                let from = b.out.answer.len();
                if answer_from_node(&mut b, node, owner.clone(), qtype) {
                    b.target_addresses(from, Section::Answer);
                    break;
                }
                // CNAME does not apply to the types that live beside it (RFC 4035 §2.5).
                let chase = !matches!(qtype, rtype::CNAME | rtype::RRSIG | rtype::NSEC);
                let Some(cname) = node.rrset(rtype::CNAME).filter(|_| chase) else {
                    b.negative(rcode::NOERROR);
                    // NODATA: the NSEC at the name (for a wildcard, at the wildcard) says which
                    // types exist there.
                    let proof_name = node.owner().lowercase_wire();
                    if let Some(ce) = wildcard
                        && b.dnssec
                        && zone.nsec3().is_some()
                    {
                        // RFC 5155 §7.2.5: the closest encloser proof as well.
                        b.nsec3_matching(&current[ce..]);
                    }
                    // A wildcard that is only an empty non-terminal owns no NSEC: the NSEC
                    // covering the name, already there, proves it (as Knot answers).
                    let nsec_less = wildcard.is_some()
                        && zone.nsec3().is_none()
                        && node.is_empty_non_terminal();
                    if !nsec_less {
                        b.deny_type(&proof_name);
                    }
                    break;
                };
                b.add(Section::Answer, owner, node, cname, None);
                let Some(target) = cname.rdatas.first() else {
                    break;
                };
                let target = lowercase(target);
                // A loop: every record of it is in the answer once; the resolver sees the loop.
                if b.out
                    .answer
                    .iter()
                    .any(|rr| rr.owner.lowercase_wire()[..] == target[..])
                {
                    break;
                }
                current = target;
            }
            Found::Nothing { closest_encloser } => {
                // RFC 6604 §2.1: a chain's dangling end is NXDOMAIN too.
                b.negative(rcode::NXDOMAIN);
                b.deny_name(&current, closest_encloser);
                break;
            }
        }
    }
    // A proof that the answer itself already holds (an NSEC question at a wildcard) is not
    // repeated in authority.
    // Authority holds a few proofs at most, so this is linear in the answer.
    let answer = &b.out.answer;
    b.out.authority.retain(|rr| {
        !answer
            .iter()
            .any(|a| a.rtype == rr.rtype && a.rdata == rr.rdata)
    });
    // Authority keeps each RRset's signatures after it, as BIND writes them: the SOA and
    // its signatures then start every negative answer of a zone, one run of bytes the XDP
    // program holds once per zone (see `xdp::compile::zone_prefix`).
    for section in [&mut b.out.answer, &mut b.out.additional] {
        signatures_last(section);
    }
    b.out
}

/// Moves the signatures of a section after its other records, in their order, as Knot
/// writes them: where a reply is cut short, the signatures are what is left out first.
fn signatures_last(section: &mut Vec<Rr<'_>>) {
    let first_signature = section.iter().position(|rr| rr.rtype == rtype::RRSIG);
    let data_after = first_signature
        .is_some_and(|first| section[first..].iter().any(|rr| rr.rtype != rtype::RRSIG));
    if data_after {
        let (data, signatures): (Vec<_>, Vec<_>) = std::mem::take(section)
            .into_iter()
            .partition(|rr| rr.rtype != rtype::RRSIG);
        *section = data;
        section.extend(signatures);
    }
}

/// Puts the RRset that answers `qtype` at `node` in the answer section; false when there is
/// none. ANY and RRSIG questions get one RRset, chosen as Knot does: the lowest type present
/// (RFC 8482 §4.2 leaves the choice to the server), where all signatures count as one RRset
/// for ANY, and an RRSIG question gets the signatures over that lowest type.
fn answer_from_node<'a>(
    b: &mut Builder<'a>,
    node: &'a Node,
    owner: Cow<'a, Dname>,
    qtype: u16,
) -> bool {
    match qtype {
        rtype::ANY => {
            let Some(first) = node.all().next() else {
                return false;
            };
            if first.rtype == rtype::RRSIG {
                for sigs in node.all().filter(|r| r.rtype == rtype::RRSIG) {
                    b.add(Section::Answer, owner.clone(), node, sigs, None);
                }
            } else {
                b.add(Section::Answer, owner.clone(), node, first, None);
            }
            true
        }
        rtype::RRSIG => {
            let Some(sigs) = node
                .data()
                .next()
                .and_then(|first| node.signatures(first.rtype))
            else {
                return false;
            };
            b.add(Section::Answer, owner.clone(), node, sigs, None);
            true
        }
        _ => match node.rrset(qtype) {
            Some(rrset) => {
                b.add(Section::Answer, owner.clone(), node, rrset, None);
                true
            }
            None => false,
        },
    }
}

enum Found<'a> {
    Delegation(&'a Node),
    Dname(&'a Node, Rrset<'a>),
    /// The node that answers, the owner to give its records (the name asked for, when a
    /// wildcard answers), and for a wildcard the offset of its closest encloser.
    Node {
        node: &'a Node,
        owner: Cow<'a, Dname>,
        wildcard: Option<usize>,
    },
    /// No such name; the offset of its closest encloser.
    Nothing {
        closest_encloser: usize,
    },
}

/// What the zone holds for `name`: walking down from the apex, a delegation or a DNAME above
/// the name takes over; then the name itself; then the wildcard of its closest encloser.
fn find<'a>(zone: &'a Zone, name: &[u8], qtype: u16) -> Found<'a> {
    let apex_len = zone.apex().wire().len();
    let Some(below_apex) = name.len().checked_sub(apex_len) else {
        return Found::Nothing {
            closest_encloser: 0,
        };
    };
    let offsets: Vec<usize> = label_offsets(name).collect();
    // Ancestors from the apex down to the name itself (offset 0).
    let mut closest_encloser = below_apex;
    for &offset in offsets.iter().rev().filter(|&&o| o <= below_apex) {
        let Some(node) = zone.name_node(&name[offset..]) else {
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
            return Found::Node {
                node,
                owner: Cow::Borrowed(node.owner()),
                wildcard: None,
            };
        }
    }
    // No such name: the wildcard at the closest encloser answers for it (RFC 4592 §3.3.1),
    // even one that is only an empty non-terminal (§4.1: it exists, with no data: NODATA).
    let mut source = vec![1, b'*'];
    source.extend_from_slice(&name[closest_encloser..]);
    match zone.name_node(&source) {
        Some(wildcard) => {
            let owner = Name::from_wire(name).unwrap_or_else(|_| Name::root());
            Found::Node {
                node: wildcard,
                owner: Cow::Owned(owner),
                wildcard: Some(closest_encloser),
            }
        }
        None => Found::Nothing { closest_encloser },
    }
}

/// RFC 6672 §2.2: `name` with the DNAME owner's suffix replaced by the DNAME target; `None`
/// when the result would be longer than a name may be.
fn substitute(name: &[u8], owner: &Dname, dname: Rrset<'_>) -> Option<Vec<u8>> {
    let target = dname.rdatas.first()?;
    let prefix = name.len().checked_sub(owner.wire().len())?;
    let mut out = name[..prefix].to_vec();
    out.extend_from_slice(target);
    (out.len() <= MAX_NAME_LEN).then_some(out)
}

/// A referral (RFC 1034 §4.3.2, RFC 4035 §3.1.4): the cut's NS, its DS (or the NSEC proving
/// there is none) when DNSSEC records are wanted, and glue.
fn referral<'a>(b: &mut Builder<'a>, cut: &'a Node) {
    b.out.cut = Some(cut.owner());
    let Some(ns) = cut.rrset(rtype::NS) else {
        return;
    };
    let from = b.out.authority.len();
    b.add(
        Section::Authority,
        Cow::Borrowed(cut.owner()),
        cut,
        ns,
        None,
    );
    // NS at a delegation is not signed: drop what `add` attached to it (not the signatures
    // of proofs before it, such as a wildcard's).
    let added = b.out.authority.split_off(from);
    b.out
        .authority
        .extend(added.into_iter().filter(|rr| rr.rtype != rtype::RRSIG));
    b.forget_index(Section::Authority);
    if b.dnssec {
        match cut.rrset(rtype::DS) {
            Some(ds) => b.add(
                Section::Authority,
                Cow::Borrowed(cut.owner()),
                cut,
                ds,
                None,
            ),
            None => b.deny_type(&cut.owner().lowercase_wire()),
        }
    }
    // The glue a resolver cannot do without (at or below the cut, RFC 9471 §2.1) first, then
    // the rest, as Knot orders them: what does not fit is then the optional part.
    let cut_name = cut.owner().lowercase_wire();
    let below_cut = |target: &[u8]| name::is_at_or_below(target, &cut_name);
    b.addresses_of_targets(from, Section::Authority, below_cut);
    b.addresses_of_targets(from, Section::Authority, |t| !below_cut(t));
}
