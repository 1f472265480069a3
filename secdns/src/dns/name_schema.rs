//! A domain name as the API's OpenAPI document describes it: the presentation format that
//! `Name::from_str` reads (RFC 1035 §5.1 escapes, labels of 63 octets), with or without the
//! trailing dot. The test below runs the pattern against the parser.

use std::borrow::Cow;

use utoipa::{
    PartialSchema, ToSchema,
    openapi::{ObjectBuilder, OneOfBuilder, RefOr, Schema, Type},
};

use super::name::{MAX_NAME_TEXT, Name};

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

impl PartialSchema for Name {
    fn schema() -> RefOr<Schema> {
        let form = |pattern: String, longest: usize| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(pattern))
                .max_length(Some(longest))
        };
        OneOfBuilder::new()
            .item(form(relative_pattern(), MAX_NAME_TEXT))
            .item(form(absolute_pattern(), MAX_NAME_TEXT + 1))
            .description(Some(
                "A domain name in presentation format (RFC 1035 §5.1: `\\.`, `\\DDD` escapes), \
                 absolute with or without the trailing dot",
            ))
            .into()
    }
}

impl ToSchema for Name {
    fn name() -> Cow<'static, str> {
        "DomainName".into()
    }
}

#[cfg(test)]
mod tests {
    use regex::Regex;

    use super::*;

    fn described(forms: &[(Regex, usize)], text: &str) -> bool {
        forms
            .iter()
            .any(|(pattern, longest)| text.chars().count() <= *longest && pattern.is_match(text))
    }

    /// Random texts over the characters that matter to the parser, and long names at the
    /// limits: the document describes a text exactly when the server reads it.
    #[test]
    fn the_pattern_is_what_the_parser_reads() {
        let forms = [
            (Regex::new(&relative_pattern()).unwrap(), MAX_NAME_TEXT),
            (Regex::new(&absolute_pattern()).unwrap(), MAX_NAME_TEXT + 1),
        ];
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
            assert_eq!(
                described(&forms, &text),
                text.parse::<Name>().is_ok(),
                "{text:?}: the document and the parser disagree ({:?})",
                text.parse::<Name>()
            );
        }
    }
}
