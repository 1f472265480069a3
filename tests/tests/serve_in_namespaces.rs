//! `secdns serve` on one side of a veth pair with native XDP, queried with dig from the other
//! side over UDP and TCP, IPv4 and IPv6. Every answer must equal what knotd gives for the same
//! zone file, and the counters must show which path answered.

use std::{process::Command, time::Duration};

use secdns_tests::{
    EXAMPLE_APEX, EXAMPLE_ZONE, TempDir, dig,
    knot::Knot,
    knot::TsigSpec,
    netns::{SERVER_V4, SERVER_V6, TestNet},
    prerequisites::{require_root, require_tools},
    process::Process,
    secdns::{
        PRIMARY_APEX, add_secondary_zone, ask_counting_xdp, cli, secondary_of_knot, start_primary,
        start_server, start_xdp_peer, stats, wait_for_zone, write_example_config,
    },
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path_ {
    /// Answered in the kernel: xdp_answered moves, udp_answered does not.
    Xdp,
    /// Passed by XDP and answered by the userspace UDP responder.
    Userspace,
}

fn xdp_attached(net: &TestNet) -> bool {
    let output = Command::new("ip")
        .args(["-n", &net.server_ns, "link", "show", "dev", &net.server_if])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).contains("prog/xdp")
}

#[test]
fn xdp_and_userspace_answer_like_knot() {
    require_root();
    require_tools(&["ip", "dig", "knotd"]);
    let dir = TempDir::new("serve").unwrap();
    let net = TestNet::new("serve").unwrap();
    let config = write_example_config(dir.path(), &net.server_if).unwrap();

    let _peer = start_xdp_peer(&net).unwrap();
    let server = start_server(&net, &config).unwrap();
    assert!(
        xdp_attached(&net),
        "XDP program not attached to {}",
        net.server_if
    );
    let knot = Knot::serve_zone(EXAMPLE_APEX, EXAMPLE_ZONE).unwrap();
    // The whole example zone fits the default budget: nothing is left out.
    let map = stats(&net).unwrap().xdp_map;
    assert!(map.entries > 20, "{map:?}");
    assert_eq!((map.capacity, map.left_out), (16 << 20, 0), "{map:?}");
    // The kernel's count of the index and the bodies: a slot and a share of a chunk at least.
    assert!(map.bytes >= map.entries * 16, "{map:?}");

    let cases = [
        ("www.example.com.", "A", Path_::Xdp),
        ("WwW.ExAmple.COM.", "AAAA", Path_::Xdp),
        ("example.com.", "NS", Path_::Xdp),
        ("example.com.", "MX", Path_::Xdp),
        ("example.com.", "SOA", Path_::Xdp),
        ("txt.example.com.", "TXT", Path_::Xdp),
        ("_sip._udp.example.com.", "SRV", Path_::Xdp),
        ("alias.example.com.", "A", Path_::Xdp),
        ("alias.example.com.", "CNAME", Path_::Xdp),
        ("unknown.example.com.", "TYPE65280", Path_::Xdp),
        ("nope.example.com.", "A", Path_::Xdp),
        ("x.y.nope.example.com.", "TXT", Path_::Xdp),
        // The SOA's RNAME, which the precompiled NXDOMAIN cannot compress like this.
        ("hostmaster.example.com.", "A", Path_::Userspace),
        ("www.example.com.", "MX", Path_::Xdp),
        ("b.c.example.com.", "A", Path_::Xdp),
        ("x.sub.example.com.", "A", Path_::Xdp),
        ("www.example.org.", "A", Path_::Userspace),
        ("example.com.", "ANY", Path_::Userspace),
    ];
    for (name, rtype, path) in cases {
        let reference = knot.query(name, rtype, &[]).unwrap();
        for server_addr in [SERVER_V4, SERVER_V6] {
            let what = format!("{name} {rtype} @{server_addr}");
            let before = stats(&net).unwrap();
            // dig asks ANY over TCP unless told otherwise.
            let udp =
                dig::query(net.client("dig"), server_addr, 53, name, rtype, &["+notcp"]).unwrap();
            let after = stats(&net).unwrap();
            assert_eq!(udp.transport, "UDP", "{what}");
            assert_eq!(
                udp.comparable(),
                reference.comparable(),
                "{what} over UDP differs from knotd:\n{}\n{}",
                udp.raw,
                reference.raw
            );
            let xdp_moved = after.xdp_answered - before.xdp_answered;
            let udp_moved = after.udp_answered - before.udp_answered;
            match path {
                Path_::Xdp => assert_eq!(
                    (xdp_moved, udp_moved),
                    (1, 0),
                    "{what}: expected the XDP path; XDP counters before {:?} after {:?}",
                    before.xdp,
                    after.xdp
                ),
                Path_::Userspace => {
                    assert_eq!((xdp_moved, udp_moved), (0, 1), "{what}: expected userspace")
                }
            }

            let tcp =
                dig::query(net.client("dig"), server_addr, 53, name, rtype, &["+tcp"]).unwrap();
            let after_tcp = stats(&net).unwrap();
            assert_eq!(tcp.transport, "TCP", "{what}");
            assert_eq!(
                tcp.comparable(),
                reference.comparable(),
                "{what} over TCP differs from knotd"
            );
            assert_eq!(
                after_tcp.tcp_answered - after.tcp_answered,
                1,
                "{what}: TCP counter"
            );
            assert_eq!(
                after_tcp.xdp_answered, after.xdp_answered,
                "{what}: XDP must not see TCP"
            );
        }
    }

    // SIGTERM: a clean exit that leaves no program on the interface.
    let (status, output) = server.terminate(Duration::from_secs(10)).unwrap();
    assert!(status.success(), "secdns exited with {status}:\n{output}");
    assert!(
        !xdp_attached(&net),
        "XDP program left attached after SIGTERM"
    );
    drop(_peer);
}

#[test]
fn restart_after_a_crash_attaches_again() {
    require_root();
    require_tools(&["ip", "dig"]);
    let dir = TempDir::new("crash").unwrap();
    let net = TestNet::new("crash").unwrap();
    let config = write_example_config(dir.path(), &net.server_if).unwrap();
    let _peer = start_xdp_peer(&net).unwrap();

    let first = start_server(&net, &config).unwrap();
    // SIGKILL: no chance to clean up.
    drop(first);
    let second = start_server(&net, &config).unwrap();
    let (answer, by_xdp) = ask_counting_xdp(&net, "www.example.com.", "A").unwrap();
    assert_eq!(answer.status, "NOERROR");
    assert_eq!(answer.section("ANSWER").len(), 2);
    assert_eq!(by_xdp, 1, "the restarted server answers in XDP");
    drop(second);
}

/// knotd in XDP mode leaves its program attached when it exits: a real stale attachment,
/// made through netlink, that secdns must replace instead of failing.
#[test]
fn replaces_a_program_left_attached_by_another_server() {
    require_root();
    require_tools(&["ip", "dig", "knotd"]);
    let dir = TempDir::new("stale").unwrap();
    let net = TestNet::new("stale").unwrap();
    let config = write_example_config(dir.path(), &net.server_if).unwrap();
    std::fs::write(
        dir.path().join("knot.conf"),
        format!(
            "server:\n    rundir: \"{d}\"\n    listen: {SERVER_V4}@53\nxdp:\n    listen: {iface}@53\n\
             database:\n    storage: \"{d}/db\"\nlog:\n  - target: stdout\n    any: info\n\
             zone:\n  - domain: {EXAMPLE_APEX}\n    file: \"{d}/example.com.zone\"\n",
            d = dir.path().display(),
            iface = net.server_if
        ),
    )
    .unwrap();
    let mut knot_command = net.server("knotd");
    knot_command.arg("-c").arg(dir.path().join("knot.conf"));
    let mut knot = Process::spawn("knotd (XDP)", knot_command).unwrap();
    knot.wait_until("XDP set-up", Duration::from_secs(20), |out| {
        out.contains("initialized XDP interface")
    })
    .unwrap();
    drop(knot); // SIGKILL; its program stays on the interface
    assert!(
        xdp_attached(&net),
        "knotd should have left its XDP program attached"
    );

    let _peer = start_xdp_peer(&net).unwrap();
    let server = start_server(&net, &config).unwrap();
    assert!(
        server.output().contains("replacing it"),
        "{}",
        server.output()
    );
    let (answer, by_xdp) = ask_counting_xdp(&net, "www.example.com.", "A").unwrap();
    assert_eq!(answer.section("ANSWER").len(), 2);
    assert_eq!(by_xdp, 1, "answered by secdns's XDP program");
}

/// A secondary zone added through the CLI, transferred from a Knot primary with TSIG, changed
/// at the primary: the change arrives by NOTIFY + IXFR and is answered by XDP.
#[test]
fn secondary_zone_changes_are_answered_by_xdp() {
    require_root();
    require_tools(&["ip", "dig", "knotd", "knotc"]);
    let dir = TempDir::new("xdp-secondary").unwrap();
    let net = TestNet::new("xsec").unwrap();
    let config = write_example_config(dir.path(), &net.server_if).unwrap();
    let _peer = start_xdp_peer(&net).unwrap();
    let _server = start_server(&net, &config).unwrap();
    let knot = secondary_of_knot(&net).unwrap();

    let ask = || {
        dig::query(
            net.client("dig"),
            SERVER_V4,
            53,
            "www.example.net.",
            "A",
            &[],
        )
        .unwrap()
    };
    // A zone new to the kernel is answered by userspace during its compile (README,
    // "What works today"), which may outlast the status's serial on a busy machine: every
    // answer is right, and XDP answers within seconds.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let answered_by_xdp = loop {
        let (answer, by_xdp) = ask_counting_xdp(&net, "www.example.net.", "A").unwrap();
        assert_eq!(
            answer.section("ANSWER"),
            ["www.example.net. 300 IN A 192.0.2.80"]
        );
        if by_xdp == 1 || std::time::Instant::now() > deadline {
            break by_xdp;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(answered_by_xdp, 1, "answered by XDP");

    knot.change(&["www 300 A 192.0.2.81"], &["www A 192.0.2.80"])
        .unwrap();
    let status =
        wait_for_zone(&net, PRIMARY_APEX, "NOTIFY + IXFR", |s| s.serial == Some(2)).unwrap();
    assert_eq!(status.last_transfer_kind.as_deref(), Some("IXFR"));
    // The XDP maps switch right after the userspace snapshot; give it a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut answer = ask();
    while answer.section("ANSWER") != ["www.example.net. 300 IN A 192.0.2.81"]
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
        answer = ask();
    }
    assert_eq!(
        answer.section("ANSWER"),
        ["www.example.net. 300 IN A 192.0.2.81"]
    );
    let before = stats(&net).unwrap();
    ask();
    assert_eq!(
        stats(&net).unwrap().xdp_answered - before.xdp_answered,
        1,
        "the new answer comes from XDP"
    );
}

/// A stream of IXFR updates while a client keeps asking for a record that changes with every
/// serial: the answers (from XDP) only ever move forward, and end at the last serial.
#[test]
fn answers_move_forward_through_a_stream_of_ixfr_updates() {
    require_root();
    require_tools(&["ip", "dig", "knotd", "knotc"]);
    let dir = TempDir::new("xdp-ixfr-stream").unwrap();
    let net = TestNet::new("xstr").unwrap();
    let config = write_example_config(dir.path(), &net.server_if).unwrap();
    let _peer = start_xdp_peer(&net).unwrap();
    let _server = start_server(&net, &config).unwrap();
    let key = TsigSpec::new(
        "stream-key.",
        "hmac-sha256",
        b"thirty-two bytes of test secret!",
    );
    let knot = start_primary(&net, &key).unwrap();
    add_secondary_zone(&key, |args| cli(&net, args).map(drop)).unwrap();
    knot.change(&["v 300 TXT \"1\""], &[]).unwrap();
    wait_for_zone(&net, PRIMARY_APEX, "serial 2", |s| s.serial == Some(2)).unwrap();

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        let client = net.client_ns.clone();
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let answer = dig::query(
                    TestNet::command(&client, "dig"),
                    SERVER_V4,
                    53,
                    "v.example.net.",
                    "TXT",
                    &[],
                );
                if let Some(value) = answer
                    .ok()
                    .and_then(|a| a.section("ANSWER").first().cloned())
                    .and_then(|r| r.rsplit('"').nth(1).and_then(|v| v.parse::<u32>().ok()))
                {
                    seen.push(value);
                }
            }
            seen
        })
    };
    for n in 2..=15u32 {
        knot.change(
            &[&format!("v 300 TXT \"{n}\"")],
            &[&format!("v TXT \"{}\"", n - 1)],
        )
        .unwrap();
        wait_for_zone(&net, PRIMARY_APEX, "the update", |s| {
            s.serial == Some(n + 1)
        })
        .unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = reader.join().unwrap();
    assert!(seen.len() > 20, "only {} answers read", seen.len());
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "an answer went back: {seen:?}"
    );
    assert_eq!(seen.last(), Some(&15), "{seen:?}");
    let stats = stats(&net).unwrap();
    assert!(stats.xdp_answered > 20, "the answers came from XDP");
    // Each IXFR compiled only what it changed.
    assert!(
        stats.xdp_map.incremental_publications >= 10,
        "{:?}",
        stats.xdp_map
    );
}
