//! The XDP program run on crafted frames with BPF_PROG_TEST_RUN. Every answer is checked
//! whole: addresses, ports, lengths, checksums (by an independent implementation), and the DNS
//! message byte for byte against what the userspace responder sends for the same query.
//! Every frame it does not answer must come back unchanged with XDP_PASS.

use std::{net::IpAddr, sync::Arc};

use secdns::{
    dns::Name,
    snapshot::Snapshot,
    xdp::{
        compile::compile, layout::AnswerKey, loader::XdpEngine, packed::Upserts,
        published::Published,
    },
    zone::zonefile,
};
use secdns_common::{ANSWER_MAP_MAX_ENTRIES, Counter, SCOPE_ZONE_PREFIX};
use secdns_tests::{
    EXAMPLE_APEX, EXAMPLE_ZONE,
    frame::{QueryBuilder, UdpFrame},
    prerequisites::require_root,
    xdp::{OUR_PAYLOAD, Outcome, run_checked},
};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;

/// A 255-octet name (the longest there is) in the test zone.
fn longest_name() -> String {
    format!(
        "{}.{}.{}.{}.example.com.",
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(49)
    )
}

struct Bed {
    engine: XdpEngine,
    snapshot: Snapshot,
}

fn bed() -> Bed {
    require_root();
    let big = format!("\"{}\"", "x".repeat(180));
    let text = format!(
        "{EXAMPLE_ZONE}\n{} IN A 192.0.2.255\nbig IN TXT {big} \"one\"\nbig IN TXT {big} \"two\"\nbig IN TXT {big} \"three\"\n",
        longest_name()
    );
    let apex: Name = EXAMPLE_APEX.parse().unwrap();
    let (zone, _) = zonefile::parse(&text, &apex, "test zone").unwrap();
    assert_eq!(longest_name().parse::<Name>().unwrap().wire().len(), 255);
    let snapshot = Snapshot::new([Arc::new(zone)]);
    let mut engine = XdpEngine::load().expect("loading the XDP program");
    engine.set_listener(53, OUR_PAYLOAD).unwrap();
    let compiled = compile(&snapshot, ANSWER_MAP_MAX_ENTRIES as usize);
    assert!(
        compiled.entries.len() > 10,
        "only {} entries compiled",
        compiled.entries.len()
    );
    engine.publish(compiled.entries, &compiled.serials).unwrap();
    Bed { engine, snapshot }
}

fn v4() -> (IpAddr, IpAddr) {
    (
        "198.51.100.7".parse().unwrap(),
        "192.0.2.1".parse().unwrap(),
    )
}

fn v6() -> (IpAddr, IpAddr) {
    (
        "2001:db8:1::7".parse().unwrap(),
        "2001:db8::1".parse().unwrap(),
    )
}

impl Bed {
    fn run(&self, frame: &[u8]) -> (u32, Vec<u8>) {
        self.engine.test_run(frame).expect("BPF_PROG_TEST_RUN")
    }

    /// Runs `query` through XDP, asserts it was answered correctly, returns the reply.
    fn expect_answer(&self, (client, server): (IpAddr, IpAddr), query: &QueryBuilder) -> UdpFrame {
        let request = UdpFrame::query(client, server, query.build());
        let reply = match run_checked(&self.engine, &self.snapshot, &request.to_bytes()) {
            Ok(Outcome::Answered(reply)) => reply,
            Ok(Outcome::Passed) => panic!("not answered in XDP: {:?}", self.engine.counters()),
            Err(e) => panic!("{e:#}"),
        };
        assert_eq!(
            (reply.src_mac, reply.dst_mac),
            (request.dst_mac, request.src_mac)
        );
        assert_eq!((reply.src, reply.dst), (server, client));
        assert_eq!((reply.src_port, reply.dst_port), (53, request.src_port));
        assert_eq!(reply.ttl, 64);
        reply
    }

    /// Serves `snapshot` from now on, in the program and in the userspace comparison.
    fn serve(&mut self, snapshot: Snapshot) {
        self.snapshot = snapshot;
        let compiled = compile(&self.snapshot, ANSWER_MAP_MAX_ENTRIES as usize);
        self.engine
            .publish(compiled.entries, &compiled.serials)
            .unwrap();
    }

    fn expect_pass(&self, frame: &[u8], why: &str) {
        let (action, out) = self.run(frame);
        assert_eq!(action, XDP_PASS, "{why}: expected XDP_PASS");
        assert_eq!(out, frame, "{why}: a passed frame must be unchanged");
    }

    fn counter(&self, which: Counter) -> u64 {
        self.engine
            .counters()
            .unwrap()
            .into_iter()
            .find(|(c, _)| *c == which)
            .map(|(_, v)| v)
            .unwrap()
    }
}

/// The verifier's work decides how long every load takes (at start, and whenever the maps
/// grow): it went through 285k instructions before the parse's ways were settled into one
/// (see `query::settle_offsets` in the program), 56k after; 121k with rate limits and
/// cookies, whose hashing runs in global functions that the verifier checks once (290k
/// when they were inlined at every way through).
#[test]
fn the_verifier_checks_the_program_without_its_states_multiplying() {
    require_root();
    let engine = XdpEngine::load().expect("loading the XDP program");
    let verified = engine
        .verified_instructions()
        .unwrap()
        .expect("this kernel does not count the verifier's instructions (Linux 5.16 on does)");
    assert!(
        verified <= 140_000,
        "the verifier went through {verified} instructions (121k on 2026-12-06): some \
         constant now takes several values into the reply; settle it into one unknown as \
         `query::settle_offsets` does"
    );
}

#[test]
fn answers_ipv4_and_ipv6_with_and_without_opt() {
    let bed = bed();
    for addrs in [v4(), v6()] {
        for opt in [false, true] {
            let mut query = QueryBuilder::new("www.example.com.", 1);
            if opt {
                query = query.with_opt(4096, false);
            }
            let reply = bed.expect_answer(addrs, &query);
            let message = hickory_proto::op::Message::from_vec(&reply.payload).unwrap();
            assert_eq!(message.metadata.id, 0xbeef);
            assert!(message.metadata.authoritative);
            assert!(
                message.metadata.recursion_desired,
                "RD is copied from the query"
            );
            assert_eq!(message.answers.len(), 2);
            assert_eq!(message.edns.is_some(), opt);
            if let Some(edns) = &message.edns {
                assert_eq!(edns.max_payload(), OUR_PAYLOAD);
            }
        }
    }
    assert!(bed.counter(Counter::Answered) >= 4);
}

#[test]
fn keeps_the_question_case_and_the_do_bit() {
    let bed = bed();
    let query = QueryBuilder::new("WwW.ExAmPlE.CoM.", 28).with_opt(1232, true);
    let reply = bed.expect_answer(v4(), &query);
    // The question comes back exactly as asked, and the owner points at it.
    assert_eq!(
        &reply.payload[12..12 + 17],
        b"\x03WwW\x07ExAmPlE\x03CoM\x00"
    );
    let message = hickory_proto::op::Message::from_vec(&reply.payload).unwrap();
    assert_eq!(message.answers[0].name.to_string(), "WwW.ExAmPlE.CoM.");
    assert!(message.edns.as_ref().unwrap().flags().dnssec_ok);
}

#[test]
fn answers_the_longest_name_and_big_answers_within_the_size_limit() {
    let bed = bed();
    let name = longest_name().to_uppercase();
    bed.expect_answer(v6(), &QueryBuilder::new(&name, 1).with_opt(1232, false));
    // The TXT RRset is over 512 bytes: answered with EDNS, passed (for TC) without.
    bed.expect_answer(
        v4(),
        &QueryBuilder::new("big.example.com.", 16).with_opt(1232, false),
    );
    let plain = UdpFrame::query(
        v4().0,
        v4().1,
        QueryBuilder::new("big.example.com.", 16).build(),
    );
    bed.expect_pass(&plain.to_bytes(), "over 512 bytes without EDNS");
    let small = UdpFrame::query(
        v4().0,
        v4().1,
        QueryBuilder::new("big.example.com.", 16)
            .with_opt(600, false)
            .build(),
    );
    bed.expect_pass(&small.to_bytes(), "over the client's EDNS size");
    assert!(bed.counter(Counter::TooBig) >= 2);
}

#[test]
fn passes_what_it_cannot_answer() {
    let bed = bed();
    let (c, s) = v4();
    let frame = |q: &QueryBuilder| UdpFrame::query(c, s, q.build()).to_bytes();
    // NODATA and the empty non-terminal come from the name's default entry.
    bed.expect_answer(v4(), &QueryBuilder::new("www.example.com.", 15));
    bed.expect_answer(v4(), &QueryBuilder::new("b.c.example.com.", 1));
    assert_eq!(bed.counter(Counter::AnsweredNegative), 2);
    // At a delegation point (and its glue) every type gets the referral.
    bed.expect_answer(v4(), &QueryBuilder::new("sub.example.com.", 1));
    bed.expect_answer(v4(), &QueryBuilder::new("ns.sub.example.com.", 28));
    assert_eq!(bed.counter(Counter::AnsweredReferral), 2);
    // ANY and DS have answers of their own that no default gives.
    bed.expect_pass(&frame(&QueryBuilder::new("www.example.com.", 255)), "ANY");
    bed.expect_pass(
        &frame(&QueryBuilder::new("sub.example.com.", 43)),
        "DS at a cut",
    );
    bed.expect_pass(
        &frame(&QueryBuilder::new("www.example.org.", 1)),
        "outside every zone",
    );
    bed.expect_pass(
        &frame(&QueryBuilder::new("nope.example.com.", 255)),
        "ANY at a name that does not exist",
    );
    let mut q = QueryBuilder::new("www.example.com.", 1);
    q.qclass = 3;
    bed.expect_pass(&frame(&q), "class CH");
    let mut q = QueryBuilder::new("www.example.com.", 1);
    q.flags = 0x2000; // opcode NOTIFY
    bed.expect_pass(&frame(&q), "NOTIFY");
    let mut q = QueryBuilder::new("www.example.com.", 1);
    q.flags |= 0x8000;
    bed.expect_pass(&frame(&q), "a response");
    let mut q = QueryBuilder::new("www.example.com.", 1).with_opt(1232, false);
    q.opt.as_mut().unwrap().1 = 1;
    bed.expect_pass(&frame(&q), "EDNS version 1 (BADVERS is userspace's)");
    // A signed query is userspace's to verify and sign (RFC 8945 §5.2), with OPT or without.
    for with_opt in [false, true] {
        let mut q = QueryBuilder::new("www.example.com.", 1);
        if with_opt {
            q = q.with_opt(1232, false);
        }
        let mut signed = q.build();
        let tsig_rdata: Vec<u8> = [
            &b"\x0bhmac-sha256\x00"[..],
            &[0, 0, 0x65, 0x5a, 0x12, 0x34, 1, 0x2c, 0, 32],
            &[0x5a; 32],
            &[0xbe, 0xef, 0, 0, 0, 0],
        ]
        .concat();
        signed.extend_from_slice(b"\x03key\x00\x00\xfa\x00\xff\x00\x00\x00\x00");
        signed.extend_from_slice(&(tsig_rdata.len() as u16).to_be_bytes());
        signed.extend_from_slice(&tsig_rdata);
        signed[11] += 1; // ARCOUNT
        bed.expect_pass(
            &UdpFrame::query(c, s, signed).to_bytes(),
            "signed with TSIG",
        );
    }
    assert!(bed.counter(Counter::Miss) >= 4);
    assert!(bed.counter(Counter::Unsupported) >= 5);
}

#[test]
fn a_zone_slot_past_65535_carries_its_serial() {
    // An edge host serves more zones than a 16-bit slot counts: a zone at slot 200,000 has
    // its serial written into its negative answers by the program, as any other.
    let bed = bed();
    let mut slots = secdns::xdp::compile::zone_slots(&bed.snapshot, &Default::default());
    let apex = EXAMPLE_APEX.parse::<Name>().unwrap().lowercase_wire();
    slots.insert(apex, 200_000);
    let units = secdns::xdp::compile::Compiler::new(&bed.snapshot, &slots, false).all(None);
    let finished = secdns::xdp::compile::finish(
        secdns::xdp::compile::merge(units),
        ANSWER_MAP_MAX_ENTRIES as usize,
    );
    let entries = finished.entries;
    assert!(
        entries
            .values()
            .iter()
            .any(|(_, v)| v.zone_slot == 200_000 && v.serial_at > 0)
    );
    let serials = secdns::xdp::compile::serials(&bed.snapshot, &slots);
    assert_eq!(serials.len(), 1);
    let mut engine = bed.engine;
    engine.publish(entries, &serials).unwrap();
    let bed = Bed {
        engine,
        snapshot: bed.snapshot,
    };
    // The reply is checked byte for byte against userspace's, serial included.
    let reply = bed.expect_answer(v4(), &QueryBuilder::new("nope.example.com.", 1));
    assert_eq!(reply.payload[3] & 0x0f, 3, "NXDOMAIN");
}

#[test]
fn answers_names_that_do_not_exist_from_their_closest_ancestor() {
    let bed = bed();
    let (c, s) = v4();
    // NXDOMAIN one, two and three labels below an existing name, in any letter case, with
    // and without EDNS: the SOA's owner and names point into the question's apex.
    for name in [
        "nope.example.com.",
        "x.y.NOPE.Example.COM.",
        "a-much-longer-label-than-the-probe.www.example.com.",
        "z.a.b.c.example.com.",
    ] {
        let reply = bed.expect_answer(v4(), &QueryBuilder::new(name, 1));
        assert_eq!(reply.payload[3] & 0x0f, 3, "{name}: NXDOMAIN");
        bed.expect_answer(v4(), &QueryBuilder::new(name, 16).with_opt(4096, false));
    }
    assert_eq!(bed.counter(Counter::AnsweredNegative), 8);
    // Below a delegation (and below its glue): the referral.
    bed.expect_answer(v4(), &QueryBuilder::new("www.sub.example.com.", 1));
    bed.expect_answer(v4(), &QueryBuilder::new("a.b.ns.sub.example.com.", 28));
    assert_eq!(bed.counter(Counter::AnsweredReferral), 2);
    // The SOA's RNAME (hostmaster.example.com) does not exist: its NXDOMAIN compresses the
    // RNAME against the question, which the precompiled answer cannot, so it goes up.
    for name in ["hostmaster.example.com.", "x.hostmaster.example.com."] {
        let frame = UdpFrame::query(c, s, QueryBuilder::new(name, 1).build()).to_bytes();
        bed.expect_pass(&frame, name);
    }
    assert_eq!(bed.counter(Counter::Dropped), 0);
}

#[test]
fn passes_malformed_and_foreign_frames_unchanged() {
    let bed = bed();
    let (c, s) = v4();
    let good = UdpFrame::query(c, s, QueryBuilder::new("www.example.com.", 1).build());
    let good_bytes = good.to_bytes();
    for cut in [14, 20, 33, 34, 41, 42, 50, 53, good_bytes.len() - 1] {
        bed.expect_pass(&good_bytes[..cut], &format!("truncated to {cut} bytes"));
    }
    let with_payload = |payload: Vec<u8>| UdpFrame::query(c, s, payload).to_bytes();
    let base = QueryBuilder::new("www.example.com.", 1).build();
    // Header claims two questions.
    let mut two = base.clone();
    two[5] = 2;
    bed.expect_pass(&with_payload(two), "qdcount 2");
    // A label length of 64 and a compression pointer in the question.
    let mut q = QueryBuilder::new("www.example.com.", 1);
    q.name = [&[64u8][..], &[b'a'; 64], &[0]].concat();
    bed.expect_pass(&with_payload(q.build()), "label over 63");
    q.name = vec![0xc0, 0x0c];
    bed.expect_pass(&with_payload(q.build()), "compression pointer");
    // A name that never ends within 255 octets.
    q.name = [[63u8].as_slice(), &[b'a'; 63]].concat().repeat(5);
    bed.expect_pass(&with_payload(q.build()), "name without end");
    bed.expect_pass(&with_payload(base[..11].to_vec()), "short header");
    let mut trailing = QueryBuilder::new("www.example.com.", 1)
        .with_opt(1232, false)
        .build();
    trailing.extend_from_slice(b"junk");
    bed.expect_pass(&with_payload(trailing), "bytes after the OPT record");
    let mut trailing = base.clone();
    trailing.push(0);
    bed.expect_pass(&with_payload(trailing), "bytes after the question");

    // Not DNS to us: another port, TCP, ARP, an IPv4 fragment, IPv4 options.
    let mut other_port = good.clone();
    other_port.dst_port = 5353;
    bed.expect_pass(&other_port.to_bytes(), "UDP to another port");
    let mut tcp = good_bytes.clone();
    tcp[23] = 6;
    bed.expect_pass(&tcp, "TCP");
    let mut arp = good_bytes[..42].to_vec();
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    bed.expect_pass(&arp, "ARP");
    let mut fragment = good_bytes.clone();
    fragment[20] |= 0x20; // more fragments
    bed.expect_pass(&fragment, "IPv4 fragment");
    let mut options = good_bytes.clone();
    options[14] = 0x46;
    bed.expect_pass(&options, "IPv4 options");
    assert!(bed.counter(Counter::Malformed) >= 10);
    assert_eq!(bed.counter(Counter::Dropped), 0);
    let _ = XDP_DROP;
}

#[test]
fn switching_answer_sets_is_all_or_nothing() {
    let mut bed = bed();
    let (c, s) = v4();
    let www = UdpFrame::query(c, s, QueryBuilder::new("www.example.com.", 1).build()).to_bytes();
    assert_eq!(bed.run(&www).0, XDP_TX);
    // A new snapshot without www: after the switch it is no longer answered in the kernel.
    let apex: Name = EXAMPLE_APEX.parse().unwrap();
    let text: String = EXAMPLE_ZONE
        .lines()
        .filter(|l| {
            !l.starts_with("www") && !l.contains("2001:db8::80") && !l.contains("192.0.2.81")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let (zone, _) = zonefile::parse(&text, &apex, "second").unwrap();
    bed.serve(Snapshot::new([Arc::new(zone)]));
    // It does not exist any more: the kernel says so (and the reply equals userspace's
    // answer from the new snapshot).
    let gone = bed.expect_answer(v4(), &QueryBuilder::new("www.example.com.", 1));
    assert_eq!(gone.payload[3] & 0x0f, 3, "NXDOMAIN");
    bed.expect_answer(v4(), &QueryBuilder::new("mail.example.com.", 1));
    // And back: the map that was live two publications ago is refilled from scratch.
    let apex_zone = zonefile::parse(EXAMPLE_ZONE, &apex, "third").unwrap().0;
    bed.serve(Snapshot::new([Arc::new(apex_zone)]));
    assert_eq!(bed.run(&www).0, XDP_TX);
}

#[test]
fn a_long_name_leaves_nothing_behind_for_the_next_query() {
    let bed = bed();
    bed.expect_answer(v4(), &QueryBuilder::new(&longest_name(), 1));
    bed.expect_answer(v4(), &QueryBuilder::new("txt.example.com.", 16));
}

#[test]
fn signed_zones_answer_do_queries_with_signatures() {
    require_root();
    let signed = secdns_tests::signing::sign(EXAMPLE_APEX, EXAMPLE_ZONE, false).unwrap();
    let snapshot = secdns_tests::xdp::snapshot_of(EXAMPLE_APEX, &signed).unwrap();
    let engine = secdns_tests::xdp::loaded_with(&snapshot).unwrap();
    let bed = Bed { engine, snapshot };
    for dnssec_ok in [false, true] {
        let reply = bed.expect_answer(
            v4(),
            &QueryBuilder::new("www.example.com.", 1).with_opt(1232, dnssec_ok),
        );
        let message = hickory_proto::op::Message::from_vec(&reply.payload).unwrap();
        let signatures = message
            .answers
            .iter()
            .filter(|r| r.record_type() == hickory_proto::rr::RecordType::RRSIG)
            .count();
        assert_eq!(signatures > 0, dnssec_ok, "RRSIGs exactly when DO is set");
    }
    // Where the DO answer is the plain one followed by signatures (an RRset, a NODATA),
    // both are one entry and one record. Those with signatures in between (a CNAME chain,
    // an additional section, a referral's DS proof) keep an entry of their own.
    let compiled = compile(&bed.snapshot, ANSWER_MAP_MAX_ENTRIES as usize);
    let values = compiled.entries.values();
    let www = AnswerKey::new(
        &"www.example.com.".parse::<Name>().unwrap().lowercase_wire(),
        1,
        0,
    );
    let (_, value) = values.iter().find(|(key, _)| *key == www).unwrap();
    let dnssec = value.dnssec.as_ref().expect("www A keeps its DO answer");
    assert!(!dnssec.signatures.is_empty() && dnssec.ancount > value.ancount);
    let merged = values.iter().filter(|(_, v)| v.dnssec.is_some()).count();
    let separate = values
        .iter()
        .filter(|(k, v)| k.dnssec_ok != 0 && v.prefix_len == 0)
        .count();
    assert!(
        merged > separate,
        "{merged} entries keep their DO answer, {separate} DO answers have their own"
    );
    // A NODATA to a DO query is the zone's prefix (SOA and signatures, held once) and the
    // name's NSEC with its signatures; sent, it is userspace's answer byte for byte (where
    // the SOA names the question itself too: ns1 is the SOA's MNAME).
    let apex = EXAMPLE_APEX.parse::<Name>().unwrap().lowercase_wire();
    let prefixes: Vec<_> = values
        .iter()
        .filter(|(k, _)| k.scope == SCOPE_ZONE_PREFIX)
        .collect();
    assert!(
        matches!(&prefixes[..], [(key, value)] if key.name_hash == AnswerKey::new(&apex, 0, 0).name_hash
            && value.nscount == 2 && value.serial_at != 0),
        "one prefix, the apex's: {prefixes:?}"
    );
    let after_prefix = values.iter().filter(|(_, v)| v.prefix_len != 0).count();
    assert!(
        after_prefix >= 5,
        "{after_prefix} NODATA answers use the prefix"
    );
    for name in [
        "www.example.com.",
        "WwW.Example.COM.",
        "example.com.",
        "ns1.example.com.",
        // An even length: the rest's checksum at the other parity than the prefix's.
        "mail.example.com.",
        "a.b.c.example.com.",
    ] {
        for dnssec_ok in [false, true] {
            let query = QueryBuilder::new(name, 16).with_opt(1232, dnssec_ok);
            let reply = bed.expect_answer(v4(), &query);
            let message = hickory_proto::op::Message::from_vec(&reply.payload).unwrap();
            let types: Vec<_> = message
                .authorities
                .iter()
                .map(|r| r.record_type())
                .collect();
            let nsec = types.contains(&hickory_proto::rr::RecordType::NSEC);
            assert_eq!(nsec, dnssec_ok, "{name} TXT, DO {dnssec_ok}: {types:?}");
        }
    }
    // RRSIG and NSEC asked for by type are left to userspace (no entry is compiled for them:
    // the kernel memory they would take), with or without DO, at a name and at a CNAME.
    let (c, s) = v4();
    for (name, qtype) in [
        ("www.example.com.", 46),
        ("www.example.com.", 47),
        ("alias.example.com.", 46),
    ] {
        for dnssec_ok in [false, true] {
            let query = QueryBuilder::new(name, qtype).with_opt(1232, dnssec_ok);
            bed.expect_pass(
                &UdpFrame::query(c, s, query.build()).to_bytes(),
                &format!("{name} type {qtype}"),
            );
        }
    }
}

#[test]
fn answers_vlan_tagged_frames_and_keeps_the_tag() {
    let bed = bed();
    for addrs in [v4(), v6()] {
        let mut request = UdpFrame::query(
            addrs.0,
            addrs.1,
            QueryBuilder::new("www.example.com.", 1)
                .with_opt(1232, false)
                .build(),
        );
        request.vlan = Some(0x2042);
        // Answered, and the payload is userspace's (checked by `run_checked`).
        let reply = match run_checked(&bed.engine, &bed.snapshot, &request.to_bytes()) {
            Ok(Outcome::Answered(reply)) => reply,
            Ok(Outcome::Passed) => panic!("a tagged query was passed"),
            Err(e) => panic!("{e:#}"),
        };
        assert_eq!(reply.vlan, Some(0x2042), "the tag stays");
        assert_eq!((reply.src, reply.dst), (addrs.1, addrs.0));
        // Truncated inside the tag: passed unchanged.
        let bytes = request.to_bytes();
        bed.expect_pass(&bytes[..16], "cut inside the VLAN tag");
    }
}

#[test]
fn a_stopped_fast_path_passes_everything_until_the_next_publication() {
    let mut bed = bed();
    let (c, s) = v4();
    let www = UdpFrame::query(c, s, QueryBuilder::new("www.example.com.", 1).build()).to_bytes();
    assert_eq!(bed.run(&www).0, XDP_TX);
    bed.engine.stop_answering().unwrap();
    bed.expect_pass(&www, "answers switched off");
    let compiled = compile(&bed.snapshot, ANSWER_MAP_MAX_ENTRIES as usize);
    bed.engine
        .publish(compiled.entries, &compiled.serials)
        .unwrap();
    assert_eq!(bed.run(&www).0, XDP_TX);
}

/// Runs `name`/`qtype` through the program and requires it either passed unchanged or
/// answered as userspace answers from `bed.snapshot`. Returns whether it was answered.
fn passed_or_same(bed: &Bed, name: &str, qtype: u16) -> bool {
    let (c, s) = v4();
    let frame = UdpFrame::query(c, s, QueryBuilder::new(name, qtype).build()).to_bytes();
    match run_checked(&bed.engine, &bed.snapshot, &frame) {
        Ok(Outcome::Passed) => false,
        Ok(Outcome::Answered(_)) => true,
        Err(e) => panic!("{name}: {e:#}"),
    }
}

#[test]
fn nested_zones_answer_from_the_closest_zone_and_an_unavailable_one_stops_the_walk() {
    let mut bed = bed();
    let apex: Name = EXAMPLE_APEX.parse().unwrap();
    let parent = zonefile::parse(EXAMPLE_ZONE, &apex, "parent").unwrap().0;
    // The parent delegates sub.example.com; the child is served too, with its own data.
    let child_apex: Name = "sub.example.com.".parse().unwrap();
    let child_text = "$ORIGIN sub.example.com.\n$TTL 60\n@ IN SOA ns hm 1 2 3 4 5\n\
                      @ IN NS ns\nns IN A 192.0.2.54\nwww IN A 192.0.2.99\n";
    let child = zonefile::parse(child_text, &child_apex, "child").unwrap().0;
    bed.serve(Snapshot::new([Arc::new(parent), Arc::new(child)]));
    for (name, qtype) in [
        ("www.sub.example.com.", 1),
        ("nope.sub.example.com.", 1),
        ("a.b.sub.example.com.", 28),
        ("sub.example.com.", 6),
        ("sub.example.com.", 2),
        ("nope.example.com.", 1),
    ] {
        assert!(
            passed_or_same(&bed, name, qtype),
            "{name} answered in the kernel"
        );
    }
    let nope = bed.expect_answer(v4(), &QueryBuilder::new("nope.sub.example.com.", 1));
    assert_eq!(nope.payload[3] & 0x0f, 3, "NXDOMAIN from the child");

    // Now the child has no data (never transferred, or expired): userspace says SERVFAIL,
    // and nothing at or below the child's apex may be answered from the parent, even when
    // the parent does not delegate it (the walk would reach the parent's apex otherwise).
    let undelegated: String = EXAMPLE_ZONE
        .lines()
        .filter(|l| !l.starts_with("sub") && !l.starts_with("ns.sub"))
        .collect::<Vec<_>>()
        .join("\n");
    let parent = zonefile::parse(&undelegated, &apex, "parent").unwrap().0;
    bed.serve(Snapshot::with_unavailable([Arc::new(parent)], [child_apex]));
    for (name, qtype) in [
        ("www.sub.example.com.", 1),
        ("nope.sub.example.com.", 1),
        ("a.b.sub.example.com.", 28),
        ("sub.example.com.", 1),
    ] {
        let (c, s) = v4();
        let frame = UdpFrame::query(c, s, QueryBuilder::new(name, qtype).build()).to_bytes();
        bed.expect_pass(&frame, name);
    }
    assert!(passed_or_same(&bed, "nope.example.com.", 1));
}

/// A publication too big for the maps the program started with (a server that began with
/// a zone waiting for its first transfer, then took it) goes into an instance sized for it
/// as it is compiled, while the old one answers, and that instance then answers every name.
#[test]
fn a_publication_too_big_for_the_live_maps_streams_into_an_instance_sized_for_it() {
    require_root();
    let hosts: String = (0..3000)
        .map(|i| format!("host{i} IN A 10.0.{}.{}\n", i / 256, i % 256))
        .collect();
    let text = format!("{EXAMPLE_ZONE}\n{hosts}");
    let apex: Name = EXAMPLE_APEX.parse().unwrap();
    let (zone, _) = zonefile::parse(&text, &apex, "test zone").unwrap();
    let snapshot = Arc::new(Snapshot::new([Arc::new(zone)]));
    let records: usize = snapshot.zones().map(|zone| zone.record_count()).sum();
    let mut engine = XdpEngine::load().expect("loading the XDP program");
    engine.set_listener(53, OUR_PAYLOAD).unwrap();
    // What a server publishes before its first transfer: the zone waiting for it, live.
    let mut published = Published::default();
    let waiting = Arc::new(Snapshot::with_unavailable([], [apex.clone()]));
    let first = published.update(waiting, ANSWER_MAP_MAX_ENTRIES as usize, None);
    engine.apply(first.change).unwrap();
    let (mut begun, mut staged) = (false, 0);
    let mut stream = |part: &Upserts| {
        if !begun {
            begun = engine.begin_parts(records);
        }
        let took = begun && engine.stage_part(part);
        staged += if took { part.len() } else { 0 };
        took
    };
    let update = published.update(
        snapshot.clone(),
        ANSWER_MAP_MAX_ENTRIES as usize,
        Some(&mut stream),
    );
    assert!(update.change.streamed, "nothing streamed");
    assert!(!update.change.from_empty);
    assert!(staged > 6000, "only {staged} entries staged as compiled");
    assert_eq!(update.streamed, staged);
    engine.apply(update.change).unwrap();
    assert_eq!(engine.rebuilds, 1, "swapped into one new instance");
    let bed = Bed {
        engine,
        snapshot: Snapshot::new(snapshot.zones().cloned()),
    };
    for name in [
        "host0.example.com.",
        "host2999.example.com.",
        "www.example.com.",
    ] {
        bed.expect_answer(v4(), &QueryBuilder::new(name, 1));
    }
    let reply = bed.expect_answer(v4(), &QueryBuilder::new("nope.example.com.", 1));
    assert_eq!(reply.payload[3] & 0x0f, 3, "NXDOMAIN");
}
