//! The CLI side of the control API.

use std::{net::SocketAddr, time::Duration};

use anyhow::Context as _;
use serde::{Serialize, de::DeserializeOwned};

pub struct Client {
    base: String,
    agent: ureq::Agent,
}

/// Percent-encodes a path segment (a zone or key name may hold any byte).
pub fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

impl Client {
    pub fn new(control: SocketAddr) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(30))
            .build();
        Self {
            base: format!("http://{control}"),
            agent,
        }
    }

    fn call(
        &self,
        request: ureq::Request,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<ureq::Response> {
        let url = request.url().to_owned();
        let result = match body {
            Some(body) => request.send_json(body),
            None => request.call(),
        };
        result.map_err(|e| match e {
            ureq::Error::Status(_, response) => {
                let body = response.into_string().unwrap_or_default();
                anyhow::anyhow!("{body}")
            }
            ureq::Error::Transport(t) => anyhow::anyhow!(
                "cannot reach the secdns control API at {}: {t} (is `secdns serve` running? \
                 use --control ADDR for another address) [{url}]",
                self.base
            ),
        })
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let response = self.call(self.agent.get(&format!("{}{path}", self.base)), None)?;
        response
            .into_json()
            .with_context(|| format!("{path}: unexpected reply"))
    }

    pub fn get_text(&self, path: &str) -> anyhow::Result<String> {
        let response = self.call(self.agent.get(&format!("{}{path}", self.base)), None)?;
        response
            .into_string()
            .with_context(|| format!("{path}: unexpected reply"))
    }

    pub fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        let response = self.call(
            self.agent.post(&format!("{}{path}", self.base)),
            Some(serde_json::to_value(body)?),
        )?;
        response
            .into_json()
            .with_context(|| format!("{path}: unexpected reply"))
    }

    pub fn post_empty(&self, path: &str) -> anyhow::Result<()> {
        self.call(self.agent.post(&format!("{}{path}", self.base)), None)
            .map(drop)
    }

    pub fn delete(&self, path: &str) -> anyhow::Result<()> {
        self.call(self.agent.delete(&format!("{}{path}", self.base)), None)
            .map(drop)
    }
}
