//! The control API over plain HTTP, as automation would use it, and a checker that holds each
//! reply to the schema `openapi.json` gives for it.

use std::time::Duration;

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

    /// Checks that `reply` has a status documented for the operation, and a body matching
    /// the schema documented for that status.
    pub fn check(&self, template: &str, method: &str, reply: &Reply) -> anyhow::Result<()> {
        let op = self.operation(template, method)?;
        let documented = &op["responses"][reply.status.to_string()];
        if documented.is_null() {
            bail!(
                "{method} {template} answered {} ({}), which openapi.json does not list",
                reply.status,
                reply.body
            );
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

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema["$ref"].as_str() {
            Some(r) => {
                let name = r.trim_start_matches("#/components/schemas/");
                &self.doc["components"]["schemas"][name]
            }
            None => schema,
        }
    }

    /// Required properties, the properties a schema (with its `allOf` parts) documents.
    fn object_parts<'a>(&'a self, schema: &'a Value) -> (Vec<&'a str>, Vec<(&'a str, &'a Value)>) {
        let schema = self.resolve(schema);
        let mut required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut properties: Vec<(&str, &Value)> = schema["properties"]
            .as_object()
            .map(|p| p.iter().map(|(k, v)| (k.as_str(), v)).collect())
            .unwrap_or_default();
        for part in schema["allOf"].as_array().into_iter().flatten() {
            let (r, p) = self.object_parts(part);
            required.extend(r);
            properties.extend(p);
        }
        (required, properties)
    }

    /// A subset of JSON Schema: type, nullable, enum, required, properties (no property may
    /// be undocumented), items, allOf, $ref.
    pub fn validate(&self, schema: &Value, value: &Value, at: &str) -> anyhow::Result<()> {
        let schema = self.resolve(schema);
        if value.is_null() && schema["nullable"] == Value::Bool(true) {
            return Ok(());
        }
        if let Some(options) = schema["enum"].as_array()
            && !options.contains(value)
        {
            bail!("{at}: {value} is not one of {options:?}");
        }
        let is_object = schema["type"] == "object" || schema["allOf"].is_array();
        let ok = match schema["type"].as_str() {
            Some("string") => value.is_string(),
            Some("integer") => value.is_i64() || value.is_u64(),
            Some("boolean") => value.is_boolean(),
            Some("array") => value.is_array(),
            Some("object") => value.is_object(),
            _ => true,
        };
        if !ok {
            bail!("{at}: {value} is not of type {}", schema["type"]);
        }
        if let Some(items) = value.as_array().filter(|_| schema["items"].is_object()) {
            for (i, item) in items.iter().enumerate() {
                self.validate(&schema["items"], item, &format!("{at}[{i}]"))?;
            }
        }
        if is_object && let Some(object) = value.as_object() {
            let (required, properties) = self.object_parts(schema);
            for name in required {
                if !object.contains_key(name) {
                    bail!("{at}: required property {name} is missing in {value}");
                }
            }
            if !properties.is_empty() {
                for (key, item) in object {
                    let Some((_, property)) = properties.iter().find(|(k, _)| k == key) else {
                        bail!("{at}: property {key} is not documented");
                    };
                    self.validate(property, item, &format!("{at}.{key}"))?;
                }
            }
        }
        Ok(())
    }
}
