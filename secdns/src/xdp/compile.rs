//! Compiling a zone snapshot into XDP answer-map entries. Each entry is exactly what the
//! userspace responder would write for that name and type (same lookup, same encoder).

use std::collections::{HashMap, HashSet};

use secdns_common::{
    AnswerKey, AnswerValue, DEFAULT_QTYPE, MAX_BODY_LEN, NAME_BUF_LEN, OPTION_HAS_DO_VARIANT,
    has_own_answer, name_hash,
};

use crate::{
    answer::{
        encode::{Body, encode_body, ones_complement_sum},
        lookup::lookup,
    },
    dns::codes::{rcode, rtype},
    snapshot::Snapshot,
};

#[derive(Default)]
pub struct Compiled {
    pub entries: Vec<(AnswerKey, AnswerValue)>,
    /// Answers left to userspace because they exceed the fast path's body size.
    pub too_big: usize,
    /// Names left to userspace because their hash collides with another name's.
    pub collisions: usize,
}

/// A name, its plain answer, and the answer for DO queries when that differs.
type Candidate = (Box<[u8]>, AnswerValue, Option<AnswerValue>);

pub fn compile(snapshot: &Snapshot) -> Compiled {
    let mut compiled = Compiled::default();
    let mut by_key: HashMap<AnswerKey, Candidate> = HashMap::new();
    let mut poisoned: HashSet<AnswerKey> = HashSet::new();
    for zone in snapshot.zones() {
        // A zone holding the type asked for defaults has no defaults (see `ABSENT_TYPE`).
        let defaults = !zone.records().any(|(_, t, _, _)| t == ABSENT_TYPE);
        // At a CNAME, the answer depends on what the chain's end holds for the type asked:
        // every type the zone holds gets its own entry there, and the default covers the
        // types the zone holds nowhere. RRSIG and NSEC are not chased, so they are listed too.
        let mut chain_types: Vec<u16> = zone
            .records()
            .map(|(_, t, _, _)| t)
            .chain([rtype::CNAME, rtype::RRSIG, rtype::NSEC])
            .filter(|t| !has_own_answer(*t))
            .collect();
        chain_types.sort_unstable();
        chain_types.dedup();
        let signed_zone = zone.is_signed();
        for node in zone.nodes() {
            let qname = node.owner.lowercase_wire();
            let chain = node.rrset(rtype::CNAME).is_some();
            let mut types: Vec<u16> = node.rrsets.iter().map(|r| r.rtype).collect();
            if chain {
                types.extend(&chain_types);
            }
            types.sort_unstable();
            types.dedup();
            if defaults {
                types.push(DEFAULT_QTYPE);
            }
            for qtype in types {
                let key = AnswerKey {
                    name_hash: name_hash(&qname),
                    qtype,
                    dnssec_ok: 0,
                    _pad: 0,
                };
                if poisoned.contains(&key) {
                    compiled.collisions += 1;
                    continue;
                }
                if let Some((other, ..)) = by_key.get(&key) {
                    if **other != *qname {
                        // Two names, one hash: serve neither from the map.
                        by_key.remove(&key);
                        poisoned.insert(key);
                        compiled.collisions += 2;
                    }
                    continue;
                }
                let Some(plain) = compile_one(snapshot, &qname, qtype, false, chain) else {
                    continue;
                };
                // Only a signed zone answers DO queries differently.
                let signed = signed_zone
                    .then(|| compile_one(snapshot, &qname, qtype, true, chain))
                    .flatten()
                    .filter(|b| *b != plain);
                let packed = (
                    pack(&qname, &plain),
                    signed.as_ref().map(|b| pack(&qname, b)),
                );
                match packed {
                    (Some(mut value), Some(Some(signed_value))) => {
                        value.options |= OPTION_HAS_DO_VARIANT;
                        by_key.insert(key, (qname.clone(), value, Some(signed_value)));
                    }
                    (Some(value), None) => {
                        by_key.insert(key, (qname.clone(), value, None));
                    }
                    _ => compiled.too_big += 1,
                }
            }
        }
    }
    // Answers for the types asked for come before the defaults, so that when the maps cannot
    // hold everything, the names' own answers are the ones kept.
    let mut by_key: Vec<(AnswerKey, Candidate)> = by_key.into_iter().collect();
    by_key.sort_by_key(|(key, _)| key.qtype == DEFAULT_QTYPE);
    for (key, (_, value, signed)) in by_key {
        compiled.entries.push((key, value));
        if let Some(signed) = signed {
            compiled.entries.push((
                AnswerKey {
                    dnssec_ok: 1,
                    ..key
                },
                signed,
            ));
        }
    }
    compiled
}

/// A private-use type asked for when compiling a name's default answer: the answer to a type
/// the zone does not hold.
const ABSENT_TYPE: u16 = 65534;

/// The body userspace would send for (qname, qtype), or for [`DEFAULT_QTYPE`] the body every
/// type without an entry gets. At a name without CNAME that is a positive answer for a type
/// present, and NODATA or a referral for the default; at a CNAME, whatever the chain gives.
fn compile_one(
    snapshot: &Snapshot,
    qname: &[u8],
    qtype: u16,
    dnssec_ok: bool,
    chain: bool,
) -> Option<Body> {
    let default = qtype == DEFAULT_QTYPE;
    let answer = lookup(
        snapshot,
        qname,
        if default { ABSENT_TYPE } else { qtype },
        dnssec_ok,
    );
    let usable = answer.extended_error.is_none()
        && match (chain, default) {
            (true, _) => matches!(answer.rcode, rcode::NOERROR | rcode::NXDOMAIN),
            // A default must not depend on the type asked: NODATA or a referral.
            (false, true) => answer.rcode == rcode::NOERROR && answer.answer.is_empty(),
            (false, false) => answer.rcode == rcode::NOERROR && !answer.answer.is_empty(),
        };
    usable.then(|| encode_body(qname, &answer))
}

fn pack(qname: &[u8], body: &Body) -> Option<AnswerValue> {
    if body.bytes.is_empty() || body.bytes.len() > MAX_BODY_LEN || qname.len() >= NAME_BUF_LEN {
        return None;
    }
    let mut value = AnswerValue {
        name_len: qname.len() as u16,
        body_len: body.bytes.len() as u16,
        flags: body.flags,
        ancount: body.ancount,
        nscount: body.nscount,
        arcount: body.arcount,
        body_csum: ones_complement_sum(&body.bytes) as u32,
        options: 0,
        _pad: 0,
        name: [0; NAME_BUF_LEN],
        body: [0; MAX_BODY_LEN],
    };
    value.name[..qname.len()].copy_from_slice(qname);
    value.body[..body.bytes.len()].copy_from_slice(&body.bytes);
    Some(value)
}
