//! The CLI side of the control API.

use std::{net::SocketAddr, time::Duration};

use anyhow::Context as _;
use serde::de::DeserializeOwned;

pub struct Client {
    base: String,
    agent: ureq::Agent,
}

impl Client {
    pub fn new(control: SocketAddr) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(10))
            .build();
        Self {
            base: format!("http://{control}"),
            agent,
        }
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let url = format!("{}{path}", self.base);
        let response = self.agent.get(&url).call().map_err(|e| match e {
            ureq::Error::Status(code, response) => {
                let body = response.into_string().unwrap_or_default();
                anyhow::anyhow!("{url}: HTTP {code}: {body}")
            }
            ureq::Error::Transport(t) => anyhow::anyhow!(
                "cannot reach the secdns control API at {}: {t} (is `secdns serve` running? \
                 use --control ADDR for another address)",
                self.base
            ),
        })?;
        response
            .into_json()
            .with_context(|| format!("{url}: unexpected reply"))
    }
}
