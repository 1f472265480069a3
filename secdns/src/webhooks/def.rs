//! A webhook as the config file and the control API define it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::event::EventKind;
use crate::text_forms::{Handle, ipv6_pattern, named_schema, string_schema};

/// Where notifications are POSTed: each event as an `Event` object in JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Webhook)]
pub struct WebhookDef {
    #[schema(value_type = Handle)]
    pub name: String,
    #[schema(value_type = WebhookUrl)]
    pub url: String,
    /// The events sent; every event when empty.
    #[serde(default)]
    pub events: Vec<EventKind>,
    /// PEM file (on the server) of CA certificates to trust for this https URL, besides the
    /// public roots (for a receiver with a private CA).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub ca_file: Option<std::path::PathBuf>,
}

/// The longest URL taken.
const MAX_URL: usize = 2048;

/// `[userinfo@]host[:port]` and then a path, query or fragment: userinfo of RFC 3986's
/// characters (ureq sends it as basic authentication); a host of letters, digits, `.`, `-`
/// and `_`, or an IPv6 address in brackets; a port from 1 to 65535; printable ASCII after it.
fn usable_after_scheme(rest: &str) -> bool {
    let (authority, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let authority = match authority.split_once('@') {
        Some((userinfo, host_and_port)) => {
            let userinfo_ok = userinfo
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:%".contains(&b));
            if !userinfo_ok {
                return false;
            }
            host_and_port
        }
        None => authority,
    };
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((v6, port)) => (v6.parse::<std::net::Ipv6Addr>().is_ok(), port),
            None => (false, ""),
        },
        None => {
            let (host, port) = authority.split_at(authority.find(':').unwrap_or(authority.len()));
            let named = host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
            (!host.is_empty() && named, port)
        }
    };
    let port = port.is_empty()
        || port.strip_prefix(':').is_some_and(|digits| {
            !digits.starts_with('0')
                && digits.bytes().all(|b| b.is_ascii_digit())
                && digits.parse::<u16>().is_ok()
        });
    host && port && tail.bytes().all(|b| b.is_ascii_graphic())
}

/// What [`WebhookDef::problem`] takes for a URL, for the API's document.
pub struct WebhookUrl;

/// 1 to 65535, no leading zero.
const PORT: &str =
    "(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})";

fn url_pattern() -> String {
    format!(
        r"^https?://(?:[A-Za-z0-9._~!$&'()*+,;=:%-]*@)?(?:[A-Za-z0-9._-]+|\[{}\])(?::{PORT})?(?:[/?#][!-~]*)?$",
        ipv6_pattern()
    )
}

named_schema!(
    WebhookUrl,
    "WebhookUrl",
    string_schema(
        url_pattern(),
        Some(MAX_URL),
        "https://host[:port]/path (or http://): a host name or address ([IPv6] in brackets), \
         and printable ASCII (percent-encoded) after it",
    )
);

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
        if self.ca_file.is_some() && !https {
            return Some((
                "ca_file",
                format!("webhook {}: ca_file is for https URLs", self.name),
            ));
        }
        if self.url.len() > MAX_URL || !usable_after_scheme(rest) {
            return Some((
                "url",
                format!(
                    "webhook {}: {:?} is not a usable URL: give a host name or address \
                     ([IPv6] in brackets), a port of up to 5 digits, and a path in printable \
                     ASCII; at most {MAX_URL} characters",
                    self.name, self.url
                ),
            ));
        }
        None
    }

    /// Why the CA file cannot be used, if it cannot: missing, unreadable or holding no
    /// certificate.
    pub fn unusable_ca_file(&self) -> Option<String> {
        let file = self.ca_file.as_ref()?;
        let e = super::tls::read_cas(file).err()?;
        Some(format!("webhook {}: {e}", self.name))
    }

    pub fn wants(&self, kind: EventKind) -> bool {
        self.events.is_empty() || self.events.contains(&kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usable(url: &str) -> bool {
        let def = WebhookDef {
            name: "h".into(),
            url: url.into(),
            events: Vec::new(),
            ca_file: None,
        };
        def.problem().is_none()
    }

    #[test]
    fn the_url_pattern_is_the_check() {
        let pattern = regex::Regex::new(&url_pattern()).unwrap();
        let alphabet: Vec<char> = "ab1.-:[]/?#% 9f::@_0".chars().collect();
        let mut draws = crate::text_forms::Draws::new(0x2f6b_3c1d_94e5_a7b3_u64);
        let mut urls: Vec<String> = (0..100_000)
            .map(|_| {
                let scheme = ["http://", "https://", "ftp://", ""][draws.below(4)];
                let rest = draws.text(&alphabet, 14);
                format!("{scheme}{rest}")
            })
            .collect();
        urls.extend(
            [
                "https://hooks.example.net:8443/secdns?x=1",
                "http://[2001:db8::1]:8080/",
                "http://[::ffff:192.0.2.1]/a",
                "http://[2001:db8::1/",
                "http://a:123456/",
                "http://a:/",
                "https://a b/",
                "https://user:token@hooks.example.net/x",
                "http://receiver_1:8080/",
                "http://a:65535/",
                "http://a:65536/",
                "http://a:0/",
                "http://a:080/",
                "http://u@v@a/",
            ]
            .map(String::from),
        );
        urls.push(format!("https://a/{}", "x".repeat(MAX_URL)));
        for url in urls {
            let described = pattern.is_match(&url) && url.chars().count() <= MAX_URL;
            assert_eq!(
                described,
                usable(&url),
                "{url:?}: the pattern and the check disagree"
            );
        }
    }
}
