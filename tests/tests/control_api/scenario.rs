//! The API test's scenario, step by step, in the order it runs: each step leaves what the next
//! finds.

use serde_json::{Value, json};

use secdns_tests::{
    knot::{Knot, TsigSpec},
    secdns::Secondary,
};

use super::{APEX, Checked, answer, check_metrics, wait};

/// TSIG keys: the secret comes back once, then masked.
pub fn tsig_keys(c: &Checked<'_>, key: &TsigSpec) {
    let created = c.call(
        "POST",
        "/tsigs",
        "/tsigs",
        Some(json!({"name": key.name, "algorithm": key.algorithm, "secret": key.secret})),
        201,
    );
    assert_eq!(created["secret"], key.secret.as_str());
    let spare = c.call(
        "POST",
        "/tsigs",
        "/tsigs",
        Some(json!({"name": "spare."})),
        201,
    );
    let spare_secret = spare["secret"].as_str().unwrap().to_owned();
    assert_eq!(spare_secret.len(), 44, "32 random bytes in base64");
    let keys = c.call("GET", "/tsigs", "/tsigs", None, 200);
    assert_eq!(keys.as_array().unwrap().len(), 2);
    for listed in keys.as_array().unwrap() {
        assert_eq!(listed["secret"], "********", "{listed}");
    }
    let shown = c.call("GET", "/tsigs/spare.", "/tsigs/{name}", None, 200);
    assert_eq!(shown["secret"], "********");
    let kept = c.call(
        "PUT",
        "/tsigs/spare.",
        "/tsigs/{name}",
        Some(json!({"algorithm": "hmac-sha512"})),
        200,
    );
    assert_eq!(
        kept["secret"], "********",
        "the secret is kept, and stays masked"
    );
    assert_eq!(kept["algorithm"], "hmac-sha512");
    let rotated = c.call(
        "PUT",
        "/tsigs/spare.",
        "/tsigs/{name}",
        Some(json!({"generate": true})),
        200,
    );
    let new_secret = rotated["secret"].as_str().unwrap();
    assert!(
        new_secret != spare_secret && new_secret.len() == 88,
        "{rotated}"
    );
    assert_eq!(rotated["algorithm"], "hmac-sha512", "the algorithm is kept");
    c.call(
        "POST",
        "/tsigs",
        "/tsigs",
        Some(json!({"name": "spare."})),
        409,
    );
    // What may carry a secret is not to be kept by anything between (the document says so;
    // a listing, masked, may be).
    for (method, path, body, status, cache) in [
        (
            "POST",
            "/tsigs",
            json!({"name": "third."}),
            201,
            Some("no-store"),
        ),
        (
            "PUT",
            "/tsigs/third.",
            json!({"generate": true}),
            200,
            Some("no-store"),
        ),
        (
            "PUT",
            "/tsigs/third.",
            json!({"algorithm": "hmac-sha1"}),
            200,
            Some("no-store"),
        ),
        ("GET", "/tsigs/third.", Value::Null, 200, None),
        ("GET", "/tsigs", Value::Null, 200, None),
        ("DELETE", "/tsigs/third.", Value::Null, 204, None),
    ] {
        let body = Some(&body).filter(|b| !b.is_null());
        let reply = c.api.call(method, path, body).unwrap();
        assert_eq!(reply.status, status, "{method} {path}: {reply:?}");
        let sent = reply.headers.get("cache-control").map(String::as_str);
        assert_eq!(sent, cache, "{method} {path}: {reply:?}");
    }
}

/// Peers and a zone: the zone is transferred. Its path.
pub fn peers_and_a_zone(c: &Checked<'_>, knot: &Knot, key: &TsigSpec) -> String {
    let port = knot.port;
    let peer = json!({"name": "knot", "address": "127.0.0.1", "port": port, "ixfr": true, "tsig": key.name});
    c.call("POST", "/peers", "/peers", Some(peer.clone()), 201);
    c.call("POST", "/peers", "/peers", Some(peer.clone()), 409);
    let listed = c.call("GET", "/peers", "/peers", None, 200);
    assert_eq!(listed[0]["origin"], "api");
    c.call("GET", "/peers/knot", "/peers/{name}", None, 200);
    // A new object's path is in Location.
    let spare = json!({"name": "spare", "address": "192.0.2.9"});
    let made = c.api.call("POST", "/peers", Some(&spare)).unwrap();
    assert_eq!(
        made.headers.get("location").map(String::as_str),
        Some("/peers/spare"),
        "{made:?}"
    );
    c.call("GET", "/peers/spare", "/peers/{name}", None, 200);
    c.call("DELETE", "/peers/spare", "/peers/{name}", None, 204);
    let zone = json!({"name": APEX, "peers": ["knot"], "refresh": 3600});
    c.call("POST", "/zones", "/zones", Some(zone.clone()), 201);
    c.call("POST", "/zones", "/zones", Some(zone), 409);
    let zone_path = format!("/zones/{APEX}");
    let status = wait(c, &zone_path, |s| s["serial"] == 1);
    assert_eq!(status["kind"], "secondary");
    assert_eq!(status["origin"], "api");
    let zones = c.call("GET", "/zones", "/zones", None, 200);
    assert_eq!(zones[0]["name"], APEX);
    let records = c.call(
        "GET",
        &format!("{zone_path}/records"),
        "/zones/{zone}/records",
        None,
        200,
    );
    assert_eq!(records[0]["type"], "SOA", "SOA first");
    let text: String = records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {} IN {} {}\n",
                r["name"].as_str().unwrap(),
                r["ttl"],
                r["type"].as_str().unwrap(),
                r["data"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        secdns_tests::records::normalise(APEX, &text).unwrap(),
        knot.axfr().unwrap()
    );
    zone_path
}

/// Replacing a peer and a zone; a forced transfer.
pub fn replacing(c: &Checked<'_>, zone_path: &str, port: u16, key: &TsigSpec) {
    c.call(
        "PUT",
        "/peers/knot",
        "/peers/{name}",
        Some(json!({"name": "knot", "address": "127.0.0.1", "port": port, "ixfr": false, "tsig": key.name})),
        200,
    );
    c.call(
        "PUT",
        zone_path,
        "/zones/{zone}",
        Some(json!({"name": APEX, "peers": ["knot"], "refresh": 600})),
        200,
    );
    wait(c, zone_path, |s| s["refresh"] == 600);
    c.call(
        "POST",
        &format!("{zone_path}/force_axfr"),
        "/zones/{zone}/force_axfr",
        None,
        202,
    );
}

/// Overrides, served at once, and gone when removed.
pub fn overrides(c: &Checked<'_>, secondary: &Secondary, zone_path: &str) {
    let overrides = format!("{zone_path}/overrides");
    let www =
        json!({"name": format!("www.{APEX}"), "type": "A", "ttl": 30, "data": ["198.51.100.7"]});
    c.call(
        "POST",
        &overrides,
        "/zones/{zone}/overrides",
        Some(www.clone()),
        201,
    );
    c.call(
        "POST",
        &overrides,
        "/zones/{zone}/overrides",
        Some(www),
        409,
    );
    assert_eq!(answer(secondary, "www", "A"), ["198.51.100.7"]);
    let one = format!("{overrides}/www.{APEX}/A");
    let template = "/zones/{zone}/overrides/{name}/{type}";
    c.call("GET", &one, template, None, 200);
    c.call(
        "PUT",
        &one,
        template,
        Some(json!({"name": format!("www.{APEX}"), "type": "A", "data": ["198.51.100.8", "198.51.100.9"]})),
        200,
    );
    assert_eq!(
        answer(secondary, "www", "A"),
        ["198.51.100.8", "198.51.100.9"]
    );
    let listed = c.call("GET", &overrides, "/zones/{zone}/overrides", None, 200);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    c.call("DELETE", &one, template, None, 204);
    c.call("DELETE", &one, template, None, 404);
    assert_eq!(answer(secondary, "www", "A"), ["192.0.2.80"]);
}

/// Webhooks.
pub fn webhooks(c: &Checked<'_>) {
    let hook = json!({"name": "ops", "url": "http://127.0.0.1:9/hook", "events": ["warning"]});
    c.call("POST", "/webhooks", "/webhooks", Some(hook.clone()), 201);
    c.call("POST", "/webhooks", "/webhooks", Some(hook), 409);
    c.call("GET", "/webhooks", "/webhooks", None, 200);
    c.call(
        "PUT",
        "/webhooks/ops",
        "/webhooks/{name}",
        Some(json!({"name": "ops", "url": "http://127.0.0.1:9/other"})),
        200,
    );
    let shown = c.call("GET", "/webhooks/ops", "/webhooks/{name}", None, 200);
    assert_eq!(shown["url"], "http://127.0.0.1:9/other");
}

/// Counters and metrics, after some queries.
pub fn counters_and_metrics(c: &Checked<'_>, secondary: &Secondary) {
    for _ in 0..5 {
        secondary.query(&format!("www.{APEX}"), "A").unwrap();
    }
    secondary.query("www.elsewhere.example.", "A").unwrap();
    c.call("GET", "/stats", "/stats", None, 200);
    let page = c.call("GET", "/metrics", "/metrics", None, 200);
    check_metrics(page.as_str().unwrap());
    // The CLI gives the same samples as JSON.
    let samples: Value =
        serde_json::from_str(&secondary.cli(&["metrics", "--json"]).unwrap()).unwrap();
    let serial = samples
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["metric"] == "secdns_zone_serial" && s["labels"]["zone"] == APEX);
    assert_eq!(
        serial.map(|s| &s["value"]),
        Some(&json!(1.0)),
        "{samples:#}"
    );
}

/// Not found, and in use.
pub fn not_found_and_in_use(c: &Checked<'_>, key: &TsigSpec) {
    for (path, template) in [
        ("/zones/nothing.example.", "/zones/{zone}"),
        ("/zones/nothing.example./records", "/zones/{zone}/records"),
        (
            "/zones/nothing.example./overrides",
            "/zones/{zone}/overrides",
        ),
        ("/peers/nobody", "/peers/{name}"),
        ("/tsigs/nokey.", "/tsigs/{name}"),
        ("/webhooks/nohook", "/webhooks/{name}"),
    ] {
        c.call("GET", path, template, None, 404);
        c.call(
            "DELETE",
            path.trim_end_matches("/records")
                .trim_end_matches("/overrides"),
            template
                .trim_end_matches("/records")
                .trim_end_matches("/overrides"),
            None,
            404,
        );
    }
    c.call(
        "POST",
        "/zones/nothing.example./force_axfr",
        "/zones/{zone}/force_axfr",
        None,
        404,
    );
    let in_use = c.call("DELETE", "/peers/knot", "/peers/{name}", None, 409);
    assert!(
        in_use["message"].as_str().unwrap().contains("used by zone"),
        "{in_use}"
    );
    c.call(
        "DELETE",
        &format!("/tsigs/{}", key.name),
        "/tsigs/{name}",
        None,
        409,
    );
}

/// Removal, in dependency order.
pub fn removal(c: &Checked<'_>, zone_path: &str, key: &TsigSpec) {
    c.call("DELETE", zone_path, "/zones/{zone}", None, 204);
    c.call("DELETE", "/peers/knot", "/peers/{name}", None, 204);
    c.call(
        "DELETE",
        &format!("/tsigs/{}", key.name),
        "/tsigs/{name}",
        None,
        204,
    );
    c.call("DELETE", "/webhooks/ops", "/webhooks/{name}", None, 204);
    let zones = c.call("GET", "/zones", "/zones", None, 200);
    assert_eq!(zones, json!([]));
}
