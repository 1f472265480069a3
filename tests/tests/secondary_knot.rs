//! secdns as a secondary of real knotd primaries started by the tests: AXFR, IXFR after
//! changes made with knotc, NOTIFY, TSIG with every algorithm and every failure, several
//! primaries, a primary that is behind, EXPIRE, limits, and restarts from the saved copy.
//! After each transfer, `secdns zone records` must equal the primary's AXFR.

use std::{net::SocketAddr, time::Duration};

use secdns::{
    dns::Name,
    secondary::status::ZoneStatus,
    zone::{ZoneBuilder, wire_file},
};
use secdns_tests::{
    knot::{Knot, KnotOptions, TsigSpec, free_port},
    prerequisites::{require_tools, secdns_bin},
    secdns::Secondary,
};

const APEX: &str = "example.net.";

fn zone_text(apex: &str, serial: u32, extra: &str) -> String {
    format!(
        "$ORIGIN {apex}\n$TTL 300\n@ IN SOA ns1 hostmaster {serial} 3600 600 86400 300\n  IN NS ns1\n\
         ns1 IN A 192.0.2.1\nwww IN A 192.0.2.80\ntxt IN TXT \"hello world\"\n{extra}"
    )
}

fn key(name: &str, algorithm: &str) -> TsigSpec {
    TsigSpec::new(name, algorithm, b"0123456789abcdef0123456789abcdef")
}

/// `[[tsig]]`/`[[peer]]`/`[[zone]]` sections for one zone and its peers, in order.
struct Setup<'a> {
    zone: &'a str,
    peers: Vec<(&'a str, SocketAddr, bool, Option<&'a TsigSpec>)>,
    zone_options: &'a str,
}

impl<'a> Setup<'a> {
    fn render(&self) -> String {
        let mut text = String::new();
        let mut keys = Vec::new();
        for (name, addr, ixfr, key) in &self.peers {
            if let Some(key) = key
                && !keys.contains(&key.name)
            {
                keys.push(key.name.clone());
                text.push_str(&format!(
                    "[[tsig]]\nname = \"{}\"\nalgorithm = \"{}\"\nsecret = \"{}\"\n\n",
                    key.name, key.algorithm, key.secret
                ));
            }
            text.push_str(&format!(
                "[[peer]]\nname = \"{name}\"\naddress = \"{}\"\nport = {}\nixfr = {ixfr}\n{}\n",
                addr.ip(),
                addr.port(),
                key.map(|k| format!("tsig = \"{}\"\n", k.name))
                    .unwrap_or_default()
            ));
        }
        let peers: Vec<String> = self.peers.iter().map(|p| format!("\"{}\"", p.0)).collect();
        text.push_str(&format!(
            "[[zone]]\nname = \"{}\"\npeers = [{}]\n{}\n",
            self.zone,
            peers.join(", "),
            self.zone_options
        ));
        text
    }

    /// APEX from one primary, "knot".
    fn one_primary(
        knot: &Knot,
        ixfr: bool,
        key: Option<&'a TsigSpec>,
        zone_options: &'a str,
    ) -> Self {
        let peers = vec![("knot", knot.addr(), ixfr, key)];
        Setup {
            zone: APEX,
            peers,
            zone_options,
        }
    }

    /// secdns with this setup (on `port`, or any free one), once it holds `serial`, and its
    /// status then.
    fn started(&self, port: Option<u16>, serial: u32) -> (Secondary, ZoneStatus) {
        let config = self.render();
        let secondary = match port {
            Some(port) => Secondary::start_on(port, None, &config),
            None => Secondary::start(&config),
        }
        .unwrap();
        let what = format!("serial {serial}");
        let status = secondary
            .wait_for(self.zone, Duration::from_secs(20), &what, |s| {
                s.serial == Some(serial)
            })
            .unwrap();
        (secondary, status)
    }
}

fn prerequisites() {
    require_tools(&["knotd", "knotc", "dig"]);
    let _ = secdns_bin();
}

fn secondary_port_and_addr() -> (u16, SocketAddr) {
    let port = free_port().unwrap();
    (port, SocketAddr::from(([127, 0, 0, 1], port)))
}

#[test]
fn axfr_then_notify_brings_ixfr_within_a_second() {
    prerequisites();
    let transfer_key = key("transfer-key.", "hmac-sha256");
    let (port, secondary_addr) = secondary_port_and_addr();
    let mut options = KnotOptions::new(APEX, &zone_text(APEX, 1, ""));
    options.key = Some(transfer_key.clone());
    options.notify = Some(secondary_addr);
    options.notify_key = Some(transfer_key.clone());
    let knot = Knot::start(options).unwrap();
    let setup = Setup::one_primary(&knot, true, Some(&transfer_key), "refresh = 3600");
    let (secondary, status) = setup.started(Some(port), 1);
    assert_eq!(status.last_transfer_kind.as_deref(), Some("AXFR"));
    assert!(status.serving);
    assert_eq!(secondary.records(APEX).unwrap(), knot.axfr().unwrap());

    knot.change(
        &["new 300 A 192.0.2.99", "www 300 A 192.0.2.81"],
        &["www A 192.0.2.80"],
    )
    .unwrap();
    // Only NOTIFY can bring it this fast: the refresh timer is an hour.
    let status = secondary
        .wait_for(APEX, Duration::from_secs(1), "NOTIFY + IXFR", |s| {
            s.serial == Some(2)
        })
        .unwrap();
    assert_eq!(
        status.last_transfer_kind.as_deref(),
        Some("IXFR"),
        "{status:#?}"
    );
    assert!(
        knot.process.output().contains("IXFR, outgoing"),
        "the primary logged no IXFR"
    );
    assert!(secondary.log().contains("NOTIFY accepted"));
    assert_eq!(secondary.records(APEX).unwrap(), knot.axfr().unwrap());
    let answer = secondary.query("www.example.net.", "A").unwrap();
    assert_eq!(
        answer.section("ANSWER"),
        ["www.example.net. 300 IN A 192.0.2.81"]
    );
}

#[test]
fn ixfr_that_does_not_apply_falls_back_to_axfr() {
    prerequisites();
    let (port, secondary_addr) = secondary_port_and_addr();
    let mut options = KnotOptions::new(APEX, &zone_text(APEX, 1, ""));
    options.notify = Some(secondary_addr);
    let knot = Knot::start(options).unwrap();
    let setup = Setup::one_primary(&knot, true, None, "refresh = 3600");
    let (mut secondary, _) = setup.started(Some(port), 1);

    // Make our copy disagree with the primary's history: drop the record the next
    // difference deletes, keeping the serial. (The copy is saved just after it is served.)
    let saved = secondary.dir.path().join("state/zones/example.net.wire");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    // The metadata is written after the copy.
    let meta = secondary
        .dir
        .path()
        .join("state/zones/example.net.meta.json");
    while !meta.exists() {
        assert!(std::time::Instant::now() < deadline, "no saved copy");
        std::thread::sleep(Duration::from_millis(50));
    }
    secondary.kill();
    let apex: Name = APEX.parse().unwrap();
    let copy = wire_file::decode(&std::fs::read(&saved).unwrap(), &apex).unwrap();
    let mut edited = ZoneBuilder::from_zone(&copy);
    let www: Name = "www.example.net.".parse().unwrap();
    let addresses: Vec<Box<[u8]>> = copy
        .records()
        .filter(|(owner, rr_type, ..)| **owner == www && *rr_type == 1)
        .map(|(.., rdata)| rdata.into())
        .collect();
    assert!(!addresses.is_empty());
    for rdata in &addresses {
        assert!(edited.remove(&www, 1, rdata));
    }
    let edited = edited.finish().unwrap();
    std::fs::write(&saved, wire_file::encode(&edited)).unwrap();
    secondary.restart().unwrap();

    knot.change(&["www 300 A 192.0.2.81"], &["www A 192.0.2.80"])
        .unwrap();
    let status = secondary
        .wait_for(APEX, Duration::from_secs(10), "serial 2", |s| {
            s.serial == Some(2)
        })
        .unwrap();
    assert_eq!(
        status.last_transfer_kind.as_deref(),
        Some("AXFR"),
        "{status:#?}"
    );
    assert!(
        status
            .warnings
            .iter()
            .any(|w| w.contains("fell back to AXFR")),
        "{status:#?}"
    );
    // Which record, and from which serial: what an operator needs to see why.
    assert!(
        status.warnings.iter().any(|w| w.contains(
            "the difference from serial 1 deletes www.example.net. A 192.0.2.80, which our \
             copy does not hold"
        )),
        "{status:#?}"
    );
    assert_eq!(secondary.records(APEX).unwrap(), knot.axfr().unwrap());
}

#[test]
fn ixfr_answered_with_the_whole_zone() {
    prerequisites();
    let (port, secondary_addr) = secondary_port_and_addr();
    let mut options = KnotOptions::new(APEX, &zone_text(APEX, 1, ""));
    options.notify = Some(secondary_addr);
    options.journal = false; // no history: IXFR is answered with the whole zone
    let knot = Knot::start(options).unwrap();
    let setup = Setup::one_primary(&knot, true, None, "refresh = 3600");
    let (secondary, _) = setup.started(Some(port), 1);
    knot.change(&["added 300 TXT \"x\""], &[]).unwrap();
    let status = secondary
        .wait_for(APEX, Duration::from_secs(10), "serial 2", |s| {
            s.serial == Some(2)
        })
        .unwrap();
    let kind = status.last_transfer_kind.clone().unwrap_or_default();
    assert!(
        kind.starts_with("IXFR (full") || kind == "AXFR",
        "{status:#?}"
    );
    assert_eq!(secondary.records(APEX).unwrap(), knot.axfr().unwrap());
}

#[test]
fn every_tsig_algorithm_transfers() {
    prerequisites();
    let algorithms = [
        "hmac-md5",
        "hmac-sha1",
        "hmac-sha224",
        "hmac-sha256",
        "hmac-sha384",
        "hmac-sha512",
    ];
    let mut knots = Vec::new();
    let mut config = String::new();
    for (i, algorithm) in algorithms.iter().enumerate() {
        let zone = format!("z{i}.example.");
        let spec = key(&format!("key-{algorithm}."), algorithm);
        let mut options = KnotOptions::new(&zone, &zone_text(&zone, 7, ""));
        options.key = Some(spec.clone());
        let knot = Knot::start(options).unwrap();
        let peer = format!("p{i}");
        config.push_str(
            &Setup {
                zone: &zone,
                peers: vec![(&peer, knot.addr(), false, Some(&spec))],
                zone_options: "",
            }
            .render(),
        );
        knots.push((zone, knot));
    }
    let secondary = Secondary::start(&config).unwrap();
    for ((zone, knot), algorithm) in knots.iter().zip(algorithms) {
        let status = secondary
            .wait_for(zone, Duration::from_secs(20), algorithm, |s| {
                s.serial == Some(7)
            })
            .unwrap_or_else(|e| panic!("{algorithm}: {e:#}"));
        assert_eq!(status.last_transfer_kind.as_deref(), Some("AXFR"));
        assert_eq!(
            secondary.records(zone).unwrap(),
            knot.axfr().unwrap(),
            "{algorithm}"
        );
    }
}

#[test]
fn tsig_failures_are_reported_by_name() {
    prerequisites();
    require_tools(&["faketime"]);
    let sig_key = key("sig-key.", "hmac-sha256");
    let wrong_secret = TsigSpec::new(
        "sig-key.",
        "hmac-sha256",
        b"not the secret the primary has!!",
    );
    let primary_key = key("transfer-key.", "hmac-sha256");
    let unknown_name = key("other-key.", "hmac-sha256");
    let time_key = key("time-key.", "hmac-sha256");
    // (zone, the primary's key, the key secdns uses, the primary's clock, expected error)
    let cases = [
        ("badsig.example.", &sig_key, &wrong_secret, None, "BADSIG"),
        (
            "badkey.example.",
            &primary_key,
            &unknown_name,
            None,
            "BADKEY",
        ),
        (
            "badtime.example.",
            &time_key,
            &time_key,
            Some("+2h"),
            "BADTIME",
        ),
    ];
    let mut knots = Vec::new();
    let mut config = String::new();
    for (i, (zone, primary, ours, clock, _)) in cases.iter().enumerate() {
        let mut options = KnotOptions::new(zone, &zone_text(zone, 1, ""));
        options.key = Some((*primary).clone());
        options.clock_offset = clock.map(str::to_owned);
        let knot = Knot::start(options).unwrap();
        let peer = format!("p{i}");
        config.push_str(
            &Setup {
                zone,
                peers: vec![(&peer, knot.addr(), false, Some(ours))],
                zone_options: "",
            }
            .render(),
        );
        knots.push(knot);
    }
    let secondary = Secondary::start(&config).unwrap();
    for (zone, _, _, _, expected) in cases {
        let status = secondary
            .wait_for(zone, Duration::from_secs(20), expected, |s| {
                s.peers[0]
                    .last_error
                    .as_deref()
                    .is_some_and(|e| e.contains(expected))
            })
            .unwrap();
        assert!(!status.serving, "{zone} must not be served");
        let answer = secondary.query(zone, "SOA").unwrap();
        assert_eq!(answer.status, "SERVFAIL", "{zone} has no copy yet");
    }
}

#[test]
fn the_next_primary_is_tried_when_the_first_is_down() {
    prerequisites();
    let knot = Knot::start(KnotOptions::new(APEX, &zone_text(APEX, 3, ""))).unwrap();
    let down = SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()));
    let setup = Setup {
        zone: APEX,
        peers: vec![("down", down, true, None), ("up", knot.addr(), true, None)],
        zone_options: "",
    };
    let (secondary, status) = setup.started(None, 3);
    assert!(
        status.peers[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("refused")),
        "{status:#?}"
    );
    assert_eq!(
        status.peers[1].last_result.as_deref(),
        Some("AXFR serial 3")
    );
    assert_eq!(secondary.records(APEX).unwrap(), knot.axfr().unwrap());
}

#[test]
fn a_primary_that_is_behind_never_rolls_the_zone_back() {
    prerequisites();
    let ahead = Knot::start(KnotOptions::new(APEX, &zone_text(APEX, 5, ""))).unwrap();
    let behind_port = free_port().unwrap();
    let mut behind_options = KnotOptions::new(APEX, &zone_text(APEX, 5, ""));
    behind_options.port = Some(behind_port);
    let behind = Knot::start(behind_options.clone()).unwrap();
    let setup = Setup {
        zone: APEX,
        peers: vec![
            ("behind", behind.addr(), true, None),
            ("ahead", ahead.addr(), true, None),
        ],
        zone_options: "",
    };
    let (secondary, _) = setup.started(None, 5);

    // The first primary goes back to serial 3 (restored from an old backup, say).
    drop(behind);
    behind_options.zone_text = zone_text(APEX, 3, "old IN A 192.0.2.3\n");
    let _behind = Knot::start(behind_options).unwrap();
    secondary.cli(&["zone", "transfer", APEX]).unwrap();
    let status = secondary
        .wait_for(APEX, Duration::from_secs(20), "a forced transfer", |s| {
            s.peers[0]
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("behind"))
                && s.peers[1].last_result.is_some()
        })
        .unwrap();
    assert_eq!(status.serial, Some(5), "{status:#?}");
    assert!(
        status.peers[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("behind")),
        "{status:#?}"
    );
    assert_eq!(secondary.records(APEX).unwrap(), ahead.axfr().unwrap());
    assert_eq!(
        secondary.query("old.example.net.", "A").unwrap().status,
        "NXDOMAIN"
    );
}

#[test]
fn expire_stops_serving_until_a_transfer_succeeds() {
    prerequisites();
    let port = free_port().unwrap();
    let mut options = KnotOptions::new(APEX, &zone_text(APEX, 1, ""));
    options.port = Some(port);
    let knot = Knot::start(options.clone()).unwrap();
    let setup = Setup::one_primary(&knot, false, None, "refresh = 1\nretry = 1\nexpire = 3");
    let (secondary, _) = setup.started(None, 1);
    assert_eq!(
        secondary.query("www.example.net.", "A").unwrap().status,
        "NOERROR"
    );

    drop(knot);
    secondary
        .wait_for(APEX, Duration::from_secs(15), "expiry", |s| s.expired)
        .unwrap();
    assert_eq!(
        secondary.query("www.example.net.", "A").unwrap().status,
        "SERVFAIL"
    );

    let _knot = Knot::start(options).unwrap();
    secondary
        .wait_for(APEX, Duration::from_secs(15), "serving again", |s| {
            s.serving && !s.expired
        })
        .unwrap();
    assert_eq!(
        secondary.query("www.example.net.", "A").unwrap().status,
        "NOERROR"
    );
}

#[test]
fn a_restart_serves_the_saved_copy_with_the_primary_stopped() {
    prerequisites();
    let knot = Knot::start(KnotOptions::new(APEX, &zone_text(APEX, 9, ""))).unwrap();
    let setup = Setup::one_primary(&knot, false, None, "");
    let (mut secondary, _) = setup.started(None, 9);
    let expected = knot.axfr().unwrap();
    drop(knot);
    let (status, _) = secondary
        .process
        .take()
        .unwrap()
        .terminate(Duration::from_secs(10))
        .unwrap();
    assert!(status.success());

    secondary.restart().unwrap();
    let answer = secondary.query("www.example.net.", "A").unwrap();
    assert_eq!(
        answer.section("ANSWER"),
        ["www.example.net. 300 IN A 192.0.2.80"]
    );
    let status = secondary.status(APEX).unwrap();
    assert!(status.serving && status.serial == Some(9), "{status:#?}");
    assert_eq!(status.last_transfer_kind.as_deref(), Some("AXFR"));
    assert_eq!(secondary.records(APEX).unwrap(), expected);
}

#[test]
fn a_transfer_over_the_limits_keeps_the_old_copy() {
    prerequisites();
    let (port, secondary_addr) = secondary_port_and_addr();
    let mut options = KnotOptions::new(APEX, &zone_text(APEX, 1, ""));
    options.notify = Some(secondary_addr);
    let knot = Knot::start(options).unwrap();
    let setup = Setup::one_primary(&knot, true, None, "");
    let config = format!("[transfer]\nmax_records = 8\n\n{}", setup.render());
    let secondary = Secondary::start_on(port, None, &config).unwrap();
    secondary
        .wait_for(APEX, Duration::from_secs(20), "transfer", |s| {
            s.serial == Some(1)
        })
        .unwrap();
    let before = secondary.records(APEX).unwrap();

    knot.change(
        &[
            "a 300 A 192.0.2.1",
            "b 300 A 192.0.2.2",
            "c 300 A 192.0.2.3",
            "d 300 A 192.0.2.4",
        ],
        &[],
    )
    .unwrap();
    let status = secondary
        .wait_for(APEX, Duration::from_secs(10), "the limit", |s| {
            s.peers[0]
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("more than 8 records"))
        })
        .unwrap();
    assert_eq!(status.serial, Some(1));
    assert!(status.serving);
    assert_eq!(secondary.records(APEX).unwrap(), before);
}

#[test]
fn notify_is_refused_from_strangers_and_without_the_key() {
    prerequisites();
    let transfer_key = key("transfer-key.", "hmac-sha256");
    let (port, secondary_addr) = secondary_port_and_addr();
    let mut options = KnotOptions::new(APEX, &zone_text(APEX, 1, ""));
    options.key = Some(transfer_key.clone());
    let knot = Knot::start(options).unwrap();
    let setup = Setup::one_primary(&knot, false, Some(&transfer_key), "");
    let (secondary, _) = setup.started(Some(port), 1);

    // Another server, from another address, notifies for the zone.
    let mut stranger = KnotOptions::new(APEX, &zone_text(APEX, 2, ""));
    stranger.listen = [127, 0, 0, 2].into();
    stranger.notify = Some(secondary_addr);
    stranger.notify_via = Some([127, 0, 0, 2].into());
    let stranger = Knot::start(stranger).unwrap();
    // A server on the peer's own address, but without the peer's key.
    let mut keyless = KnotOptions::new(APEX, &zone_text(APEX, 2, ""));
    keyless.notify = Some(secondary_addr);
    let keyless = Knot::start(keyless).unwrap();
    // And one signing with a key secdns does not know.
    let mut wrong_key = KnotOptions::new(APEX, &zone_text(APEX, 2, ""));
    wrong_key.notify = Some(secondary_addr);
    wrong_key.notify_key = Some(key("unknown-key.", "hmac-sha256"));
    let wrong_key = Knot::start(wrong_key).unwrap();

    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let expected = [
        "not from a peer",
        "not signed with the peer's TSIG key",
        "BADKEY",
    ];
    while !expected.iter().all(|e| secondary.log().contains(e)) {
        assert!(
            std::time::Instant::now() < deadline,
            "missing refusals in the log:\n{}",
            secondary.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for (name, knot) in [
        ("stranger", &stranger),
        ("keyless", &keyless),
        ("wrong key", &wrong_key),
    ] {
        let log = knot.process.output();
        assert!(
            log.contains("notify, outgoing") && !log.contains("serial 2, "),
            "{name}: {log}"
        );
    }
    // None of them changed the zone.
    assert_eq!(secondary.status(APEX).unwrap().serial, Some(1));
}

#[test]
fn a_burst_of_notify_leads_to_one_check() {
    prerequisites();
    let transfer_key = key("transfer-key.", "hmac-sha256");
    let (port, _) = secondary_port_and_addr();
    let mut options = KnotOptions::new(APEX, &zone_text(APEX, 1, ""));
    options.key = Some(transfer_key.clone());
    let knot = Knot::start(options).unwrap();
    let setup = Setup::one_primary(&knot, true, Some(&transfer_key), "refresh = 3600");
    let (secondary, _) = setup.started(Some(port), 1);
    let checks = || secondary.log().matches("checking the primaries").count();
    let before = checks();

    // Thirty signed NOTIFYs at once, sent by dig (which retries, as a primary would, when the
    // machine is too busy to answer at once).
    let senders: Vec<_> = (0..30)
        .map(|_| {
            let key = transfer_key.dig_arg();
            std::thread::spawn(move || {
                let output = std::process::Command::new("dig")
                    .args([
                        "@127.0.0.1",
                        "-p",
                        &port.to_string(),
                        APEX,
                        "SOA",
                        "+opcode=notify",
                        "+norec",
                    ])
                    .args(["+time=3", "+tries=3", "-y", &key])
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&output.stdout).contains("status: NOERROR")
            })
        })
        .collect();
    let accepted = senders
        .into_iter()
        .map(|s| s.join().unwrap_or(false))
        .filter(|accepted| *accepted)
        .count();
    assert_eq!(accepted, 30, "every NOTIFY is answered NOERROR");
    // Checks asked for by NOTIFY are at least a second apart (the hold-down): one at once,
    // one for the rest of the burst, and at most one more for a late retry.
    std::thread::sleep(Duration::from_millis(1500));
    let ran = checks() - before;
    assert!(
        (1..=3).contains(&ran),
        "{ran} checks for a burst of 30 NOTIFYs:\n{}",
        secondary.log()
    );
}
