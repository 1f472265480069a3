//! LOC record data (RFC 1876 §3): `d1 [m1 [s1]] N|S d2 [m2 [s2]] E|W alt[m] [size[m] [hp[m]
//! [vp[m]]]]`.

use super::{Fault, fields, lexer::Token};

/// 2^31: the equator and the prime meridian.
const EQUATOR: i64 = 1 << 31;
/// Altitudes count from 100,000 m below the WGS 84 spheroid, in centimetres.
const ALTITUDE_BASE: i64 = 10_000_000;

pub fn encode(tokens: &[Token], out: &mut Vec<u8>) -> Result<(), Fault> {
    let words = tokens
        .iter()
        .map(fields::plain)
        .collect::<Result<Vec<&str>, Fault>>()?;
    let mut rest = &words[..];
    let latitude = coordinate(&mut rest, 90, ("N", "S"))?;
    let longitude = coordinate(&mut rest, 180, ("E", "W"))?;
    let (altitude, rest) = rest
        .split_first()
        .ok_or_else(|| Fault::new("LOC needs an altitude"))?;
    let altitude = decimal(altitude.trim_end_matches(['m', 'M']), 2, "altitude")?;
    if !(-ALTITUDE_BASE..=i64::from(u32::MAX) - ALTITUDE_BASE).contains(&altitude) {
        return Err(Fault::new("LOC altitude out of range"));
    }
    let mut precisions = [0x12u8, 0x16, 0x13];
    if rest.len() > 3 {
        return Err(Fault::new(format!("unexpected '{}' in LOC", rest[3])));
    }
    for (slot, word) in precisions.iter_mut().zip(rest) {
        let centimetres = decimal(word.trim_end_matches(['m', 'M']), 2, "LOC precision")?;
        *slot = precision(centimetres)?;
    }
    out.push(0);
    out.extend_from_slice(&precisions);
    out.extend_from_slice(&(latitude as u32).to_be_bytes());
    out.extend_from_slice(&(longitude as u32).to_be_bytes());
    out.extend_from_slice(&((altitude + ALTITUDE_BASE) as u32).to_be_bytes());
    Ok(())
}

/// Degrees, optional minutes and seconds, then a hemisphere: thousandths of an arc second
/// from 2^31.
fn coordinate(
    rest: &mut &[&str],
    max_degrees: i64,
    (plus, minus): (&str, &str),
) -> Result<i64, Fault> {
    let mut parts = Vec::new();
    loop {
        let (word, others) = rest
            .split_first()
            .ok_or_else(|| Fault::new(format!("LOC needs {plus} or {minus}")))?;
        *rest = others;
        if word.eq_ignore_ascii_case(plus) || word.eq_ignore_ascii_case(minus) {
            let sign = if word.eq_ignore_ascii_case(plus) {
                1
            } else {
                -1
            };
            let (degrees, minutes, seconds) = match parts[..] {
                [d] => (d, "0", "0"),
                [d, m] => (d, m, "0"),
                [d, m, s] => (d, m, s),
                _ => return Err(Fault::new(format!("LOC needs degrees before {word}"))),
            };
            if [degrees, minutes, seconds]
                .iter()
                .any(|p| p.starts_with('-'))
            {
                return Err(Fault::new(
                    "LOC degrees, minutes and seconds are not negative",
                ));
            }
            let degrees = decimal(degrees, 0, "degrees")?;
            let minutes = decimal(minutes, 0, "minutes")?;
            let seconds = decimal(seconds, 3, "seconds")?;
            if degrees > max_degrees || minutes > 59 || seconds > 59_999 {
                return Err(Fault::new("LOC coordinate out of range"));
            }
            let value = (degrees * 3600 + minutes * 60) * 1000 + seconds;
            if value > max_degrees * 3600 * 1000 {
                return Err(Fault::new("LOC coordinate out of range"));
            }
            return Ok(EQUATOR + sign * value);
        }
        if parts.len() == 3 {
            return Err(Fault::new(format!(
                "LOC needs {plus} or {minus}, found '{word}'"
            )));
        }
        parts.push(*word);
    }
}

/// A decimal number with at most `places` digits after the point, scaled by 10^places.
fn decimal(text: &str, places: u32, what: &str) -> Result<i64, Fault> {
    let bad = || Fault::new(format!("bad {what} '{text}' in LOC"));
    let (negative, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty()
        || whole.len() > 10
        || fraction.len() > places as usize
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let mut value: i64 = whole.parse().map_err(|_| bad())?;
    for i in 0..places as usize {
        let digit = fraction
            .as_bytes()
            .get(i)
            .map_or(0, |b| i64::from(b - b'0'));
        value = value * 10 + digit;
    }
    Ok(if negative { -value } else { value })
}

/// A size or precision in centimetres as RFC 1876's mantissa and power of ten.
fn precision(centimetres: i64) -> Result<u8, Fault> {
    if !(0..=9_000_000_000).contains(&centimetres) {
        return Err(Fault::new("LOC size or precision out of range"));
    }
    let mut exponent = 0u8;
    let mut value = centimetres;
    while value >= 10 {
        value /= 10;
        exponent += 1;
    }
    Ok((value as u8) << 4 | exponent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(text: &str) -> Vec<u8> {
        let tokens: Vec<Token> = text
            .split_whitespace()
            .map(|t| Token {
                text: t.as_bytes().to_vec(),
                quoted: false,
            })
            .collect();
        let mut out = Vec::new();
        encode(&tokens, &mut out).unwrap_or_else(|e| panic!("{text}: {e}"));
        out
    }

    #[test]
    fn rfc_1876_examples() {
        // cambridge-net.kei.com: 42 21 54 N 71 06 18 W -24m 30m
        assert_eq!(
            loc("42 21 54 N 71 06 18 W -24m 30m"),
            [
                0, 0x33, 0x16, 0x13, 0x89, 0x17, 0x2d, 0xd0, 0x70, 0xbe, 0x15, 0xf0, 0x00, 0x98,
                0x8d, 0x20
            ]
        );
        assert_eq!(
            loc("52 N 4 E 0"),
            loc("52 0 0.000 N 4 0 0 E 0.00m 1m 10000m 10m")
        );
        assert!(encode(&[], &mut Vec::new()).is_err());
    }
}
