//! DNS Cookies (RFC 7873, server cookies as RFC 9018) for what userspace answers: a reply to
//! a query with a COOKIE option carries the client's cookie and ours. The XDP program does
//! the same with the same secrets (`secdns-ebpf/src/cookie.rs`); `[cookies]` (or the API)
//! can give every host of a fleet one secret, so that a client's cookie is good at all.

use std::{fmt, net::IpAddr};

use anyhow::bail;
use arc_swap::ArcSwap;
use secdns_common::cookie::{
    CLIENT_COOKIE_LEN, COOKIE_REPLY_LEN, COOKIES_ON, COOKIES_PREVIOUS, CookieSettings,
    SERVER_COOKIE_LEN, Validity, address_words, check_server_cookie, le_word, secret_words,
    server_cookie,
};
use serde::{Deserialize, Serialize};

use crate::{
    answer::{
        ReplyCookie,
        query::{ParsedQuery, QueryCookie},
    },
    rate_limit::mapped,
};

/// `[cookies]`: on unless turned off; a random secret unless one is given.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct CookieConfig {
    pub enabled: Option<bool>,
    /// 16 bytes in hex, shared by every host that should accept the others' cookies.
    pub secret: Option<Secret>,
    /// The secret before the current one, still accepted (while a fleet rotates).
    pub previous_secret: Option<Secret>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Secret(pub [u8; 16]);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl std::str::FromStr for Secret {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<Self> {
        let bytes = data_encoding::HEXLOWER_PERMISSIVE
            .decode(text.as_bytes())
            .ok()
            .and_then(|bytes| <[u8; 16]>::try_from(bytes).ok());
        match bytes {
            Some(bytes) => Ok(Self(bytes)),
            None => bail!("a cookie secret is 16 bytes in hex (32 hex digits)"),
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse()
            .map_err(|e| serde::de::Error::custom(format!("{e:#}")))
    }
}

/// DNS Cookies (RFC 7873, server cookies as RFC 9018), in the kernel and in userspace alike;
/// the secrets are never shown.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[schema(as = Cookies)]
pub struct CookieStatus {
    /// Queries with a COOKIE option get one back.
    pub enabled: bool,
    /// Cookies made under the previous secret are still accepted.
    pub previous_secret: bool,
}

struct State {
    enabled: bool,
    current: [u8; 16],
    previous: Option<[u8; 16]>,
}

impl State {
    /// The secrets as the hash takes them: the current, then the previous (zeros if none).
    fn secret_words(&self) -> [[u64; 2]; 2] {
        let previous = self.previous.unwrap_or_default();
        [secret_words(&self.current), secret_words(&previous)]
    }
}

pub struct Cookies {
    state: ArcSwap<State>,
}

/// What the cookie of a query was worth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Judged {
    /// No COOKIE option (or cookies are off).
    None,
    /// A client cookie alone, or with a server cookie not ours (or out of time).
    ClientOnly,
    /// With a good server cookie of ours: exempt from rate limits.
    Valid,
}

impl Cookies {
    pub fn new(config: &CookieConfig) -> Self {
        let (current, usable) = match config.secret {
            Some(secret) => (secret.0, true),
            None => random_secret(),
        };
        Self {
            state: ArcSwap::from_pointee(State {
                enabled: config.enabled.unwrap_or(true) && usable,
                current,
                previous: config.previous_secret.map(|s| s.0),
            }),
        }
    }

    /// Whether queries with a COOKIE option get ours.
    pub fn enabled(&self) -> bool {
        self.state.load().enabled
    }

    pub fn status(&self) -> CookieStatus {
        let state = self.state.load();
        CookieStatus {
            enabled: state.enabled,
            previous_secret: state.previous.is_some(),
        }
    }

    /// Turns cookies on or off, and (with `secret`) makes it the current secret, the current
    /// one the previous.
    pub fn change(&self, enabled: Option<bool>, secret: Option<Secret>) {
        // Compare-and-swap: two changes at once both take effect.
        self.state.rcu(|state| {
            let (current, previous) = match secret {
                Some(secret) if secret.0 != state.current => (secret.0, Some(state.current)),
                _ => (state.current, state.previous),
            };
            State {
                enabled: enabled.unwrap_or(state.enabled),
                current,
                previous,
            }
        });
    }

    /// The settings as the XDP program takes them.
    pub fn kernel_settings(&self) -> CookieSettings {
        let state = self.state.load();
        let mut flags = 0;
        if state.enabled {
            flags |= COOKIES_ON;
        }
        if state.previous.is_some() {
            flags |= COOKIES_PREVIOUS;
        }
        CookieSettings {
            secrets: state.secret_words(),
            wall_offset_ns: wall_offset_ns(),
            flags,
            reserved: 0,
        }
    }

    /// The COOKIE option for the reply to `parsed` from `source` (none for a query without
    /// one, or signed: the signature covers the answer), and what the query's cookie was
    /// worth.
    pub fn reply_cookie(
        &self,
        parsed: &ParsedQuery<'_>,
        source: IpAddr,
    ) -> (Option<ReplyCookie>, Judged) {
        let state = self.state.load();
        let cookie = match parsed {
            ParsedQuery::Query {
                edns: Some(edns),
                signed: false,
                ..
            }
            | ParsedQuery::Error {
                edns: Some(edns), ..
            } => edns.cookie,
            _ => None,
        };
        let Some(cookie) = cookie.filter(|_| state.enabled) else {
            return (None, Judged::None);
        };
        let now = crate::unix_time::now() as u32;
        let address = mapped(source).octets();
        let validity = check(&state, &cookie, &address, now);
        let server = match validity {
            Validity::Valid => cookie.server,
            _ => server_cookie(&state.current, &cookie.client, now, &address),
        };
        let mut data = [0u8; COOKIE_REPLY_LEN - 4];
        data[..CLIENT_COOKIE_LEN].copy_from_slice(&cookie.client);
        data[CLIENT_COOKIE_LEN..].copy_from_slice(&server);
        let judged = match validity {
            Validity::Invalid => Judged::ClientOnly,
            _ => Judged::Valid,
        };
        (Some(data), judged)
    }
}

/// What `cookie`, from `address` (IPv6, or IPv4 mapped), is worth at `now`.
fn check(state: &State, cookie: &QueryCookie, address: &[u8; 16], now: u32) -> Validity {
    if usize::from(cookie.server_len) != SERVER_COOKIE_LEN {
        return Validity::Invalid;
    }
    let words = (
        le_word(&cookie.client),
        le_word(&cookie.server[..8]),
        le_word(&cookie.server[8..]),
    );
    check_server_cookie(
        &state.secret_words(),
        state.previous.is_some(),
        words,
        address_words(address),
        now,
    )
}

/// A random secret, and whether there was randomness for it: a guessable secret would let
/// anyone make cookies that pass for ours (and so escape rate limits).
fn random_secret() -> ([u8; 16], bool) {
    let mut secret = [0u8; 16];
    match getrandom::fill(&mut secret) {
        Ok(()) => (secret, true),
        Err(e) => {
            tracing::error!(
                "no randomness for the cookie secret ({e}): cookies are off; give [cookies] secret"
            );
            (secret, false)
        }
    }
}

/// CLOCK_REALTIME minus CLOCK_MONOTONIC_COARSE, in nanoseconds (what the program adds to its
/// clock, `bpf_ktime_get_coarse_ns`).
pub fn wall_offset_ns() -> u64 {
    let read = |clock| {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: a valid timespec to fill; both clocks exist on Linux.
        unsafe { libc::clock_gettime(clock, &mut now) };
        now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
    };
    read(libc::CLOCK_REALTIME).wrapping_sub(read(libc::CLOCK_MONOTONIC_COARSE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_parse_from_hex_only() {
        let secret: Secret = "000102030405060708090a0b0c0d0e0f".parse().unwrap();
        assert_eq!(secret.0[15], 15);
        for bad in [
            "",
            "0001",
            "zz0102030405060708090a0b0c0d0e0f",
            &"00".repeat(17),
        ] {
            assert!(bad.parse::<Secret>().is_err(), "{bad}");
        }
        assert_eq!(format!("{secret:?}"), "Secret(..)");
    }

    #[test]
    fn a_rotation_keeps_the_old_secret_as_the_previous() {
        let cookies = Cookies::new(&CookieConfig::default());
        assert_eq!(
            cookies.status(),
            CookieStatus {
                enabled: true,
                previous_secret: false
            }
        );
        cookies.change(None, Some(Secret([9; 16])));
        assert!(cookies.status().previous_secret);
        let settings = cookies.kernel_settings();
        assert_eq!(settings.secrets[0], secret_words(&[9; 16]));
        assert_eq!(settings.flags, COOKIES_ON | COOKIES_PREVIOUS);
        cookies.change(Some(false), None);
        assert_eq!(cookies.kernel_settings().flags & COOKIES_ON, 0);
    }
}
