//! Overrides: local A/AAAA/CNAME records over a secondary zone's transferred data, answered
//! by XDP and by userspace, kept through IXFR, AXFR and restarts, and refused for zones their
//! primary signed.

use std::time::Duration;

use secdns_tests::{
    TempDir, dig,
    knot::{Knot, KnotOptions, TsigSpec},
    netns::{SERVER_V4, TestNet},
    prerequisites::{require_root, require_tools, secdns_bin},
    secdns::{
        PRIMARY_APEX, Secondary, add_secondary_zone, ask_counting_xdp, cli, counter_sum,
        start_primary, start_server, start_xdp_peer, wait_for_zone, write_example_config,
    },
};

/// The answer section for `name` `rtype` from the client namespace (UDP, or TCP with `tcp`).
fn ask(net: &TestNet, name: &str, rtype: &str, tcp: bool) -> Vec<String> {
    let options: &[&str] = if tcp { &["+tcp"] } else { &[] };
    dig::query(net.client("dig"), SERVER_V4, 53, name, rtype, options)
        .unwrap()
        .section("ANSWER")
        .to_vec()
}

/// Asks until the answer is `expected` (XDP switches its maps just after userspace), then
/// once more over UDP, which must be answered by XDP, and once over TCP (userspace).
fn answered_by_both_paths(net: &TestNet, name: &str, rtype: &str, expected: &[&str]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while ask(net, name, rtype, false) != expected && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let (answer, by_xdp) = ask_counting_xdp(net, name, rtype).unwrap();
    assert_eq!(
        answer.section("ANSWER"),
        expected,
        "{name} {rtype} over UDP"
    );
    assert_eq!(by_xdp, 1, "{name} {rtype}: answered by XDP");
    assert_eq!(
        ask(net, name, rtype, true),
        expected,
        "{name} {rtype} over TCP"
    );
}

#[test]
fn overrides_survive_transfers_and_restarts_on_both_paths() {
    require_root();
    require_tools(&["ip", "dig", "knotd", "knotc"]);
    let dir = TempDir::new("overrides").unwrap();
    let net = TestNet::new("ovr").unwrap();
    let config = write_example_config(dir.path(), &net.server_if).unwrap();
    let _peer = start_xdp_peer(&net).unwrap();
    let mut server = Some(start_server(&net, &config).unwrap());
    let key = TsigSpec::new(
        "ovr-key.",
        "hmac-sha256",
        b"thirty-two bytes of test secret!",
    );
    let knot = start_primary(&net, &key).unwrap();
    knot.change(&["mail 300 A 192.0.2.25", "mail 300 TXT \"primary\""], &[])
        .unwrap();
    add_secondary_zone(&key, |args| cli(&net, args).map(drop)).unwrap();
    wait_for_zone(&net, PRIMARY_APEX, "AXFR", |s| s.serial == Some(2)).unwrap();
    answered_by_both_paths(
        &net,
        "www.example.net.",
        "A",
        &["www.example.net. 300 IN A 192.0.2.80"],
    );

    let add = |args: &[&str]| {
        let mut full = vec!["override", "add", PRIMARY_APEX];
        full.extend_from_slice(args);
        cli(&net, &full).unwrap();
    };
    // An address override replaces the A RRset; a CNAME replaces everything at its name; an
    // override may create a name.
    add(&[
        "www.example.net.",
        "A",
        "198.51.100.1",
        "198.51.100.2",
        "--ttl",
        "60",
    ]);
    add(&["mail.example.net.", "CNAME", "www.example.net."]);
    add(&["new.example.net.", "AAAA", "2001:db8::77"]);
    let www = [
        "www.example.net. 60 IN A 198.51.100.1",
        "www.example.net. 60 IN A 198.51.100.2",
    ];
    let www_via_mail = [
        "mail.example.net. 300 IN CNAME www.example.net.",
        "www.example.net. 60 IN A 198.51.100.1",
        "www.example.net. 60 IN A 198.51.100.2",
    ];
    let new = ["new.example.net. 300 IN AAAA 2001:db8::77"];
    let check_all = |net: &TestNet| {
        answered_by_both_paths(net, "www.example.net.", "A", &www);
        answered_by_both_paths(net, "mail.example.net.", "A", &www_via_mail);
        // The transferred TXT at mail is gone with the CNAME.
        assert_eq!(
            ask(net, "mail.example.net.", "TXT", false),
            ["mail.example.net. 300 IN CNAME www.example.net."]
        );
        answered_by_both_paths(net, "new.example.net.", "AAAA", &new);
    };
    check_all(&net);
    xdp_answers_are_counted_by_zone(&net);
    let list = cli(&net, &["override", "list", PRIMARY_APEX, "--json"]).unwrap();
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 3, "{list}");

    // IXFR: the primary changes the overridden RRset and another one.
    knot.change(
        &["www 300 A 192.0.2.81", "other 300 A 192.0.2.99"],
        &["www A 192.0.2.80"],
    )
    .unwrap();
    let status = wait_for_zone(&net, PRIMARY_APEX, "IXFR", |s| s.serial == Some(3)).unwrap();
    assert_eq!(status.last_transfer_kind.as_deref(), Some("IXFR"));
    assert_eq!(status.overrides, 3);
    answered_by_both_paths(
        &net,
        "other.example.net.",
        "A",
        &["other.example.net. 300 IN A 192.0.2.99"],
    );
    check_all(&net);

    // AXFR.
    cli(&net, &["zone", "transfer", PRIMARY_APEX]).unwrap();
    wait_for_zone(&net, PRIMARY_APEX, "AXFR", |s| {
        s.last_transfer_kind.as_deref() == Some("AXFR") && s.last_transfer != status.last_transfer
    })
    .unwrap();
    check_all(&net);

    // A restart serves the saved copy with the saved overrides.
    let state = dir.path().join("state");
    let saved = || state.join("zones/example.net.meta.json").exists();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !saved() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(server.take());
    server = Some(start_server(&net, &config).unwrap());
    check_all(&net);

    // Removed: the transferred data is back.
    cli(
        &net,
        &["override", "rm", PRIMARY_APEX, "www.example.net.", "A"],
    )
    .unwrap();
    answered_by_both_paths(
        &net,
        "www.example.net.",
        "A",
        &["www.example.net. 300 IN A 192.0.2.81"],
    );
    cli(
        &net,
        &["override", "rm", PRIMARY_APEX, "mail.example.net.", "CNAME"],
    )
    .unwrap();
    answered_by_both_paths(
        &net,
        "mail.example.net.",
        "TXT",
        &["mail.example.net. 300 IN TXT \"primary\""],
    );
    drop(server);
}

/// A zone signed by its primary cannot take overrides: refused when the copy is signed, and
/// not applied (with a warning) when it was added before the first transfer showed it.
#[test]
fn overrides_are_refused_for_signed_zones() {
    require_tools(&["knotd", "dig", "dnssec-signzone"]);
    let _ = secdns_bin();
    const APEX: &str = "signed.example.";
    let zone = format!(
        "$ORIGIN {APEX}\n$TTL 60\n@ IN SOA ns hm 1 3600 600 86400 60\n  IN NS ns\nns IN A 192.0.2.1\nwww IN A 192.0.2.80\n"
    );
    let signed = secdns_tests::signing::sign(APEX, &zone, false).unwrap();
    let knot = Knot::start(KnotOptions::new(APEX, &signed)).unwrap();
    let secondary = Secondary::start(&format!(
        "[[peer]]\nname = \"knot\"\naddress = \"127.0.0.1\"\nport = {}\n",
        knot.port
    ))
    .unwrap();
    // Added before the zone exists here: accepted, since nothing says it is signed yet.
    secondary
        .cli(&["zone", "add", APEX, "--peer", "knot"])
        .unwrap();
    let early = secondary.cli(&[
        "override",
        "add",
        APEX,
        &format!("www.{APEX}"),
        "A",
        "198.51.100.1",
    ]);
    secondary
        .wait_for(APEX, Duration::from_secs(20), "transfer", |s| {
            s.serial == Some(1)
        })
        .unwrap();
    // Unless the transfer came first (then it was refused like the one below).
    if early.is_ok() {
        secondary
            .wait_for(APEX, Duration::from_secs(5), "the warning", |s| {
                s.warnings.iter().any(|w| w.contains("signed"))
            })
            .unwrap();
        let answer = secondary.query(&format!("www.{APEX}"), "A").unwrap();
        assert_eq!(
            answer.section("ANSWER"),
            [format!("www.{APEX} 60 IN A 192.0.2.80")],
            "the signed data is served unchanged"
        );
        secondary
            .cli(&["override", "rm", APEX, &format!("www.{APEX}"), "A"])
            .unwrap();
    }
    let refused = secondary
        .cli(&[
            "override",
            "add",
            APEX,
            &format!("mail.{APEX}"),
            "A",
            "198.51.100.1",
        ])
        .unwrap_err()
        .to_string();
    assert!(refused.contains("signed"), "{refused}");
    assert_eq!(secondary.records(APEX).unwrap(), knot.axfr().unwrap());
}

/// The kernel's answers appear in `/metrics` under path="xdp", by zone and RCODE.
fn xdp_answers_are_counted_by_zone(net: &TestNet) {
    let xdp_count = |zone: &str, rcode: &str| -> f64 {
        let labels = [("path", "xdp"), ("zone", zone), ("rcode", rcode)];
        counter_sum(net, "secdns_queries_total", &labels).unwrap()
    };
    let before = (
        xdp_count(PRIMARY_APEX, "NOERROR"),
        xdp_count(PRIMARY_APEX, "NXDOMAIN"),
        xdp_count("example.com.", "NOERROR"),
    );
    assert!(
        before.0 >= 4.0,
        "earlier XDP answers of {PRIMARY_APEX}: {before:?}"
    );
    for _ in 0..3 {
        ask(net, "www.example.net.", "A", false);
    }
    ask(net, "nothing-here.example.net.", "A", false);
    ask(net, "www.example.com.", "A", false);
    let after = (
        xdp_count(PRIMARY_APEX, "NOERROR"),
        xdp_count(PRIMARY_APEX, "NXDOMAIN"),
        xdp_count("example.com.", "NOERROR"),
    );
    assert_eq!(
        (after.0 - before.0, after.1 - before.1, after.2 - before.2),
        (3.0, 1.0, 1.0),
        "{before:?} -> {after:?}"
    );
}
