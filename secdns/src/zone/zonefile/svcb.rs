//! SVCB and HTTPS record data (RFC 9460 §2): priority, target, then `key=value` parameters in
//! any order, written to the wire sorted by key.

use super::{Fault, fields, lexer::Token, rdata};
use crate::dns::Name;

const KEYS: &[(&str, u16)] = &[
    ("mandatory", 0),
    ("alpn", 1),
    ("no-default-alpn", 2),
    ("port", 3),
    ("ipv4hint", 4),
    ("ech", 5),
    ("ipv6hint", 6),
    // dohpath (7) and later keys have no name in knotd 3.2: written as key7=... there.
];

pub fn encode(tokens: &[Token], origin: &Name, out: &mut Vec<u8>) -> Result<(), Fault> {
    let [priority, target, params @ ..] = tokens else {
        return Err(Fault::new("SVCB needs a priority and a target"));
    };
    out.extend_from_slice(&fields::u16(priority)?.to_be_bytes());
    out.extend_from_slice(fields::name(target, origin)?.wire());
    let mut encoded: Vec<(u16, Vec<u8>)> = Vec::new();
    let mut i = 0;
    while let Some(token) = params.get(i) {
        i += 1;
        if token.quoted {
            return Err(Fault::new(format!(
                "unexpected \"{}\" in SVCB",
                token.show()
            )));
        }
        let (key, value) = match token.text.iter().position(|&b| b == b'=') {
            None => (&token.text[..], None),
            // `key="quoted value"` reaches us as `key=` and the quoted string.
            Some(at) if at + 1 == token.text.len() => match params.get(i) {
                Some(next) if next.quoted => {
                    i += 1;
                    (&token.text[..at], Some(fields::bytes(next)?))
                }
                _ => (&token.text[..at], Some(Vec::new())),
            },
            Some(at) => {
                let value = Token {
                    text: token.text[at + 1..].to_vec(),
                    quoted: false,
                };
                (&token.text[..at], Some(fields::bytes(&value)?))
            }
        };
        let key = key_number(key)?;
        if encoded.iter().any(|(k, _)| *k == key) {
            return Err(Fault::new(format!("SVCB key {} repeated", key_name(key))));
        }
        encoded.push((key, value_wire(key, value)?));
    }
    encoded.sort_by_key(|(key, _)| *key);
    if let Some((_, mandatory)) = encoded.iter().find(|(key, _)| *key == 0) {
        for listed in mandatory.chunks(2) {
            let listed = u16::from_be_bytes([listed[0], *listed.get(1).unwrap_or(&0)]);
            if !encoded.iter().any(|(key, _)| *key == listed) {
                return Err(Fault::new(format!(
                    "SVCB mandatory lists {}, which is not there",
                    key_name(listed)
                )));
            }
        }
    }
    for (key, value) in encoded {
        out.extend_from_slice(&key.to_be_bytes());
        let len = u16::try_from(value.len())
            .map_err(|_| Fault::new("SVCB parameter over 65535 octets"))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&value);
    }
    Ok(())
}

fn key_number(key: &[u8]) -> Result<u16, Fault> {
    let text = String::from_utf8_lossy(key);
    if let Some((_, number)) = KEYS.iter().find(|(name, _)| name.as_bytes() == key) {
        return Ok(*number);
    }
    text.strip_prefix("key")
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse::<u16>().ok())
        .filter(|&n| n != 65535)
        .ok_or_else(|| Fault::new(format!("unknown SVCB key '{text}'")))
}

fn key_name(key: u16) -> String {
    KEYS.iter()
        .find(|(_, number)| *number == key)
        .map_or_else(|| format!("key{key}"), |(name, _)| (*name).to_owned())
}

fn value_wire(key: u16, value: Option<Vec<u8>>) -> Result<Vec<u8>, Fault> {
    let name = key_name(key);
    let needs_value = || Fault::new(format!("SVCB key {name} needs a value"));
    let mut out = Vec::new();
    match key {
        // no-default-alpn takes no value.
        2 => {
            if value.as_ref().is_some_and(|v| !v.is_empty()) {
                return Err(Fault::new("SVCB key no-default-alpn takes no value"));
            }
        }
        0 => {
            let mut keys = Vec::new();
            for item in list(&value.ok_or_else(needs_value)?)? {
                let number = key_number(&item)?;
                if number == 0 || keys.contains(&number) {
                    return Err(Fault::new(
                        "SVCB mandatory keys repeated or include mandatory",
                    ));
                }
                keys.push(number);
            }
            keys.sort_unstable();
            keys.iter()
                .for_each(|k| out.extend_from_slice(&k.to_be_bytes()));
        }
        1 => {
            for id in list(&value.ok_or_else(needs_value)?)? {
                if id.is_empty() || id.len() > 255 {
                    return Err(Fault::new("SVCB alpn ids are 1 to 255 octets"));
                }
                out.push(id.len() as u8);
                out.extend_from_slice(&id);
            }
        }
        3 => {
            let port = token_of(value.ok_or_else(needs_value)?);
            out.extend_from_slice(&fields::u16(&port)?.to_be_bytes());
        }
        4 => {
            for item in list(&value.ok_or_else(needs_value)?)? {
                out.extend_from_slice(&rdata::ipv4(&token_of(item))?.octets());
            }
        }
        6 => {
            for item in list(&value.ok_or_else(needs_value)?)? {
                out.extend_from_slice(&rdata::ipv6(&token_of(item))?.octets());
            }
        }
        5 => out = fields::base64(&[token_of(value.ok_or_else(needs_value)?)])?,
        _ => out = value.unwrap_or_default(),
    }
    if key != 2 && key <= 7 && out.is_empty() {
        return Err(needs_value());
    }
    Ok(out)
}

fn token_of(bytes: Vec<u8>) -> Token {
    Token {
        text: bytes,
        quoted: false,
    }
}

/// A comma-separated list (RFC 9460 Appendix A.1): `\,` is a comma inside an item.
fn list(value: &[u8]) -> Result<Vec<Vec<u8>>, Fault> {
    let (mut items, mut item) = (Vec::new(), Vec::new());
    let mut bytes = value.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'\\' => {
                let next = bytes
                    .next()
                    .ok_or_else(|| Fault::new("SVCB value ends in '\\'"))?;
                item.push(*next);
            }
            b',' => items.push(std::mem::take(&mut item)),
            _ => item.push(b),
        }
    }
    items.push(item);
    if items.iter().any(Vec::is_empty) {
        return Err(Fault::new("empty item in an SVCB value list"));
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(parts: &[(&str, bool)]) -> Vec<Token> {
        parts
            .iter()
            .map(|(t, quoted)| Token {
                text: t.as_bytes().to_vec(),
                quoted: *quoted,
            })
            .collect()
    }

    #[test]
    fn params_sorted_lists_and_generic_keys() {
        let origin: Name = "example.com.".parse().unwrap();
        let mut out = Vec::new();
        encode(
            &tokens(&[
                ("1", false),
                (".", false),
                ("port=8443", false),
                ("alpn=", false),
                ("foo\\\\,bar,h2", true),
                ("key65000=x", false),
                ("no-default-alpn", false),
            ]),
            &origin,
            &mut out,
        )
        .unwrap();
        let mut expected = vec![0, 1, 0];
        expected.extend_from_slice(b"\x00\x01\x00\x0b\x07foo,bar\x02h2");
        expected.extend_from_slice(b"\x00\x02\x00\x00");
        expected.extend_from_slice(b"\x00\x03\x00\x02\x20\xfb");
        expected.extend_from_slice(b"\xfd\xe8\x00\x01x");
        assert_eq!(out, expected);
        for bad in [
            &[
                ("1", false),
                (".", false),
                ("port=1", false),
                ("port=2", false),
            ][..],
            &[("1", false), (".", false), ("key65535=1", false)][..],
            &[("1", false), (".", false), ("bogus=1", false)][..],
        ] {
            assert!(encode(&tokens(bad), &origin, &mut Vec::new()).is_err());
        }
    }
}
