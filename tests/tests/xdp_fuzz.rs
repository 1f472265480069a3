//! Property tests of the XDP program on hostile frames, through BPF_PROG_TEST_RUN: random
//! queries (names made of existing, missing, wildcard, DNAME and random labels in any case,
//! any type, flags and EDNS) and the same with bytes changed in the DNS payload or in the
//! Ethernet/IP/UDP headers. Whatever comes in, the program either passes the frame unchanged
//! or sends a well-formed frame (lengths and checksums checked independently) whose payload
//! equals userspace's reply to the same query.

use std::{
    net::IpAddr,
    sync::{Mutex, OnceLock},
};

use proptest::prelude::*;
use secdns::{snapshot::Snapshot, xdp::loader::XdpEngine};
use secdns_tests::{
    frame::UdpFrame,
    prerequisites::require_root,
    queries::{APEX, ZONE},
    signing,
    xdp::{loaded_with, run_checked, snapshot_of},
};

struct Bed {
    engine: Mutex<XdpEngine>,
    snapshot: Snapshot,
}

fn bed(signed: bool) -> &'static Bed {
    static UNSIGNED: OnceLock<Bed> = OnceLock::new();
    static SIGNED: OnceLock<Bed> = OnceLock::new();
    let cell = if signed { &SIGNED } else { &UNSIGNED };
    cell.get_or_init(|| {
        require_root();
        let text = if signed {
            signing::sign(APEX, ZONE, false).expect("signing the differential zone")
        } else {
            ZONE.to_string()
        };
        let snapshot = snapshot_of(APEX, &text).expect("parsing the differential zone");
        let engine = loaded_with(&snapshot).expect("loading the XDP program");
        Bed {
            engine: Mutex::new(engine),
            snapshot,
        }
    })
}

fn check(signed: bool, frame: &[u8]) -> Result<(), TestCaseError> {
    let bed = bed(signed);
    let engine = bed
        .engine
        .lock()
        .map_err(|_| TestCaseError::fail("engine lock poisoned"))?;
    run_checked(&engine, &bed.snapshot, frame)
        .map_err(|e| TestCaseError::fail(format!("{e:#} (frame {frame:02x?})")))?;
    Ok(())
}

/// Labels that reach every kind of answer in the differential zone, and some nobody chose.
const LABELS: &[&str] = &[
    "www",
    "WwW",
    "x",
    "nx",
    "wild",
    "*",
    "wcname",
    "wempty",
    "deleg",
    "ns",
    "dname",
    "inzone",
    "sub",
    "a",
    "b",
    "c",
    "ent",
    "_tcp",
    "hostmaster",
    "mail",
    "alias",
    "chain1",
    "big",
];

fn label() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::sample::select(LABELS).prop_map(|l| l.as_bytes().to_vec()),
        1 => "[a-zA-Z0-9-]{1,20}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 1..8),
    ]
}

fn name() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(label(), 0..5),
        prop::sample::select(&["diff.example.", "example.", "other.example.", "."][..]),
    )
        .prop_map(|(labels, suffix)| {
            let mut wire = Vec::new();
            for label in labels {
                wire.push(label.len() as u8);
                wire.extend_from_slice(&label);
            }
            let suffix: secdns::dns::Name = suffix.parse().unwrap_or_else(|e| panic!("{e}"));
            wire.extend_from_slice(suffix.wire());
            wire.truncate(255);
            wire
        })
}

fn qtype() -> impl Strategy<Value = u16> {
    prop_oneof![
        3 => prop::sample::select(&[0u16, 1, 2, 5, 6, 12, 15, 16, 28, 33, 39, 43, 46, 47, 50, 251, 252, 255][..]),
        1 => any::<u16>(),
    ]
}

fn query() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<u16>(),
        prop_oneof![4 => Just(0x0100u16), 1 => any::<u16>()],
        name(),
        qtype(),
        prop_oneof![6 => Just(1u16), 1 => any::<u16>()],
        prop::option::of((
            any::<u16>(),
            any::<bool>(),
            prop::collection::vec(any::<u8>(), 0..8),
        )),
    )
        .prop_map(|(id, flags, name, qtype, qclass, opt)| {
            let mut m = id.to_be_bytes().to_vec();
            m.extend_from_slice(&(flags & 0x7fff).to_be_bytes());
            m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, opt.is_some() as u8]);
            m.extend_from_slice(&name);
            m.extend_from_slice(&qtype.to_be_bytes());
            m.extend_from_slice(&qclass.to_be_bytes());
            if let Some((size, dnssec_ok, options)) = opt {
                m.extend_from_slice(&[0, 0, 41]);
                m.extend_from_slice(&size.to_be_bytes());
                m.extend_from_slice(&[0, 0, if dnssec_ok { 0x80 } else { 0 }, 0]);
                m.extend_from_slice(&(options.len() as u16).to_be_bytes());
                m.extend_from_slice(&options);
            }
            m
        })
}

fn addresses() -> impl Strategy<Value = (IpAddr, IpAddr)> {
    prop_oneof![
        Just((
            "198.51.100.7".parse().unwrap(),
            "192.0.2.1".parse().unwrap()
        )),
        Just((
            "2001:db8::7".parse().unwrap(),
            "2001:db8::1".parse().unwrap()
        )),
    ]
}

type Flips = Vec<(prop::sample::Index, u8)>;

fn flip(bytes: &mut [u8], flips: Flips) {
    if bytes.is_empty() {
        return;
    }
    for (index, value) in flips {
        let at = index.index(bytes.len());
        bytes[at] = value;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn random_queries(signed in any::<bool>(), (client, server) in addresses(), query in query()) {
        check(signed, &UdpFrame::query(client, server, query).to_bytes())?;
    }

    #[test]
    fn queries_with_changed_payload_bytes(
        (client, server) in addresses(),
        query in query(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut query = query;
        flip(&mut query, flips);
        check(false, &UdpFrame::query(client, server, query).to_bytes())?;
    }

    #[test]
    fn frames_with_changed_header_bytes(
        (client, server) in addresses(),
        query in query(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        shorten in any::<bool>(),
    ) {
        let mut frame = UdpFrame::query(client, server, query).to_bytes();
        let headers = if client.is_ipv4() { 14 + 20 + 8 } else { 14 + 40 + 8 };
        flip(&mut frame[..headers], flips);
        if shorten {
            // BPF_PROG_TEST_RUN needs at least an Ethernet header.
            frame.truncate(14 + cut.index(frame.len() - 13));
        }
        check(false, &frame)?;
    }
}
