//! A domain name as the API's OpenAPI document describes it: the presentation format that
//! `Name::from_str` reads (RFC 1035 §5.1 escapes, labels of 63 octets), with or without the
//! trailing dot. The test below runs the pattern against the parser.

use utoipa::openapi::{ObjectBuilder, OneOfBuilder, Type};

use super::name::Name;
use crate::text_forms::named_schema;

/// One octet of a label: a printable character other than `.` and `\`, a decimal escape up
/// to `\255`, or `\` before another printable character (not a digit). Characters by code,
/// so that every regex dialect (ECMA-262, Python's, Rust's) reads the classes alike.
const OCTET: &str = r"(?:[\x20-\x2d\x2f-\x5b\x5d-\x7e]|\\(?:[01][0-9]{2}|2[0-4][0-9]|25[0-5])|\\[\x20-\x2f\x3a-\x7e])";
/// A label's first octet: as [`OCTET`], but `\[` there would start a binary label (RFC 2673),
/// which is refused.
const FIRST_OCTET: &str = r"(?:[\x20-\x2d\x2f-\x5b\x5d-\x7e]|\\(?:[01][0-9]{2}|2[0-4][0-9]|25[0-5])|\\[\x20-\x2f\x3a-\x5a\x5c-\x7e])";

fn label() -> String {
    format!("{FIRST_OCTET}{OCTET}{{0,62}}")
}

/// Without the trailing dot.
fn relative_pattern() -> String {
    let label = label();
    format!(r"^{label}(?:\.{label})*$")
}

/// With it, the root (`.`) among them.
fn absolute_pattern() -> String {
    format!(r"^(?:(?:{}\.)+|\.)$", label())
}

// No length: the limit is 255 octets in wire form, and an escape (`\\065`) is one octet
// in four characters, which a pattern cannot count across labels. The description says it.
named_schema!(Name, "DomainName", {
    let form = |pattern: String| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(pattern))
    };
    OneOfBuilder::new()
        .item(form(relative_pattern()))
        .item(form(absolute_pattern()))
        .description(Some(
            "A domain name in presentation format (RFC 1035 §5.1: `\\.`, `\\DDD` escapes), \
             absolute with or without the trailing dot; at most 255 octets in wire form \
             (253 characters when nothing is escaped)",
        ))
        .into()
});

#[cfg(test)]
mod tests {
    use regex::Regex;

    use super::*;

    /// Random texts over the characters that matter to the parser, and long names at the
    /// limits: what the pattern refuses the server refuses, and what it takes the server
    /// reads when it is short enough not to reach 255 octets.
    #[test]
    fn the_pattern_is_what_the_parser_reads() {
        let relative = Regex::new(&relative_pattern()).unwrap();
        let absolute = Regex::new(&absolute_pattern()).unwrap();
        let alphabet: Vec<char> = "a.\\0125[] \t\né-Z9".chars().collect();
        let mut draws = crate::text_forms::Draws::new(0x2545_f491_4f6c_dd1d_u64);
        let mut texts: Vec<String> = (0..200_000).map(|_| draws.text(&alphabet, 12)).collect();
        for labels in [3, 4] {
            for last in 58..66 {
                let mut name = vec!["a".repeat(63); labels - 1].join(".");
                name.push('.');
                name.push_str(&"b".repeat(last));
                texts.push(name.clone());
                texts.push(format!("{name}."));
                texts.push(format!("\\065{name}"));
            }
        }
        for text in texts {
            let matched = relative.is_match(&text) as u8 + absolute.is_match(&text) as u8;
            assert!(matched <= 1, "{text:?}: both forms match");
            let parsed = text.parse::<Name>();
            // Refused by the pattern: refused by the parser. Matched and short enough to be
            // under 255 octets however written: read.
            if matched == 0 {
                assert!(
                    parsed.is_err(),
                    "{text:?}: read, but the pattern refuses it"
                );
            } else if text.len() <= 253 {
                assert!(parsed.is_ok(), "{text:?}: the pattern takes it: {parsed:?}");
            }
        }
    }
}
