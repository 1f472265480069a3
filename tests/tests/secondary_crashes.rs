//! Failures in the middle of things: a primary killed during a large AXFR (on a link slowed
//! down with tbf so that "during" lasts), and secdns itself killed with SIGKILL at arbitrary
//! moments of transfers. The zone served must always be the last complete one.

use std::{
    process::Command,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use secdns_tests::{
    knot::{Knot, KnotOptions, free_port},
    netns::{SERVER_V4, TestNet},
    prerequisites::{require_root, require_tools, secdns_bin},
    records::hosts_zone,
    secdns::Secondary,
};

const APEX: &str = "big.example.";

fn peer_config(address: &str, port: u16, zone_options: &str) -> String {
    format!(
        "[[peer]]\nname = \"primary\"\naddress = \"{address}\"\nport = {port}\n\n\
         [[zone]]\nname = \"{APEX}\"\npeers = [\"primary\"]\n{zone_options}\n"
    )
}

fn run(args: &[&str]) {
    let status = Command::new(args[0]).args(&args[1..]).status().unwrap();
    assert!(status.success(), "{args:?}");
}

#[test]
fn a_primary_killed_mid_axfr_leaves_the_old_copy_served() {
    require_root();
    require_tools(&["ip", "tc", "knotd", "dig"]);
    let _ = secdns_bin();
    let net = TestNet::new("midaxfr").unwrap();
    let primary_port = 5353;
    let mut options = KnotOptions::new(APEX, &hosts_zone(APEX, 1, 3));
    options.listen = SERVER_V4.parse().unwrap();
    options.port = Some(primary_port);
    options.namespace = Some(net.server_ns.clone());
    let knot = Knot::start(options.clone()).unwrap();
    let port = free_port().unwrap();
    let secondary = Secondary::start_on(
        port,
        Some(&net.client_ns),
        &peer_config(SERVER_V4, primary_port, "retry = 1"),
    )
    .unwrap();
    secondary
        .wait_for(APEX, Duration::from_secs(20), "first transfer", |s| {
            s.serial == Some(1)
        })
        .unwrap();

    // Serial 2 is big, and the primary's link is slow: the AXFR takes seconds.
    drop(knot);
    options.zone_text = hosts_zone(APEX, 2, 60_000);
    let knot = Knot::start(options.clone()).unwrap();
    run(&[
        "ip",
        "netns",
        "exec",
        &net.server_ns,
        "tc",
        "qdisc",
        "add",
        "dev",
        &net.server_if,
        "root",
        "tbf",
        "rate",
        "4mbit",
        "burst",
        "32kb",
        "latency",
        "2s",
    ]);
    secondary.cli(&["zone", "transfer", APEX]).unwrap();
    let mut knot = knot;
    knot.process
        .wait_until("the AXFR to start", Duration::from_secs(20), |out| {
            out.contains("AXFR, outgoing")
        })
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop(knot); // killed in the middle

    let status = secondary
        .wait_for(APEX, Duration::from_secs(30), "the failure", |s| {
            s.peers[0].last_error.is_some()
        })
        .unwrap();
    assert_eq!(status.serial, Some(1), "{status:#?}");
    assert!(status.serving);
    let answer = secondary.query("host0.big.example.", "A").unwrap();
    assert_eq!(answer.status, "NOERROR", "the old copy is still served");
    assert_eq!(
        secondary.query("host100.big.example.", "A").unwrap().status,
        "NXDOMAIN"
    );

    // The primary comes back on a fast link: the retry succeeds.
    run(&[
        "ip",
        "netns",
        "exec",
        &net.server_ns,
        "tc",
        "qdisc",
        "del",
        "dev",
        &net.server_if,
        "root",
    ]);
    let _knot = Knot::start(options).unwrap();
    let status = secondary
        .wait_for(APEX, Duration::from_secs(60), "the retry", |s| {
            s.serial == Some(2)
        })
        .unwrap();
    assert_eq!(status.records, 60_000 + 3);
    assert_eq!(
        secondary
            .query("host59999.big.example.", "A")
            .unwrap()
            .status,
        "NOERROR"
    );
}

#[test]
fn sigkill_at_any_moment_leaves_a_complete_zone() {
    require_tools(&["knotd", "knotc", "dig"]);
    let _ = secdns_bin();
    const HOSTS: usize = 20_000;
    let knot = Knot::start(KnotOptions::new(APEX, &hosts_zone(APEX, 1, HOSTS))).unwrap();
    let mut secondary =
        Secondary::start(&peer_config("127.0.0.1", knot.port, "retry = 1")).unwrap();
    secondary
        .wait_for(APEX, Duration::from_secs(30), "first transfer", |s| {
            s.serial == Some(1)
        })
        .unwrap();
    // A copy is saved just after it is served: the first must be on disk before any kill.
    let meta = secondary
        .dir
        .path()
        .join("state/zones/big.example.meta.json");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !meta.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the first copy was never saved"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Every change adds one record, so a complete copy at serial s holds HOSTS + 2 + s records.
    let complete = |serial: u32| HOSTS + 2 + serial as usize;
    for round in 0..6u32 {
        knot.change(&[&format!("extra{round} 300 A 192.0.2.{round}")], &[])
            .unwrap();
        secondary.cli(&["zone", "transfer", APEX]).unwrap();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        std::thread::sleep(Duration::from_millis(u64::from(nanos % 400)));
        secondary.kill();
        secondary.restart().unwrap();
        let status = secondary.status(APEX).unwrap();
        let serial = status.serial.expect("a copy survives every kill");
        assert!(status.serving, "round {round}: {status:#?}");
        assert_eq!(
            status.records,
            complete(serial),
            "round {round}: an incomplete copy was served"
        );
        // The zone may refresh between the two calls: judge the records by their own SOA.
        let zone_records = secondary.cli(&["zone", "records", APEX]).unwrap();
        let soa_serial: u32 = zone_records
            .lines()
            .find(|l| l.contains(" SOA "))
            .and_then(|l| l.split_whitespace().nth(6))
            .and_then(|s| s.parse().ok())
            .expect("an SOA in the records");
        assert!(
            soa_serial >= serial,
            "round {round}: went back from {serial} to {soa_serial}"
        );
        assert_eq!(
            zone_records.lines().count(),
            complete(soa_serial),
            "round {round}"
        );
    }
    secondary.cli(&["zone", "transfer", APEX]).unwrap();
    let last = knot.serial().unwrap();
    secondary
        .wait_for(APEX, Duration::from_secs(30), "catching up", |s| {
            s.serial == Some(last)
        })
        .unwrap();
    assert_eq!(secondary.records(APEX).unwrap(), knot.axfr().unwrap());
}
