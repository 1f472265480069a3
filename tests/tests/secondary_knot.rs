//! secdns as a secondary of real knotd primaries started by the tests: AXFR, IXFR after
//! changes made with knotc, NOTIFY, TSIG with every algorithm and every failure, several
//! primaries, a primary that is behind, EXPIRE, limits, and restarts from the saved copy.
//! After each transfer, `secdns zone records` must equal the primary's AXFR.

use std::{net::SocketAddr, time::Duration};

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

impl Setup<'_> {
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
    let setup = Setup {
        zone: APEX,
        peers: vec![("knot", knot.addr(), true, Some(&transfer_key))],
        zone_options: "refresh = 3600",
    };
    let secondary = Secondary::start_on(port, None, &setup.render()).unwrap();

    let status = secondary
        .wait_for(APEX, Duration::from_secs(20), "first transfer", |s| {
            s.serial == Some(1)
        })
        .unwrap();
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
    let setup = Setup {
        zone: APEX,
        peers: vec![("knot", knot.addr(), true, None)],
        zone_options: "refresh = 3600",
    };
    let mut secondary = Secondary::start_on(port, None, &setup.render()).unwrap();
    secondary
        .wait_for(APEX, Duration::from_secs(20), "first transfer", |s| {
            s.serial == Some(1)
        })
        .unwrap();

    // Make our copy disagree with the primary's history: drop the record the next
    // difference deletes, keeping the serial.
    secondary.kill();
    let saved = secondary.dir.path().join("state/zones/example.net.zone");
    let text = std::fs::read_to_string(&saved).unwrap();
    let edited: String = text
        .lines()
        .filter(|l| !l.starts_with("www."))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(text, edited);
    std::fs::write(&saved, edited).unwrap();
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
    let setup = Setup {
        zone: APEX,
        peers: vec![("knot", knot.addr(), true, None)],
        zone_options: "refresh = 3600",
    };
    let secondary = Secondary::start_on(port, None, &setup.render()).unwrap();
    secondary
        .wait_for(APEX, Duration::from_secs(20), "first transfer", |s| {
            s.serial == Some(1)
        })
        .unwrap();
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
