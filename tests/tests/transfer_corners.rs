//! Transfers a real primary does not send on purpose, replayed by a scripted primary (see
//! `secdns_tests::scripted`), as NSD's and Knot's transfer tests look at them: deletions spelled
//! in another case, a difference from a serial to itself, a primary whose transfer brings the
//! serial we hold, a silent primary before a working one, an older copy after EXPIRE, a
//! reply without QR, and an IXFR one record a message. Each checks what the zone serves and
//! what its status says.

use std::{net::UdpSocket, time::Duration};

use secdns_tests::{
    prerequisites::secdns_bin,
    scripted::{Rec, Script, ScriptedPrimary, wire},
    secdns::Secondary,
};

const APEX: &str = "case.example.";
/// Refresh an hour (only NOTIFY or a retry brings a check), retry 1 s, expire an hour.
const TIMERS: [u32; 4] = [3600, 1, 3600, 300];

fn soa(serial: u32) -> Rec {
    Rec::soa(APEX, serial, TIMERS)
}

/// An AXFR reply: SOA, `records`, SOA.
fn axfr(serial: u32, records: &[Rec]) -> Vec<Rec> {
    let mut out = vec![soa(serial)];
    out.extend_from_slice(records);
    out.push(soa(serial));
    out
}

/// A secondary of `APEX` with these primaries, in order, and zone options.
fn secondary(primaries: &[&ScriptedPrimary], zone_options: &str) -> Secondary {
    let mut text = String::new();
    let mut names = Vec::new();
    for (i, primary) in primaries.iter().enumerate() {
        text.push_str(&format!(
            "[[peer]]\nname = \"p{i}\"\naddress = \"127.0.0.1\"\nport = {}\nixfr = true\n\n",
            primary.addr.port()
        ));
        names.push(format!("\"p{i}\""));
    }
    text.push_str(&format!(
        "[[zone]]\nname = \"{APEX}\"\npeers = [{}]\n{zone_options}\n",
        names.join(", ")
    ));
    Secondary::start(&text).unwrap()
}

/// A primary serving `records` at `serial`, and a secondary of it (with `zone_options`) that
/// has transferred them.
fn transferred(serial: u32, records: &[Rec], zone_options: &str) -> (ScriptedPrimary, Secondary) {
    let primary = ScriptedPrimary::start(Script {
        soa: Some(soa(serial)),
        axfr: axfr(serial, records),
        ..Default::default()
    })
    .unwrap();
    let secdns = secondary(&[&primary], zone_options);
    wait_serial(&secdns, serial);
    (primary, secdns)
}

fn wait_serial(secdns: &Secondary, serial: u32) -> secdns::secondary::status::ZoneStatus {
    secdns
        .wait_for(
            APEX,
            Duration::from_secs(10),
            &format!("serial {serial}"),
            |s| s.serial == Some(serial),
        )
        .unwrap()
}

/// A NOTIFY for `APEX` from 127.0.0.1 (the primaries' address): the zone checks at once.
fn notify(secdns: &Secondary) {
    let mut m = vec![0x4e, 0x01, 0x24, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&wire(APEX));
    m.extend_from_slice(&[0, 6, 0, 1]);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    socket.send_to(&m, ("127.0.0.1", secdns.port)).unwrap();
    let mut buf = [0u8; 512];
    let (len, _) = socket.recv_from(&mut buf).expect("a reply to the NOTIFY");
    assert_eq!(buf[..len][3] & 0x0f, 0, "NOTIFY accepted");
}

/// After a NOTIFY, the zone reaches `serial` by IXFR: no AXFR but the first one.
fn applied_as_a_difference(primary: &ScriptedPrimary, secdns: &Secondary, serial: u32) {
    notify(secdns);
    let status = wait_serial(secdns, serial);
    assert_eq!(
        status.last_transfer_kind.as_deref(),
        Some("IXFR"),
        "applied as a difference, no AXFR needed: {status:?}\n{}",
        secdns.log()
    );
    let asked = primary.asked();
    let axfrs = asked.iter().filter(|a| *a == "TCP AXFR").count();
    assert_eq!(axfrs, 1, "{asked:?}");
}

/// The zone's records as `secdns zone records` lists them.
fn records(secdns: &Secondary) -> Vec<String> {
    secdns.records(APEX).unwrap()
}

/// A primary may end a message anywhere: an IXFR one record a message (its newer SOA
/// alone in the first) is applied as a difference, not taken for "nothing newer".
#[test]
fn an_ixfr_a_record_a_message_applies() {
    let _ = secdns_bin();
    let www = format!("www.{APEX}");
    let (primary, secdns) = transferred(1, &[Rec::a(&www, [192, 0, 2, 1])], "");
    let new = format!("new.{APEX}");
    primary.change(|s| {
        s.soa = Some(soa(2));
        s.ixfr = vec![soa(2), soa(1), soa(2), Rec::a(&new, [192, 0, 2, 2]), soa(2)];
        s.axfr = axfr(
            2,
            &[Rec::a(&www, [192, 0, 2, 1]), Rec::a(&new, [192, 0, 2, 2])],
        );
        s.records_per_message = Some(1);
    });
    applied_as_a_difference(&primary, &secdns, 2);
    assert!(
        records(&secdns).iter().any(|r| r.starts_with(&new)),
        "{:?}",
        records(&secdns)
    );
}

#[test]
fn deletions_spelled_in_another_case_apply() {
    let _ = secdns_bin();
    let www = format!("www.{APEX}");
    let old_sig = Rec::rrsig(&www, 1, "case.example.", b"old-signature");
    // An NSEC's next name keeps the case it came in (RFC 6840 §5.1), yet matches in any.
    let nsec = |next: &str, bitmap: &[u8]| {
        let mut rdata = wire(next);
        rdata.extend_from_slice(bitmap);
        Rec::new(&www, 47, 300, rdata)
    };
    let old_nsec = nsec("case.example.", &[0, 1, 0x40]);
    let (primary, secdns) = transferred(1, &[Rec::a(&www, [192, 0, 2, 1]), old_sig, old_nsec], "");
    // Serial 2 re-signs www: the deletion names the signer in capitals, the owner too.
    let new_sig = Rec::rrsig(&www, 1, "case.example.", b"new-signature");
    primary.change(|s| {
        s.soa = Some(soa(2));
        s.ixfr = vec![
            soa(2),
            soa(1),
            Rec::rrsig("WWW.Case.EXAMPLE.", 1, "CASE.Example.", b"old-signature"),
            nsec("Case.Example.", &[0, 1, 0x40]),
            soa(2),
            new_sig.clone(),
            nsec("case.example.", &[0, 1, 0x60]),
            soa(2),
        ];
        s.axfr = axfr(
            2,
            &[
                Rec::a(&www, [192, 0, 2, 1]),
                new_sig.clone(),
                nsec("case.example.", &[0, 1, 0x60]),
            ],
        );
    });
    applied_as_a_difference(&primary, &secdns, 2);
    let held = records(&secdns);
    assert!(
        held.iter()
            .any(|r| r.contains("RRSIG") && r.contains("bmV3LXNpZ25hdHVyZQ")),
        "the new signature: {held:?}"
    );
    assert!(
        !held.iter().any(|r| r.contains("b2xkLXNpZ25hdHVyZQ")),
        "the old one is gone: {held:?}"
    );
    let nsecs: Vec<&String> = held.iter().filter(|r| r.contains(" NSEC ")).collect();
    assert_eq!(nsecs.len(), 1, "one NSEC, the new one: {held:?}");
    assert!(nsecs[0].ends_with("A NS"), "the new bitmap: {nsecs:?}");
}

#[test]
fn a_difference_to_the_same_serial_is_refused_and_axfr_taken() {
    let _ = secdns_bin();
    let www = format!("www.{APEX}");
    let (primary, secdns) = transferred(1, &[Rec::a(&www, [192, 0, 2, 1])], "");
    primary.change(|s| {
        s.soa = Some(soa(2));
        // 1 -> 1 removing www, then 1 -> 2 adding it back changed.
        s.ixfr = vec![
            soa(2),
            soa(1),
            Rec::a(&www, [192, 0, 2, 1]),
            soa(1),
            soa(1),
            soa(2),
            Rec::a(&www, [192, 0, 2, 99]),
            soa(2),
        ];
        s.axfr = axfr(2, &[Rec::a(&www, [192, 0, 2, 2])]);
    });
    notify(&secdns);
    let status = wait_serial(&secdns, 2);
    assert_eq!(
        status.last_transfer_kind.as_deref(),
        Some("AXFR"),
        "{status:?}"
    );
    let held = records(&secdns);
    assert!(held.iter().any(|r| r.ends_with("192.0.2.2")), "{held:?}");
    assert!(!held.iter().any(|r| r.ends_with("192.0.2.99")), "{held:?}");
    let log = secdns.log();
    assert!(log.contains("to the same serial"), "{log}");
}

#[test]
fn a_transfer_that_brings_our_serial_is_up_to_date_not_a_failure() {
    let _ = secdns_bin();
    let www = format!("www.{APEX}");
    let (primary, secdns) = transferred(2, &[Rec::a(&www, [192, 0, 2, 1])], "");
    // Its SOA says 3; what it sends is still 2 (a primary behind a load balancer).
    primary.change(|s| {
        s.soa = Some(soa(3));
        s.ixfr = vec![soa(2)];
    });
    notify(&secdns);
    let status = secdns
        .wait_for(
            APEX,
            Duration::from_secs(10),
            "the check after NOTIFY",
            |s| {
                s.last_check_result
                    .as_deref()
                    .is_some_and(|r| r.contains("up to date"))
            },
        )
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let status_later = secdns.status(APEX).unwrap();
    assert_eq!(status_later.consecutive_failures, 0, "{status:?}");
    assert!(status_later.serving && !status_later.expired);
    let log = secdns.log();
    assert!(
        !log.contains("brought serial"),
        "no complaint about the serial: {log}"
    );
    assert!(
        !log.contains("all_primaries_failing"),
        "no alert for a zone that is current:\n{log}"
    );
    // Nothing retried every second: one check after the NOTIFY.
    let checks = primary
        .asked()
        .iter()
        .filter(|a| a.ends_with("SOA"))
        .count();
    assert!(checks <= 3, "SOA queries: {:?}", primary.asked());
}

#[test]
fn a_silent_primary_costs_seconds_not_the_idle_timeout() {
    let _ = secdns_bin();
    let www = format!("www.{APEX}");
    let silent = ScriptedPrimary::start(Script {
        udp_silent: true,
        tcp_silent: true,
        ..Default::default()
    })
    .unwrap();
    let working = ScriptedPrimary::start(Script {
        soa: Some(soa(1)),
        axfr: axfr(1, &[Rec::a(&www, [192, 0, 2, 1])]),
        ..Default::default()
    })
    .unwrap();
    let started = std::time::Instant::now();
    let secdns = secondary(&[&silent, &working], "");
    let status = secdns
        .wait_for(
            APEX,
            Duration::from_secs(15),
            "serial 1 from the second primary",
            |s| s.serial == Some(1),
        )
        .unwrap();
    let took = started.elapsed();
    // Two UDP tries (1 s, 2 s) and a TCP try (3 s), then the next primary.
    assert!(took < Duration::from_secs(12), "took {took:?}");
    let asked = silent.asked();
    assert!(
        asked.is_empty(),
        "the silent one records nothing: {asked:?}"
    );
    let peer = &status.peers[0];
    assert!(
        peer.last_error
            .as_deref()
            .is_some_and(|e| e.contains("no reply within")),
        "{peer:?}"
    );
}

#[test]
fn after_expire_an_older_copy_is_taken_and_the_status_says_so() {
    let _ = secdns_bin();
    let www = format!("www.{APEX}");
    // Expire after 4 s without a successful check; retry every second.
    let options = "expire = 4\nretry = 1\nrefresh = 3600\n";
    let (primary, secdns) = transferred(5, &[Rec::a(&www, [192, 0, 2, 5])], options);
    // The primary stops answering; the zone expires.
    primary.change(|s| {
        s.udp_silent = true;
        s.tcp_silent = true;
    });
    notify(&secdns);
    secdns
        .wait_for(APEX, Duration::from_secs(20), "expired", |s| s.expired)
        .unwrap();
    // It comes back restored from an older backup: serial 4.
    primary.change(|s| {
        s.udp_silent = false;
        s.tcp_silent = false;
        s.soa = Some(soa(4));
        s.axfr = axfr(4, &[Rec::a(&www, [192, 0, 2, 4])]);
    });
    let status = secdns
        .wait_for(
            APEX,
            Duration::from_secs(30),
            "serial 4 after expiry",
            |s| s.serial == Some(4),
        )
        .unwrap();
    assert!(status.serving && !status.expired, "{status:?}");
    assert!(
        status
            .warnings
            .iter()
            .any(|w| w.contains("after the zone expired") && w.contains("copy's 5")),
        "{status:?}"
    );
    assert!(records(&secdns).iter().any(|r| r.ends_with("192.0.2.4")));
}

#[test]
fn a_reply_without_qr_is_reported_as_such() {
    let _ = secdns_bin();
    let primary = ScriptedPrimary::start(Script {
        soa: Some(soa(1)),
        axfr: axfr(1, &[]),
        no_qr: true,
        ..Default::default()
    })
    .unwrap();
    let secdns = secondary(&[&primary], "");
    let status = secdns
        .wait_for(APEX, Duration::from_secs(15), "a failed check", |s| {
            s.peers.first().is_some_and(|p| p.last_error.is_some())
        })
        .unwrap();
    let error = status.peers[0].last_error.clone().unwrap_or_default();
    assert!(error.contains("without QR"), "{error}");
    assert!(!error.contains("does not match"), "{error}");
}
