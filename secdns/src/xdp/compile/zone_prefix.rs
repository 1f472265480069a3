//! The negative answers of a signed zone to DO queries, cut in two: the zone's prefix (the
//! SOA and its signatures, with which every one of them starts) held once, in the apex's
//! `SCOPE_ZONE_PREFIX` entry, and each name's rest (its NSEC and their signatures). Whole,
//! every name's NODATA held the SOA's signature again: half of a signed zone's kernel memory.

use secdns_common::{MAX_BODY_LEN, MAX_FIXUPS, ZoneSlot};

use super::{ABSENT_TYPE, pack};
use crate::{
    answer::{
        encode::{Body, encode_traced},
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

/// A zone's prefix: its entry's value, compiled for the apex as the question with every
/// pointer listed to move, and the bytes userspace sends for it (the serial in place), which
/// each name's answer must start with once those pointers moved.
pub struct Prefix {
    pub value: Value,
    sent: Vec<u8>,
}

/// `zone`'s prefix; `None` when its negative answers do not start with its SOA and
/// signatures, or the prefix is too big.
pub fn of_zone(snapshot: &Snapshot, zone: &Zone, slot: Option<ZoneSlot>) -> Option<Prefix> {
    let apex = zone.apex_key();
    let (answer, cut) = negative_do_answer(snapshot, apex)?;
    let head = Answer {
        authority: answer.authority.get(..cut)?.to_vec(),
        additional: Vec::new(),
        ..answer
    };
    let (body, trace) = encode_traced(apex, &head);
    let fixups = trace
        .pointers
        .iter()
        .map(|&(at, _)| u16::try_from(at).ok())
        .collect::<Option<Vec<u16>>>()
        .filter(|fixups| fixups.len() <= MAX_FIXUPS)?;
    let value = pack(apex, apex.len(), &body, &fixups, &trace.serials, slot)?;
    Some(Prefix {
        value,
        sent: body.bytes,
    })
}

/// The answer to DO queries for a type `qname` does not hold, without `prefix`: its counts
/// those of the whole answer, its pointers into the question only. `None` when the answer
/// does not start with that prefix; the name then keeps its whole answer.
pub fn rest_after(
    snapshot: &Snapshot,
    qname: &[u8],
    prefix: &Prefix,
    slot: Option<ZoneSlot>,
) -> Option<Value> {
    let (answer, cut) = negative_do_answer(snapshot, qname)?;
    let rest = Answer {
        authority: answer.authority.get(cut..)?.to_vec(),
        ..answer.clone()
    };
    let (rest, trace) = encode_traced(qname, &rest);
    // Sent after the prefix, the rest may point into the question only, where it stays.
    let question_end = 12 + qname.len();
    if trace
        .pointers
        .iter()
        .any(|&(_, target)| target >= question_end)
        || !trace.serials.is_empty()
    {
        return None;
    }
    // What the program sends, byte for byte what userspace sends, or no cut.
    let whole = encode_traced(qname, &answer).0;
    let apex = &prefix.value.name;
    let shift = u16::try_from(qname.len().checked_sub(apex.len())?).ok()?;
    let mut sent = prefix.sent.clone();
    for &at in &prefix.value.fixups {
        let pointer = sent.get_mut(usize::from(at)..usize::from(at) + 2)?;
        let moved = u16::from_be_bytes([pointer[0], pointer[1]]).wrapping_add(shift);
        pointer.copy_from_slice(&moved.to_be_bytes());
    }
    sent.extend_from_slice(&rest.bytes);
    if sent != whole.bytes || whole.bytes.len() > MAX_BODY_LEN {
        return None;
    }
    let body = Body {
        bytes: rest.bytes,
        ..whole
    };
    let mut value = pack(qname, qname.len(), &body, &[], &[], slot)?;
    value.prefix_len = u8::try_from(apex.len()).ok()?;
    Some(value)
}

/// The negative answer to DO queries at `qname`, and how many of its authority records are
/// the zone's SOA and its signatures, when it starts with them and has more after.
fn negative_do_answer<'s>(snapshot: &'s Snapshot, qname: &[u8]) -> Option<(Answer<'s>, usize)> {
    let answer = lookup(snapshot, qname, ABSENT_TYPE, true);
    let is_soa = |rtype: u16, rdata: &[u8]| {
        rtype == rtype::SOA || rrsig_covers(rtype, rdata) == Some(rtype::SOA)
    };
    let cut = answer
        .authority
        .iter()
        .take_while(|rr| is_soa(rr.rtype, &rr.rdata))
        .count();
    let usable = answer.rcode == rcode::NOERROR
        && answer.answer.is_empty()
        && answer.extended_error.is_none()
        && answer.authority.first().map(|rr| rr.rtype) == Some(rtype::SOA)
        && cut < answer.authority.len()
        && !answer.authority[cut..]
            .iter()
            .any(|rr| is_soa(rr.rtype, &rr.rdata));
    usable.then_some((answer, cut))
}
