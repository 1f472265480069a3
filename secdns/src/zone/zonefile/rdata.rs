//! Record data from presentation form to wire form, for every type knotd reads, described
//! field by field as Knot's rdata descriptors do; the few types with a grammar of their own
//! (LOC, APL, IPSECKEY, SVCB/HTTPS) have a module or a function each.

use std::net::{Ipv4Addr, Ipv6Addr};

use domain::base::iana::SecurityAlgorithm;

use super::{Fault, fields, lexer::Token, loc, svcb};
use crate::dns::Name;

#[derive(Clone, Copy, Debug)]
enum Field {
    Name,
    U8,
    U16,
    U32,
    /// A u32 that may be written with time units (SOA timers, RRSIG original TTL).
    Ttl,
    /// RRSIG inception and expiration.
    Time,
    Ipv4,
    Ipv6,
    /// One character string, with its length octet.
    Text,
    /// One or more character strings, to the end.
    Texts,
    /// One string to the end of the data, without a length octet (CAA value, URI target).
    Raw,
    /// A type mnemonic (RRSIG's type covered).
    Type,
    /// A DNSSEC algorithm number or mnemonic.
    Algorithm,
    /// A CERT type number or mnemonic.
    CertType,
    /// Base64, split by blanks as it may be, to the end.
    Base64,
    /// Hex, split by blanks as it may be, to the end.
    Hex,
    /// An NSEC3 salt: hex with a length octet, `-` for none.
    Salt,
    /// An NSEC3 next hashed owner: base32hex with a length octet.
    Hash,
    /// A type bitmap (RFC 4034 §4.1.2), to the end.
    Bitmap,
    /// Six or eight hex octets joined by '-' (RFC 7043).
    Eui(usize),
    /// A 64-bit locator as four groups of hex (RFC 6742).
    Locator64,
}

use Field::*;

enum Grammar {
    Fields(&'static [Field]),
    Loc,
    Apl,
    Ipseckey,
    Svcb,
    /// No presentation form but RFC 3597's.
    GenericOnly,
}

/// Every type read by name: its mnemonic, number and how its data is written.
const TYPES: &[(&str, u16, Grammar)] = &[
    ("A", 1, Grammar::Fields(&[Ipv4])),
    ("NS", 2, Grammar::Fields(&[Name])),
    ("MD", 3, Grammar::Fields(&[Name])),
    ("MF", 4, Grammar::Fields(&[Name])),
    ("CNAME", 5, Grammar::Fields(&[Name])),
    (
        "SOA",
        6,
        Grammar::Fields(&[Name, Name, U32, Ttl, Ttl, Ttl, Ttl]),
    ),
    ("MB", 7, Grammar::Fields(&[Name])),
    ("MG", 8, Grammar::Fields(&[Name])),
    ("MR", 9, Grammar::Fields(&[Name])),
    ("NULL", 10, Grammar::GenericOnly),
    ("PTR", 12, Grammar::Fields(&[Name])),
    ("HINFO", 13, Grammar::Fields(&[Text, Text])),
    ("MINFO", 14, Grammar::Fields(&[Name, Name])),
    ("MX", 15, Grammar::Fields(&[U16, Name])),
    ("TXT", 16, Grammar::Fields(&[Texts])),
    ("RP", 17, Grammar::Fields(&[Name, Name])),
    ("AFSDB", 18, Grammar::Fields(&[U16, Name])),
    ("RT", 21, Grammar::Fields(&[U16, Name])),
    ("KEY", 25, Grammar::Fields(&[U16, U8, Algorithm, Base64])),
    ("AAAA", 28, Grammar::Fields(&[Ipv6])),
    ("LOC", 29, Grammar::Loc),
    ("SRV", 33, Grammar::Fields(&[U16, U16, U16, Name])),
    (
        "NAPTR",
        35,
        Grammar::Fields(&[U16, U16, Text, Text, Text, Name]),
    ),
    ("KX", 36, Grammar::Fields(&[U16, Name])),
    (
        "CERT",
        37,
        Grammar::Fields(&[CertType, U16, Algorithm, Base64]),
    ),
    ("DNAME", 39, Grammar::Fields(&[Name])),
    ("OPT", 41, Grammar::GenericOnly),
    ("APL", 42, Grammar::Apl),
    ("DS", 43, Grammar::Fields(&[U16, Algorithm, U8, Hex])),
    ("SSHFP", 44, Grammar::Fields(&[U8, U8, Hex])),
    ("IPSECKEY", 45, Grammar::Ipseckey),
    (
        "RRSIG",
        46,
        Grammar::Fields(&[Type, Algorithm, U8, Ttl, Time, Time, U16, Name, Base64]),
    ),
    ("NSEC", 47, Grammar::Fields(&[Name, Bitmap])),
    ("DNSKEY", 48, Grammar::Fields(&[U16, U8, Algorithm, Base64])),
    ("DHCID", 49, Grammar::Fields(&[Base64])),
    (
        "NSEC3",
        50,
        Grammar::Fields(&[U8, U8, U16, Salt, Hash, Bitmap]),
    ),
    ("NSEC3PARAM", 51, Grammar::Fields(&[U8, U8, U16, Salt])),
    ("TLSA", 52, Grammar::Fields(&[U8, U8, U8, Hex])),
    ("SMIMEA", 53, Grammar::Fields(&[U8, U8, U8, Hex])),
    ("CDS", 59, Grammar::Fields(&[U16, Algorithm, U8, Hex])),
    (
        "CDNSKEY",
        60,
        Grammar::Fields(&[U16, U8, Algorithm, Base64]),
    ),
    ("OPENPGPKEY", 61, Grammar::Fields(&[Base64])),
    ("CSYNC", 62, Grammar::Fields(&[U32, U16, Bitmap])),
    ("ZONEMD", 63, Grammar::Fields(&[U32, U8, U8, Hex])),
    ("SVCB", 64, Grammar::Svcb),
    ("HTTPS", 65, Grammar::Svcb),
    ("SPF", 99, Grammar::Fields(&[Texts])),
    ("NID", 104, Grammar::Fields(&[U16, Locator64])),
    ("L32", 105, Grammar::Fields(&[U16, Ipv4])),
    ("L64", 106, Grammar::Fields(&[U16, Locator64])),
    ("LP", 107, Grammar::Fields(&[U16, Name])),
    ("EUI48", 108, Grammar::Fields(&[Eui(6)])),
    ("EUI64", 109, Grammar::Fields(&[Eui(8)])),
    ("TKEY", 249, Grammar::GenericOnly),
    ("TSIG", 250, Grammar::GenericOnly),
    ("IXFR", 251, Grammar::GenericOnly),
    ("AXFR", 252, Grammar::GenericOnly),
    ("ANY", 255, Grammar::GenericOnly),
    ("URI", 256, Grammar::Fields(&[U16, U16, Raw])),
    ("CAA", 257, Grammar::Fields(&[U8, Text, Raw])),
];

/// A type's number from its mnemonic or `TYPEnnn`.
pub fn type_number(token: &Token) -> Option<u16> {
    match TYPES.iter().find(|(name, ..)| token.is(name)) {
        Some((_, number, _)) => Some(*number),
        None => fields::generic_number(token, "TYPE"),
    }
}

/// The data of a record of `rr_type` written as `tokens`.
pub fn encode(rr_type: u16, tokens: &[Token], origin: &Name) -> Result<Vec<u8>, Fault> {
    if tokens
        .first()
        .is_some_and(|t| !t.quoted && t.text == b"\\#")
    {
        let mut data = generic(&tokens[1..])?;
        crate::dns::rdata::lowercase_names(rr_type, &mut data);
        return Ok(data);
    }
    let grammar = TYPES
        .iter()
        .find(|(_, number, _)| *number == rr_type)
        .map(|(_, _, grammar)| grammar);
    let mut out = Vec::new();
    match grammar {
        None | Some(Grammar::GenericOnly) => {
            return Err(Fault::new(format!(
                "type {} has no presentation form here: write its data as \\# (RFC 3597)",
                crate::dns::codes::rtype_name(rr_type)
            )));
        }
        Some(Grammar::Fields(fields)) => {
            let lowercase = LOWERCASED_NAMES.contains(&rr_type);
            encode_fields(fields, tokens, origin, lowercase, &mut out)?
        }
        Some(Grammar::Loc) => loc::encode(tokens, &mut out)?,
        Some(Grammar::Apl) => apl(tokens, &mut out)?,
        Some(Grammar::Ipseckey) => ipseckey(tokens, origin, &mut out)?,
        Some(Grammar::Svcb) => svcb::encode(tokens, origin, &mut out)?,
    }
    if out.len() > u16::MAX as usize {
        return Err(Fault::new(format!(
            "record data of {} octets is over 65535",
            out.len()
        )));
    }
    Ok(out)
}

/// RFC 3597 §5: `\# length hex...`.
fn generic(tokens: &[Token]) -> Result<Vec<u8>, Fault> {
    let (length, hex) = tokens
        .split_first()
        .ok_or_else(|| Fault::new("\\# needs a length"))?;
    let length = fields::u16(length)?;
    let data = fields::hex(hex)?;
    if data.len() != length as usize {
        return Err(Fault::new(format!(
            "\\# says {length} octets, the data has {}",
            data.len()
        )));
    }
    Ok(data)
}

/// Types whose names in the data knotd lowercases when it loads a zone file (the canonical
/// form list of RFC 4034 §6.2 as Knot keeps it): read the same, they compare the same.
const LOWERCASED_NAMES: &[u16] = &[
    2, 3, 4, 5, 6, 7, 8, 9, 12, 14, 15, 17, 18, 21, 33, 35, 36, 39, 46,
];

fn encode_fields(
    fields: &[Field],
    tokens: &[Token],
    origin: &Name,
    lowercase: bool,
    out: &mut Vec<u8>,
) -> Result<(), Fault> {
    let mut rest = tokens;
    for field in fields {
        let take_one = |rest: &mut &[Token]| -> Result<Token, Fault> {
            let (first, others) = rest
                .split_first()
                .ok_or_else(|| Fault::new(format!("missing {} field", field_name(*field))))?;
            *rest = others;
            Ok(first.clone())
        };
        match field {
            Name => {
                let name = fields::name_with_case(&take_one(&mut rest)?, origin, lowercase)?;
                out.extend_from_slice(name.wire());
            }
            U8 => out.push(fields::u8(&take_one(&mut rest)?)?),
            U16 => out.extend_from_slice(&fields::u16(&take_one(&mut rest)?)?.to_be_bytes()),
            U32 => out.extend_from_slice(&fields::u32(&take_one(&mut rest)?)?.to_be_bytes()),
            Ttl => out.extend_from_slice(&fields::ttl(&take_one(&mut rest)?)?.to_be_bytes()),
            Time => out.extend_from_slice(&fields::timestamp(&take_one(&mut rest)?)?.to_be_bytes()),
            Ipv4 => out.extend_from_slice(&ipv4(&take_one(&mut rest)?)?.octets()),
            Ipv6 => out.extend_from_slice(&ipv6(&take_one(&mut rest)?)?.octets()),
            Text => fields::char_string(&take_one(&mut rest)?, out)?,
            Texts => {
                if rest.is_empty() {
                    return Err(Fault::new("missing text"));
                }
                // As knotd does, a string over 255 octets becomes several.
                for token in std::mem::take(&mut rest) {
                    let data = fields::bytes(token)?;
                    if data.is_empty() {
                        out.push(0);
                    }
                    for chunk in data.chunks(255) {
                        out.push(chunk.len() as u8);
                        out.extend_from_slice(chunk);
                    }
                }
            }
            Raw => out.extend_from_slice(&fields::bytes(&take_one(&mut rest)?)?),
            Type => {
                let token = take_one(&mut rest)?;
                let number = type_number(&token)
                    .ok_or_else(|| Fault::new(format!("unknown type '{}'", token.show())))?;
                out.extend_from_slice(&number.to_be_bytes());
            }
            Algorithm => out.push(algorithm(&take_one(&mut rest)?)?),
            CertType => out.extend_from_slice(&cert_type(&take_one(&mut rest)?)?.to_be_bytes()),
            Base64 | Hex if rest.is_empty() => {
                return Err(Fault::new(format!("missing {} field", field_name(*field))));
            }
            Base64 => {
                out.extend_from_slice(&fields::base64(std::mem::take(&mut rest))?);
            }
            Hex => out.extend_from_slice(&fields::hex(std::mem::take(&mut rest))?),
            Salt => {
                let token = take_one(&mut rest)?;
                let salt = if token.is("-") {
                    Vec::new()
                } else {
                    fields::hex(std::slice::from_ref(&token))?
                };
                length_prefixed(&salt, "salt", out)?;
            }
            Hash => {
                let hash = fields::base32hex(&take_one(&mut rest)?)?;
                length_prefixed(&hash, "hashed owner", out)?;
            }
            Bitmap => bitmap(std::mem::take(&mut rest), out)?,
            Eui(octets) => eui(&take_one(&mut rest)?, *octets, out)?,
            Locator64 => locator64(&take_one(&mut rest)?, out)?,
        }
    }
    match rest.first() {
        Some(extra) => Err(Fault::new(format!(
            "unexpected '{}' after the record data",
            extra.show()
        ))),
        None => Ok(()),
    }
}

fn field_name(field: Field) -> &'static str {
    match field {
        Name => "name",
        U8 | U16 | U32 => "number",
        Ttl => "time",
        Time => "timestamp",
        Ipv4 => "IPv4 address",
        Ipv6 => "IPv6 address",
        Text | Texts | Raw => "text",
        Type => "type",
        Algorithm => "algorithm",
        CertType => "certificate type",
        Base64 => "base64",
        Hex => "hex",
        Salt => "salt",
        Hash => "hashed owner",
        Bitmap => "type bitmap",
        Eui(_) => "EUI",
        Locator64 => "locator",
    }
}

fn length_prefixed(data: &[u8], what: &str, out: &mut Vec<u8>) -> Result<(), Fault> {
    let len = u8::try_from(data.len())
        .map_err(|_| Fault::new(format!("{what} of {} octets is over 255", data.len())))?;
    out.push(len);
    out.extend_from_slice(data);
    Ok(())
}

pub fn ipv4(token: &Token) -> Result<Ipv4Addr, Fault> {
    let text = fields::plain(token)?;
    text.parse()
        .map_err(|_| Fault::new(format!("bad IPv4 address '{text}'")))
}

pub fn ipv6(token: &Token) -> Result<Ipv6Addr, Fault> {
    let text = fields::plain(token)?;
    text.parse()
        .map_err(|_| Fault::new(format!("bad IPv6 address '{text}'")))
}

/// A DNSSEC algorithm by number or by its mnemonic in the IANA registry (domain's table):
/// the names knotd 3.2 takes, and those registered since (DELETE, SM2SM3, MLDSA44,
/// ECC-GOST12), which it refuses. A registered name is not bad input.
fn algorithm(token: &Token) -> Result<u8, Fault> {
    match SecurityAlgorithm::from_mnemonic(&token.text) {
        Some(known) if !token.quoted => Ok(known.to_int()),
        _ => fields::u8(token),
    }
}

const CERT_TYPES: &[(&str, u16)] = &[
    ("PKIX", 1),
    ("SPKI", 2),
    ("PGP", 3),
    ("IPKIX", 4),
    ("ISPKI", 5),
    ("IPGP", 6),
    ("ACPKIX", 7),
    ("IACPKIX", 8),
    ("URI", 253),
    ("OID", 254),
];

fn cert_type(token: &Token) -> Result<u16, Fault> {
    fields::named_or(token, CERT_TYPES, fields::u16)
}

/// RFC 4034 §4.1.2: window blocks of the types present.
fn bitmap(tokens: &[Token], out: &mut Vec<u8>) -> Result<(), Fault> {
    let mut types = tokens
        .iter()
        .map(|t| type_number(t).ok_or_else(|| Fault::new(format!("unknown type '{}'", t.show()))))
        .collect::<Result<Vec<u16>, Fault>>()?;
    types.sort_unstable();
    types.dedup();
    let mut index = 0;
    while let Some(&first) = types.get(index) {
        let window = (first >> 8) as u8;
        let mut bits = [0u8; 32];
        let mut used = 0;
        while let Some(&t) = types.get(index).filter(|&&t| (t >> 8) as u8 == window) {
            let low = (t & 0xff) as usize;
            bits[low / 8] |= 0x80 >> (low % 8);
            used = low / 8 + 1;
            index += 1;
        }
        out.push(window);
        out.push(used as u8);
        out.extend_from_slice(&bits[..used]);
    }
    Ok(())
}

fn eui(token: &Token, octets: usize, out: &mut Vec<u8>) -> Result<(), Fault> {
    let text = fields::plain(token)?;
    let bad = || Fault::new(format!("bad EUI-{} '{text}'", octets * 8));
    let parts: Vec<&str> = text.split('-').collect();
    if parts.len() != octets {
        return Err(bad());
    }
    for part in parts {
        if part.len() != 2 {
            return Err(bad());
        }
        out.push(u8::from_str_radix(part, 16).map_err(|_| bad())?);
    }
    Ok(())
}

fn locator64(token: &Token, out: &mut Vec<u8>) -> Result<(), Fault> {
    let text = fields::plain(token)?;
    let bad = || Fault::new(format!("bad 64-bit locator '{text}'"));
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() != 4 {
        return Err(bad());
    }
    for part in parts {
        // knotd wants four digits a group.
        if part.len() != 4 {
            return Err(bad());
        }
        let group = u16::from_str_radix(part, 16).map_err(|_| bad())?;
        out.extend_from_slice(&group.to_be_bytes());
    }
    Ok(())
}

/// RFC 3123: `[!]family:address/prefix` items.
fn apl(tokens: &[Token], out: &mut Vec<u8>) -> Result<(), Fault> {
    for token in tokens {
        let text = fields::plain(token)?;
        let bad = || Fault::new(format!("bad APL item '{text}'"));
        let (negated, item) = match text.strip_prefix('!') {
            Some(item) => (true, item),
            None => (false, text),
        };
        let (family, rest) = item.split_once(':').ok_or_else(bad)?;
        let (address, prefix) = rest.split_once('/').ok_or_else(bad)?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        let mut bytes = match family {
            "1" if prefix <= 32 => address
                .parse::<Ipv4Addr>()
                .map_err(|_| bad())?
                .octets()
                .to_vec(),
            "2" if prefix <= 128 => address
                .parse::<Ipv6Addr>()
                .map_err(|_| bad())?
                .octets()
                .to_vec(),
            _ => return Err(bad()),
        };
        while bytes.last() == Some(&0) {
            bytes.pop();
        }
        out.extend_from_slice(&(if family == "1" { 1u16 } else { 2 }).to_be_bytes());
        out.push(prefix);
        out.push(bytes.len() as u8 | if negated { 0x80 } else { 0 });
        out.extend_from_slice(&bytes);
    }
    Ok(())
}

/// RFC 4025: precedence, gateway type, algorithm, gateway, optional public key.
fn ipseckey(tokens: &[Token], origin: &Name, out: &mut Vec<u8>) -> Result<(), Fault> {
    let [precedence, gateway_type, algorithm, gateway, key @ ..] = tokens else {
        return Err(Fault::new(
            "IPSECKEY needs precedence, gateway type, algorithm and gateway",
        ));
    };
    out.push(fields::u8(precedence)?);
    let kind = fields::u8(gateway_type)?;
    out.push(kind);
    out.push(fields::u8(algorithm)?);
    match kind {
        0 if gateway.is(".") => {}
        0 => return Err(Fault::new("gateway type 0 needs '.' as its gateway")),
        1 => out.extend_from_slice(&ipv4(gateway)?.octets()),
        2 => out.extend_from_slice(&ipv6(gateway)?.octets()),
        3 => out.extend_from_slice(fields::name(gateway, origin)?.wire()),
        other => return Err(Fault::new(format!("unknown gateway type {other}"))),
    }
    if !key.is_empty() {
        out.extend_from_slice(&fields::base64(key)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<Token> {
        text.split_whitespace()
            .map(|t| Token {
                text: t.as_bytes().to_vec(),
                quoted: false,
            })
            .collect()
    }

    fn wire(rr_type: &str, text: &str) -> Vec<u8> {
        let origin: Name = "example.com.".parse().unwrap();
        let rr_type = type_number(&tokens(rr_type)[0]).unwrap();
        encode(rr_type, &tokens(text), &origin).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn fields_by_type() {
        assert_eq!(wire("A", "192.0.2.1"), [192, 0, 2, 1]);
        assert_eq!(wire("MX", "10 @"), b"\x00\x0a\x07example\x03com\x00");
        assert_eq!(wire("TYPE1", "\\# 4 c0000201"), [192, 0, 2, 1]);
        assert_eq!(
            wire("EUI48", "00-00-5e-00-53-2a"),
            [0, 0, 0x5e, 0, 0x53, 0x2a]
        );
        assert_eq!(
            wire("L64", "10 2001:0DB8:1140:1000"),
            [0, 10, 0x20, 1, 0x0d, 0xb8, 0x11, 0x40, 0x10, 0]
        );
        // Window 0: A (1), MX (15), RRSIG (46), NSEC (47); window 4: 1234 is bit 210.
        let mut nsec = b"\x01a\x07example\x03com\x00\x00\x06\x40\x01\0\0\0\x03\x04\x1b".to_vec();
        nsec.extend_from_slice(&[0; 26]);
        nsec.push(0x20);
        assert_eq!(
            wire("NSEC", "a.example.com. A MX RRSIG NSEC TYPE1234"),
            nsec
        );
        assert_eq!(
            wire("APL", "1:192.168.32.0/21 !1:192.168.38.0/28 2:ff00::/8"),
            [
                0, 1, 21, 3, 192, 168, 32, 0, 1, 28, 0x83, 192, 168, 38, 0, 2, 8, 1, 0xff
            ]
        );
        assert_eq!(wire("IPSECKEY", "10 0 2 . AQID"), [10, 0, 2, 1, 2, 3]);
        assert_eq!(wire("DS", "1 RSASHA256 2 ab cd"), [0, 1, 8, 2, 0xab, 0xcd]);
        // Algorithm mnemonics in any case, those the IANA registry added after knotd 3.2's
        // list too (RFC 9558's ECC-GOST12, RFC 9563's SM2SM3).
        assert_eq!(wire("DS", "1 ed25519 2 ab")[2], 15);
        assert_eq!(wire("DS", "1 ECC-GOST12 2 ab")[2], 23);
        assert_eq!(wire("DS", "1 SM2SM3 2 ab")[2], 17);
        assert_eq!(wire("NSEC3PARAM", "1 0 10 -"), [1, 0, 0, 10, 0]);
    }

    #[test]
    fn bad_data_is_refused() {
        let origin: Name = "example.com.".parse().unwrap();
        for (rr_type, text) in [
            (1, "300.1.2.3"),
            (1, "192.0.2.1 extra"),
            (15, "10"),
            (1, "\\# 3 c0000201"),
            (10, "abc"),
            (108, "00-00-5e-00-53"),
        ] {
            assert!(encode(rr_type, &tokens(text), &origin).is_err(), "{text}");
        }
    }
}
