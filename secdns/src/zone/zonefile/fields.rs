//! Reading one field of presentation form: names (relative, `@`, escapes), numbers, TTLs with
//! units, timestamps, character strings, and the binary encodings (hex, base64, base32hex).

use super::{Fault, lexer::Token};
use crate::dns::Name;

/// The bytes of a token with `\X` and `\DDD` escapes decoded. `plain_dots` keeps a record of
/// which dots were written unescaped (label separators in a name).
fn unescape(text: &[u8], in_name: bool) -> Result<Vec<(u8, bool)>, Fault> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while let Some(&b) = text.get(i) {
        if b != b'\\' {
            out.push((b, false));
            i += 1;
            continue;
        }
        let rest = text.get(i + 1..).unwrap_or_default();
        match rest {
            [d0, d1, d2, ..]
                if d0.is_ascii_digit() && d1.is_ascii_digit() && d2.is_ascii_digit() =>
            {
                let value = (d0 - b'0') as u16 * 100 + (d1 - b'0') as u16 * 10 + (d2 - b'0') as u16;
                // In a name knotd takes a value over 255 modulo 256 (\256 is \000), so must
                // we to read its files to the same records; in text it refuses it.
                if value > 255 && !in_name {
                    return Err(Fault::new(format!("escape \\{value} is over 255")));
                }
                out.push(((value % 256) as u8, true));
                i += 4;
            }
            [d, ..] if d.is_ascii_digit() => {
                return Err(Fault::new("a \\DDD escape needs three digits"));
            }
            [other, ..] => {
                out.push((*other, true));
                i += 2;
            }
            [] => return Err(Fault::new("the text ends in a lone '\\'")),
        }
    }
    Ok(out)
}

/// A domain name, relative to `origin` unless it ends in an unescaped dot; `@` is the origin.
pub fn name(token: &Token, origin: &Name) -> Result<Name, Fault> {
    name_with_case(token, origin, false)
}

/// As [`name`]; with `lowercase`, the whole name is lowercased, as knotd does with names in
/// the data of some types.
pub fn name_with_case(token: &Token, origin: &Name, lowercase: bool) -> Result<Name, Fault> {
    if token.quoted {
        return Err(Fault::new(format!(
            "a name is not quoted: \"{}\"",
            token.show()
        )));
    }
    if token.text == b"@" {
        return Ok(origin.clone());
    }
    if token.text == b"." {
        return Ok(Name::root());
    }
    let bytes = unescape(&token.text, true)?;
    // `@` stands for the origin only as a whole name (`hostmaster.@` is refused, as knotd does).
    let is_separator = |&(b, escaped): &(u8, bool)| b == b'.' && !escaped;
    if bytes
        .split(is_separator)
        .any(|label| matches!(label, [(b'@', false)]))
    {
        return Err(Fault::new(format!(
            "bad name '{}': '@' is the origin only as a whole name",
            token.show()
        )));
    }
    let mut wire = Vec::with_capacity(bytes.len() + 2 + origin.wire().len());
    let mut label = Vec::new();
    let mut absolute = false;
    let bad = |why: &str| Fault::new(format!("bad name '{}': {why}", token.show()));
    for (index, &(b, escaped)) in bytes.iter().enumerate() {
        if b == b'.' && !escaped {
            if label.is_empty() {
                return Err(bad("empty label"));
            }
            push_label(&mut wire, &label).map_err(&bad)?;
            label.clear();
            if index + 1 == bytes.len() {
                absolute = true;
            }
        } else {
            label.push(b);
        }
    }
    if !label.is_empty() {
        push_label(&mut wire, &label).map_err(&bad)?;
    }
    if absolute {
        wire.push(0);
    } else {
        wire.extend_from_slice(origin.wire());
    }
    let name = Name::from_wire(&wire).map_err(|e| bad(&e.to_string()))?;
    Ok(if lowercase { name.lowercased() } else { name })
}

fn push_label(wire: &mut Vec<u8>, label: &[u8]) -> Result<(), &'static str> {
    if label.len() > 63 {
        return Err("label longer than 63 octets");
    }
    wire.push(label.len() as u8);
    wire.extend_from_slice(label);
    Ok(())
}

/// The token's bytes, escapes decoded, whether quoted or not.
pub fn bytes(token: &Token) -> Result<Vec<u8>, Fault> {
    Ok(unescape(&token.text, false)?
        .into_iter()
        .map(|(b, _)| b)
        .collect())
}

/// A character string (RFC 1035 §3.3) in wire form: a length octet and up to 255 octets.
pub fn char_string(token: &Token, out: &mut Vec<u8>) -> Result<(), Fault> {
    let data = bytes(token)?;
    let len = u8::try_from(data.len()).map_err(|_| {
        Fault::new(format!(
            "character string of {} octets is over 255",
            data.len()
        ))
    })?;
    out.push(len);
    out.extend_from_slice(&data);
    Ok(())
}

/// An unquoted token as text: numbers, addresses, mnemonics and the like are never quoted.
pub fn plain(token: &Token) -> Result<&str, Fault> {
    (!token.quoted)
        .then(|| std::str::from_utf8(&token.text).ok())
        .flatten()
        .ok_or_else(|| Fault::new(format!("unexpected \"{}\"", token.show())))
}

/// A mnemonic of `names`, or what `otherwise` reads (a number).
pub fn named_or<T: Copy>(
    token: &Token,
    names: &[(&str, T)],
    otherwise: impl Fn(&Token) -> Result<T, Fault>,
) -> Result<T, Fault> {
    match names.iter().find(|(name, _)| token.is(name)) {
        Some((_, value)) => Ok(*value),
        None => otherwise(token),
    }
}

/// The number of RFC 3597's generic `TYPEnnn` or `CLASSnnn` (`prefix` in any letter case).
pub fn generic_number(token: &Token, prefix: &str) -> Option<u16> {
    let digits = token.text.get(prefix.len()..).filter(|_| {
        !token.quoted && token.text[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
    })?;
    (!digits.is_empty() && digits.iter().all(u8::is_ascii_digit))
        .then(|| std::str::from_utf8(digits).ok()?.parse().ok())
        .flatten()
}

/// An unsigned decimal number that fits `max`.
pub fn number(token: &Token, max: u64) -> Result<u64, Fault> {
    let text = plain(token)?;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Fault::new(format!("expected a number, found '{text}'")));
    }
    text.parse::<u64>()
        .ok()
        .filter(|&n| n <= max)
        .ok_or_else(|| Fault::new(format!("{text} is over the maximum {max}")))
}

pub fn u8(token: &Token) -> Result<u8, Fault> {
    number(token, u8::MAX.into()).map(|n| n as u8)
}

pub fn u16(token: &Token) -> Result<u16, Fault> {
    number(token, u16::MAX.into()).map(|n| n as u16)
}

pub fn u32(token: &Token) -> Result<u32, Fault> {
    number(token, u32::MAX.into()).map(|n| n as u32)
}

/// Whether a token reads as a TTL (so is not a class or a type).
pub fn looks_like_ttl(token: &Token) -> bool {
    !token.quoted && token.text.first().is_some_and(u8::is_ascii_digit)
}

/// A TTL or other duration: seconds, or numbers with units (`1h30m`, `2W`), as BIND and
/// knotd read them.
pub fn ttl(token: &Token) -> Result<u32, Fault> {
    let text = plain(token)?;
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return u32(token);
    }
    let bad = || Fault::new(format!("bad time value '{text}'"));
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut seen_unit = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: u64 = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            'w' => 604800,
            _ => return Err(bad()),
        };
        let value: u64 = digits.parse().map_err(|_| bad())?;
        seen_unit = true;
        digits.clear();
        total = value
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    // knotd refuses a bare number after a unit (`1h2`).
    if !digits.is_empty() || !seen_unit {
        return Err(bad());
    }
    u32::try_from(total).map_err(|_| Fault::new(format!("'{text}' is over 4294967295 seconds")))
}

/// An RRSIG timestamp: `YYYYMMDDHHmmSS` (UTC) or seconds since 1970 (RFC 4034 §3.2).
pub fn timestamp(token: &Token) -> Result<u32, Fault> {
    let text = plain(token)?;
    if text.len() != 14 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return u32(token);
    }
    let part = |range: std::ops::Range<usize>| text[range].parse::<i64>().unwrap_or(0);
    let (year, month, day) = (part(0..4), part(4..6), part(6..8));
    let (hour, minute, second) = (part(8..10), part(10..12), part(12..14));
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    };
    if year < 1970 || day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
        return Err(Fault::new(format!("bad timestamp '{text}'")));
    }
    let seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
    // Serial number arithmetic (RFC 4034 §3.1.5): the value is taken modulo 2^32.
    Ok(seconds as u64 as u32)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// The tokens joined, as binary encodings may be split by blanks.
fn joined(tokens: &[Token]) -> Result<String, Fault> {
    let mut text = String::new();
    for token in tokens {
        if token.quoted {
            return Err(Fault::new(format!(
                "unexpected quoted \"{}\"",
                token.show()
            )));
        }
        text.push_str(
            std::str::from_utf8(&token.text)
                .map_err(|_| Fault::new(format!("bad encoded data '{}'", token.show())))?,
        );
    }
    Ok(text)
}

pub fn hex(tokens: &[Token]) -> Result<Vec<u8>, Fault> {
    if let Some(odd) = tokens.iter().find(|t| t.text.len() % 2 == 1) {
        return Err(Fault::new(format!("hex '{}' splits an octet", odd.show())));
    }
    let text = joined(tokens)?;
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(text.as_bytes())
        .map_err(|e| Fault::new(format!("bad hex '{text}': {e}")))
}

pub fn base64(tokens: &[Token]) -> Result<Vec<u8>, Fault> {
    // knotd splits base64 only between groups of four characters.
    if let Some(split) = tokens.iter().find(|t| t.text.len() % 4 != 0) {
        return Err(Fault::new(format!(
            "base64 '{}' splits a group of four characters",
            split.show()
        )));
    }
    let text = joined(tokens)?;
    data_encoding::BASE64
        .decode(text.as_bytes())
        .map_err(|e| Fault::new(format!("bad base64 '{text}': {e}")))
}

pub fn base32hex(token: &Token) -> Result<Vec<u8>, Fault> {
    let text = joined(std::slice::from_ref(token))?.to_ascii_uppercase();
    data_encoding::BASE32HEX_NOPAD
        .decode(text.as_bytes())
        .map_err(|e| Fault::new(format!("bad base32hex '{text}': {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> Token {
        Token {
            text: text.as_bytes().to_vec(),
            quoted: false,
        }
    }

    #[test]
    fn names() {
        let origin: Name = "example.com.".parse().unwrap();
        let show = |text: &str| name(&t(text), &origin).map(|n| n.to_string());
        assert_eq!(show("@").unwrap(), "example.com.");
        assert_eq!(show("www").unwrap(), "www.example.com.");
        assert_eq!(show("www.example.org.").unwrap(), "www.example.org.");
        assert_eq!(show(".").unwrap(), ".");
        assert_eq!(
            name(&t("a\\.b"), &origin).unwrap().wire(),
            b"\x03a.b\x07example\x03com\x00"
        );
        assert_eq!(
            name(&t("\\065\\032x."), &origin).unwrap().wire(),
            b"\x03A x\x00"
        );
        assert!(show("a..b").is_err());
        assert!(show("hostmaster.@").is_err());
        assert_eq!(
            name(&t("a\\@"), &origin).unwrap().wire()[..3],
            [2, b'a', b'@']
        );
        assert!(show(&"x".repeat(64)).is_err());
        assert_eq!(
            name(&t("\\256\\999"), &origin).unwrap().wire()[..3],
            [2, 0, 231]
        );
        assert!(show(&format!("{}.", vec!["a".repeat(63); 4].join("."))).is_err());
    }

    #[test]
    fn ttls_with_units() {
        let ttl = |text: &str| ttl(&t(text));
        assert_eq!(ttl("3600").unwrap(), 3600);
        assert_eq!(ttl("1h").unwrap(), 3600);
        assert_eq!(ttl("2h30m").unwrap(), 9000);
        assert_eq!(ttl("1W2D").unwrap(), 777600);
        assert!(ttl("1d1").is_err());
        assert!(ttl("1y").is_err());
        assert!(ttl("4294967296").is_err());
        assert!(ttl("7102w").is_err());
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(&t("19700101000000")).unwrap(), 0);
        assert_eq!(timestamp(&t("20240229120000")).unwrap(), 1709208000);
        assert_eq!(timestamp(&t("1709208000")).unwrap(), 1709208000);
        assert!(timestamp(&t("20230229120000")).is_err());
    }
}
