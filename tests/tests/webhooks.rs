//! Notifications from real failures of a real Knot primary, captured by a webhook receiver:
//! a peer whose key the primary does not know (warning, some primaries failing), transfers
//! (zone updated, by AXFR then IXFR with the records changed), the primary gone (all
//! primaries failing). The receiver fails the first POST, so delivery must retry. Each event
//! matches the Event schema of openapi.json and is also a log line.

use std::time::Duration;

use secdns_tests::{
    api::OpenApi,
    knot::{Knot, KnotOptions, TsigSpec, cli_peer_args},
    prerequisites::{require_tools, secdns_bin},
    secdns::Secondary,
    webhook::Receiver,
};
use serde_json::Value;

const APEX: &str = "hooks.example.";

fn zone_text(serial: u32) -> String {
    format!(
        "$ORIGIN {APEX}\n$TTL 60\n@ IN SOA ns hm {serial} 3600 600 86400 60\n  IN NS ns\n\
         ns IN A 192.0.2.1\nwww IN A 192.0.2.80\n"
    )
}

#[test]
fn the_four_events_reach_a_webhook() {
    require_tools(&["knotd", "knotc"]);
    let _ = secdns_bin();
    let receiver = Receiver::start(1).unwrap();
    let secondary = Secondary::start("[transfer]\ntimeout = 5\nidle_timeout = 2\n").unwrap();
    secondary
        .cli(&["webhook", "add", "ops", "--url", &receiver.url])
        .unwrap();
    // A second webhook that wants only warnings.
    let warnings_only = Receiver::start(0).unwrap();
    secondary
        .cli(&[
            "webhook",
            "add",
            "warnings",
            "--url",
            &warnings_only.url,
            "--event",
            "warning",
        ])
        .unwrap();

    let key = TsigSpec::new(
        "hooks-key.",
        "hmac-sha256",
        b"thirty-two bytes of test secret!",
    );
    let mut options = KnotOptions::new(APEX, &zone_text(1));
    options.key = Some(key.clone());
    options.notify = Some(std::net::SocketAddr::from(([127, 0, 0, 1], secondary.port)));
    options.notify_key = Some(key.clone());
    let knot = Knot::start(options).unwrap();
    let port = knot.port.to_string();
    secondary.cli(&key.cli_add_args()).unwrap();
    secondary.cli(&["tsig", "add", "unknown-key."]).unwrap();
    for (peer, key_name) in [("stranger", "unknown-key."), ("knot", key.name.as_str())] {
        secondary
            .cli(&cli_peer_args(peer, &port, key_name))
            .unwrap();
    }
    secondary
        .cli(&["zone", "add", APEX, "--peer", "stranger", "--peer", "knot"])
        .unwrap();

    let wait = Duration::from_secs(20);
    let is = |kind: &'static str| move |e: &Value| e["event"] == kind && e["zone"] == APEX;
    let warning = receiver.wait_for("warning", wait, is("warning")).unwrap();
    assert_eq!(warning["peer"], "stranger");
    assert!(
        warning["message"].as_str().unwrap().contains("BADKEY"),
        "{warning}"
    );
    let axfr = receiver
        .wait_for("zone_updated (AXFR)", wait, is("zone_updated"))
        .unwrap();
    assert_eq!(axfr["transfer"], "AXFR");
    assert_eq!(axfr["new_serial"], 1);
    assert!(axfr.get("old_serial").is_none(), "{axfr}");
    assert_eq!(axfr["peer"], "knot");
    assert_eq!(axfr["records_changed"], 4, "the whole zone is new");
    let some = receiver
        .wait_for("some_primaries_failing", wait, is("some_primaries_failing"))
        .unwrap();
    assert_eq!(some["failures"].as_array().unwrap().len(), 1, "{some}");
    assert_eq!(some["failures"][0]["peer"], "stranger");
    assert!(
        receiver.failed() >= 1,
        "the first POST failed and was retried"
    );

    // NOTIFY + IXFR: one record changed (one deleted, one added).
    knot.change(&["www 60 A 192.0.2.81"], &["www A 192.0.2.80"])
        .unwrap();
    let ixfr = receiver
        .wait_for("zone_updated (IXFR)", wait, |e| {
            e["event"] == "zone_updated" && e["transfer"] == "IXFR"
        })
        .unwrap();
    assert_eq!(
        (&ixfr["old_serial"], &ixfr["new_serial"]),
        (&1.into(), &2.into())
    );
    assert_eq!(ixfr["records_changed"], 2);

    // A primary that is behind (still at serial 1) joins: a warning, and a new set of
    // failing primaries.
    let old = Knot::start(KnotOptions::new(APEX, &zone_text(1))).unwrap();
    let old_port = old.port.to_string();
    secondary
        .cli(&[
            "peer",
            "add",
            "old",
            "--address",
            "127.0.0.1",
            "--port",
            &old_port,
        ])
        .unwrap();
    secondary
        .cli(&[
            "zone", "set", APEX, "--peer", "stranger", "--peer", "old", "--peer", "knot",
        ])
        .unwrap();
    let behind = receiver
        .wait_for("warning (behind)", wait, |e| {
            e["event"] == "warning" && e["peer"] == "old"
        })
        .unwrap();
    assert!(
        behind["message"].as_str().unwrap().contains("behind"),
        "{behind}"
    );
    let two = receiver
        .wait_for("some_primaries_failing (two)", wait, |e| {
            e["event"] == "some_primaries_failing" && e["failures"].as_array().unwrap().len() == 2
        })
        .unwrap();
    assert_eq!(two["failures"][1]["peer"], "old");
    drop(old);

    // The primary goes away: no primary can be used.
    drop(knot);
    secondary.cli(&["zone", "transfer", APEX]).unwrap();
    let all = receiver
        .wait_for("all_primaries_failing", wait, is("all_primaries_failing"))
        .unwrap();
    let failing: Vec<&str> = all["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["peer"].as_str().unwrap())
        .collect();
    assert_eq!(failing, ["stranger", "old", "knot"], "{all}");

    // Each state was reported once: the repeated BADKEY and the unchanged failing set in the
    // IXFR round sent nothing new.
    let events = receiver.events();
    let count = |kind: &str| events.iter().filter(|e| e["event"] == kind).count();
    assert_eq!(count("some_primaries_failing"), 2, "{events:#?}");
    assert_eq!(count("zone_updated"), 2, "{events:#?}");
    let only = warnings_only.events();
    assert!(
        !only.is_empty() && only.iter().all(|e| e["event"] == "warning"),
        "{only:#?}"
    );

    let doc = OpenApi {
        doc: serde_json::from_str(include_str!("../../secdns/src/control/api/openapi.json"))
            .unwrap(),
    };
    let schema = serde_json::json!({"$ref": "#/components/schemas/Event"});
    for event in &events {
        doc.validate(&schema, event, "event").unwrap();
    }
    let log = secondary.log();
    for kind in [
        "warning",
        "zone_updated",
        "some_primaries_failing",
        "all_primaries_failing",
    ] {
        assert!(
            log.contains(&format!("event=\"{kind}\"")),
            "no {kind} line in:\n{log}"
        );
    }
}

/// A transfer over a limit keeps the old copy (here: none) and is a warning, naming the limit.
#[test]
fn a_limit_hit_is_a_warning() {
    require_tools(&["knotd"]);
    let _ = secdns_bin();
    let receiver = Receiver::start(0).unwrap();
    let knot = Knot::start(KnotOptions::new(APEX, &zone_text(1))).unwrap();
    let secondary = Secondary::start(&format!(
        "[transfer]\nmax_records = 3\n\n[[peer]]\nname = \"knot\"\naddress = \"127.0.0.1\"\nport = {}\n\n\
         [[webhook]]\nname = \"ops\"\nurl = \"{}\"\nevents = [\"warning\", \"all_primaries_failing\"]\n",
        knot.port, receiver.url
    ))
    .unwrap();
    secondary
        .cli(&["zone", "add", APEX, "--peer", "knot"])
        .unwrap();
    let wait = Duration::from_secs(20);
    let warning = receiver
        .wait_for("warning (limit)", wait, |e| e["event"] == "warning")
        .unwrap();
    let message = warning["message"].as_str().unwrap();
    assert!(
        message.contains("limit") && message.contains("3 records"),
        "{warning}"
    );
    receiver
        .wait_for("all_primaries_failing", wait, |e| {
            e["event"] == "all_primaries_failing"
        })
        .unwrap();
    assert!(!secondary.status(APEX).unwrap().serving);
}

/// A CA and a certificate for 127.0.0.1 signed by it, made with openssl in `dir`:
/// (ca.pem, server chain, server key).
fn private_ca(
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let run = |args: &[&str]| {
        let output = std::process::Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "openssl {args:?}: {output:?}");
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=secdns test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    ]
    .concat());
    run(&[
        &["req"][..],
        &ec,
        &[
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    ]
    .concat());
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

/// An https webhook is delivered when its CA is given, and not to a receiver whose
/// certificate nothing vouches for.
#[test]
fn https_webhooks_check_the_receivers_certificate() {
    require_tools(&["knotd", "openssl"]);
    let _ = secdns_bin();
    let dir = secdns_tests::TempDir::new("webhook-tls").unwrap();
    let (ca, chain, key) = private_ca(dir.path());
    let trusted = Receiver::start_tls(&chain, &key).unwrap();
    let untrusted = Receiver::start_tls(&chain, &key).unwrap();
    let knot = Knot::start(KnotOptions::new(APEX, &zone_text(1))).unwrap();
    let ca = ca.display().to_string();
    let secondary = Secondary::start(&format!(
        "[[peer]]\nname = \"knot\"\naddress = \"127.0.0.1\"\nport = {}\n\n\
         [[webhook]]\nname = \"trusted\"\nurl = \"{}\"\nca_file = \"{ca}\"\n\n\
         [[webhook]]\nname = \"untrusted\"\nurl = \"{}\"\n",
        knot.port, trusted.url, untrusted.url
    ))
    .unwrap();
    secondary
        .cli(&["zone", "add", APEX, "--peer", "knot"])
        .unwrap();
    let event = trusted
        .wait_for("zone_updated over https", Duration::from_secs(20), |e| {
            e["event"] == "zone_updated"
        })
        .unwrap();
    assert_eq!(event["new_serial"], 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !secondary.log().contains("delivery failed") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = secondary.log();
    let refused = log
        .lines()
        .find(|l| l.contains("delivery failed") && l.contains("webhook=untrusted"));
    assert!(
        refused.is_some_and(|l| l.to_lowercase().contains("certificate") || l.contains("Issuer")),
        "no delivery refused for the certificate in:\n{log}"
    );
    assert!(untrusted.events().is_empty());
    // A CA file that is not one is refused up front, naming the field.
    let bad = secondary
        .cli(&[
            "webhook",
            "add",
            "bad",
            "--url",
            &trusted.url,
            "--ca-file",
            &chain.with_extension("csr").display().to_string(),
        ])
        .unwrap_err()
        .to_string();
    assert!(bad.contains("ca_file"), "{bad}");
}
