//! Reading RFC 1035 zone files ($ORIGIN, $TTL, relative names, parentheses, quoted strings,
//! RFC 3597 unknown types) into a [`Zone`]. Errors name the file and line.

use std::{fmt, path::Path};

use bytes::Bytes;
use domain::{
    base::{ToName, rdata::ComposeRecordData},
    zonefile::inplace::{Entry, Zonefile},
};

use super::{Zone, ZoneBuilder};
use crate::dns::Name;

/// Limits for one zone file; a file over them is rejected rather than half-loaded.
pub const MAX_ZONE_FILE_BYTES: u64 = 1 << 30;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneFileError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ZoneFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file, line, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ZoneFileError {}

/// Loads the zone `apex` from the file at `path`. `$ORIGIN` starts as the apex.
pub fn load(path: &Path, apex: &Name) -> Result<(Zone, Vec<String>), ZoneFileError> {
    let file = path.display().to_string();
    let error = |message: String| ZoneFileError {
        file: file.clone(),
        line: None,
        message,
    };
    let size = std::fs::metadata(path)
        .map_err(|e| error(format!("cannot read: {e}")))?
        .len();
    if size > MAX_ZONE_FILE_BYTES {
        return Err(error(format!(
            "{size} bytes is over the {MAX_ZONE_FILE_BYTES}-byte limit"
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| error(format!("cannot read: {e}")))?;
    parse(&text, apex, &file)
}

/// Parses zone file text; `source` names it in errors. Returns the zone and warnings.
pub fn parse(text: &str, apex: &Name, source: &str) -> Result<(Zone, Vec<String>), ZoneFileError> {
    let error = |line: Option<usize>, message: String| ZoneFileError {
        file: source.to_owned(),
        line,
        message,
    };
    let mut zonefile = Zonefile::with_capacity(text.len() + 1);
    zonefile.extend_from_slice(text.as_bytes());
    // domain's scanner needs the last entry to end with a line break.
    if !text.ends_with('\n') {
        zonefile.extend_from_slice(b"\n");
    }
    let origin = domain::base::Name::<Bytes>::from_octets(Bytes::copy_from_slice(apex.wire()))
        .map_err(|e| error(None, format!("bad origin {apex}: {e}")))?;
    zonefile.set_origin(origin);

    let mut builder = ZoneBuilder::new(apex.clone());
    // domain yields records and $INCLUDE but consumes $ORIGIN and $TTL itself, so the n-th
    // entry it yields starts on the n-th such line of the file.
    let mut entry_lines = entry_start_lines(text).into_iter();
    loop {
        let entry = match zonefile.next_entry() {
            Ok(Some(entry)) => entry,
            Ok(None) => break,
            Err(e) => return Err(syntax_error(source, &e)),
        };
        let line = entry_lines.next();
        let record = match entry {
            Entry::Record(record) => record,
            Entry::Include { .. } => {
                return Err(error(
                    line,
                    "$INCLUDE is not supported; put the records in one file".into(),
                ));
            }
        };
        let owner = Name::from_wire(record.owner().to_vec().as_octets())
            .map_err(|e| error(line, format!("bad owner name: {e}")))?;
        let mut rdata = Vec::new();
        record
            .data()
            .compose_rdata(&mut rdata)
            .map_err(|e| error(line, format!("cannot encode record data: {e}")))?;
        if rdata.len() > u16::MAX as usize {
            return Err(error(
                line,
                format!("record data of {} bytes is over 65535", rdata.len()),
            ));
        }
        builder
            .add(
                owner,
                record.rtype().to_int(),
                record.class().to_int(),
                record.ttl().as_secs(),
                rdata.into(),
            )
            .map_err(|e| error(line, e.to_string()))?;
    }
    let warnings = std::mem::take(&mut builder.ttl_mismatches)
        .into_iter()
        .map(|w| format!("{source}: {w}"))
        .collect();
    let zone = builder.finish().map_err(|e| error(None, e.to_string()))?;
    Ok((zone, warnings))
}

/// domain reports "line:col: message"; an error found at column 1 was found after the line
/// break that ended the offending line, so it belongs to the line before.
fn syntax_error(source: &str, error: &domain::zonefile::inplace::Error) -> ZoneFileError {
    let shown = error.to_string();
    let mut parts = shown.splitn(3, ':');
    let parsed = (
        parts.next().and_then(|l| l.trim().parse::<usize>().ok()),
        parts.next().and_then(|c| c.trim().parse::<usize>().ok()),
        parts.next(),
    );
    match parsed {
        (Some(line), Some(col), Some(message)) => ZoneFileError {
            file: source.to_owned(),
            line: Some(if col == 1 && line > 1 { line - 1 } else { line }),
            message: message.trim().to_owned(),
        },
        _ => ZoneFileError {
            file: source.to_owned(),
            line: None,
            message: shown,
        },
    }
}

/// Lines on which record entries and `$INCLUDE` start, in order. An entry starts on a line
/// with content outside parentheses; quotes, escapes and comments are honoured so that a `(`
/// or `;` inside a string does not count.
fn entry_start_lines(text: &str) -> Vec<usize> {
    let mut lines = Vec::new();
    let (mut depth, mut quoted, mut escaped, mut comment) = (0usize, false, false, false);
    let mut line = 1;
    let mut at_line_start = true;
    let mut entry_open = false;
    for (i, c) in text.char_indices() {
        if c == '\n' {
            line += 1;
            at_line_start = true;
            comment = false;
            escaped = false;
            if depth == 0 && !quoted {
                entry_open = false;
            }
            continue;
        }
        if comment {
            continue;
        }
        if escaped {
            escaped = false;
            continue;
        }
        let starts_entry = !entry_open && !c.is_whitespace() && c != ';';
        if starts_entry {
            entry_open = true;
            let rest = &text[i..];
            let directive = at_line_start
                && (starts_with_ignore_case(rest, "$ORIGIN")
                    || starts_with_ignore_case(rest, "$TTL"));
            if !directive {
                lines.push(line);
            }
        }
        at_line_start = false;
        match c {
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => comment = true,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    lines
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::codes::rtype;

    fn apex() -> Name {
        "example.com.".parse().unwrap()
    }

    fn key(s: &str) -> Box<[u8]> {
        s.parse::<Name>().unwrap().lowercase_wire()
    }

    const ZONE: &str = r#"$TTL 300
@   IN SOA ns1 hostmaster (
        2024010101 ; serial
        3600 900 604800 60 )
    IN NS ns1
ns1 IN A 192.0.2.1
www 600 IN A 192.0.2.10
    IN AAAA 2001:db8::10
txt IN TXT "hello world" "second; string"
$ORIGIN sub.example.com.
deep.a IN A 192.0.2.20
raw IN TYPE65280 \# 3 010203
"#;

    #[test]
    fn parses_directives_relative_names_and_unknown_types() {
        let (zone, warnings) = parse(ZONE, &apex(), "test.zone").unwrap();
        assert_eq!(entry_start_lines(ZONE), vec![2, 5, 6, 7, 8, 9, 11, 12]);
        assert!(warnings.is_empty());
        assert_eq!(zone.serial(), 2024010101);
        let www = zone.node(&key("www.example.com")).unwrap();
        let a = www.rrset(rtype::A).unwrap();
        assert_eq!(a.ttl, 600);
        assert_eq!(&*a.rdatas[0], &[192, 0, 2, 10]);
        assert_eq!(
            www.rrset(rtype::AAAA).unwrap().ttl,
            300,
            "$TTL applies when no TTL is given"
        );
        let txt = zone
            .node(&key("txt.example.com"))
            .unwrap()
            .rrset(rtype::TXT)
            .unwrap();
        assert_eq!(&*txt.rdatas[0], b"\x0bhello world\x0esecond; string");
        let raw = zone
            .node(&key("raw.sub.example.com"))
            .unwrap()
            .rrset(65280)
            .unwrap();
        assert_eq!(&*raw.rdatas[0], &[1, 2, 3]);
        assert!(zone.node(&key("deep.a.sub.example.com")).is_some());
        // Empty non-terminals exist between records and the apex.
        assert!(
            zone.node(&key("a.sub.example.com"))
                .unwrap()
                .is_empty_non_terminal()
        );
        assert!(
            zone.node(&key("sub.example.com"))
                .unwrap()
                .is_empty_non_terminal()
        );
        assert_eq!(zone.record_count(), 8);
    }

    #[test]
    fn syntax_error_names_file_and_line() {
        let text = "$TTL 300\n@ IN SOA ns1 hm 1 2 3 4 5\nwww IN A 300.1.2.3\n";
        let err = parse(text, &apex(), "bad.zone").unwrap_err();
        let shown = err.to_string();
        assert!(shown.starts_with("bad.zone:3:"), "{shown}");
    }

    #[test]
    fn out_of_zone_record_names_its_line() {
        let text =
            "$TTL 300\n@ IN SOA ns1 hm 1 2 3 4 5\n\n; comment\nwww.example.org. IN A 192.0.2.1\n";
        let err = parse(text, &apex(), "oz.zone").unwrap_err();
        assert_eq!(err.line, Some(5), "{err}");
        assert!(err.message.contains("outside the zone"), "{err}");
    }

    #[test]
    fn last_line_without_line_break() {
        let (zone, _) = parse(
            "@ 300 IN SOA ns1 hm 1 2 3 4 5\nwww 300 IN A 192.0.2.1",
            &apex(),
            "t",
        )
        .unwrap();
        assert!(zone.node(&key("www.example.com")).is_some());
    }

    #[test]
    fn missing_soa_is_an_error() {
        let err = parse("$TTL 300\nwww IN A 192.0.2.1\n", &apex(), "nosoa.zone").unwrap_err();
        assert!(err.message.contains("no SOA"), "{err}");
    }

    #[test]
    fn include_is_refused_with_line() {
        let text = "$TTL 300\n@ IN SOA ns1 hm 1 2 3 4 5\n$INCLUDE other.zone\n";
        let err = parse(text, &apex(), "inc.zone").unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
    }

    #[test]
    fn unbalanced_parenthesis_is_an_error() {
        let text = "$TTL 300\n@ IN SOA ns1 hm ( 1 2 3 4 5\nwww IN A 192.0.2.1\n";
        assert!(parse(text, &apex(), "paren.zone").is_err());
    }
}
