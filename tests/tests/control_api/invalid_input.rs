//! Invalid input for every field of every request body.

use serde_json::{Value, json};

use super::{APEX, Checked};

/// Every field of every request body, given a bad value, is refused and named.
pub fn every_field_is_checked(c: &Checked<'_>, zone_path: &str) {
    let zone_template = "/zones/{zone}";
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
    let hook = |field: &str, value: Value| {
        let mut body = json!({"name": "h2", "url": "http://127.0.0.1:9/", "events": []});
        body[field] = value;
        body
    };
    let cases: Vec<(&str, String, &str, Value, &str)> = vec![
        (
            "POST",
            "/tsigs".into(),
            "/tsigs",
            json!({"name": "exa..mple."}),
            "name",
        ),
        (
            "POST",
            "/tsigs".into(),
            "/tsigs",
            json!({"name": "k.", "algorithm": "hmac-sha3"}),
            "algorithm",
        ),
        (
            "POST",
            "/tsigs".into(),
            "/tsigs",
            json!({"name": "k.", "secret": "not*base64"}),
            "secret",
        ),
        (
            "POST",
            "/tsigs".into(),
            "/tsigs",
            json!({"name": "k.", "colour": 1}),
            "colour",
        ),
        ("POST", "/tsigs".into(), "/tsigs", json!({}), "name"),
        (
            "PUT",
            "/tsigs/spare.".into(),
            "/tsigs/{name}",
            json!({"algorithm": 5}),
            "algorithm",
        ),
        (
            "PUT",
            "/tsigs/spare.".into(),
            "/tsigs/{name}",
            json!({"secret": "***"}),
            "secret",
        ),
        (
            "PUT",
            "/tsigs/spare.".into(),
            "/tsigs/{name}",
            json!({"secret": "c2VjcmV0", "generate": true}),
            "generate",
        ),
        (
            "PUT",
            "/tsigs/spare.".into(),
            "/tsigs/{name}",
            json!({"generate": "yes"}),
            "generate",
        ),
        (
            "POST",
            "/peers".into(),
            "/peers",
            peer("name", json!("bad name")),
            "name",
        ),
        (
            "POST",
            "/peers".into(),
            "/peers",
            peer("address", json!("192.0.2.300")),
            "address",
        ),
        (
            "POST",
            "/peers".into(),
            "/peers",
            peer("address", json!("0.0.0.0")),
            "address",
        ),
        (
            "POST",
            "/peers".into(),
            "/peers",
            peer("port", json!(0)),
            "port",
        ),
        (
            "POST",
            "/peers".into(),
            "/peers",
            peer("port", json!(70000)),
            "port",
        ),
        (
            "POST",
            "/peers".into(),
            "/peers",
            peer("ixfr", json!("yes")),
            "ixfr",
        ),
        (
            "POST",
            "/peers".into(),
            "/peers",
            peer("source", json!("2001:db8::1")),
            "source",
        ),
        (
            "POST",
            "/zones".into(),
            "/zones",
            zone("name", json!("bad..")),
            "name",
        ),
        (
            "POST",
            "/zones".into(),
            "/zones",
            zone("peers", json!([])),
            "peers",
        ),
        (
            "POST",
            "/zones".into(),
            "/zones",
            zone("peers", json!(["knot", "knot"])),
            "peers",
        ),
        (
            "POST",
            "/zones".into(),
            "/zones",
            zone("peers", json!([7])),
            "peers[0]",
        ),
        (
            "POST",
            "/zones".into(),
            "/zones",
            zone("refresh", json!(0)),
            "refresh",
        ),
        (
            "POST",
            "/zones".into(),
            "/zones",
            zone("retry", json!(-1)),
            "retry",
        ),
        (
            "POST",
            "/zones".into(),
            "/zones",
            zone("expire", json!("x")),
            "expire",
        ),
        (
            "POST",
            overrides.clone(),
            "/zones/{zone}/overrides",
            record("type", json!("MX")),
            "type",
        ),
        (
            "POST",
            overrides.clone(),
            "/zones/{zone}/overrides",
            record("ttl", json!(-1)),
            "ttl",
        ),
        (
            "POST",
            overrides.clone(),
            "/zones/{zone}/overrides",
            record("data", json!([])),
            "data",
        ),
        (
            "POST",
            overrides.clone(),
            "/zones/{zone}/overrides",
            record("data", json!(["192.0.2.300"])),
            "data[0]",
        ),
        (
            "POST",
            overrides.clone(),
            "/zones/{zone}/overrides",
            record("data", json!(["192.0.2.1", "bad"])),
            "data[1]",
        ),
        (
            "POST",
            "/webhooks".into(),
            "/webhooks",
            hook("name", json!("")),
            "name",
        ),
        (
            "POST",
            "/webhooks".into(),
            "/webhooks",
            hook("url", json!("ftp://x/")),
            "url",
        ),
        (
            "POST",
            "/webhooks".into(),
            "/webhooks",
            hook("events", json!(["nope"])),
            "events[0]",
        ),
        (
            "POST",
            "/webhooks".into(),
            "/webhooks",
            hook("ca_file", json!("/etc/hostname")),
            "ca_file",
        ),
    ];
    for (method, path, template, body, field) in cases {
        c.invalid(method, &path, template, body, field);
    }
    // Well-formed, but naming what does not exist, outside the zone of the path, or a PUT of
    // another object than its path's: a conflict (RFC 9110 §9.3.4), still naming the field.
    for (method, path, template, body, field) in [
        (
            "POST",
            "/peers",
            "/peers",
            peer("tsig", json!("nokey.")),
            "tsig",
        ),
        (
            "POST",
            "/zones",
            "/zones",
            zone("peers", json!(["nobody"])),
            "peers",
        ),
        (
            "PUT",
            "/peers/knot",
            "/peers/{name}",
            peer("name", json!("other")),
            "name",
        ),
        (
            "PUT",
            zone_path,
            zone_template,
            zone("name", json!("other.example.")),
            "name",
        ),
        (
            "POST",
            "/webhooks",
            "/webhooks",
            json!({"name": "h2", "url": "https://127.0.0.1:9/", "ca_file": "/nonexistent.pem"}),
            "ca_file",
        ),
        (
            "POST",
            overrides.as_str(),
            "/zones/{zone}/overrides",
            record("name", json!("x.elsewhere.")),
            "name",
        ),
    ] {
        let error = c.call(method, path, template, Some(body.clone()), 409);
        assert_eq!(error["field"], field, "{method} {path} {body}: {error}");
    }
    // Not JSON at all.
    let reply = c
        .api
        .call("POST", "/peers", Some(&json!("just a string")))
        .unwrap();
    assert_eq!(reply.status, 400, "{}", reply.body);
}
