//! A webhook as the config file and the control API define it.

use serde::{Deserialize, Serialize};

use super::event::EventKind;

/// Where notifications are POSTed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookDef {
    pub name: String,
    /// `https://host[:port]/path` (or `http://`).
    pub url: String,
    /// The events sent; every event when empty.
    #[serde(default)]
    pub events: Vec<EventKind>,
    /// PEM file of CA certificates to trust for this https URL, besides the public roots
    /// (for a receiver with a private CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<std::path::PathBuf>,
}

impl WebhookDef {
    /// What is wrong with the definition, if anything: (the field, why). Its name is the
    /// catalog's to check, as every object's.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        let https = self.url.starts_with("https://");
        let Some(rest) = self
            .url
            .strip_prefix("https://")
            .or_else(|| self.url.strip_prefix("http://"))
        else {
            return Some((
                "url",
                format!(
                    "webhook {}: {:?} is not an https:// or http:// URL",
                    self.name, self.url
                ),
            ));
        };
        if let Some(file) = &self.ca_file {
            if !https {
                return Some((
                    "ca_file",
                    format!("webhook {}: ca_file is for https URLs", self.name),
                ));
            }
            if let Err(e) = super::tls::read_cas(file) {
                return Some(("ca_file", format!("webhook {}: {e}", self.name)));
            }
        }
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty() || self.url.len() > 2048 || self.url.chars().any(char::is_whitespace) {
            return Some((
                "url",
                format!("webhook {}: {:?} is not a usable URL", self.name, self.url),
            ));
        }
        None
    }

    pub fn wants(&self, kind: EventKind) -> bool {
        self.events.is_empty() || self.events.contains(&kind)
    }
}
