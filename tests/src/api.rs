//! The control API over plain HTTP, as automation would use it, and a checker that holds each
//! reply to the schema `openapi.json` gives for it, with a JSON Schema validator (the
//! `jsonschema` crate) and no property left undocumented.

use std::{collections::BTreeMap, time::Duration};

use anyhow::{Context as _, bail};
use serde_json::Value;

pub struct Api {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

/// Status and body (JSON, or a JSON string holding the text) of one reply.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    /// Every header, by its name in lower case.
    pub headers: BTreeMap<String, String>,
    pub body: Value,
}

impl Api {
    pub fn new(control: std::net::SocketAddr, token: Option<&str>) -> Self {
        Self {
            base: format!("http://{control}"),
            token: token.map(str::to_owned),
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(30))
                .build(),
        }
    }

    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Reply> {
        let mut request = self.agent.request(method, &format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        let result = match body {
            Some(body) => request.send_json(body.clone()),
            None => request.call(),
        };
        let response = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(e).with_context(|| format!("{method} {path}")),
        };
        let status = response.status();
        let content_type = response.content_type().to_owned();
        let headers = response
            .headers_names()
            .into_iter()
            .filter_map(|name| {
                let value = response.header(&name)?.to_owned();
                Some((name.to_lowercase(), value))
            })
            .collect();
        let text = response.into_string()?;
        let body = if text.is_empty() {
            Value::Null
        } else if content_type == "application/json" {
            serde_json::from_str(&text).with_context(|| format!("{method} {path}: {text}"))?
        } else {
            Value::String(text)
        };
        Ok(Reply {
            status,
            content_type,
            headers,
            body,
        })
    }
}

/// An OpenAPI 3 document, to check replies against.
pub struct OpenApi {
    pub doc: Value,
}

impl OpenApi {
    /// The operation at `template` (a documented path such as `/zones/{zone}`) and `method`.
    pub fn operation(&self, template: &str, method: &str) -> anyhow::Result<&Value> {
        let op = &self.doc["paths"][template][method.to_lowercase()];
        if op.is_null() {
            bail!("{method} {template} is not in openapi.json");
        }
        Ok(op)
    }

    /// Checks that `reply` has a status documented for the operation, every header documented
    /// for that status, and a body matching the schema documented for it.
    pub fn check(&self, template: &str, method: &str, reply: &Reply) -> anyhow::Result<()> {
        let op = self.operation(template, method)?;
        let documented = self.resolve(&op["responses"][reply.status.to_string()]);
        if documented.is_null() {
            bail!(
                "{method} {template} answered {} ({}), which openapi.json does not list",
                reply.status,
                reply.body
            );
        }
        for name in documented["headers"]
            .as_object()
            .into_iter()
            .flat_map(|h| h.keys())
        {
            if !reply.headers.contains_key(&name.to_lowercase()) {
                bail!("{method} {template} {}: no {name} header", reply.status);
            }
        }
        let content = &documented["content"];
        match content.as_object() {
            None if reply.body.is_null() => Ok(()),
            None => bail!(
                "{method} {template} {}: a body where none is documented",
                reply.status
            ),
            Some(types) => {
                let media = &types.get(&reply.content_type).with_context(|| {
                    format!(
                        "{method} {template} {}: content type {} is not documented",
                        reply.status, reply.content_type
                    )
                })?["schema"];
                self.validate(media, &reply.body, "$")
                    .with_context(|| format!("{method} {template} {}", reply.status))
            }
        }
    }

    /// What a `$ref` (to a schema or a response) stands for.
    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema["$ref"].as_str() {
            Some(r) => self
                .doc
                .pointer(r.trim_start_matches('#'))
                .unwrap_or(&Value::Null),
            None => schema,
        }
    }

    /// `value` against `schema`: by a JSON Schema (2020-12) validator, then for properties
    /// the document does not list (which JSON Schema allows unless told otherwise).
    pub fn validate(&self, schema: &Value, value: &Value, at: &str) -> anyhow::Result<()> {
        let root = serde_json::json!({
            "components": {"schemas": self.doc["components"]["schemas"].clone()},
            "allOf": [schema.clone()],
        });
        let validator = jsonschema::draft202012::options()
            .build(&root)
            .map_err(|e| anyhow::anyhow!("openapi.json's schema at {at}: {e}"))?;
        let errors: Vec<String> = validator
            .iter_errors(value)
            .map(|e| format!("{at}{}: {e}", e.instance_path()))
            .collect();
        if !errors.is_empty() {
            bail!("{}", errors.join("; "));
        }
        self.undocumented(schema, value, at)
    }

    /// The properties a schema (with its `allOf`, `oneOf` and `anyOf` parts) documents.
    fn object_parts<'a>(&'a self, schema: &'a Value) -> Vec<(&'a str, &'a Value)> {
        let schema = self.resolve(schema);
        let mut properties: Vec<(&str, &Value)> = schema["properties"]
            .as_object()
            .map(|p| p.iter().map(|(k, v)| (k.as_str(), v)).collect())
            .unwrap_or_default();
        for parts in ["allOf", "oneOf", "anyOf"] {
            for part in schema[parts].as_array().into_iter().flatten() {
                properties.extend(self.object_parts(part));
            }
        }
        properties
    }

    /// Fails on a property of an object (at any depth) that its schema does not document.
    fn undocumented(&self, schema: &Value, value: &Value, at: &str) -> anyhow::Result<()> {
        let schema = self.resolve(schema);
        if let Some(items) = value.as_array().filter(|_| schema["items"].is_object()) {
            for (i, item) in items.iter().enumerate() {
                self.undocumented(&schema["items"], item, &format!("{at}[{i}]"))?;
            }
        }
        let properties = self.object_parts(schema);
        if let Some(object) = value.as_object().filter(|_| !properties.is_empty()) {
            for (key, item) in object {
                let Some((_, property)) = properties.iter().find(|(k, _)| k == key) else {
                    bail!("{at}: property {key} is not documented");
                };
                self.undocumented(property, item, &format!("{at}.{key}"))?;
            }
        }
        Ok(())
    }
}
