//! The API's paths of its objects: where the server says a new one is (Location), and what
//! the CLI asks for. Names go in as one percent-encoded segment each.

use crate::{
    catalog::{Object, OverrideType, PeerDef, SecondaryDef, TsigKeyDef},
    dns::Name,
    webhooks::WebhookDef,
};

/// A kind of object and the first segment of its paths: in the `Location` the server gives
/// and in the CLI's requests. The routes spell it in their path attributes; a test below
/// holds them to it.
pub trait Collection: Object {
    const COLLECTION: &'static str;
}

impl Collection for TsigKeyDef {
    const COLLECTION: &'static str = "tsigs";
}
impl Collection for PeerDef {
    const COLLECTION: &'static str = "peers";
}
impl Collection for SecondaryDef {
    const COLLECTION: &'static str = "zones";
}
impl Collection for WebhookDef {
    const COLLECTION: &'static str = "webhooks";
}

/// `text` as one segment of a path: percent-encoded but for what RFC 3986 lets a segment
/// hold as it is, and never `.` or `..`, which a client would resolve away (the root zone).
pub fn segment(text: &str) -> String {
    if text.bytes().all(|b| b == b'.') {
        return "%2E".repeat(text.len());
    }
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => out.push(byte as char),
            b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' => {
                out.push(byte as char)
            }
            b'+' | b',' | b';' | b'=' | b':' | b'@' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The path of every `T`.
pub fn collection<T: Collection>() -> String {
    format!("/{}", T::COLLECTION)
}

/// The path of the `T` named `name`.
pub fn item<T: Collection>(name: &T::Name) -> String {
    format!("/{}/{}", T::COLLECTION, segment(&name.to_string()))
}

pub fn zone(zone: &Name) -> String {
    item::<SecondaryDef>(zone)
}

pub fn overrides(zone: &Name) -> String {
    format!("{}/overrides", self::zone(zone))
}

pub fn override_item(zone: &Name, name: &Name, rtype: OverrideType) -> String {
    let name = segment(&name.to_string());
    format!("{}/{name}/{rtype}", overrides(zone))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_segment_each() {
        let root: Name = ".".parse().unwrap();
        assert_eq!(zone(&root), "/zones/%2E");
        let odd: Name = r"a\/b.example.".parse().unwrap();
        let www: Name = "www.example.".parse().unwrap();
        assert_eq!(
            override_item(&odd, &www, OverrideType::AAAA),
            "/zones/a%2Fb.example./overrides/www.example./AAAA"
        );
        assert_eq!(item::<PeerDef>(&"p 1".to_owned()), "/peers/p%201");
    }

    /// The API serves each kind's collection and its objects where this module says.
    #[test]
    fn every_collection_is_routed() {
        let document = crate::control::api::document();
        let routed: Vec<&String> = document.paths.paths.keys().collect();
        for collection in [
            collection::<TsigKeyDef>(),
            collection::<PeerDef>(),
            collection::<SecondaryDef>(),
            collection::<WebhookDef>(),
        ] {
            let objects = format!("{collection}/{{");
            assert!(routed.contains(&&collection), "{collection} in {routed:?}");
            assert!(
                routed.iter().any(|path| path.starts_with(&objects)),
                "{objects}...}} in {routed:?}"
            );
        }
    }
}
