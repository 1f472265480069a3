//! Invalid input for every field of every request body and every part of a path that names
//! something.

use serde_json::{Value, json};

use secdns_tests::TempDir;

use super::{APEX, Checked};

/// Every field of every request body, given a bad value, is refused and named.
pub fn every_field_is_checked(c: &Checked<'_>, zone_path: &str) {
    let overrides = format!("{zone_path}/overrides");
    let peer = |field: &str, value: Value| {
        let mut body = json!({"name": "p2", "address": "192.0.2.10", "port": 53, "ixfr": true});
        body[field] = value;
        body
    };
    let zone = |field: &str, value: Value| {
        let mut body = json!({"name": "new.example.", "peers": ["knot"]});
        body[field] = value;
        body
    };
    let record = |field: &str, value: Value| {
        let mut body =
            json!({"name": format!("x.{APEX}"), "type": "A", "ttl": 60, "data": ["192.0.2.9"]});
        body[field] = value;
        body
    };
    let mut aaaa = record("type", json!("AAAA"));
    aaaa["data"] = json!(["2001:db8::9"]);
    let hook = |field: &str, value: Value| {
        let mut body = json!({"name": "h2", "url": "http://127.0.0.1:9/", "events": []});
        body[field] = value;
        body
    };
    let https_hook = |field: &str, value: Value| {
        let mut body = hook("url", json!("https://127.0.0.1:9/"));
        body[field] = value;
        body
    };
    // Each endpoint as (method, path, the document's path).
    let add_key = ("POST", "/tsigs", "/tsigs");
    let change_key = ("PUT", "/tsigs/spare.", "/tsigs/{name}");
    let add_peer = ("POST", "/peers", "/peers");
    let replace_peer = ("PUT", "/peers/knot", "/peers/{name}");
    let add_zone = ("POST", "/zones", "/zones");
    let replace_zone = ("PUT", zone_path, "/zones/{zone}");
    let add_override = ("POST", overrides.as_str(), "/zones/{zone}/overrides");
    let one_override = format!("{overrides}/x.{APEX}/A");
    let replace_override = (
        "PUT",
        one_override.as_str(),
        "/zones/{zone}/overrides/{name}/{type}",
    );
    let add_hook = ("POST", "/webhooks", "/webhooks");
    let fifo_dir = TempDir::new("api-fifo").unwrap();
    let fifo = fifo_dir.fifo("ca.pem").unwrap();
    // 400: malformed. 409: well-formed, but naming what does not exist, outside the zone of
    // the path, or a PUT of another object than its path's (RFC 9110 §9.3.4). Both name the
    // field. (A row a case: rustfmt would spread each over six lines.)
    #[rustfmt::skip]
    let cases = [
        (400, add_key, json!({"name": "exa..mple."}), "name"),
        (400, add_key, json!({"name": "k.", "algorithm": "hmac-sha3"}), "algorithm"),
        (400, add_key, json!({"name": "k.", "secret": "not*base64"}), "secret"),
        (400, add_key, json!({"name": "k.", "colour": 1}), "colour"),
        (400, add_key, json!({}), "name"),
        (400, change_key, json!({"algorithm": 5}), "algorithm"),
        (400, change_key, json!({"secret": "***"}), "secret"),
        (400, change_key, json!({"secret": "c2VjcmV0", "generate": true}), "generate"),
        (400, change_key, json!({"generate": "yes"}), "generate"),
        (400, add_peer, peer("name", json!("bad name")), "name"),
        (400, add_peer, peer("address", json!("192.0.2.300")), "address"),
        (400, add_peer, peer("address", json!("0.0.0.0")), "address"),
        (400, add_peer, peer("port", json!(0)), "port"),
        (400, add_peer, peer("port", json!(70000)), "port"),
        (400, add_peer, peer("ixfr", json!("yes")), "ixfr"),
        (400, add_peer, peer("source", json!("2001:db8::1")), "source"),
        (409, add_peer, peer("tsig", json!("nokey.")), "tsig"),
        (409, replace_peer, peer("name", json!("other")), "name"),
        (400, add_zone, zone("name", json!("bad..")), "name"),
        (400, add_zone, zone("peers", json!([])), "peers"),
        (400, add_zone, zone("peers", json!(["knot", "knot"])), "peers"),
        (400, add_zone, zone("peers", json!([7])), "peers[0]"),
        (400, add_zone, zone("refresh", json!(0)), "refresh"),
        (400, add_zone, zone("retry", json!(-1)), "retry"),
        (400, add_zone, zone("expire", json!("x")), "expire"),
        (409, add_zone, zone("peers", json!(["nobody"])), "peers"),
        (409, replace_zone, zone("name", json!("other.example.")), "name"),
        (400, add_override, record("type", json!("MX")), "type"),
        (400, add_override, record("ttl", json!(-1)), "ttl"),
        (400, add_override, record("data", json!([])), "data"),
        (400, add_override, record("data", json!(["192.0.2.300"])), "data[0]"),
        (400, add_override, record("data", json!(["192.0.2.1", "bad"])), "data[1]"),
        (409, add_override, record("name", json!("x.elsewhere.")), "name"),
        (409, replace_override, record("name", json!(format!("y.{APEX}"))), "name"),
        (409, replace_override, aaaa, "type"),
        (400, add_hook, hook("name", json!("")), "name"),
        (400, add_hook, hook("url", json!("ftp://x/")), "url"),
        (400, add_hook, hook("events", json!(["nope"])), "events[0]"),
        (400, add_hook, hook("ca_file", json!("/etc/hostname")), "ca_file"),
        (409, add_hook, https_hook("ca_file", json!("/nonexistent.pem")), "ca_file"),
    ];
    for (status, (method, path, template), body, field) in cases {
        c.refused(status, method, path, template, body, field);
    }
    // A CA file that is not a file: read whole, /dev/zero would take all the memory there
    // is, and a FIFO no one writes to would hold the request for ever.
    let (method, path, template) = add_hook;
    for (file, kind) in [
        ("/dev/zero".into(), "character device"),
        (fifo.display().to_string(), "FIFO"),
    ] {
        let body = https_hook("ca_file", json!(file));
        let error = c.call(method, path, template, Some(body), 409);
        assert_eq!(error["field"], "ca_file", "{error}");
        let message = error["message"].as_str().unwrap_or_default();
        let says = format!("not a regular file (a {kind})");
        assert!(message.contains(&says), "{file}: {error}");
    }
    // Not JSON at all.
    let reply = c
        .api
        .call("POST", "/peers", Some(&json!("just a string")))
        .unwrap();
    assert_eq!(reply.status, 400, "{}", reply.body);
}

/// Every part of every path that names something, not UTF-8 once percent-decoded or not
/// well-formed, is refused before anything is looked up: 400 naming the part, in the
/// documented error body.
pub fn every_path_part_is_checked(c: &Checked<'_>) {
    let item = "/zones/{zone}/overrides/{name}/{type}";
    // (method, path template, the part at fault, what it is given)
    let cases = [
        ("GET", "/zones/{zone}", "zone", "%FF"),
        ("DELETE", "/zones/{zone}", "zone", "a..b"),
        ("GET", "/zones/{zone}/records", "zone", "%C3%28"),
        ("POST", "/zones/{zone}/force_axfr", "zone", "a..b"),
        ("GET", "/zones/{zone}/overrides", "zone", "%FF"),
        ("GET", item, "zone", "%FF"),
        ("GET", item, "name", "%FF"),
        ("DELETE", item, "name", "a..b"),
        ("GET", item, "type", "MX"),
        ("GET", item, "type", "%FF"),
        // The path is read before the body: no body, yet the path part is what is refused.
        ("PUT", item, "type", "MX"),
        ("PUT", "/tsigs/{name}", "name", "%FF"),
        ("PUT", "/peers/{name}", "name", "bad%20name"),
        ("GET", "/tsigs/{name}", "name", "%FF"),
        ("DELETE", "/tsigs/{name}", "name", "a..b"),
        ("GET", "/peers/{name}", "name", "%FF"),
        ("DELETE", "/peers/{name}", "name", "bad%20name"),
        ("GET", "/webhooks/{name}", "name", "%FF"),
    ];
    for (method, template, field, bad) in cases {
        let path = [
            ("zone", APEX.to_owned()),
            ("name", format!("x.{APEX}")),
            ("type", "A".to_owned()),
        ]
        .into_iter()
        .fold(template.to_owned(), |path, (part, good)| {
            let value = if part == field { bad } else { &good };
            path.replace(&format!("{{{part}}}"), value)
        });
        let error = c.call(method, &path, template, None, 400);
        assert_eq!(error["field"], field, "{method} {path}: {error}");
    }
}
