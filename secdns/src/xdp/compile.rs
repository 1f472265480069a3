//! Compiling a zone snapshot into XDP answer-map entries. Each entry is exactly what the
//! userspace responder would write for that name and type (same lookup, same encoder).

use std::collections::{HashMap, HashSet};

use secdns_common::{
    AnswerKey, AnswerValue, DEFAULT_QTYPE, MAX_BODY_LEN, NAME_BUF_LEN, OPTION_HAS_DO_VARIANT,
    name_hash,
};

use crate::{
    answer::{
        encode::{Body, encode_body, ones_complement_sum},
        lookup::lookup,
    },
    dns::codes::rcode,
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
        for node in zone.nodes() {
            let qname = node.owner.lowercase_wire();
            // Every type present, then the default for the types that are not.
            let types = node
                .rrsets
                .iter()
                .map(|r| r.rtype)
                .chain(std::iter::once(DEFAULT_QTYPE));
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
                let Some(plain) = compile_one(snapshot, &qname, qtype, false) else {
                    continue;
                };
                let signed = compile_one(snapshot, &qname, qtype, true).filter(|b| *b != plain);
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

/// A type no zone holds (private use), asked for when compiling a name's default answer.
const ABSENT_TYPE: u16 = 65534;

/// The body userspace would send for (qname, qtype): a positive answer, or for
/// [`DEFAULT_QTYPE`] the NODATA or referral every absent type gets.
fn compile_one(snapshot: &Snapshot, qname: &[u8], qtype: u16, dnssec_ok: bool) -> Option<Body> {
    let default = qtype == DEFAULT_QTYPE;
    let asked = if default { ABSENT_TYPE } else { qtype };
    let answer = lookup(snapshot, qname, asked, dnssec_ok);
    let usable = answer.rcode == rcode::NOERROR
        && answer.extended_error.is_none()
        // A default must not depend on the type asked: NODATA or a referral, never a
        // CNAME chain (whose end differs per type).
        && if default { answer.answer.is_empty() } else { !answer.answer.is_empty() };
    // The absent type must really be absent, or the default would be its answer.
    let holds_absent = snapshot.find(qname).is_some_and(|served| match served {
        crate::snapshot::Served::Zone(zone) => zone
            .node(qname)
            .is_some_and(|n| n.rrset(ABSENT_TYPE).is_some()),
        crate::snapshot::Served::Unavailable(_) => true,
    });
    if !usable || (default && holds_absent) {
        return None;
    }
    Some(encode_body(qname, &answer))
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
