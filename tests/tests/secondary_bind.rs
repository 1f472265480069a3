//! secdns as a secondary of BIND's `named`: AXFR, then NOTIFY and IXFR after a dynamic
//! update, all with TSIG. The served zone must equal BIND's AXFR after each transfer.

use std::{net::SocketAddr, time::Duration};

use secdns_tests::{
    bind::Bind,
    knot::{TsigSpec, free_port},
    prerequisites::{require_tools, secdns_bin},
    secdns::Secondary,
};

const APEX: &str = "example.org.";

#[test]
fn axfr_notify_and_ixfr_from_bind_with_tsig() {
    require_tools(&["named", "nsupdate", "dig"]);
    let _ = secdns_bin();
    let key = TsigSpec::new(
        "bind-key.",
        "hmac-sha384",
        b"another secret, for BIND's sake!",
    );
    let port = free_port().unwrap();
    let bind_port = free_port().unwrap();
    let zone = format!(
        "$ORIGIN {APEX}\n$TTL 300\n@ IN SOA ns1 hostmaster 100 3600 600 86400 300\n  IN NS ns1\n\
         ns1 IN A 192.0.2.1\nwww IN A 192.0.2.80\n  IN AAAA 2001:db8::80\nmail IN MX 10 www\n"
    );
    let bind = Bind::start(
        APEX,
        &zone,
        bind_port,
        &key,
        SocketAddr::from(([127, 0, 0, 1], port)),
    )
    .unwrap();
    let config = format!(
        "[[tsig]]\nname = \"{}\"\nalgorithm = \"{}\"\nsecret = \"{}\"\n\n\
         [[peer]]\nname = \"bind\"\naddress = \"127.0.0.1\"\nport = {bind_port}\nixfr = true\ntsig = \"{}\"\n\n\
         [[zone]]\nname = \"{APEX}\"\npeers = [\"bind\"]\nrefresh = 3600\n",
        key.name, key.algorithm, key.secret, key.name
    );
    let secondary = Secondary::start_on(port, None, &config).unwrap();
    let status = secondary
        .wait_for(APEX, Duration::from_secs(20), "AXFR", |s| {
            s.serial == Some(100)
        })
        .unwrap();
    assert_eq!(status.last_transfer_kind.as_deref(), Some("AXFR"));
    assert_eq!(secondary.records(APEX).unwrap(), bind.axfr().unwrap());

    bind.add(&[
        "new.example.org. 300 A 192.0.2.99",
        "new.example.org. 300 TXT \"added by nsupdate\"",
    ])
    .unwrap();
    let serial = bind.serial().unwrap();
    assert!(serial > 100);
    let status = secondary
        .wait_for(APEX, Duration::from_secs(10), "NOTIFY + IXFR", |s| {
            s.serial == Some(serial)
        })
        .unwrap();
    assert_eq!(
        status.last_transfer_kind.as_deref(),
        Some("IXFR"),
        "{status:#?}"
    );
    assert_eq!(secondary.records(APEX).unwrap(), bind.axfr().unwrap());
    let answer = secondary.query("new.example.org.", "TXT").unwrap();
    assert_eq!(
        answer.section("ANSWER"),
        ["new.example.org. 300 IN TXT \"added by nsupdate\""]
    );
}
