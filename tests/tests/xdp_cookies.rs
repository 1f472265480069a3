//! DNS Cookies in the XDP program, run on crafted frames with BPF_PROG_TEST_RUN: a query
//! with a client cookie gets the answer with our server cookie (the one RFC 9018 makes for
//! the secret, which `dns_cookies.rs` holds to Knot's), a good server cookie comes back as
//! it went and is never rate limited, a bad one gets a new cookie, the previous secret is
//! still good after a rotation, a limited query with a cookie gets BADCOOKIE, and a COOKIE
//! of a length RFC 7873 forbids goes to userspace (FORMERR). Every reply is checked against
//! userspace's for the same query.

use std::{net::IpAddr, sync::Arc};

use secdns::{
    answer::{Transport, query::parse, respond, respond_keyed, slip_reply},
    cookies::{CookieConfig, Cookies, Secret},
    rate_limit::RrlConfig,
    snapshot::Snapshot,
    xdp::loader::XdpEngine,
};
use secdns_common::cookie::{COOKIE_OPTION, server_cookie};
use secdns_tests::{
    EXAMPLE_APEX, EXAMPLE_ZONE,
    frame::{QueryBuilder, UdpFrame},
    prerequisites::require_root,
    xdp::{OUR_PAYLOAD, loaded_with_cookies, snapshot_of},
};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;
const SECRET: [u8; 16] = [0x5a; 16];
const CLIENT: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];
const UDP: Transport = Transport::Udp {
    payload: OUR_PAYLOAD,
};

struct Bed {
    engine: XdpEngine,
    cookies: Arc<Cookies>,
    snapshot: Snapshot,
}

fn bed(rate: u32) -> Bed {
    require_root();
    let snapshot = snapshot_of(EXAMPLE_APEX, EXAMPLE_ZONE).unwrap();
    let cookies = Arc::new(Cookies::new(&CookieConfig {
        secret: Some(Secret(SECRET)),
        ..CookieConfig::default()
    }));
    let rrl = RrlConfig {
        rate,
        table_size: 1 << 16,
        ..RrlConfig::default()
    };
    let (engine, _) = loaded_with_cookies(&snapshot, rrl, cookies.clone()).unwrap();
    Bed {
        engine,
        cookies,
        snapshot,
    }
}

/// What came back for one query.
#[derive(Debug)]
enum Got {
    Reply(Vec<u8>),
    Passed,
    Dropped,
}

impl Bed {
    fn run(&self, source: &str, query: &[u8]) -> Got {
        let source: IpAddr = source.parse().unwrap();
        let server: IpAddr = if source.is_ipv4() {
            "192.0.2.1"
        } else {
            "2001:db8::1"
        }
        .parse()
        .unwrap();
        let frame = UdpFrame::query(source, server, query.to_vec()).to_bytes();
        let (action, out) = self.engine.test_run(&frame).unwrap();
        match action {
            XDP_TX => Got::Reply(UdpFrame::parse(&out).expect("a well-formed reply").payload),
            XDP_PASS => Got::Passed,
            XDP_DROP => Got::Dropped,
            other => panic!("XDP action {other}"),
        }
    }

    /// Changes the cookies as the API does, in userspace and the program.
    fn change_cookies(&mut self, enabled: Option<bool>, secret: Option<Secret>) {
        self.cookies.change(enabled, secret);
        self.engine.update_cookies().unwrap();
    }

    /// Userspace's reply to `query` from `source`, its cookie added (the server cookie made
    /// in the same second as the kernel's, or sent back).
    fn userspace(&self, source: &str, query: &[u8], limited: bool) -> Vec<u8> {
        let parsed = parse(query);
        let (cookie, _) = self.cookies.reply_cookie(&parsed, source.parse().unwrap());
        let reply = respond_keyed(parsed, query, &self.snapshot, UDP, cookie, |_| None)
            .unwrap()
            .0;
        if limited {
            return slip_reply(&parsed, &reply, UDP, cookie).unwrap();
        }
        reply
    }
}

/// Seconds since the epoch, as cookie timestamps count them.
fn unix_now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32
}

fn query_with_cookie(cookie: &[u8]) -> Vec<u8> {
    QueryBuilder::new("www.example.com.", 1)
        .with_opt(1232, false)
        .with_option(COOKIE_OPTION, cookie)
        .build()
}

/// The COOKIE option's data in `reply` (its last 24 bytes, the OPT being last).
fn cookie_in(reply: &[u8]) -> &[u8] {
    let option = &reply[reply.len() - 28..];
    assert_eq!(option[..4], [0, 10, 0, 24], "a COOKIE option of 24 bytes");
    &option[4..]
}

/// The reply to `query` from `source`, checked against userspace's: byte for byte (a
/// second boundary between the two may change the timestamp: asked again then).
fn answered(bed: &Bed, source: &str, query: &[u8], limited: bool) -> Vec<u8> {
    for _ in 0..3 {
        let Got::Reply(reply) = bed.run(source, query) else {
            panic!("not answered from {source}");
        };
        if reply == bed.userspace(source, query, limited) {
            return reply;
        }
    }
    panic!("the kernel's reply from {source} is not userspace's")
}

#[test]
fn a_client_cookie_gets_our_server_cookie() {
    let bed = bed(1_000_000);
    for (source, address) in [
        ("198.51.100.7", vec![198, 51, 100, 7]),
        (
            "2001:db8:1::7",
            "2001:db8:1::7"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets()
                .to_vec(),
        ),
        // An IPv4-mapped source is an IPv4 client, for the hash too.
        ("::ffff:198.51.100.8", vec![198, 51, 100, 8]),
    ] {
        let reply = answered(&bed, source, &query_with_cookie(&CLIENT), false);
        let cookie = cookie_in(&reply);
        assert_eq!(cookie[..8], CLIENT);
        let timestamp = u32::from_be_bytes(cookie[12..16].try_into().unwrap());
        let ours = server_cookie(&SECRET, &CLIENT, timestamp, &address);
        assert_eq!(cookie[8..], ours, "from {source}");
        let now = unix_now();
        assert!(
            now.abs_diff(timestamp) <= 2,
            "timestamp {timestamp}, now {now}"
        );
    }
    // Without a cookie, none comes back; a query without OPT has none to carry.
    let plain = QueryBuilder::new("www.example.com.", 1)
        .with_opt(1232, false)
        .build();
    let Got::Reply(reply) = bed.run("198.51.100.7", &plain) else {
        panic!()
    };
    assert_eq!(reply, bed.userspace("198.51.100.7", &plain, false));
    assert_eq!(reply[reply.len() - 2..], [0, 0], "an OPT without options");
}

#[test]
fn a_good_server_cookie_comes_back_and_is_never_limited() {
    let bed = bed(2);
    let source = "198.51.100.7";
    let now = unix_now();
    let good = [
        &CLIENT[..],
        &server_cookie(&SECRET, &CLIENT, now - 60, &[198, 51, 100, 7]),
    ]
    .concat();
    for _ in 0..20 {
        let reply = answered(&bed, source, &query_with_cookie(&good), false);
        assert_eq!(cookie_in(&reply), good, "sent back as it came");
    }
    // Older than half an hour: good, and made anew.
    let old = [
        &CLIENT[..],
        &server_cookie(&SECRET, &CLIENT, now - 2000, &[198, 51, 100, 7]),
    ]
    .concat();
    let reply = answered(&bed, source, &query_with_cookie(&old), false);
    assert_ne!(cookie_in(&reply), old);
    // Not ours (another secret, another client address, too old): a new cookie, and
    // limited as any other query: 3 answered, then BADCOOKIE (the slip), then nothing.
    let bad = [
        [
            &CLIENT[..],
            &server_cookie(&[1; 16], &CLIENT, now, &[198, 51, 100, 7]),
        ]
        .concat(),
        [
            &CLIENT[..],
            &server_cookie(&SECRET, &CLIENT, now, &[198, 51, 100, 9]),
        ]
        .concat(),
        [
            &CLIENT[..],
            &server_cookie(&SECRET, &CLIENT, now - 3700, &[198, 51, 100, 7]),
        ]
        .concat(),
    ];
    let client = "203.0.113.5";
    for cookie in &bad {
        let reply = answered(&bed, client, &query_with_cookie(cookie), false);
        assert_ne!(cookie_in(&reply)[8..], cookie[8..]);
    }
    let badcookie = answered(&bed, client, &query_with_cookie(&bad[0]), true);
    assert_eq!(badcookie[3] & 0x0f, 7, "BADCOOKIE's lower bits");
    assert_eq!(u16::from_be_bytes([badcookie[6], badcookie[7]]), 0);
    assert!(matches!(
        bed.run(client, &query_with_cookie(&bad[0])),
        Got::Dropped
    ));
}

#[test]
fn the_previous_secret_is_good_after_a_rotation() {
    let mut bed = bed(1_000_000);
    let now = unix_now();
    let made = [
        &CLIENT[..],
        &server_cookie(&SECRET, &CLIENT, now, &[198, 51, 100, 7]),
    ]
    .concat();
    bed.change_cookies(None, Some(Secret([0x77; 16])));
    let reply = answered(&bed, "198.51.100.7", &query_with_cookie(&made), false);
    assert_eq!(cookie_in(&reply), made, "still good: sent back");
    // A second rotation forgets it.
    bed.change_cookies(None, Some(Secret([0x78; 16])));
    let reply = answered(&bed, "198.51.100.7", &query_with_cookie(&made), false);
    assert_ne!(cookie_in(&reply), made);
}

#[test]
fn cookies_of_a_forbidden_length_go_to_userspace() {
    let bed = bed(1_000_000);
    for len in [0, 7, 9, 15, 41] {
        let query = query_with_cookie(&vec![3; len]);
        assert!(
            matches!(bed.run("198.51.100.7", &query), Got::Passed),
            "{len} bytes"
        );
        let reply = respond(&query, &bed.snapshot, UDP).unwrap();
        assert_eq!(reply[3] & 0x0f, 1, "FORMERR from userspace for {len} bytes");
    }
    // Server cookies of other lengths than ours are well-formed, never ours: a new one.
    for len in [16, 32, 40] {
        let reply = answered(
            &bed,
            "198.51.100.7",
            &query_with_cookie(&vec![3; len]),
            false,
        );
        assert_eq!(cookie_in(&reply)[..8], [3; 8]);
    }
    // Other options before the cookie are skipped; an option running past the data hides
    // the cookie after it (no cookie back), as userspace reads it.
    let query = QueryBuilder::new("www.example.com.", 1)
        .with_opt(1232, false)
        .with_option(12, &[0; 5])
        .with_option(COOKIE_OPTION, &CLIENT)
        .build();
    let reply = answered(&bed, "198.51.100.7", &query, false);
    assert_eq!(cookie_in(&reply)[..8], CLIENT);
}

#[test]
fn with_cookies_off_a_limited_query_with_a_cookie_gets_a_truncated_reply() {
    let mut bed = bed(2);
    bed.change_cookies(Some(false), None);
    let query = query_with_cookie(&CLIENT);
    let source = "198.51.100.7";
    for _ in 0..3 {
        let Got::Reply(reply) = bed.run(source, &query) else {
            panic!("not answered")
        };
        assert_eq!(
            reply,
            respond(&query, &bed.snapshot, UDP).unwrap(),
            "no cookie"
        );
    }
    let Got::Reply(slip) = bed.run(source, &query) else {
        panic!("not slipped")
    };
    let full = respond(&query, &bed.snapshot, UDP).unwrap();
    assert_eq!(slip, slip_reply(&parse(&query), &full, UDP, None).unwrap());
    assert_ne!(slip[2] & 0x02, 0, "TC set, not BADCOOKIE");
}
