//! Writing the answer, authority and additional sections of a reply, with name compression
//! (RFC 1035 §4.1.4). The question is assumed at offset 12; names that equal it or share a
//! suffix with it become pointers into it, so the bytes are the same for every letter case of
//! the query and can be precompiled for the XDP path.

use secdns_common::dns_lowercase;

use super::lookup::{Answer, Rr};
use crate::dns::{
    codes::{class, flags, rtype},
    name::{eq_ignore_case, label_offsets},
    rdata::{SRV_TARGET_AT, additional_target, compressible_names, rrsig_covers, soa_serial_at},
};

/// Compression pointers can reach the first 16 KiB of a message.
const MAX_POINTER: usize = 0x3fff;

/// The sections after the question, and the header bits that go with them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Body {
    pub bytes: Vec<u8>,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
    /// AA and RCODE.
    pub flags: u16,
    /// Extended DNS Error info code for the OPT record.
    pub extended_error: Option<u16>,
}

impl Body {
    pub fn empty(rcode: u8) -> Self {
        Self {
            bytes: Vec::new(),
            ancount: 0,
            nscount: 0,
            arcount: 0,
            flags: rcode as u16,
            extended_error: None,
        }
    }
}

/// Up to this many names written are searched one by one; beyond, they are looked up in a
/// map, so that a large answer costs time in proportion to its size.
const SEARCHED_NAMES: usize = 32;

/// Names already in the message, by the offset where they (or their suffix) start.
struct Compressor<'q> {
    question: &'q [u8],
    /// (message offset, where in `suffixes` the lowercased suffix written there is), in the
    /// order written, until there are many.
    written: Vec<(usize, std::ops::Range<usize>)>,
    /// The suffixes `written` holds, one after another: one buffer, not one each.
    suffixes: Vec<u8>,
    /// The same, lowercased suffix to its first offset, once there are many.
    index: Option<foldhash::HashMap<Vec<u8>, usize>>,
    /// A lowercased suffix being looked up.
    scratch: Vec<u8>,
    /// What the XDP compiler needs to know about the names, when it asks.
    trace: Option<Trace>,
}

/// The names a body holds and the compression pointers it uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// (offset in the body, message offset pointed to)
    pub pointers: Vec<(usize, usize)>,
    /// Every name written (owners and names in record data), as in the records.
    pub names: Vec<Vec<u8>>,
    /// Offsets in the body of the serials of the SOA records written.
    pub serials: Vec<usize>,
}

impl<'q> Compressor<'q> {
    fn find(&mut self, suffix: &[u8]) -> Option<usize> {
        // The question first: a pointer there carries the query's own letter case.
        if let Some(o) =
            label_offsets(self.question).find(|&o| eq_ignore_case(&self.question[o..], suffix))
        {
            return Some(12 + o);
        }
        match &self.index {
            None => self
                .written
                .iter()
                .find(|(_, at)| {
                    self.suffixes
                        .get(at.clone())
                        .is_some_and(|s| eq_ignore_case(s, suffix))
                })
                .map(|(offset, _)| *offset),
            Some(index) => {
                self.scratch.clear();
                self.scratch
                    .extend(suffix.iter().map(|&b| dns_lowercase(b)));
                index.get(&self.scratch).copied()
            }
        }
    }

    /// Forgets the suffixes written at `offset` and after: the records there were taken back.
    fn forget_from(&mut self, offset: usize) {
        self.written.retain(|(at, _)| *at < offset);
        if let Some(index) = &mut self.index {
            index.retain(|_, at| *at < offset);
        }
    }

    /// Records a suffix written at `offset` (the first offset of a suffix is the one used).
    fn note(&mut self, offset: usize, suffix: &[u8]) {
        let lowercased = suffix.iter().map(|&b| dns_lowercase(b));
        if let Some(index) = &mut self.index {
            index.entry(lowercased.collect()).or_insert(offset);
            return;
        }
        let start = self.suffixes.len();
        self.suffixes.extend(lowercased);
        self.written.push((offset, start..self.suffixes.len()));
        if self.written.len() > SEARCHED_NAMES {
            let mut index = foldhash::HashMap::default();
            for (offset, at) in self.written.drain(..) {
                if let Some(suffix) = self.suffixes.get(at) {
                    index.entry(suffix.to_vec()).or_insert(offset);
                }
            }
            self.index = Some(index);
        }
    }
}

/// RRsets with fewer records are encoded and measured; larger ones are first checked with
/// [`least_size`], so that one too large for the reply costs no more than looking at it.
const LARGE_RRSET: usize = 32;

/// The fewest octets `records` can take: each at least one octet for its owner (root or
/// pointer), its fixed fields, and its data with every compressible name cut to one octet.
fn least_size(records: &[Rr<'_>]) -> usize {
    records
        .iter()
        .map(|rr| {
            let names = compressible_names(rr.rtype, &rr.rdata);
            let in_names: usize = names.iter().map(|&(_, len)| len).sum();
            1 + 10 + rr.rdata.len() - in_names + names.len()
        })
        .sum()
}

/// AA and RCODE, as the header of a reply to `answer` carries them.
fn header_flags(answer: &Answer<'_>) -> u16 {
    (if answer.authoritative { flags::AA } else { 0 }) | answer.rcode as u16
}

/// Encodes `answer` as the sections following a question whose name is `qname` (any case;
/// only its length and letters-ignoring-case matter), with the names and pointers of the
/// body: what the XDP compiler stores, whole (the program passes what is too big).
pub fn encode_traced(qname: &[u8], answer: &Answer<'_>) -> (Body, Trace) {
    let (body, _, trace) = fill(qname, answer, usize::MAX, Some(Trace::default()));
    (body, trace.unwrap_or_default())
}

/// As [`encode_traced`], in at most `room` octets, RRset by RRset as Knot fills a reply: an
/// answer or authority RRset that does not fit ends the body there and truncates it (RFC 2181
/// §9), except the SOA of a negative answer, which is left out (RFC 2308 §5: a resolver can
/// do without); an additional RRset that does not fit is left out, unless it is glue a
/// referral needs (at or below the cut, RFC 9471 §3), which truncates. Also whether it
/// truncated.
pub fn encode_within(qname: &[u8], answer: &Answer<'_>, room: usize) -> (Body, bool) {
    let (body, truncated, _) = fill(qname, answer, room, None);
    (body, truncated)
}

/// The one encoder of both: `trace` only with a `room` nothing can exceed (what is taken back
/// is not taken out of a trace).
fn fill(
    qname: &[u8],
    answer: &Answer<'_>,
    room: usize,
    trace: Option<Trace>,
) -> (Body, bool, Option<Trace>) {
    let mut out = Vec::with_capacity(room.min(512));
    let mut compressor = Compressor {
        question: qname,
        written: Vec::new(),
        suffixes: Vec::new(),
        index: None,
        scratch: Vec::new(),
        trace,
    };
    let base = 12 + qname.len() + 4;
    let mut counts = [0usize; 3];
    let mut truncated = false;
    let sections = [&answer.answer, &answer.authority, &answer.additional];
    'sections: for (section, records) in sections.into_iter().enumerate() {
        for rrset in rrsets(records) {
            let mark = out.len();
            let sure_not_to_fit =
                rrset.len() >= LARGE_RRSET && least_size(rrset) > room.saturating_sub(mark);
            if !sure_not_to_fit {
                for rr in rrset {
                    write_rr(&mut out, rr, &mut compressor, base);
                }
                if out.len() <= room {
                    counts[section] += rrset.len();
                    continue;
                }
                out.truncate(mark);
                compressor.forget_from(base + mark);
            }
            let Some(first) = rrset.first() else {
                continue;
            };
            let optional = match section {
                0 => false,
                1 => first.rtype == rtype::SOA,
                _ => {
                    first.rtype == rtype::RRSIG
                        || !answer
                            .cut
                            .is_some_and(|cut| first.owner.is_at_or_below(cut))
                }
            };
            if !optional {
                truncated = true;
                break 'sections;
            }
        }
    }
    let count = |n: usize| u16::try_from(n).unwrap_or(u16::MAX);
    let body = Body {
        bytes: out,
        ancount: count(counts[0]),
        nscount: count(counts[1]),
        arcount: count(counts[2]),
        flags: header_flags(answer),
        extended_error: answer.extended_error,
    };
    (body, truncated, compressor.trace)
}

/// `records` cut into RRsets: runs of one owner and type, where the signatures over each
/// type are a set of their own.
fn rrsets<'r, 'a>(records: &'r [Rr<'a>]) -> impl Iterator<Item = &'r [Rr<'a>]> {
    let covered = |rr: &Rr<'_>| rrsig_covers(rr.rtype, &rr.rdata);
    records.chunk_by(move |a, b| {
        a.rtype == b.rtype && covered(a) == covered(b) && a.owner.wire() == b.owner.wire()
    })
}

fn write_rr(out: &mut Vec<u8>, rr: &Rr<'_>, compressor: &mut Compressor<'_>, base: usize) {
    write_name(out, rr.owner.wire(), compressor, base);
    out.extend_from_slice(&rr.rtype.to_be_bytes());
    out.extend_from_slice(&class::IN.to_be_bytes());
    out.extend_from_slice(&rr.ttl.to_be_bytes());
    let rdlen_at = out.len();
    out.extend_from_slice(&[0, 0]);
    let mut copied = 0;
    for (start, len) in compressible_names(rr.rtype, &rr.rdata) {
        out.extend_from_slice(&rr.rdata[copied..start]);
        write_name(out, &rr.rdata[start..start + len], compressor, base);
        copied = start + len;
    }
    out.extend_from_slice(&rr.rdata[copied..]);
    // An SRV target is written whole (RFC 2782), but the names after it may point at it: the
    // owners of its addresses in the additional section do, as in Knot's replies.
    if rr.rtype == rtype::SRV
        && let Some(target) = additional_target(rr.rtype, &rr.rdata)
    {
        let at = rdlen_at + 2 + SRV_TARGET_AT;
        if let Some(trace) = &mut compressor.trace {
            trace.names.push(target.to_vec());
        }
        for offset in label_offsets(target) {
            let here = base + at + offset;
            if here <= MAX_POINTER {
                compressor.note(here, &target[offset..]);
            }
        }
    }
    if rr.rtype == rtype::SOA
        && let Some(trace) = &mut compressor.trace
        && let Some(at) = soa_serial_at(out).filter(|&at| at > rdlen_at)
    {
        trace.serials.push(at);
    }
    // Record data is at most 65535 bytes on entry and compression only shrinks it.
    let rdlen = u16::try_from(out.len() - rdlen_at - 2).unwrap_or(u16::MAX);
    out[rdlen_at..rdlen_at + 2].copy_from_slice(&rdlen.to_be_bytes());
}

fn write_name(out: &mut Vec<u8>, name: &[u8], compressor: &mut Compressor<'_>, base: usize) {
    if let Some(trace) = &mut compressor.trace {
        trace.names.push(name.to_vec());
    }
    for offset in label_offsets(name) {
        let suffix = &name[offset..];
        if let Some(pointer) = compressor.find(suffix) {
            if let Some(trace) = &mut compressor.trace {
                trace.pointers.push((out.len(), pointer));
            }
            out.extend_from_slice(&(0xc000 | pointer as u16).to_be_bytes());
            return;
        }
        let here = base + out.len();
        if here <= MAX_POINTER {
            compressor.note(here, suffix);
        }
        let len = name[offset] as usize;
        out.extend_from_slice(&name[offset..offset + 1 + len]);
    }
    out.push(0);
}

/// One's-complement sum of `bytes` as big-endian 16-bit words, folded (RFC 1071).
pub fn ones_complement_sum(bytes: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut chunks = bytes.chunks_exact(2);
    for pair in &mut chunks {
        sum += u16::from_be_bytes([pair[0], pair[1]]) as u64;
    }
    if let [last] = chunks.remainder() {
        sum += (*last as u64) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}
