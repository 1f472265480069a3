//! The control API against a running server, every reply held to `openapi.json`: each
//! resource created, listed, shown, replaced and removed; invalid input for every field of
//! every body answered 400 naming the field; 404 and 409 where due; secrets shown once; the
//! Prometheus page parsed by a Prometheus text parser. And access: without a token, local
//! clients only; with one, only clients that give it.

use std::time::Duration;

use secdns_tests::{
    api::{Api, OpenApi, Reply},
    knot::{Knot, KnotOptions, TsigSpec},
    netns::{SERVER_V4, TestNet},
    prerequisites::{require_root, require_tools, secdns_bin},
    secdns::Secondary,
};
use serde_json::{Value, json};

const APEX: &str = "api.example.";

fn zone_text(serial: u32) -> String {
    format!(
        "$ORIGIN {APEX}\n$TTL 60\n@ IN SOA ns hm {serial} 3600 600 86400 60\n  IN NS ns\n\
         ns IN A 192.0.2.1\nwww IN A 192.0.2.80\nmail IN AAAA 2001:db8::25\n"
    )
}

/// Calls the API, checks the reply against the document, and that its status is `status`.
struct Checked<'a> {
    api: &'a Api,
    doc: &'a OpenApi,
}

impl Checked<'_> {
    fn call(
        &self,
        method: &str,
        path: &str,
        template: &str,
        body: Option<Value>,
        status: u16,
    ) -> Value {
        let reply: Reply = self.api.call(method, path, body.as_ref()).unwrap();
        assert_eq!(
            reply.status, status,
            "{method} {path} {body:?}: {}",
            reply.body
        );
        self.doc.check(template, method, &reply).unwrap();
        reply.body
    }

    /// A 400 naming `field`.
    fn invalid(&self, method: &str, path: &str, template: &str, body: Value, field: &str) {
        let error = self.call(method, path, template, Some(body.clone()), 400);
        assert_eq!(error["field"], field, "{method} {path} {body}: {error}");
        assert!(!error["message"].as_str().unwrap_or("").is_empty());
    }
}

#[test]
fn the_api_keeps_to_its_openapi_document() {
    require_tools(&["knotd", "dig"]);
    let _ = secdns_bin();
    let key = TsigSpec::new(
        "api-key.",
        "hmac-sha256",
        b"thirty-two bytes of a test secret",
    );
    let mut options = KnotOptions::new(APEX, &zone_text(1));
    options.key = Some(key.clone());
    let knot = Knot::start(options).unwrap();
    let secondary = Secondary::start("").unwrap();
    let api = Api::new(secondary.control, None);
    let served = api.call("GET", "/openapi.json", None).unwrap();
    let in_repo: Value =
        serde_json::from_str(include_str!("../../secdns/src/control/api/openapi.json")).unwrap();
    assert_eq!(
        served.body, in_repo,
        "the server serves the document in the repo"
    );
    let doc = OpenApi { doc: in_repo };
    let c = Checked {
        api: &api,
        doc: &doc,
    };

    let health = c.call("GET", "/health", "/health", None, 200);
    assert_eq!(health["status"], "ok");

    // TSIG keys: the secret comes back once, then masked.
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

    // Peers and a zone: the zone is transferred.
    let port = knot.port;
    let peer = json!({"name": "knot", "address": "127.0.0.1", "port": port, "ixfr": true, "tsig": key.name});
    c.call("POST", "/peers", "/peers", Some(peer.clone()), 201);
    c.call("POST", "/peers", "/peers", Some(peer.clone()), 409);
    let listed = c.call("GET", "/peers", "/peers", None, 200);
    assert_eq!(listed[0]["origin"], "api");
    c.call("GET", "/peers/knot", "/peers/{name}", None, 200);
    let zone = json!({"name": APEX, "peers": ["knot"], "refresh": 3600});
    c.call("POST", "/zones", "/zones", Some(zone.clone()), 201);
    c.call("POST", "/zones", "/zones", Some(zone), 409);
    let zone_path = format!("/zones/{APEX}");
    let status = wait(&c, &zone_path, |s| s["serial"] == 1);
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

    // Replacing a peer and a zone; a forced transfer.
    c.call(
        "PUT",
        "/peers/knot",
        "/peers/{name}",
        Some(json!({"name": "knot", "address": "127.0.0.1", "port": port, "ixfr": false, "tsig": key.name})),
        200,
    );
    c.call(
        "PUT",
        &zone_path,
        "/zones/{zone}",
        Some(json!({"name": APEX, "peers": ["knot"], "refresh": 600})),
        200,
    );
    wait(&c, &zone_path, |s| s["refresh"] == 600);
    c.call(
        "POST",
        &format!("{zone_path}/force_axfr"),
        "/zones/{zone}/force_axfr",
        None,
        202,
    );

    // Overrides, served at once, and gone when removed.
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
    assert_eq!(answer(&secondary, "www", "A"), ["198.51.100.7"]);
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
        answer(&secondary, "www", "A"),
        ["198.51.100.8", "198.51.100.9"]
    );
    let listed = c.call("GET", &overrides, "/zones/{zone}/overrides", None, 200);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    c.call("DELETE", &one, template, None, 204);
    c.call("DELETE", &one, template, None, 404);
    assert_eq!(answer(&secondary, "www", "A"), ["192.0.2.80"]);

    // Webhooks.
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

    // Counters and metrics, after some queries.
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

    every_field_is_checked(&c, &zone_path);

    // Not found, and in use.
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
    let unknown = api.call("GET", "/no/such/thing", None).unwrap();
    assert_eq!(unknown.status, 404);
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

    // Removal, in dependency order.
    c.call("DELETE", &zone_path, "/zones/{zone}", None, 204);
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

/// Polls `GET path` until `ready` holds.
fn wait(c: &Checked<'_>, path: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let status = c.call("GET", path, "/zones/{zone}", None, 200);
        if ready(&status) {
            return status;
        }
        assert!(std::time::Instant::now() < deadline, "{path}: {status:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The addresses secdns answers for `label` in the zone, sorted.
fn answer(secondary: &Secondary, label: &str, rtype: &str) -> Vec<String> {
    let reply = secondary.query(&format!("{label}.{APEX}"), rtype).unwrap();
    let mut data: Vec<String> = reply
        .sections
        .get("ANSWER")
        .into_iter()
        .flatten()
        .filter_map(|line| line.split_whitespace().last().map(str::to_owned))
        .collect();
    data.sort();
    data
}

fn check_metrics(page: &str) {
    let lines = page.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
    let value = |name: &str, labels: &[(&str, &str)]| -> Option<f64> {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
    };
    let answered = value(
        "secdns_queries_total",
        &[("path", "udp"), ("zone", APEX), ("rcode", "NOERROR")],
    );
    assert!(answered.is_some_and(|v| v >= 5.0), "{page}");
    let refused = value(
        "secdns_queries_total",
        &[("zone", ""), ("rcode", "REFUSED")],
    );
    assert!(refused.is_some_and(|v| v >= 1.0), "{page}");
    assert_eq!(
        value("secdns_zone_serial", &[("zone", APEX)]),
        Some(1.0),
        "{page}"
    );
    assert_eq!(value("secdns_zone_serving", &[("zone", APEX)]), Some(1.0));
    assert!(
        value(
            "secdns_transfers_total",
            &[("zone", APEX), ("kind", "axfr"), ("result", "success")]
        )
        .is_some_and(|v| v >= 1.0),
        "{page}"
    );
    let since = value("secdns_zone_seconds_since_refresh", &[("zone", APEX)]).unwrap();
    assert!((0.0..120.0).contains(&since), "{since}");
    let expire = value("secdns_zone_expire_seconds", &[("zone", APEX)]).unwrap();
    assert!(expire > 86000.0 && expire <= 86400.0, "{expire}");
    assert_eq!(value("secdns_xdp_attached", &[]), Some(0.0));
    for family in ["secdns_queries_total", "secdns_transfers_total"] {
        assert!(page.contains(&format!("# TYPE {family} counter")), "{page}");
    }
}

/// Every field of every request body, given a bad value, is refused and named.
fn every_field_is_checked(c: &Checked<'_>, zone_path: &str) {
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
            peer("tsig", json!("nokey.")),
            "tsig",
        ),
        (
            "POST",
            "/peers".into(),
            "/peers",
            peer("source", json!("2001:db8::1")),
            "source",
        ),
        (
            "PUT",
            "/peers/knot".into(),
            "/peers/{name}",
            peer("name", json!("other")),
            "name",
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
            zone("peers", json!(["nobody"])),
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
            "PUT",
            zone_path.into(),
            zone_template,
            zone("name", json!("other.example.")),
            "name",
        ),
        (
            "POST",
            overrides.clone(),
            "/zones/{zone}/overrides",
            record("name", json!("x.elsewhere.")),
            "name",
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
            hook("ca_file", json!("/nonexistent.pem")),
            "ca_file",
        ),
    ];
    for (method, path, template, body, field) in cases {
        c.invalid(method, &path, template, body, field);
    }
    // Not JSON at all.
    let reply = c
        .api
        .call("POST", "/peers", Some(&json!("just a string")))
        .unwrap();
    assert_eq!(reply.status, 400, "{}", reply.body);
}

/// Without a token the API answers loopback clients only; with one, whoever gives it. The
/// CLI exits 1 when refused and 2 on a usage error.
#[test]
fn non_local_clients_need_the_token() {
    require_root();
    let net = TestNet::new("api").unwrap();
    let control: std::net::SocketAddr = "0.0.0.0:8053".parse().unwrap();
    let remote = format!("{SERVER_V4}:8053");
    let mut secondary = Secondary::start_with(53, Some(&net.server_ns), control, "").unwrap();
    let from_client = |args: &[&str]| {
        net.client(&secdns_bin().display().to_string())
            .args(["--control", &remote])
            .args(args)
            .output()
            .unwrap()
    };
    let refused = from_client(&["health"]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("non-local"), "{stderr}");
    secondary.cli(&["health"]).unwrap();

    secondary.kill();
    let token = "a-token-of-some-length";
    std::fs::write(
        &secondary.config,
        std::fs::read_to_string(&secondary.config).unwrap().replace(
            "\ncontrol =",
            &format!("\ncontrol_token = \"{token}\"\ncontrol ="),
        ),
    )
    .unwrap();
    secondary.restart().unwrap();
    let no_token = from_client(&["health"]);
    assert_eq!(no_token.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&no_token.stderr);
    assert!(stderr.contains("Bearer"), "{stderr}");
    let wrong = from_client(&["--token", "a-token-of-some-lengtH", "health"]);
    assert_eq!(wrong.status.code(), Some(1));
    let with_token = from_client(&["--token", token, "health", "--json"]);
    assert!(with_token.status.success(), "{with_token:?}");
    let health: Value = serde_json::from_slice(&with_token.stdout).unwrap();
    assert_eq!(health["status"], "ok");
    // Loopback clients need it too once it is set.
    assert!(secondary.cli(&["health"]).is_err());

    let usage = from_client(&["zone", "add"]);
    assert_eq!(usage.status.code(), Some(2), "{usage:?}");
}
