//! Every query of the differential suite, sent as a UDP frame through the XDP program with
//! BPF_PROG_TEST_RUN: the program either passes the frame unchanged, or its reply payload equals
//! byte for byte what the userspace responder sends for the same query. Over the unsigned, the
//! NSEC-signed and the NSEC3-signed zone, with and without EDNS and DO, in mixed case; and the
//! same for the corners zones (chains into cuts, a child zone beside its parent, wildcards
//! that are only empty non-terminals, answers whose additional section does not all fit).

use std::net::IpAddr;

use secdns_tests::{
    frame::{QueryBuilder, UdpFrame},
    prerequisites::require_root,
    queries::{
        APEX, CORNERS_APEX, CORNERS_ZONE, TYPES, ZONE, corner_names, corner_zones, mixed_case,
        names_and_owners,
    },
    signing,
    xdp::{Outcome, loaded_with, run_checked, snapshot_of_zones},
};

/// (answered in the kernel, passed) for every query of `names` against `zones`.
fn run(zones: &[(&str, String)], names: &[String]) -> (usize, usize) {
    let snapshot = snapshot_of_zones(zones).unwrap();
    let engine = loaded_with(&snapshot).unwrap();
    let client: IpAddr = "198.51.100.7".parse().unwrap();
    let server: IpAddr = "192.0.2.1".parse().unwrap();
    let (mut answered, mut passed) = (0, 0);
    let mut failures = Vec::new();
    for name in names {
        for (type_name, qtype) in TYPES {
            for (edns, mixed) in [
                (None, false),
                (Some((1232, false)), true),
                (Some((4096, true)), false),
                (Some((512, true)), true),
            ] {
                let qname = if mixed {
                    mixed_case(name)
                } else {
                    name.clone()
                };
                let mut query = QueryBuilder::new(&qname, *qtype);
                if let Some((size, dnssec_ok)) = edns {
                    query = query.with_opt(size, dnssec_ok);
                }
                let frame = UdpFrame::query(client, server, query.build()).to_bytes();
                match run_checked(&engine, &snapshot, &frame) {
                    Ok(Outcome::Passed) => passed += 1,
                    Ok(Outcome::Answered(_)) => answered += 1,
                    Err(e) => failures.push(format!("{qname} {type_name} edns={edns:?}: {e:#}")),
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures[..failures.len().min(40)].join("\n")
    );
    (answered, passed)
}

#[test]
fn xdp_agrees_with_userspace_on_every_differential_query() {
    require_root();
    for (label, zone) in [
        ("unsigned", ZONE.to_string()),
        ("NSEC", signing::sign(APEX, ZONE, false).unwrap()),
        ("NSEC3", signing::sign(APEX, ZONE, true).unwrap()),
    ] {
        // The names that own only NSEC3 records too (RFC 5155 §7.2.8).
        let asked = names_and_owners(&zone);
        let (answered, passed) = run(&[(APEX, zone)], &asked);
        println!(
            "xdp differential ({label}): {answered} answered in the kernel, {passed} passed, 0 failed"
        );
        // Unsigned, everything but DNAME synthesis and meta types is the kernel's; signed,
        // DO queries for names that do not exist need per-query proofs.
        let share = if label == "unsigned" { 2 } else { 1 };
        assert!(
            answered * 3 > (answered + passed) * share,
            "{label}: the kernel answered only {answered} of {}",
            answered + passed
        );
    }
}

#[test]
fn xdp_agrees_with_userspace_on_the_corners() {
    require_root();
    for label in ["unsigned", "NSEC", "NSEC3"] {
        let mut zones = corner_zones();
        if label != "unsigned" {
            zones[0].1 = signing::sign(CORNERS_APEX, CORNERS_ZONE, label == "NSEC3").unwrap();
        }
        let (answered, passed) = run(&zones, &corner_names(&zones));
        println!(
            "xdp differential (corners, {label}): {answered} answered in the kernel, {passed} passed, 0 failed"
        );
        assert!(
            answered * 3 > answered + passed,
            "{label}: the kernel answered only {answered} of {}",
            answered + passed
        );
    }
}
