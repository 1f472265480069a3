//! The control API's OpenAPI document, made from the handlers' `#[utoipa::path]` attributes
//! and the schemas of the types they take and give, with what holds for every operation added
//! here: access (401, 403), refused path parameters (400) and bodies (400, 408, 413, 415).
//! `openapi.json` next to this file is this document; the test below keeps it so.

use std::sync::LazyLock;

use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::{
        self, Components, ContentBuilder, PathItem, Ref, RefOr, ResponseBuilder, Schema,
        path::{Operation, ParameterIn},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

use serde_json::json;

use super::error::ErrorBody;
use crate::webhooks::event::Event;
use crate::{
    catalog::{OverrideDef, PeerDef},
    control::KeyChange,
    dns::Name,
    text_forms::{ipv4_pattern, ipv6_pattern},
    webhooks::WebhookDef,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "secdns control API",
        version = "1",
        description = "Manage a running secdns: TSIG keys, peers (primaries), secondary zones, \
            overrides, webhooks, rate limits and DNS Cookies. Bodies are JSON; errors are \
            `{field, message}`. Without `[server] control_token` only loopback clients are \
            answered; with it, every request needs `Authorization: Bearer TOKEN`. Webhooks \
            receive `Event` objects as JSON POSTs."
    ),
    servers((url = "http://127.0.0.1:8053", description = "The default control address")),
    security((), ("bearer" = [])),
    components(schemas(Event, ErrorBody))
)]
pub struct Document;

/// The document of the routes in `routes`, with what every operation shares.
pub fn complete(mut document: openapi::OpenApi) -> openapi::OpenApi {
    EveryOperation.modify(&mut document);
    document
}

/// The document as served and committed.
pub fn text() -> Result<&'static str, String> {
    static TEXT: LazyLock<Result<String, String>> = LazyLock::new(|| {
        super::document()
            .to_pretty_json()
            .map_err(|e| format!("the OpenAPI document does not serialize: {e}"))
    });
    TEXT.as_deref().map_err(Clone::clone)
}

/// Answers every operation can give, by the name they have under components/responses.
const ACCESS: [(&str, &str, &str); 2] = [
    (
        "401",
        "Unauthorized",
        "A token is configured and the request does not give it",
    ),
    (
        "403",
        "Forbidden",
        "No token is configured and the client is not local",
    ),
];
const BAD_INPUT: (&str, &str, &str) = (
    "400",
    "BadRequest",
    "A path parameter or the body is refused; `field` names it",
);
const BODY: [(&str, &str, &str); 3] = [
    (
        "408",
        "TooSlow",
        "The body did not arrive in time; the message says how long it may take",
    ),
    ("413", "TooLarge", "The body is over 1 MiB"),
    ("415", "NotJson", "The body is not sent as application/json"),
];

struct EveryOperation;

impl Modify for EveryOperation {
    fn modify(&self, document: &mut openapi::OpenApi) {
        let components = document.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        for (_, name, description) in ACCESS.iter().chain([&BAD_INPUT]).chain(&BODY) {
            let error = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(ErrorBody::name())))
                .build();
            let response = ResponseBuilder::new()
                .description(*description)
                .content("application/json", error)
                .build();
            components
                .responses
                .insert(name.to_string(), response.into());
        }
        between_fields(components);
        for item in document.paths.paths.values_mut() {
            for operation in operations(item) {
                let in_path = operation
                    .parameters
                    .iter()
                    .flatten()
                    .any(|p| p.parameter_in == ParameterIn::Path);
                let body = operation.request_body.is_some();
                let mut shared: Vec<_> = ACCESS.to_vec();
                if in_path || body {
                    shared.push(BAD_INPUT);
                }
                if body {
                    shared.extend(BODY);
                }
                let responses = &mut operation.responses.responses;
                for (status, name, _) in shared {
                    let response = RefOr::Ref(Ref::new(format!("#/components/responses/{name}")));
                    responses.entry(status.to_owned()).or_insert(response);
                }
                let mut sorted: Vec<_> = std::mem::take(responses).into_iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                *responses = sorted.into_iter().collect();
            }
        }
    }
}

/// Rules between the fields of a body that the derives cannot state, in JSON Schema's words
/// (as extensions: utoipa has no builder for these keywords). A `null` is as good as absent.
fn between_fields(components: &mut Components) {
    let v4 = format!("^{}$", ipv4_pattern());
    let v6 = format!("^{}$", ipv6_pattern());
    let name = Ref::from_schema_name(Name::name());
    let rules = [
        (
            OverrideDef::name(),
            "anyOf",
            json!([
                {"properties": {"type": {"const": "A"}, "data": {"items": {"pattern": v4}}}},
                {"properties": {"type": {"const": "AAAA"}, "data": {"items": {"pattern": v6}}}},
                {"properties": {"type": {"const": "CNAME"}, "data": {"maxItems": 1, "items": name}}}
            ]),
        ),
        (
            PeerDef::name(),
            "anyOf",
            json!([
                {"not": {"required": ["source"]}},
                {"properties": {"source": {"type": "null"}}},
                {"properties": {"address": {"pattern": v4}, "source": {"pattern": v4}}},
                {"properties": {"address": {"pattern": v6}, "source": {"pattern": v6}}}
            ]),
        ),
        (
            KeyChange::name(),
            "not",
            json!({
                "required": ["secret", "generate"],
                "properties": {"secret": {"type": "string"}, "generate": {"const": true}}
            }),
        ),
        (
            WebhookDef::name(),
            "dependentSchemas",
            json!({"ca_file": {"anyOf": [
                {"properties": {"ca_file": {"type": "null"}}},
                {"properties": {"url": {"pattern": "^https://"}}}
            ]}}),
        ),
    ];
    for (name, keyword, rule) in rules {
        if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(name.as_ref()) {
            let extensions = object.extensions.get_or_insert_default();
            extensions.insert(keyword.into(), rule);
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
        &mut item.head,
        &mut item.options,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMITTED: &str = include_str!("openapi.json");
    const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/control/api/openapi.json");

    /// `openapi.json` is the document the code makes. `UPDATE_OPENAPI=1 cargo test -p secdns
    /// openapi` writes it anew after a change.
    #[test]
    fn the_committed_openapi_json_is_generated() {
        let made = text().unwrap();
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::write(PATH, format!("{made}\n")).unwrap();
            return;
        }
        assert!(
            COMMITTED.trim_end() == made,
            "{PATH} is not the document the code makes: run UPDATE_OPENAPI=1 cargo test -p \
             secdns openapi, and review the difference"
        );
    }

    /// Every response refers to schemas and responses the document has.
    #[test]
    fn every_reference_resolves() {
        let made: serde_json::Value = serde_json::from_str(text().unwrap()).unwrap();
        let mut refs = Vec::new();
        collect_refs(&made, &mut refs);
        assert!(refs.len() > 50, "{refs:?}");
        for reference in refs {
            let pointer = reference.trim_start_matches('#');
            assert!(
                made.pointer(pointer).is_some(),
                "{reference} does not resolve"
            );
        }
    }

    fn collect_refs(value: &serde_json::Value, refs: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(r)) = map.get("$ref") {
                    refs.push(r.clone());
                }
                map.values().for_each(|v| collect_refs(v, refs));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
            _ => {}
        }
    }
}
