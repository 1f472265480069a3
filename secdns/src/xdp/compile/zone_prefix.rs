//! The negative answers of a signed zone to DO queries, cut in two: the zone's prefix (the
//! SOA and its signatures, with which every one of them starts) held once, in the apex's
//! `SCOPE_ZONE_PREFIX` entry, and each name's rest (its NSEC and their signatures). Whole,
//! every name's NODATA held the SOA's signature again: half of a signed zone's kernel memory.

use secdns_common::{MAX_BODY_LEN, MAX_FIXUPS, ZoneSlot};

use super::{ABSENT_TYPE, pack};
use crate::{
    answer::{
        encode::encode_traced,
        lookup::{Answer, lookup},
    },
    dns::{
        codes::{rcode, rtype},
        rdata::rrsig_covers,
    },
    snapshot::Snapshot,
    xdp::value::Value,
    zone::Zone,
};

/// The entry value of `zone`'s prefix: compiled for the apex as the question, every pointer
/// listed to move with the length of the question it is sent for. `None` when the zone's
/// negative answers do not start with its SOA and signatures, or the prefix is too big.
pub fn of_zone(snapshot: &Snapshot, zone: &Zone, slot: Option<ZoneSlot>) -> Option<Value> {
    Some(split(snapshot, zone.apex_key(), zone.apex_key(), slot)?.0)
}

/// The answer to DO queries for a type `qname` does not hold, without the zone's prefix
/// (`prefix`, the value [`of_zone`] gave): its counts those of the whole answer, its
/// pointers into the question only. `None` when the answer does not start with that
/// prefix; the name then keeps its whole answer.
pub fn rest_after(
    snapshot: &Snapshot,
    qname: &[u8],
    prefix: &Value,
    slot: Option<ZoneSlot>,
) -> Option<Value> {
    let (head, rest) = split(snapshot, &prefix.name, qname, slot)?;
    (head == *prefix).then_some(rest)
}

/// The negative DO answer at `qname` in the zone at `apex`: its leading SOA and SOA
/// signatures compiled for the apex, and the rest for `qname`.
fn split(
    snapshot: &Snapshot,
    apex: &[u8],
    qname: &[u8],
    slot: Option<ZoneSlot>,
) -> Option<(Value, Value)> {
    let answer = lookup(snapshot, qname, ABSENT_TYPE, true);
    if answer.rcode != rcode::NOERROR
        || !answer.answer.is_empty()
        || answer.extended_error.is_some()
        || answer.authority.first().map(|rr| rr.rtype) != Some(rtype::SOA)
    {
        return None;
    }
    let is_soa = |rtype: u16, rdata: &[u8]| {
        rtype == rtype::SOA || rrsig_covers(rtype, rdata) == Some(rtype::SOA)
    };
    let mut authority = answer.authority.clone();
    let cut = authority
        .iter()
        .take_while(|rr| is_soa(rr.rtype, &rr.rdata))
        .count();
    if cut == authority.len()
        || authority[cut..]
            .iter()
            .any(|rr| is_soa(rr.rtype, &rr.rdata))
    {
        return None;
    }
    let rest_records = authority.split_off(cut);
    let part = |authority, additional: &[_]| Answer {
        zone: answer.zone,
        rcode: answer.rcode,
        authoritative: answer.authoritative,
        authority,
        additional: additional.to_vec(),
        ..Answer::default()
    };
    let (head_body, head_trace) = encode_traced(apex, &part(authority, &[]));
    let fixups: Vec<u16> = head_trace
        .pointers
        .iter()
        .filter_map(|&(at, _)| u16::try_from(at).ok())
        .collect();
    if fixups.len() != head_trace.pointers.len() || fixups.len() > MAX_FIXUPS {
        return None;
    }
    let head = pack(
        apex,
        apex.len(),
        &head_body,
        &fixups,
        &head_trace.serials,
        slot,
    )?;
    let (mut rest_body, rest_trace) = encode_traced(qname, &part(rest_records, &answer.additional));
    // Sent after the prefix, the rest may point into the question only, where it stays.
    let question_end = 12 + qname.len();
    if rest_trace
        .pointers
        .iter()
        .any(|&(_, target)| target >= question_end)
        || !rest_trace.serials.is_empty()
        || head_body.bytes.len() + rest_body.bytes.len() > MAX_BODY_LEN
    {
        return None;
    }
    // The program's reply, byte for byte userspace's, or no cut.
    let mut sent = head_body.bytes.clone();
    let shift = u16::try_from(qname.len().checked_sub(apex.len())?).ok()?;
    for &at in &fixups {
        let pointer = sent.get_mut(usize::from(at)..usize::from(at) + 2)?;
        let moved = u16::from_be_bytes([pointer[0], pointer[1]]).wrapping_add(shift);
        pointer.copy_from_slice(&moved.to_be_bytes());
    }
    sent.extend_from_slice(&rest_body.bytes);
    if sent != encode_traced(qname, &answer).0.bytes {
        return None;
    }
    rest_body.ancount = rest_body.ancount.checked_add(head_body.ancount)?;
    rest_body.nscount = rest_body.nscount.checked_add(head_body.nscount)?;
    rest_body.arcount = rest_body.arcount.checked_add(head_body.arcount)?;
    let mut rest = pack(qname, qname.len(), &rest_body, &[], &[], slot)?;
    rest.prefix_len = u8::try_from(apex.len()).ok()?;
    Some((head, rest))
}
