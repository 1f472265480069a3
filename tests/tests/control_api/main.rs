//! The control API against a running server, every reply held to `openapi.json`: each
//! resource created, listed, shown, replaced and removed; invalid input for every field of
//! every body, and in every part of a path that names something, answered 400 naming the
//! field; 404 and 409 where due; secrets shown once; the Prometheus page parsed by a
//! Prometheus text parser. And access: without a token, local clients only; with one, only
//! clients that give it; clients that stall are let go of.

use std::time::Duration;

use secdns_tests::{
    api::{Api, OpenApi, Reply},
    knot::{Knot, KnotOptions, TsigSpec},
    prerequisites::{require_tools, secdns_bin},
    secdns::Secondary,
};
use serde_json::Value;

mod access;
mod invalid_input;
mod metrics;
mod scenario;
mod stalling_clients;

use metrics::check_metrics;

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

    /// A `status` (400 or 409) naming `field`.
    fn refused(
        &self,
        status: u16,
        method: &str,
        path: &str,
        template: &str,
        body: Value,
        field: &str,
    ) {
        let error = self.call(method, path, template, Some(body.clone()), status);
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
        serde_json::from_str(include_str!("../../../secdns/src/control/api/openapi.json")).unwrap();
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

    scenario::tsig_keys(&c, &key);
    let zone_path = scenario::peers_and_a_zone(&c, &knot, &key);
    scenario::replacing(&c, &zone_path, knot.port, &key);
    scenario::overrides(&c, &secondary, &zone_path);
    scenario::webhooks(&c);
    scenario::counters_and_metrics(&c, &secondary);
    invalid_input::every_field_is_checked(&c, &zone_path);
    invalid_input::every_path_part_is_checked(&c);
    scenario::not_found_and_in_use(&c, &key);
    let unknown = api.call("GET", "/no/such/thing", None).unwrap();
    assert_eq!(unknown.status, 404);
    scenario::removal(&c, &zone_path, &key);
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
