//! `[rrl]` of the config file, also what the control API shows and changes at runtime.

use std::{
    fmt,
    net::{IpAddr, Ipv6Addr},
    str::FromStr,
};

use anyhow::{Context as _, bail};
use secdns_common::rrl::{
    BucketKeys, MAX_PER_SECOND, MAX_WINDOW_S, RRL_ALLOW_MAX, RRL_HAS_ALLOW, RRL_LOG_ONLY, RRL_ON,
    RateLimit, RrlSettings,
};
use serde::{Deserialize, Serialize};

use crate::text_forms::{ipv4_pattern, ipv6_pattern, named_schema, string_schema};

/// Response rate limiting (RRL) of UDP responses, in the kernel and in userspace alike.
/// Without `[rrl]` in the config, nothing is limited.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
#[schema(as = RateLimits)]
pub struct RrlConfig {
    /// Limits are applied (false: the buckets are kept, nothing is limited or counted).
    pub enabled: bool,
    /// Responses a second to one client prefix, of one class, for one name (positive
    /// answers) or one zone (the other classes).
    #[schema(minimum = 1, maximum = 1000000)]
    pub rate: u32,
    /// Seconds a flood stays limited after it stops, at most (its debt is capped there).
    #[schema(minimum = 1, maximum = 3600)]
    pub window: u32,
    /// One limited response in `slip` is sent truncated (TC=1) for the client to retry over
    /// TCP, the others are dropped; 0 drops them all, 1 truncates them all.
    #[schema(minimum = 0, maximum = 255)]
    pub slip: u8,
    /// Bits of an IPv4 source address that make one client.
    #[schema(minimum = 8, maximum = 32)]
    pub ipv4_prefix: u8,
    /// Bits of an IPv6 source address that make one client (64 at most).
    #[schema(minimum = 16, maximum = 64)]
    pub ipv6_prefix: u8,
    /// Limits are counted (metrics) but every response is sent.
    pub log_only: bool,
    /// Client prefixes never limited, e.g. "192.0.2.0/24" or "2001:db8::/32".
    #[schema(max_items = 4096)]
    pub allow: Vec<Prefix>,
    /// Buckets in the table (8 bytes each); set at start. Clients beyond it share buckets,
    /// and a shared bucket starts afresh, never limits more. A change keeps it.
    #[schema(read_only, minimum = 1, maximum = 67108864)]
    pub table_size: u32,
}

impl Default for RrlConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            // NSD's and Knot's example rate: a resolver's share of one name, with room.
            rate: 200,
            window: 15,
            slip: 2,
            ipv4_prefix: 24,
            ipv6_prefix: 56,
            log_only: false,
            allow: Vec::new(),
            table_size: 1 << 20,
        }
    }
}

/// What the table may hold: 8 MiB by default, 512 MiB at most.
pub const MAX_TABLE_SIZE: u32 = 1 << 26;

impl RrlConfig {
    /// Nothing limited: no `[rrl]` in the config. The table is sized all the same, so that
    /// the API can turn limits on.
    pub fn off() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }

    pub fn check(&self) -> anyhow::Result<()> {
        if !(1..=MAX_PER_SECOND).contains(&self.rate) {
            bail!("[rrl] rate must be from 1 to {MAX_PER_SECOND} responses a second");
        }
        if !(1..=MAX_WINDOW_S).contains(&self.window) {
            bail!("[rrl] window must be from 1 to {MAX_WINDOW_S} seconds");
        }
        if !(8..=32).contains(&self.ipv4_prefix) {
            bail!("[rrl] ipv4_prefix must be from 8 to 32 bits");
        }
        if !(16..=64).contains(&self.ipv6_prefix) {
            bail!("[rrl] ipv6_prefix must be from 16 to 64 bits");
        }
        if !(1..=MAX_TABLE_SIZE).contains(&self.table_size) {
            bail!("[rrl] table_size must be from 1 to {MAX_TABLE_SIZE} buckets");
        }
        if self.allow.len() > RRL_ALLOW_MAX as usize {
            bail!(
                "[rrl] allow lists {} prefixes, at most {RRL_ALLOW_MAX}",
                self.allow.len()
            );
        }
        Ok(())
    }

    /// The limit in the units buckets are charged in.
    pub fn limit(&self) -> RateLimit {
        RateLimit::new(self.rate, self.window, self.slip)
    }

    /// The settings as the XDP program takes them, for a table of `words` buckets hashed
    /// with `keys`.
    pub fn kernel(&self, words: u32, keys: BucketKeys) -> RrlSettings {
        let flags = if self.enabled { RRL_ON } else { 0 }
            | if self.log_only { RRL_LOG_ONLY } else { 0 }
            | if self.allow.is_empty() {
                0
            } else {
                RRL_HAS_ALLOW
            };
        RrlSettings {
            limit: self.limit(),
            keys,
            words,
            flags,
            ipv4_prefix: self.ipv4_prefix,
            ipv6_prefix: self.ipv6_prefix,
            reserved: [0; 6],
        }
    }
}

/// An address prefix; IPv4 is held as IPv4-mapped IPv6 (::ffff:a.b.c.d/(96 + length)), as
/// the kernel's allow list keys it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix {
    pub address: Ipv6Addr,
    pub len: u8,
}

impl Prefix {
    pub fn contains(&self, address: IpAddr) -> bool {
        let bits = u128::from(mapped(address));
        let mask = u128::MAX
            .checked_shl(128 - u32::from(self.len))
            .unwrap_or(0);
        bits & mask == u128::from(self.address) & mask
    }
}

/// `address` as IPv6 (IPv4 mapped).
pub fn mapped(address: IpAddr) -> Ipv6Addr {
    match address {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

impl FromStr for Prefix {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<Self> {
        if text.len() > MAX_PREFIX_TEXT {
            bail!("{text:?} is longer than {MAX_PREFIX_TEXT} characters for an address prefix");
        }
        let (address, len) = match text.split_once('/') {
            Some((address, len)) => (address, Some(len)),
            None => (text, None),
        };
        let address: IpAddr = address
            .parse()
            .with_context(|| format!("{text:?} is not an address prefix like 192.0.2.0/24"))?;
        let most = if address.is_ipv4() { 32 } else { 128 };
        let len = match len {
            Some(len) => Some(len)
                .filter(|len| len.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|len| len.parse::<u8>().ok())
                .filter(|len| *len <= most)
                .with_context(|| format!("{text:?}: the length must be from 0 to {most}"))?,
            None => most,
        };
        let len = if address.is_ipv4() { len + 96 } else { len };
        Ok(Self {
            address: mapped(address),
            len,
        })
    }
}

/// Room for the longest IPv6 form with a length, and leading zeros.
const MAX_PREFIX_TEXT: usize = 64;

/// The texts [`Prefix::from_str`] reads: an address, and a length after a slash.
fn prefix_pattern() -> String {
    let v4 = ipv4_pattern();
    let v6 = ipv6_pattern();
    let v4_len = "0*(?:3[0-2]|[12]?[0-9])";
    let v6_len = "0*(?:12[0-8]|1[01][0-9]|[1-9]?[0-9])";
    format!("^(?:{v4}(?:/{v4_len})?|{v6}(?:/{v6_len})?)$")
}

named_schema!(
    Prefix,
    "AddressPrefix",
    string_schema(
        prefix_pattern(),
        Some(MAX_PREFIX_TEXT),
        "An address prefix, such as 192.0.2.0/24 or 2001:db8::/32; an address alone is all \
         its bits",
    )
);

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.address.to_ipv4_mapped() {
            Some(v4) if self.len >= 96 => write!(f, "{v4}/{}", self.len - 96),
            _ => write!(f, "{}/{}", self.address, self.len),
        }
    }
}

impl Serialize for Prefix {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Prefix {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse()
            .map_err(|e| serde::de::Error::custom(format!("{e:#}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_pattern_is_the_parser() {
        let pattern = regex::Regex::new(&prefix_pattern()).unwrap();
        let mut texts = Vec::new();
        for address in [
            "192.0.2.0",
            "2001:db8::",
            "::ffff:192.0.2.1",
            "::",
            "10.1.2.3",
        ] {
            texts.push(address.to_owned());
            for len in [
                "0", "8", "24", "32", "33", "64", "128", "129", "024", "+8", "", "-1", "1a",
            ] {
                texts.push(format!("{address}/{len}"));
            }
        }
        texts.push(format!("10.0.0.0/{}8", "0".repeat(60)));
        texts.extend(
            [
                "/24",
                "192.0.2/24",
                "192.0.2.0//24",
                "2001:db8::/32/1",
                " 10.0.0.0",
            ]
            .map(String::from),
        );
        for text in texts {
            assert_eq!(
                pattern.is_match(&text) && text.len() <= MAX_PREFIX_TEXT,
                text.parse::<Prefix>().is_ok(),
                "{text:?}: the pattern and the parser disagree"
            );
        }
    }

    #[test]
    fn prefixes_parse_print_and_match() {
        let v4: Prefix = "192.0.2.0/24".parse().unwrap();
        assert_eq!(v4.to_string(), "192.0.2.0/24");
        assert!(v4.contains("192.0.2.200".parse().unwrap()));
        assert!(!v4.contains("192.0.3.1".parse().unwrap()));
        assert!(v4.contains("::ffff:192.0.2.9".parse().unwrap()));
        let v6: Prefix = "2001:db8::/32".parse().unwrap();
        assert_eq!(v6.to_string(), "2001:db8::/32");
        assert!(v6.contains("2001:db8:1::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        let host: Prefix = "198.51.100.7".parse().unwrap();
        assert_eq!(host.to_string(), "198.51.100.7/32");
        let all: Prefix = "::/0".parse().unwrap();
        assert!(all.contains("192.0.2.1".parse().unwrap()));
        for bad in ["192.0.2.0/33", "2001:db8::/129", "nope/8", "192.0.2.0/x"] {
            assert!(bad.parse::<Prefix>().is_err(), "{bad}");
        }
    }

    #[test]
    fn config_defaults_and_checks() {
        let config: RrlConfig = toml::from_str("rate = 5\nallow = [\"10.0.0.0/8\"]").unwrap();
        assert!(config.enabled);
        assert_eq!((config.rate, config.window, config.slip), (5, 15, 2));
        config.check().unwrap();
        for bad in [
            "rate = 0",
            "window = 0",
            "ipv4_prefix = 33",
            "ipv6_prefix = 65",
        ] {
            let config: RrlConfig = toml::from_str(bad).unwrap();
            assert!(config.check().is_err(), "{bad}");
        }
        assert!(toml::from_str::<RrlConfig>("allow = [\"10.0.0.0/40\"]").is_err());
        assert!(toml::from_str::<RrlConfig>("burst = 3").is_err());
    }
}
