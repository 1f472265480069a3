//! Values the config and the control API take as text with a rule of their own, and their
//! schemas for the API's OpenAPI document: each rule is written once here, next to the
//! pattern that describes it, and a test holds the two together. (Domain names, the third
//! such form, are described in `dns::name_schema`, next to their parser.)

use std::{borrow::Cow, net::IpAddr};

use utoipa::{
    PartialSchema, ToSchema,
    openapi::{
        KnownFormat, ObjectBuilder, Ref, RefOr, Schema, SchemaFormat, Type,
        schema::{AllOfBuilder, AnyOfBuilder, SchemaType},
    },
};

/// Implements `ToSchema` for `$type`: `$schema` under the name `$name` in the document.
macro_rules! named_schema {
    ($type:ty, $name:literal, $schema:expr) => {
        impl utoipa::PartialSchema for $type {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
                $schema
            }
        }

        impl utoipa::ToSchema for $type {
            fn name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }
        }
    };
}
pub(crate) use named_schema;

/// Implements `Display` for `$type`, a unit-variant enum, as the name serde gives each
/// variant: what the CLI prints is then what the API sends and the config takes.
macro_rules! display_as_serialized {
    ($type:ty) => {
        impl std::fmt::Display for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match serde_json::to_value(self) {
                    Ok(serde_json::Value::String(name)) => f.write_str(&name),
                    _ => Err(std::fmt::Error),
                }
            }
        }
    };
}
pub(crate) use display_as_serialized;

/// A string of `pattern`, at most `max_length` characters where the pattern cannot say it.
pub fn string_schema(
    pattern: impl Into<String>,
    max_length: Option<usize>,
    description: &str,
) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .max_length(max_length)
        .description(Some(description))
        .into()
}

/// The name of a peer or a webhook: a handle, not a domain name.
pub struct Handle;

/// What [`is_handle`] accepts, for the document.
pub const HANDLE_PATTERN: &str = "^[A-Za-z0-9._-]{1,63}$";

/// 1 to 63 letters, digits, `-`, `_` or `.`.
pub fn is_handle(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

named_schema!(
    Handle,
    "Handle",
    string_schema(
        HANDLE_PATTERN,
        None,
        "1 to 63 letters, digits, '-', '_' or '.'"
    )
);

/// An IPv4 or IPv6 address, as `std::net::IpAddr` reads it.
pub struct IpAddress;

named_schema!(IpAddress, "IpAddress", {
    let form = |format| {
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .format(Some(SchemaFormat::KnownFormat(format)))
    };
    // anyOf: a validator that takes formats as annotations finds both forms match.
    AnyOfBuilder::new()
        .item(form(KnownFormat::Ipv4))
        .item(form(KnownFormat::Ipv6))
        .description(Some("An IPv4 or IPv6 address"))
        .into()
});

/// An address a peer can have: not unspecified (`0.0.0.0`, `::`) nor multicast.
pub struct PeerAddress;

pub fn is_peer_address(address: IpAddr) -> bool {
    !address.is_unspecified() && !address.is_multicast()
}

/// The texts of the addresses [`is_peer_address`] refuses: only zeros (`0.0.0.0`, `::`,
/// `0::0.0.0.0`), 224/4, or an IPv6 first group of ffXX.
const NOT_A_PEER: &str = r"^(?:[0:.]+|(?:22[4-9]|23[0-9])\..*|[fF]{2}[0-9a-fA-F]{2}:.*)$";

impl PartialSchema for PeerAddress {
    fn schema() -> RefOr<Schema> {
        let mut schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "An IP address, not unspecified (0.0.0.0, ::) nor multicast",
            ))
            .build();
        // The `not` keyword has no builder.
        schema.extensions.get_or_insert_default().insert(
            "not".into(),
            serde_json::json!({"type": "string", "pattern": NOT_A_PEER}),
        );
        AllOfBuilder::new()
            .item(Ref::from_schema_name(IpAddress::name()))
            .item(schema)
            .into()
    }
}

impl ToSchema for PeerAddress {
    fn name() -> Cow<'static, str> {
        "PeerAddress".into()
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((IpAddress::name().into(), IpAddress::schema()));
    }
}

/// An IPv4 address as `Ipv4Addr` reads it (no leading zeros), unanchored.
pub fn ipv4_pattern() -> String {
    let octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
    format!(r"(?:{octet}\.){{3}}{octet}")
}

/// An IPv6 address as `Ipv6Addr` reads it (groups of 1 to 4 hex digits, one `::` at most,
/// an IPv4 address in the last 32 bits), unanchored.
pub fn ipv6_pattern() -> String {
    let h = "[0-9a-fA-F]{1,4}";
    let v4 = ipv4_pattern();
    let mut forms = vec![format!("(?:{h}:){{7}}{h}"), format!("(?:{h}:){{6}}{v4}")];
    // `left` groups before the `::`, and what may follow it in the groups left over.
    for left in 0..=7usize {
        let before = match left {
            0 => String::new(),
            n => format!("(?:{h}:){{{}}}{h}", n - 1),
        };
        let mut after = Vec::new();
        if left <= 6 {
            after.push(format!("{h}(?::{h}){{0,{}}}", 6 - left));
        }
        if left <= 5 {
            after.push(format!("(?:{h}:){{0,{}}}{v4}", 5 - left));
        }
        let after = match after.is_empty() {
            true => String::new(),
            false => format!("(?:{})?", after.join("|")),
        };
        forms.push(format!("{before}::{after}"));
    }
    format!("(?:{})", forms.join("|"))
}

/// For the tests that hold a pattern to a parser: the same random numbers every run
/// (xorshift), and texts drawn from an alphabet.
#[cfg(test)]
pub struct Draws(u64);

#[cfg(test)]
impl Draws {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    pub fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound as u64) as usize
    }

    /// Fewer than `longest` characters of `alphabet`.
    pub fn text(&mut self, alphabet: &[char], longest: usize) -> String {
        let len = self.below(longest);
        (0..len)
            .map(|_| alphabet[self.below(alphabet.len())])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CLI prints these as the API sends them.
    #[test]
    fn enums_display_as_serialized() {
        use crate::{catalog::Origin, control::HealthState, secondary::status::ZoneKind};
        let shown = [
            Origin::Config.to_string(),
            HealthState::Degraded.to_string(),
            ZoneKind::File.to_string(),
        ];
        assert_eq!(shown, ["config", "degraded", "file"]);
        assert_eq!(
            serde_json::to_value(ZoneKind::Secondary).unwrap(),
            ZoneKind::Secondary.to_string()
        );
    }

    /// Random texts over the characters addresses are written with, and real addresses in
    /// their usual forms: the patterns match exactly what the standard parsers read.
    fn texts() -> Vec<String> {
        let alphabet: Vec<char> = "0123456789abcdefABCDEF:::...+ 25f".chars().collect();
        let mut draws = Draws::new(0x9e37_79b9_7f4a_7c15_u64);
        let mut texts: Vec<String> = (0..100_000).map(|_| draws.text(&alphabet, 24)).collect();
        for _ in 0..20_000 {
            let mut words = [0u16; 8];
            for word in &mut words {
                // Zeros often, for the `::` forms.
                *word = if draws.below(3) == 0 {
                    0
                } else {
                    draws.below(65536) as u16
                };
            }
            let v6 = std::net::Ipv6Addr::from(words);
            let v4 = std::net::Ipv4Addr::from(draws.below(1 << 32) as u32);
            texts.push(v6.to_string());
            texts.push(format!("{v6:?}").to_uppercase());
            texts.push(v4.to_string());
            texts.push(std::net::Ipv6Addr::from(v4.to_bits() as u128).to_string());
            let [a, b, c, d, e, f, _, _] = words;
            texts.push(format!("{a:x}:{b:x}:{c:x}:{d:x}:{e:x}:{f:x}:{v4}"));
            texts.push(format!("{a:x}::{f:x}:{v4}"));
            texts.push(format!("{a:04x}:{b:x}::{v4}"));
        }
        texts
    }

    #[test]
    fn the_address_patterns_are_the_parsers() {
        let v4 = regex::Regex::new(&format!("^{}$", ipv4_pattern())).unwrap();
        let v6 = regex::Regex::new(&format!("^{}$", ipv6_pattern())).unwrap();
        let not_a_peer = regex::Regex::new(NOT_A_PEER).unwrap();
        for text in texts() {
            assert_eq!(
                v4.is_match(&text),
                text.parse::<std::net::Ipv4Addr>().is_ok(),
                "{text:?}: the IPv4 pattern and the parser disagree"
            );
            assert_eq!(
                v6.is_match(&text),
                text.parse::<std::net::Ipv6Addr>().is_ok(),
                "{text:?}: the IPv6 pattern and the parser disagree"
            );
            if let Ok(address) = text.parse::<IpAddr>() {
                assert_eq!(
                    !not_a_peer.is_match(&text),
                    is_peer_address(address),
                    "{text:?}: the peer address pattern and the rule disagree"
                );
            }
        }
    }

    #[test]
    fn the_handle_pattern_is_the_rule() {
        let pattern = regex::Regex::new(HANDLE_PATTERN).unwrap();
        let long = "a".repeat(63);
        let too_long = "a".repeat(64);
        for name in [
            "p",
            "primary-1",
            "a_b.c",
            long.as_str(),
            "",
            too_long.as_str(),
            "a b",
            "a/b",
            "é",
            "a\n",
            "\na",
            "-",
        ] {
            assert_eq!(
                pattern.is_match(name),
                is_handle(name),
                "{name:?}: the pattern and the rule disagree"
            );
        }
    }
}
