//! Property tests of the query parser and the answer path on hostile input: random bytes,
//! and valid queries with random names, types, flags and EDNS, then mutated. Whatever comes
//! in, nothing panics, every reply parses, and no reply is larger than the transport allows.

use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use secdns::{
    answer::{Transport, respond},
    dns::Name,
    snapshot::Snapshot,
    zone::zonefile,
};

const ZONE: &str = include_str!("../data/differential.zone");
const OUR_PAYLOAD: u16 = 1232;

fn snapshot() -> &'static Snapshot {
    static SNAPSHOT: OnceLock<Snapshot> = OnceLock::new();
    SNAPSHOT.get_or_init(|| {
        let apex: Name = "diff.example.".parse().unwrap();
        let (zone, _) = zonefile::parse(ZONE, &apex, "fuzz").unwrap();
        Snapshot::new([Arc::new(zone)])
    })
}

/// The largest reply the query allows: its EDNS size (at least 512) capped by ours, or 512
/// without EDNS; TCP allows a whole message.
fn limit(query: &[u8], transport: Transport) -> usize {
    if matches!(transport, Transport::Tcp { .. }) {
        return u16::MAX as usize;
    }
    let edns = hickory_proto::op::Message::from_vec(query)
        .ok()
        .and_then(|m| m.edns.map(|e| e.max_payload()));
    match edns {
        Some(size) => size.clamp(512, OUR_PAYLOAD) as usize,
        None => 512,
    }
}

fn check(query: &[u8]) -> Result<(), TestCaseError> {
    for transport in [
        Transport::Udp {
            payload: OUR_PAYLOAD,
        },
        Transport::Tcp {
            payload: OUR_PAYLOAD,
            keepalive: Some(100),
        },
    ] {
        let Some(reply) = respond(query, snapshot(), transport) else {
            continue;
        };
        prop_assert!(reply.len() >= 12, "reply shorter than a header");
        prop_assert_eq!(&reply[..2], &query[..2], "reply ID differs");
        prop_assert!(reply[2] & 0x80 != 0, "reply without QR");
        // A reply to a query that hickory can read must be readable too; replies to garbage
        // echo at most the header.
        if let Err(e) = hickory_proto::op::Message::from_vec(&reply) {
            prop_assert!(false, "unparsable reply {reply:02x?} to {query:02x?}: {e}");
        }
        prop_assert!(
            reply.len() <= limit(query, transport),
            "reply of {} bytes over the limit",
            reply.len()
        );
    }
    Ok(())
}

const NAMES: &[&str] = &[
    "diff.example.",
    "www.diff.example.",
    "x.wild.diff.example.",
    "a.b.dname.diff.example.",
    "big.diff.example.",
    "x.deleg.diff.example.",
    "nothere.diff.example.",
    "a.b.c.ent.diff.example.",
    "loop1.diff.example.",
    "example.org.",
    ".",
];

fn query_strategy() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<u16>(),
        any::<u16>(),
        prop::sample::select(NAMES),
        any::<u16>(),
        prop::option::of((
            any::<u16>(),
            any::<u8>(),
            any::<bool>(),
            prop::collection::vec(any::<u8>(), 0..12),
        )),
    )
        .prop_map(|(id, flags, name, qtype, opt)| {
            let mut m = id.to_be_bytes().to_vec();
            m.extend_from_slice(&(flags & 0x79ff).to_be_bytes()); // a query, any opcode
            m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, opt.is_some() as u8]);
            m.extend_from_slice(name.parse::<Name>().unwrap().wire());
            m.extend_from_slice(&qtype.to_be_bytes());
            m.extend_from_slice(&1u16.to_be_bytes());
            if let Some((size, version, dnssec_ok, options)) = opt {
                m.extend_from_slice(&[0, 0, 41]);
                m.extend_from_slice(&size.to_be_bytes());
                m.extend_from_slice(&[0, version % 2, if dnssec_ok { 0x80 } else { 0 }, 0]);
                m.extend_from_slice(&(options.len() as u16).to_be_bytes());
                m.extend_from_slice(&options);
            }
            m
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        if bytes.len() >= 2 {
            check(&bytes)?;
        } else {
            let reply = respond(&bytes, snapshot(), Transport::Udp { payload: OUR_PAYLOAD });
            prop_assert!(reply.is_none(), "a reply to {:?}", bytes);
        }
    }

    #[test]
    fn valid_queries(query in query_strategy()) {
        check(&query)?;
    }

    #[test]
    fn mutated_queries(query in query_strategy(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let mut query = query;
        for (index, value) in flips {
            let at = index.index(query.len());
            query[at] = value;
        }
        check(&query)?;
    }
}
