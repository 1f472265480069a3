//! Managing a running server through the CLI: TSIG keys, peers and secondary zones added,
//! listed and removed at runtime, kept across a restart, and protected when the config file
//! defines them.

use std::time::Duration;

use std::sync::Barrier;

use serde_json::json;

use secdns_tests::{
    api::Api,
    knot::{Knot, KnotOptions, TsigSpec, cli_peer_args},
    prerequisites::{require_tools, secdns_bin},
    secdns::Secondary,
};

const APEX: &str = "runtime.example.";

/// Two clients change one key at once, one its algorithm, the other its secret: each change
/// is made to the key as the other left it, so neither undoes the other. (A key read before
/// the other's change and written after it would put the old algorithm back.)
#[test]
fn two_changes_to_one_key_at_once_both_take_effect() {
    let _ = secdns_bin();
    let secondary = Secondary::start("").unwrap();
    let (algorithm_client, secret_client) = (
        Api::new(secondary.control, None),
        Api::new(secondary.control, None),
    );
    let put = |api: &Api, change: serde_json::Value| {
        let reply = api.call("PUT", "/tsigs/shared.", Some(&change)).unwrap();
        assert_eq!(reply.status, 200, "{change}: {reply:?}");
    };
    let made = algorithm_client
        .call("POST", "/tsigs", Some(&json!({"name": "shared."})))
        .unwrap();
    assert_eq!(made.status, 201, "{made:?}");
    let both_at_once = Barrier::new(2);
    for round in 0..40 {
        let algorithm = ["hmac-sha512", "hmac-sha384"][round % 2];
        std::thread::scope(|s| {
            s.spawn(|| {
                both_at_once.wait();
                put(&algorithm_client, json!({"algorithm": algorithm}));
            });
            s.spawn(|| {
                both_at_once.wait();
                put(&secret_client, json!({"generate": true}));
            });
        });
        let key = algorithm_client
            .call("GET", "/tsigs/shared.", None)
            .unwrap();
        assert_eq!(
            key.body["algorithm"], algorithm,
            "round {round}: the change of secret undid the change of algorithm"
        );
    }
}

#[test]
fn objects_added_at_runtime_survive_a_restart() {
    require_tools(&["knotd", "dig"]);
    let _ = secdns_bin();
    let key = TsigSpec::new(
        "runtime-key.",
        "hmac-sha512",
        b"a secret of thirty-two bytes!!!!",
    );
    let mut options = KnotOptions::new(
        APEX,
        &format!(
            "$ORIGIN {APEX}\n$TTL 60\n@ IN SOA ns hm 11 3600 600 86400 60\n  IN NS ns\nns IN A 192.0.2.1\n"
        ),
    );
    options.key = Some(key.clone());
    let knot = Knot::start(options).unwrap();
    // A key defined in the config file: usable, but not removable through the API.
    let fixed = "[[tsig]]\nname = \"fixed-key.\"\nsecret = \"c2VjcmV0\"\n";
    let mut secondary = Secondary::start(fixed).unwrap();

    let created = secondary.cli(&key.cli_add_args()).unwrap();
    assert!(created.contains(&key.secret));
    let generated = secondary
        .cli(&["tsig", "add", "generated.", "--json"])
        .unwrap();
    let generated: serde_json::Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(generated["algorithm"], "hmac-sha256");
    assert_eq!(
        generated["secret"].as_str().unwrap().len(),
        44,
        "32 random bytes in base64"
    );

    let missing_key = secondary
        .cli(&[
            "peer",
            "add",
            "p",
            "--address",
            "127.0.0.1",
            "--tsig",
            "nokey.",
        ])
        .unwrap_err();
    assert!(missing_key.to_string().contains("nokey."), "{missing_key}");
    let port = knot.port.to_string();
    secondary
        .cli(&cli_peer_args("knot", &port, &key.name))
        .unwrap();
    let missing_peer = secondary
        .cli(&["zone", "add", APEX, "--peer", "nobody"])
        .unwrap_err();
    assert!(
        missing_peer.to_string().contains("nobody"),
        "{missing_peer}"
    );
    secondary
        .cli(&["zone", "add", APEX, "--peer", "knot", "--refresh", "3600"])
        .unwrap();
    secondary
        .wait_for(APEX, Duration::from_secs(20), "transfer", |s| {
            s.serial == Some(11)
        })
        .unwrap();
    assert_eq!(secondary.records(APEX).unwrap(), knot.axfr().unwrap());

    let in_use = secondary.cli(&["tsig", "rm", &key.name]).unwrap_err();
    assert!(in_use.to_string().contains("used by peer knot"), "{in_use}");
    let fixed_rm = secondary.cli(&["tsig", "rm", "fixed-key."]).unwrap_err();
    assert!(fixed_rm.to_string().contains("config file"), "{fixed_rm}");

    secondary.kill();
    secondary.restart().unwrap();
    assert!(
        secondary
            .cli(&["tsig", "list"])
            .unwrap()
            .contains("runtime-key.")
    );
    let peers = secondary.cli(&["peer", "list"]).unwrap();
    assert!(
        row(&peers, "knot").starts_with(&["knot", "127.0.0.1", &port, "yes", &key.name]),
        "{peers}"
    );
    let zones = secondary.cli(&["zone", "list"]).unwrap();
    assert_eq!(
        row(&zones, APEX),
        ["runtime.example.", "secondary", "11", "3", "yes"],
        "{zones}"
    );
    assert_eq!(
        secondary.query("ns.runtime.example.", "A").unwrap().status,
        "NOERROR"
    );

    secondary.cli(&["zone", "rm", APEX]).unwrap();
    assert_eq!(
        secondary.query("ns.runtime.example.", "A").unwrap().status,
        "REFUSED"
    );
    assert!(
        !secondary
            .dir
            .path()
            .join("state/zones/runtime.example.zone")
            .exists()
    );
    secondary.cli(&["peer", "rm", "knot"]).unwrap();
    secondary.cli(&["tsig", "rm", &key.name]).unwrap();
    secondary.kill();
    secondary.restart().unwrap();
    assert!(
        !secondary
            .cli(&["tsig", "list"])
            .unwrap()
            .contains("runtime-key.")
    );
    let zones = secondary.cli(&["zone", "list"]).unwrap();
    assert_eq!(zones.trim().lines().count(), 1, "only the header: {zones}");
}

/// The cells of the table row whose first cell is `first`.
fn row<'a>(table: &'a str, first: &str) -> Vec<&'a str> {
    table
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&first))
        .unwrap_or_default()
}
