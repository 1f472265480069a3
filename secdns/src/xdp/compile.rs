//! Compiling a zone snapshot into XDP answer-map entries. Each entry is exactly what the
//! userspace responder would write for that name and type (same lookup, same encoder).

use std::collections::{HashMap, HashSet};

use secdns_common::{
    AnswerKey, AnswerValue, MAX_BODY_LEN, NAME_BUF_LEN, OPTION_HAS_DO_VARIANT, name_hash,
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
            for rrset in &node.rrsets {
                let key = AnswerKey {
                    name_hash: name_hash(&qname),
                    qtype: rrset.rtype,
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
                let Some(plain) = compile_one(snapshot, &qname, rrset.rtype, false) else {
                    continue;
                };
                let signed =
                    compile_one(snapshot, &qname, rrset.rtype, true).filter(|b| *b != plain);
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

/// The body userspace would send for (qname, qtype), if it is a positive answer.
fn compile_one(snapshot: &Snapshot, qname: &[u8], qtype: u16, dnssec_ok: bool) -> Option<Body> {
    let answer = lookup(snapshot, qname, qtype, dnssec_ok);
    if answer.rcode != rcode::NOERROR || answer.answer.is_empty() || answer.extended_error.is_some()
    {
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
