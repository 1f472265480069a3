//! Answering a DNS message: [`query`] parses it, [`lookup`] finds the records in the zone
//! snapshot, [`encode`] writes them. The XDP compiler uses the same lookup and encoder, which is
//! what makes the two paths agree byte for byte.

pub mod encode;
pub mod lookup;
pub mod query;

use secdns_common::{COPIED_QUERY_FLAGS, FLAG_QR};

use crate::{
    dns::codes::{flags, rcode, rtype},
    snapshot::Snapshot,
};
use query::{Edns, ParsedQuery, Question};

/// The largest UDP reply when the client sent no EDNS (RFC 1035 §2.3.4).
pub const PLAIN_UDP_LIMIT: usize = 512;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `payload` is our configured EDNS UDP size.
    Udp {
        payload: u16,
    },
    Tcp {
        payload: u16,
    },
}

impl Transport {
    fn our_payload(self) -> u16 {
        match self {
            Transport::Udp { payload } | Transport::Tcp { payload } => payload,
        }
    }
}

/// The reply to `msg`, or `None` when it must not be answered (not a query, or too broken to
/// even echo an ID).
pub fn respond(msg: &[u8], snapshot: &Snapshot, transport: Transport) -> Option<Vec<u8>> {
    let our_payload = transport.our_payload();
    match query::parse(msg) {
        ParsedQuery::Ignore => None,
        ParsedQuery::Error {
            id,
            flags,
            question,
            edns,
            rcode,
            extended_rcode,
        } => {
            let mut reply = Vec::with_capacity(64);
            let header_flags = FLAG_QR | (flags & COPIED_QUERY_FLAGS) | rcode as u16;
            write_header(
                &mut reply,
                id,
                header_flags,
                question.is_some() as u16,
                [0, 0, 0],
                edns.is_some(),
            );
            if let Some(q) = question {
                reply.extend_from_slice(q.raw);
            }
            if let Some(edns) = edns {
                write_opt(
                    &mut reply,
                    our_payload,
                    extended_rcode,
                    edns.dnssec_ok,
                    None,
                );
            }
            Some(reply)
        }
        ParsedQuery::Query {
            id,
            flags,
            question,
            edns,
        } => Some(answer_question(
            id, flags, &question, edns, snapshot, transport,
        )),
    }
}

fn answer_question(
    id: u16,
    query_flags: u16,
    question: &Question<'_>,
    edns: Option<Edns>,
    snapshot: &Snapshot,
    transport: Transport,
) -> Vec<u8> {
    let dnssec_ok = edns.is_some_and(|e| e.dnssec_ok);
    let qname = question.lowercase_name();
    let body = if matches!(question.qtype, rtype::AXFR | rtype::IXFR) {
        // Zone transfers out of secdns are not offered.
        encode::Body::empty(if matches!(transport, Transport::Udp { .. }) {
            rcode::FORMERR
        } else {
            rcode::REFUSED
        })
    } else {
        let answer = lookup::lookup(snapshot, &qname, question.qtype, dnssec_ok);
        encode::encode_body(&qname, &answer)
    };
    let base_flags = FLAG_QR | (query_flags & COPIED_QUERY_FLAGS);
    let mut reply = Vec::with_capacity(12 + question.raw.len() + body.bytes.len() + 11);
    write_header(
        &mut reply,
        id,
        base_flags | body.flags,
        1,
        [body.ancount, body.nscount, body.arcount],
        edns.is_some(),
    );
    reply.extend_from_slice(question.raw);
    reply.extend_from_slice(&body.bytes);
    if edns.is_some() {
        write_opt(
            &mut reply,
            transport.our_payload(),
            0,
            dnssec_ok,
            body.extended_error,
        );
    }
    let limit = match (transport, edns) {
        (Transport::Tcp { .. }, _) => u16::MAX as usize,
        // The same rule as the XDP program: the client's size (at least 512), capped by ours.
        (Transport::Udp { payload }, Some(e)) => {
            e.udp_size.max(PLAIN_UDP_LIMIT as u16).min(payload) as usize
        }
        (Transport::Udp { .. }, None) => PLAIN_UDP_LIMIT,
    };
    if reply.len() <= limit {
        return reply;
    }
    // Too big for this transport: an empty reply with TC tells the client to retry over TCP.
    reply.clear();
    write_header(
        &mut reply,
        id,
        base_flags | body.flags | flags::TC,
        1,
        [0, 0, 0],
        edns.is_some(),
    );
    reply.extend_from_slice(question.raw);
    if edns.is_some() {
        write_opt(
            &mut reply,
            transport.our_payload(),
            0,
            dnssec_ok,
            body.extended_error,
        );
    }
    reply
}

fn write_header(
    out: &mut Vec<u8>,
    id: u16,
    header_flags: u16,
    qdcount: u16,
    counts: [u16; 3],
    opt: bool,
) {
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&header_flags.to_be_bytes());
    out.extend_from_slice(&qdcount.to_be_bytes());
    out.extend_from_slice(&counts[0].to_be_bytes());
    out.extend_from_slice(&counts[1].to_be_bytes());
    out.extend_from_slice(&(counts[2] + opt as u16).to_be_bytes());
}

/// Our OPT record (RFC 6891 §6.1.2). Without an extended error these are the same eleven
/// bytes the XDP program writes.
fn write_opt(
    out: &mut Vec<u8>,
    payload: u16,
    extended_rcode: u8,
    dnssec_ok: bool,
    extended_error: Option<u16>,
) {
    out.push(0);
    out.extend_from_slice(&rtype::OPT.to_be_bytes());
    out.extend_from_slice(&payload.to_be_bytes());
    out.push(extended_rcode);
    out.push(0); // version
    out.push(if dnssec_ok { 0x80 } else { 0 });
    out.push(0);
    match extended_error {
        Some(info_code) => {
            out.extend_from_slice(&6u16.to_be_bytes());
            out.extend_from_slice(&EDE_OPTION.to_be_bytes());
            out.extend_from_slice(&2u16.to_be_bytes());
            out.extend_from_slice(&info_code.to_be_bytes());
        }
        None => out.extend_from_slice(&0u16.to_be_bytes()),
    }
}

/// EDNS option code of Extended DNS Errors (RFC 8914 §2).
const EDE_OPTION: u16 = 15;
