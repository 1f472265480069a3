//! The CLI side of the control API.

use std::{net::SocketAddr, time::Duration};

use anyhow::Context as _;
use serde::{Serialize, de::DeserializeOwned};

use super::api::error::ErrorBody;

pub struct Client {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

/// The server refused the request (the CLI exits with 1 and prints the message).
#[derive(Debug)]
pub struct Refusal {
    pub status: u16,
    pub body: ErrorBody,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.body.field {
            Some(field) => write!(f, "{} (field {field})", self.body.message),
            None => f.write_str(&self.body.message),
        }
    }
}

impl std::error::Error for Refusal {}

impl Client {
    pub fn new(control: SocketAddr, token: Option<String>) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(30))
            .build();
        Self {
            base: format!("http://{control}"),
            token,
            agent,
        }
    }

    fn request(&self, method: &str, path: &str) -> ureq::Request {
        let request = self.agent.request(method, &format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.set("Authorization", &format!("Bearer {token}")),
            None => request,
        }
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<ureq::Response> {
        let request = self.request(method, path);
        let result = match body {
            Some(body) => request.send_json(body),
            None => request.call(),
        };
        result.map_err(|e| self.refusal(e))
    }

    fn refusal(&self, e: ureq::Error) -> anyhow::Error {
        match e {
            ureq::Error::Status(status, response) => {
                let text = response.into_string().unwrap_or_default();
                let body = serde_json::from_str(&text).unwrap_or(ErrorBody {
                    field: None,
                    message: format!("HTTP {status}: {text}"),
                });
                Refusal { status, body }.into()
            }
            ureq::Error::Transport(t) => self.unreachable(&t),
        }
    }

    fn unreachable(&self, t: &ureq::Transport) -> anyhow::Error {
        anyhow::anyhow!(
            "cannot reach the secdns control API at {}: {t} (is `secdns serve` running? \
             use --control ADDR for another address)",
            self.base
        )
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.call("GET", path, None)?
            .into_json()
            .with_context(|| format!("{path}: unexpected reply"))
    }

    /// `/health`: 503 comes with a normal body too.
    pub fn get_health<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<(u16, T)> {
        let response = match self.request("GET", path).call() {
            Ok(response) => response,
            Err(ureq::Error::Status(503, response)) => response,
            Err(e) => return Err(self.refusal(e)),
        };
        let status = response.status();
        let body = response
            .into_json()
            .with_context(|| format!("{path}: unexpected reply"))?;
        Ok((status, body))
    }

    pub fn get_text(&self, path: &str) -> anyhow::Result<String> {
        self.call("GET", path, None)?
            .into_string()
            .with_context(|| format!("{path}: unexpected reply"))
    }

    pub fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        self.call(method, path, Some(serde_json::to_value(body)?))?
            .into_json()
            .with_context(|| format!("{path}: unexpected reply"))
    }

    pub fn post_empty(&self, path: &str) -> anyhow::Result<()> {
        self.call("POST", path, None).map(drop)
    }

    pub fn delete(&self, path: &str) -> anyhow::Result<()> {
        self.call("DELETE", path, None).map(drop)
    }
}
