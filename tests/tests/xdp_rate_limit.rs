//! Response rate limiting in the XDP program, run on crafted frames with BPF_PROG_TEST_RUN:
//! each response is answered, slipped (a truncated reply, byte for byte what userspace
//! sends) or dropped exactly as the bucket arithmetic says, per client prefix, class and
//! subject; the allow list and log-only mode; and the buckets shared with userspace's UDP
//! responder. The rate is low (two a second) and the frames take milliseconds, so no
//! bucket earns a token during a test.

use std::{net::IpAddr, sync::Arc};

use secdns::{
    answer::{Transport, query::parse, respond, slip_reply},
    dns::Name,
    rate_limit::{RateLimiter, RrlConfig},
    snapshot::Snapshot,
    xdp::loader::XdpEngine,
};
use secdns_common::rrl::{ResponseClass, Verdict};
use secdns_tests::{
    EXAMPLE_APEX, EXAMPLE_ZONE,
    frame::{QueryBuilder, UdpFrame},
    netns::{SERVER_V4, SERVER_V6},
    prerequisites::require_root,
    xdp::{OUR_PAYLOAD, loaded_with_rate_limit, snapshot_of},
};

const XDP_DROP: u32 = 1;
const XDP_TX: u32 = 3;

struct Bed {
    engine: XdpEngine,
    limiter: Arc<RateLimiter>,
    snapshot: Snapshot,
}

fn config() -> RrlConfig {
    RrlConfig {
        rate: 2,
        table_size: 1 << 16,
        ..RrlConfig::default()
    }
}

fn bed(config: RrlConfig) -> Bed {
    require_root();
    let snapshot = snapshot_of(EXAMPLE_APEX, EXAMPLE_ZONE).unwrap();
    let (engine, limiter) =
        loaded_with_rate_limit(&snapshot, config).expect("loading the XDP program");
    Bed {
        engine,
        limiter,
        snapshot,
    }
}

/// What the program did with one query.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Did {
    Answered,
    Slipped,
    Dropped,
}

impl Bed {
    /// Sends `name`/`qtype` from `source` through the program; checks a slip against
    /// userspace's.
    fn ask(&self, source: &str, name: &str, qtype: u16) -> Did {
        let source: IpAddr = source.parse().unwrap();
        let server: IpAddr = if source.is_ipv4() {
            SERVER_V4
        } else {
            SERVER_V6
        }
        .parse()
        .unwrap();
        let query = QueryBuilder::new(name, qtype).with_opt(1232, false).build();
        let frame = UdpFrame::query(source, server, query.clone()).to_bytes();
        let (action, out) = self.engine.test_run(&frame).unwrap();
        match action {
            XDP_DROP => Did::Dropped,
            XDP_TX => {
                let reply = UdpFrame::parse(&out).expect("a well-formed reply frame");
                assert_eq!(reply.dst, source);
                let full = respond(
                    &query,
                    &self.snapshot,
                    Transport::Udp {
                        payload: OUR_PAYLOAD,
                    },
                )
                .expect("userspace answers it");
                if reply.payload[2] & 0x02 == 0 {
                    assert_eq!(reply.payload, full, "{name}: the answer as userspace's");
                    return Did::Answered;
                }
                let slip = slip_reply(
                    &parse(&query),
                    &full,
                    Transport::Udp {
                        payload: OUR_PAYLOAD,
                    },
                    None,
                )
                .unwrap();
                assert_eq!(reply.payload, slip, "{name}: the slip as userspace's");
                Did::Slipped
            }
            other => panic!("{name} from {source}: XDP action {other}"),
        }
    }

    /// `count` queries: how many were answered, slipped, dropped.
    fn tally(&self, count: usize, source: &str, name: &str, qtype: u16) -> [usize; 3] {
        let mut tally = [0; 3];
        for _ in 0..count {
            tally[self.ask(source, name, qtype) as usize] += 1;
        }
        tally
    }

    fn counter(&self, name: &str) -> u64 {
        let counters = self.engine.counters().unwrap();
        counters
            .iter()
            .find(|(c, _)| c.name() == name)
            .map(|(_, v)| *v)
            .unwrap()
    }
}

#[test]
fn a_burst_then_every_other_limited_response_slips() {
    let bed = bed(config());
    // Rate 2: a second's worth and the first (3) answered, then slip, drop, slip ...
    let tally = bed.tally(20, "198.51.100.7", "www.example.com.", 1);
    assert_eq!(tally, [3, 9, 8], "answered, slipped, dropped");
    assert_eq!(bed.counter("rate_limit_slipped"), 9);
    assert_eq!(bed.counter("rate_limit_dropped"), 8);
    // The same /24 shares the bucket (the 18th limited response: dropped); the next /24
    // has its own.
    assert_eq!(
        bed.ask("198.51.100.200", "www.example.com.", 1),
        Did::Dropped
    );
    assert_eq!(
        bed.tally(3, "198.51.101.7", "www.example.com.", 1),
        [3, 0, 0]
    );
    // IPv6 clients by /56.
    assert_eq!(
        bed.tally(4, "2001:db8:1::7", "www.example.com.", 1),
        [3, 1, 0]
    );
    assert_eq!(
        bed.ask("2001:db8:1:ff::1", "www.example.com.", 1),
        Did::Dropped
    );
    assert_eq!(
        bed.tally(3, "2001:db8:1:100::7", "www.example.com.", 1),
        [3, 0, 0]
    );
    // What was limited is counted by zone and class.
    assert_eq!(positive_limited(&bed), [10, 10], "slipped, dropped");
}

#[test]
fn positive_answers_count_by_name_and_type_negative_ones_by_zone() {
    let bed = bed(config());
    let client = "203.0.113.9";
    assert_eq!(bed.tally(4, client, "www.example.com.", 1)[0], 3);
    // Another type or another name: buckets of their own.
    assert_eq!(bed.tally(3, client, "www.example.com.", 28)[0], 3);
    assert_eq!(bed.tally(3, client, "example.com.", 15)[0], 3);
    // NXDOMAIN: one bucket for the zone, whatever the name (a random-subdomain flood).
    let names = [
        "a.example.com.",
        "b.example.com.",
        "c.d.example.com.",
        "e.example.com.",
    ];
    let did: Vec<Did> = names.iter().map(|n| bed.ask(client, n, 1)).collect();
    assert_eq!(
        did,
        [Did::Answered, Did::Answered, Did::Answered, Did::Slipped]
    );
    // NODATA is a class apart from NXDOMAIN.
    assert_eq!(bed.tally(3, client, "www.example.com.", 16)[0], 3);
    assert_ne!(bed.ask(client, "example.com.", 99), Did::Answered);
}

#[test]
fn allow_listed_prefixes_and_log_only_are_never_limited() {
    let mut bed = bed(RrlConfig {
        allow: vec![
            "198.51.100.0/24".parse().unwrap(),
            "2001:db8:9::/48".parse().unwrap(),
        ],
        ..config()
    });
    bed.engine.update_rate_limit().unwrap();
    assert_eq!(
        bed.tally(10, "198.51.100.7", "www.example.com.", 1),
        [10, 0, 0]
    );
    assert_eq!(
        bed.tally(10, "2001:db8:9:1::1", "www.example.com.", 1),
        [10, 0, 0]
    );
    assert_eq!(
        bed.tally(5, "198.51.101.7", "www.example.com.", 1),
        [3, 1, 1]
    );

    let mut logging = config();
    logging.log_only = true;
    bed.limiter.set_config(logging).unwrap();
    bed.engine.update_rate_limit().unwrap();
    assert_eq!(
        bed.tally(10, "192.0.2.77", "www.example.com.", 1),
        [10, 0, 0]
    );
    // Counted as it would have been limited (slip, drop, slip ...), not as sent.
    assert_eq!(positive_limited(&bed), [1 + 4, 1 + 3]);
    assert_eq!(bed.counter("rate_limit_slipped"), 1);

    let mut off = config();
    off.enabled = false;
    bed.limiter.set_config(off).unwrap();
    bed.engine.update_rate_limit().unwrap();
    assert_eq!(
        bed.tally(10, "192.0.2.78", "www.example.com.", 1),
        [10, 0, 0]
    );
    assert_eq!(positive_limited(&bed), [5, 4]);
}

/// Positive answers limited in the test zone: slipped, dropped.
fn positive_limited(bed: &Bed) -> [u64; 2] {
    let apex: Name = EXAMPLE_APEX.parse().unwrap();
    bed.limiter
        .limited()
        .into_iter()
        .find(|(zone, _)| zone.as_ref() == Some(&apex))
        .map_or([0, 0], |(_, counts)| {
            counts[ResponseClass::Positive as usize]
        })
}

#[test]
fn userspace_charges_the_same_buckets() {
    let bed = bed(config());
    let client = "198.51.100.50";
    let source: IpAddr = client.parse().unwrap();
    let zone: Name = EXAMPLE_APEX.parse().unwrap();
    let udp = Transport::Udp {
        payload: OUR_PAYLOAD,
    };
    // Two answers by the kernel, the third by userspace: the bucket is then empty for both.
    assert_eq!(bed.tally(2, client, "www.example.com.", 1), [2, 0, 0]);
    let query = QueryBuilder::new("www.example.com.", 1).build();
    let reply = respond(&query, &bed.snapshot, udp).unwrap();
    let parsed = parse(&query);
    assert_eq!(
        bed.limiter
            .judge(source, &reply, parsed.question(), Some(&zone)),
        Verdict::Answer
    );
    assert_eq!(bed.ask(client, "www.example.com.", 1), Did::Slipped);
    assert_eq!(
        bed.limiter
            .judge(source, &reply, parsed.question(), Some(&zone)),
        Verdict::Drop
    );
    assert_eq!(bed.ask(client, "WWW.example.COM.", 1), Did::Slipped);
    // NXDOMAIN by zone: userspace first, then the kernel, one bucket.
    let query = QueryBuilder::new("nope.example.com.", 1).build();
    let nxdomain = respond(&query, &bed.snapshot, udp).unwrap();
    let parsed = parse(&query);
    for _ in 0..3 {
        assert_eq!(
            bed.limiter
                .judge(source, &nxdomain, parsed.question(), Some(&zone)),
            Verdict::Answer
        );
    }
    assert_eq!(bed.ask(client, "other.example.com.", 1), Did::Slipped);
}
