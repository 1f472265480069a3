//! Response rate limiting as clients see it: `secdns serve` with native XDP on one side of
//! a veth pair, clients with many source addresses on the other. Counts of answers, slips
//! (TC=1) and silence per prefix; the kernel and userspace sharing one zone's bucket; dig
//! retrying a slip over TCP; the allow list; the metrics; a change through the API.

use std::{
    collections::HashMap,
    net::{SocketAddr, UdpSocket},
    time::{Duration, Instant},
};

use secdns_tests::{
    TempDir, dig,
    frame::QueryBuilder,
    netns::{SERVER_V4, TestNet},
    prerequisites::{require_root, require_tools},
    secdns::{CONTROL, counter_sum, start_server, start_xdp_peer, stats, write_example_config},
};

/// What became of a query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Got {
    Answer,
    Slip,
    Nothing,
}

/// Sends each (name, type) from `source` at once, then waits for the replies: what each got.
fn blast(net: &TestNet, source: &str, questions: &[(&str, u16)]) -> Vec<Got> {
    let source: std::net::IpAddr = source.parse().unwrap();
    let queries: Vec<Vec<u8>> = questions
        .iter()
        .enumerate()
        .map(|(i, (name, qtype))| {
            let mut query = QueryBuilder::new(name, *qtype).build();
            query[..2].copy_from_slice(&(i as u16 + 1).to_be_bytes());
            query
        })
        .collect();
    let count = queries.len();
    let got = net
        .on_client(move || {
            let socket = UdpSocket::bind(SocketAddr::new(source, 0)).unwrap();
            let server: SocketAddr = format!("{SERVER_V4}:53").parse().unwrap();
            for query in &queries {
                socket.send_to(query, server).unwrap();
            }
            socket
                .set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            let mut got = HashMap::new();
            let until = Instant::now() + Duration::from_millis(600);
            let mut buf = [0u8; 1500];
            while Instant::now() < until && got.len() < queries.len() {
                let Ok(len) = socket.recv(&mut buf) else {
                    continue;
                };
                let id = u16::from_be_bytes([buf[0], buf[1]]);
                let truncated = buf[2] & 0x02 != 0;
                got.insert(id, if truncated { Got::Slip } else { Got::Answer });
                assert!(len >= 12);
            }
            got
        })
        .unwrap();
    (1..=count as u16)
        .map(|id| got.get(&id).copied().unwrap_or(Got::Nothing))
        .collect()
}

fn tally(got: &[Got]) -> [usize; 3] {
    let mut tally = [0; 3];
    for g in got {
        tally[*g as usize] += 1;
    }
    tally
}

fn limited_total(net: &TestNet, zone: &str, class: &str, action: &str) -> f64 {
    let labels = [("zone", zone), ("class", class), ("action", action)];
    counter_sum(net, "secdns_rrl_limited_total", &labels).unwrap()
}

#[test]
fn clients_over_the_limit_get_slips_or_nothing_on_both_paths() {
    require_root();
    require_tools(&["ip", "dig"]);
    let dir = TempDir::new("rrl").unwrap();
    let net = TestNet::new("rrl").unwrap();
    let config = write_example_config(dir.path(), &net.server_if).unwrap();
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[rrl]\nrate = 5\nallow = [\"198.51.100.128/25\"]\n");
    std::fs::write(&config, text).unwrap();
    // An answer the kernel cannot grow a veth frame to (it has 256 bytes of headroom and no
    // tailroom): passed to userspace after the kernel charged it.
    let zone = dir.path().join("example.com.zone");
    let big = format!(
        "big 300 IN TXT \"{}\" \"{}\"\n",
        "x".repeat(200),
        "y".repeat(200)
    );
    std::fs::write(&zone, std::fs::read_to_string(&zone).unwrap() + &big).unwrap();
    net.add_client_addresses(&[
        "198.51.100.10",
        "198.51.100.11",
        "198.51.100.200",
        "203.0.113.5",
        "203.0.114.5",
        "203.0.115.5",
    ])
    .unwrap();
    let _peer = start_xdp_peer(&net).unwrap();
    let _server = start_server(&net, &config).unwrap();

    // Rate 5: six answered at once (a second's worth and one), then slip, drop, slip ...
    let www = vec![("www.example.com.", 1); 30];
    let got = blast(&net, "198.51.100.10", &www);
    let [answered, slipped, nothing] = tally(&got);
    assert!(
        (6..=7).contains(&answered) && slipped.abs_diff(nothing) <= 1,
        "answered {answered}, slipped {slipped}, nothing {nothing}: {got:?}"
    );
    assert_eq!(got[..6], [Got::Answer; 6]);
    // Another address of the /24 shares the bucket; an allowed one is never limited.
    assert_eq!(tally(&blast(&net, "198.51.100.11", &www[..4]))[0], 0);
    assert_eq!(tally(&blast(&net, "198.51.100.200", &www)), [30, 0, 0]);
    let xdp = stats(&net).unwrap();
    let xdp_count = |name: &str| xdp.xdp.iter().find(|(n, _)| n == name).map_or(0, |c| c.1);
    assert!(xdp_count("rate_limit_slipped") >= 12, "{:?}", xdp.xdp);
    assert!(xdp_count("rate_limit_dropped") >= 12, "{:?}", xdp.xdp);

    // An answer the kernel charged but could not send is charged once in all: its charge is
    // taken back before userspace charges it.
    let before = stats(&net).unwrap();
    let got = blast(&net, "203.0.115.5", &[("big.example.com.", 16); 10]);
    let after = stats(&net).unwrap();
    let resize_failed = |s: &secdns::stats::StatsReport| {
        s.xdp
            .iter()
            .find(|(n, _)| n == "passed_resize_failed")
            .map_or(0, |c| c.1)
    };
    assert!(
        resize_failed(&after) > resize_failed(&before),
        "{:?}",
        after.xdp
    );
    assert!((6..=7).contains(&tally(&got)[0]), "{got:?}");

    // NXDOMAIN shares one bucket per zone, whichever path answers: the kernel answers
    // nope.example.com, userspace hostmaster.example.com (see serve_in_namespaces).
    let mixed: Vec<(&str, u16)> = (0..10)
        .map(|i| match i % 2 {
            0 => ("nope.example.com.", 1),
            _ => ("hostmaster.example.com.", 1),
        })
        .collect();
    let before = stats(&net).unwrap();
    let got = blast(&net, "203.0.113.5", &mixed);
    let after = stats(&net).unwrap();
    // Six answered in all, not six by each path. (Which six depends on which path got to
    // the bucket first: the kernel answers while userspace's threads wake up.)
    assert!((6..=7).contains(&tally(&got)[0]), "{got:?}");
    // Userspace answered some and limited some: one bucket for both.
    assert!(after.udp_answered - before.udp_answered >= 3, "{after:?}");
    assert!(
        (after.udp_slipped + after.udp_rate_limited)
            - (before.udp_slipped + before.udp_rate_limited)
            >= 1,
        "{after:?}"
    );
    assert!(limited_total(&net, "example.com.", "nxdomain", "slipped") >= 1.0);
    assert!(limited_total(&net, "example.com.", "positive", "dropped") >= 12.0);

    // A real client behind a limited prefix, without cookies: dig sees the slip and retries
    // over TCP. (A query that is dropped times out: dig asks again.)
    let dig_from = |extra: &[&str]| {
        let mut args = vec!["-b", "198.51.100.10"];
        args.extend(extra);
        dig::query(
            net.client("dig"),
            SERVER_V4,
            53,
            "www.example.com.",
            "A",
            &args,
        )
        .ok()
    };
    let slipped = (0..6)
        .filter_map(|_| dig_from(&["+nocookie", "+ignore"]))
        .find(|answer| answer.flags.iter().any(|f| f == "tc"))
        .expect("dig saw a truncated reply");
    assert_eq!(slipped.status, "NOERROR");
    assert!(slipped.section("ANSWER").is_empty(), "{}", slipped.raw);
    let retried = (0..6)
        .find_map(|_| dig_from(&["+nocookie"]))
        .expect("dig got an answer");
    assert_eq!(retried.transport, "TCP", "{}", retried.raw);
    assert_eq!(retried.section("ANSWER").len(), 2, "{}", retried.raw);
    // With cookies (dig's default): BADCOOKIE with our cookie, dig asks again with it, and a
    // query with our cookie is never limited: answered over UDP.
    let with_cookie = (0..6)
        .find_map(|_| dig_from(&[]))
        .expect("dig got an answer");
    assert_eq!(with_cookie.transport, "UDP", "{}", with_cookie.raw);
    assert_eq!(
        with_cookie.section("ANSWER").len(),
        2,
        "{}",
        with_cookie.raw
    );
    assert!(
        with_cookie.raw.contains("BADCOOKIE"),
        "dig was told BADCOOKIE first: {}",
        with_cookie.raw
    );
    assert!(
        with_cookie.raw.contains("(good)"),
        "dig found our cookie good: {}",
        with_cookie.raw
    );

    // Log-only through the API: everything answered, still counted.
    let before = limited_total(&net, "example.com.", "positive", "slipped");
    let control: SocketAddr = CONTROL.parse().unwrap();
    let changed = net
        .on_server(move || {
            secdns_tests::api::Api::new(control, None).call(
                "PUT",
                "/rrl",
                Some(&serde_json::json!({"rate": 5, "log_only": true})),
            )
        })
        .unwrap()
        .unwrap();
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    assert_eq!(changed.body["log_only"], true);
    // A new cookie secret through the API: the old one stays good; a bad one is refused.
    let rotated = net
        .on_server(move || {
            let api = secdns_tests::api::Api::new(control, None);
            let secret = serde_json::json!({"secret": "00112233445566778899aabbccddeeff"});
            let bad = serde_json::json!({"secret": "0011"});
            (
                api.call("PUT", "/cookies", Some(&secret)).unwrap(),
                api.call("PUT", "/cookies", Some(&bad)).unwrap(),
            )
        })
        .unwrap();
    assert_eq!(rotated.0.status, 200, "{:?}", rotated.0.body);
    assert_eq!(rotated.0.body["previous_secret"], true);
    assert_eq!(rotated.1.status, 400, "{:?}", rotated.1.body);
    assert_eq!(rotated.1.body["field"], "secret");
    // Out of range or unknown: refused, saying what, and nothing changes.
    let refused = net
        .on_server(move || {
            let api = secdns_tests::api::Api::new(control, None);
            [
                serde_json::json!({"rate": 0}),
                serde_json::json!({"burst": 3}),
                serde_json::json!({"allow": ["10.0.0.0/40"]}),
            ]
            .map(|body| api.call("PUT", "/rrl", Some(&body)).unwrap())
        })
        .unwrap();
    for reply in refused {
        assert_eq!(reply.status, 400, "{:?}", reply.body);
        assert!(
            reply.body["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    assert_eq!(tally(&blast(&net, "203.0.114.5", &www)), [30, 0, 0]);
    assert!(limited_total(&net, "example.com.", "positive", "slipped") >= before + 11.0);
}
