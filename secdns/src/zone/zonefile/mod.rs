//! Reading zone files as knotd and BIND read them (RFC 1035 §5 with the usual extensions:
//! omitted class and TTL, TTL units, `@` anywhere, `$ORIGIN`/`$TTL`/`$INCLUDE`, every type
//! knotd knows in presentation form, RFC 3597's generic form for any type) into a [`Zone`].
//! Errors name the file and line.
//!
//! Written here rather than taken from `domain`: its reader refused or misread what operators
//! write (a first record without class, TTL units, `@` inside record data, LOC, EUI48/64,
//! SPF, SVCB `keyNNNNN`), and whatever knotd reads must read to the same records.

mod fields;
mod lexer;
mod loc;
mod rdata;
mod svcb;

use std::{
    fmt,
    path::{Path, PathBuf},
};

use super::{RecordLimits, Zone, ZoneBuilder};
use crate::dns::{
    Dname, Name,
    codes::{class, rtype},
};
use lexer::{Entry, Token};

/// Limits for one zone file; a file over them is rejected rather than half-loaded.
pub const MAX_ZONE_FILE_BYTES: u64 = 1 << 30;
/// How deep `$INCLUDE` may nest (and so no include loop runs forever).
const MAX_INCLUDE_DEPTH: usize = 10;
/// The TTL of a record that gives none when the file has no `$TTL` (knotd's `default-ttl`).
const DEFAULT_TTL: u32 = 3600;

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

/// What is wrong with one field or entry; the reader adds the file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault(String);

impl Fault {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Loads the zone `apex` from the file at `path`. `$ORIGIN` starts as the apex.
pub fn load(path: &Path, apex: &Name) -> Result<(Zone, Vec<String>), ZoneFileError> {
    load_limited(path, apex, RecordLimits::default())
}

/// As [`load`], with these bounds on records per RRset and per name.
pub fn load_limited(
    path: &Path,
    apex: &Name,
    limits: RecordLimits,
) -> Result<(Zone, Vec<String>), ZoneFileError> {
    let text = read(path)?;
    let mut reader = Reader::new(apex);
    reader.builder.limits = limits;
    reader.read(
        &text,
        &path.display().to_string(),
        Some(path),
        apex.clone(),
        None,
        0,
    )?;
    reader.finish(&path.display().to_string())
}

/// Parses zone file text; `source` names it in errors, and `$INCLUDE` paths are taken from
/// the working directory. Returns the zone and warnings.
pub fn parse(text: &str, apex: &Name, source: &str) -> Result<(Zone, Vec<String>), ZoneFileError> {
    let mut reader = Reader::new(apex);
    reader.read(text.as_bytes(), source, None, apex.clone(), None, 0)?;
    reader.finish(source)
}

/// Zone `apex` from `text`, for unit tests: it panics on a bad text.
#[cfg(test)]
pub fn zone_of(apex: &str, text: &str) -> Zone {
    let apex: Name = apex.parse().unwrap();
    parse(text, &apex, "unit")
        .unwrap_or_else(|e| panic!("{e}"))
        .0
}

fn read(path: &Path) -> Result<Vec<u8>, ZoneFileError> {
    let error = |message: String| ZoneFileError {
        file: path.display().to_string(),
        line: None,
        message,
    };
    crate::named_files::read(path, MAX_ZONE_FILE_BYTES)
        .map_err(|e| error(format!("cannot read: {e}")))
}

struct Reader {
    builder: ZoneBuilder,
    /// Records knotd skips with a warning, and so do we (file, line, why).
    skipped: Vec<String>,
    apex_soa_seen: bool,
    /// A DNAME has been read: names below one are refused.
    dname_seen: bool,
}

/// What a file's entries carry from one to the next.
struct State {
    origin: Name,
    default_ttl: Option<u32>,
    last_owner: Name,
}

impl Reader {
    fn new(apex: &Name) -> Self {
        let mut builder = ZoneBuilder::new(apex.clone());
        builder.ttl_rule = super::TtlRule::Last;
        Self {
            builder,
            skipped: Vec::new(),
            apex_soa_seen: false,
            dname_seen: false,
        }
    }

    fn finish(mut self, source: &str) -> Result<(Zone, Vec<String>), ZoneFileError> {
        let mut warnings = std::mem::take(&mut self.skipped);
        warnings.extend(
            std::mem::take(&mut self.builder.ttl_mismatches)
                .into_iter()
                .map(|w| format!("{source}: {w}")),
        );
        let zone = self.builder.finish().map_err(|e| ZoneFileError {
            file: source.to_owned(),
            line: None,
            message: e.to_string(),
        })?;
        // A name below a DNAME is refused wherever it stands in the file (knotd: "child
        // record exists under DNAME"); names after the DNAME were refused with their line.
        let dnames = self.dname_seen.then(|| zone.nodes()).into_iter().flatten();
        for node in dnames.filter(|n| !n.stored.is_empty()) {
            let holds_dname = |name: &Name| {
                zone.node_unrecorded(&name.lowercase_wire())
                    .is_some_and(|n| n.stored.iter().any(|r| r.rtype == rtype::DNAME))
            };
            if let Some(name) = dname_above(node.owner(), zone.apex(), holds_dname) {
                return Err(ZoneFileError {
                    file: source.to_owned(),
                    line: None,
                    message: format!("{} is below the DNAME at {name}", node.owner()),
                });
            }
        }
        Ok((zone, warnings))
    }

    /// Reads one file's entries; `$INCLUDE` reads another with its own state.
    fn read(
        &mut self,
        text: &[u8],
        source: &str,
        path: Option<&Path>,
        origin: Name,
        default_ttl: Option<u32>,
        depth: usize,
    ) -> Result<(), ZoneFileError> {
        let at = |line: usize, fault: Fault| ZoneFileError {
            file: source.to_owned(),
            line: Some(line),
            message: fault.0,
        };
        let entries = lexer::entries(text);
        let mut state = State {
            last_owner: origin.clone(),
            origin,
            default_ttl,
        };
        for entry in entries {
            let entry = entry.map_err(|(line, fault)| at(line, fault))?;
            let directive = entry
                .tokens
                .first()
                .filter(|t| !entry.blank_owner && !t.quoted && t.text.starts_with(b"$"));
            match directive {
                Some(word) if word.is("$INCLUDE") => {
                    let (file, origin) =
                        include(&entry, &state, path).map_err(|fault| at(entry.line, fault))?;
                    if depth >= MAX_INCLUDE_DEPTH {
                        return Err(at(
                            entry.line,
                            Fault::new(format!("$INCLUDE nested over {MAX_INCLUDE_DEPTH} deep")),
                        ));
                    }
                    let included = read(&file).map_err(|e| {
                        let message = format!("$INCLUDE {}: {}", file.display(), e.message);
                        at(entry.line, Fault::new(message))
                    })?;
                    let name = file.display().to_string();
                    // The included file starts with our $TTL (as knotd does) and ours stays.
                    let ttl = state.default_ttl;
                    self.read(&included, &name, Some(&file), origin, ttl, depth + 1)?;
                }
                Some(_) => directive_entry(&entry, &mut state).map_err(|f| at(entry.line, f))?,
                None => {
                    if let Some(why) = self
                        .record(&entry, &mut state)
                        .map_err(|fault| at(entry.line, fault))?
                    {
                        self.skipped
                            .push(format!("{source}:{}: ignored: {why}", entry.line));
                    }
                }
            }
        }
        Ok(())
    }

    /// Adds the record of `entry`; returns why it was skipped when knotd would skip it too
    /// (data outside the zone, an SOA other than the first at the apex).
    fn record(&mut self, entry: &Entry, state: &mut State) -> Result<Option<String>, Fault> {
        let mut tokens = &entry.tokens[..];
        let owner = if entry.blank_owner {
            state.last_owner.clone()
        } else {
            let (owner, rest) = tokens
                .split_first()
                .ok_or_else(|| Fault::new("empty entry"))?;
            tokens = rest;
            // knotd keeps owners in lower case.
            fields::name_with_case(owner, &state.origin, true)?
        };
        state.last_owner = owner.clone();
        let (mut ttl, mut class) = (None, None);
        // TTL and class come in either order before the type (RFC 1035 §5.1).
        for _ in 0..2 {
            let Some(token) = tokens.first() else { break };
            if ttl.is_none() && fields::looks_like_ttl(token) {
                ttl = Some(fields::ttl(token)?);
            } else if class.is_none() && is_class(token) {
                class = Some(class::IN);
            } else if other_class(token) {
                return Err(Fault::new(format!(
                    "class {}: only IN is read (as knotd does)",
                    token.show()
                )));
            } else {
                break;
            }
            tokens = &tokens[1..];
        }
        let (type_token, data) = tokens
            .split_first()
            .ok_or_else(|| Fault::new("missing record type"))?;
        let rr_type = rdata::type_number(type_token)
            .ok_or_else(|| Fault::new(format!("unknown record type '{}'", type_token.show())))?;
        if type_token.is("NULL") {
            return Err(Fault::new(
                "NULL has no presentation form: write TYPE10 \\# ...",
            ));
        }
        let rdata = rdata::encode(rr_type, data, &state.origin)?;
        // Without a TTL: an RRSIG takes its original TTL, anything else `$TTL` or knotd's
        // default (knotd does not carry the previous record's TTL over, as BIND does).
        let ttl = match ttl {
            Some(ttl) => ttl,
            None if rr_type == rtype::RRSIG && rdata.len() >= 8 => {
                u32::from_be_bytes([rdata[4], rdata[5], rdata[6], rdata[7]])
            }
            None => state.default_ttl.unwrap_or(DEFAULT_TTL),
        };
        if !owner.is_at_or_below(self.builder.apex()) {
            return Ok(Some(format!("{owner} is outside the zone")));
        }
        if rr_type == rtype::SOA {
            if owner != *self.builder.apex() {
                return Ok(Some(format!("SOA at {owner}, not at the apex")));
            }
            if std::mem::replace(&mut self.apex_soa_seen, true) {
                return Ok(Some("a second SOA at the apex".into()));
            }
        }
        self.check_semantics(&owner, rr_type, &rdata)?;
        self.dname_seen |= rr_type == rtype::DNAME;
        self.builder
            .add(
                owner,
                rr_type,
                class.unwrap_or(class::IN),
                ttl,
                rdata.into(),
            )
            .map_err(|e| Fault::new(e.to_string()))?;
        Ok(None)
    }
}

impl Reader {
    /// What knotd refuses to load even with its semantic checks off: CNAME beside other
    /// data or a second CNAME, names below a DNAME, a second NSEC3PARAM.
    fn check_semantics(&self, owner: &Name, rr_type: u16, rdata: &[u8]) -> Result<(), Fault> {
        let is_data = |t: u16| !matches!(t, rtype::RRSIG | rtype::NSEC);
        if let Some(node) = self.builder.node(owner) {
            let held: Vec<u16> = node.stored.iter().map(|r| r.rtype).collect();
            let cname = held.contains(&rtype::CNAME);
            if rr_type == rtype::CNAME
                && !node.stored.iter().all(|r| {
                    !is_data(r.rtype)
                        || (r.rtype == rtype::CNAME && r.rdatas.iter().all(|d| d == rdata))
                })
            {
                return Err(Fault::new(format!(
                    "{owner}: CNAME beside other data or another CNAME"
                )));
            }
            if cname && is_data(rr_type) && rr_type != rtype::CNAME {
                return Err(Fault::new(format!("{owner}: data beside a CNAME")));
            }
            if rr_type == rtype::NSEC3PARAM
                && node
                    .rrset(rtype::NSEC3PARAM)
                    .is_some_and(|r| r.rdatas.iter().any(|d| d != rdata))
            {
                return Err(Fault::new(format!("{owner}: a second NSEC3PARAM")));
            }
        }
        // Most zones have no DNAME: then no walk up from every name.
        if !self.dname_seen {
            return Ok(());
        }
        let holds_dname = |name: &Name| {
            self.builder
                .node(name)
                .is_some_and(|n| n.rrset(rtype::DNAME).is_some())
        };
        match dname_above(owner, self.builder.apex(), holds_dname) {
            Some(name) => Err(Fault::new(format!("{owner} is below the DNAME at {name}"))),
            None => Ok(()),
        }
    }
}

/// The closest name above `owner`, up to `apex`, that `holds_dname` says holds a DNAME: none
/// may be below one (knotd: "child record exists under DNAME").
fn dname_above(owner: &Dname, apex: &Name, holds_dname: impl Fn(&Name) -> bool) -> Option<Name> {
    let mut parent = owner.parent();
    while let Some(name) = parent.filter(|p| p.is_at_or_below(apex)) {
        if holds_dname(&name) {
            return Some(name);
        }
        parent = name.parent();
    }
    None
}

/// `$ORIGIN` and `$TTL`.
fn directive_entry(entry: &Entry, state: &mut State) -> Result<(), Fault> {
    let (word, args) = entry
        .tokens
        .split_first()
        .ok_or_else(|| Fault::new("empty entry"))?;
    let [arg] = args else {
        return Err(Fault::new(format!("{} takes one argument", word.show())));
    };
    if word.is("$ORIGIN") {
        if !arg.text.ends_with(b".") || arg.text.ends_with(b"\\.") {
            return Err(Fault::new(format!(
                "$ORIGIN {} is not absolute (no final dot)",
                arg.show()
            )));
        }
        state.origin = fields::name(arg, &state.origin)?;
    } else if word.is("$TTL") {
        state.default_ttl = Some(fields::ttl(arg)?);
    } else {
        return Err(Fault::new(format!("unknown directive {}", word.show())));
    }
    Ok(())
}

/// The file and origin of `$INCLUDE file [origin]`; a relative path is taken from the
/// including file's folder, as knotd does.
fn include(entry: &Entry, state: &State, from: Option<&Path>) -> Result<(PathBuf, Name), Fault> {
    let (file, origin) = match &entry.tokens[1..] {
        [file] => (file, state.origin.clone()),
        [file, origin] => (file, fields::name(origin, &state.origin)?),
        _ => return Err(Fault::new("$INCLUDE takes a file and an optional origin")),
    };
    let file = PathBuf::from(String::from_utf8_lossy(&fields::bytes(file)?).into_owned());
    let file = match from.and_then(Path::parent) {
        Some(dir) if file.is_relative() => dir.join(file),
        _ => file,
    };
    Ok((file, origin))
}

/// `IN`, the one class knotd reads (it refuses the others and even `CLASS1`).
fn is_class(token: &Token) -> bool {
    token.is("IN")
}

/// A class other than IN, written where a class goes.
fn other_class(token: &Token) -> bool {
    ["CS", "CH", "HS", "NONE", "ANY"]
        .iter()
        .any(|c| token.is(c))
        || fields::generic_number(token, "CLASS").is_some()
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
        assert!(warnings.is_empty());
        assert_eq!(zone.serial(), 2024010101);
        let www = zone.node(&key("www.example.com")).unwrap();
        let a = www.rrset(rtype::A).unwrap();
        assert_eq!(a.ttl, 600);
        assert_eq!(a.rdatas.first().unwrap(), &[192, 0, 2, 10]);
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
        assert_eq!(
            txt.rdatas.first().unwrap(),
            b"\x0bhello world\x0esecond; string"
        );
        let raw = zone
            .node(&key("raw.sub.example.com"))
            .unwrap()
            .rrset(65280)
            .unwrap();
        assert_eq!(raw.rdatas.first().unwrap(), &[1, 2, 3]);
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
    fn out_of_zone_records_are_skipped_with_a_warning_naming_the_line() {
        let text =
            "$TTL 300\n@ IN SOA ns1 hm 1 2 3 4 5\n\n; comment\nwww.example.org. IN A 192.0.2.1\n";
        let (zone, warnings) = parse(text, &apex(), "oz.zone").unwrap();
        assert_eq!(zone.record_count(), 1);
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].starts_with("oz.zone:5: ignored:"),
            "{warnings:?}"
        );
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
    fn include_of_a_missing_file_names_its_line() {
        let text = "$TTL 300\n@ IN SOA ns1 hm 1 2 3 4 5\n$INCLUDE /nonexistent/other.zone\n";
        let err = parse(text, &apex(), "inc.zone").unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
    }

    #[test]
    fn includes_are_read_relative_to_the_including_file() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        std::fs::create_dir_all(dir.join("inc")).unwrap();
        // main.zone and one included file, as written, then read.
        let load_with = |main: &str, included: &str, text: &str| {
            std::fs::write(dir.join("main.zone"), main).unwrap();
            std::fs::write(dir.join(included), text).unwrap();
            load(&dir.join("main.zone"), &apex()).unwrap().0
        };
        let zone = load_with(
            "@ SOA ns hm 1 1h 15m 1w 1d\n$INCLUDE inc/hosts sub\nafter A 192.0.2.9\n",
            "inc/hosts",
            "$TTL 60\nwww A 192.0.2.1\n",
        );
        let a_ttl =
            |zone: &Zone, owner| zone.node(&key(owner)).unwrap().rrset(rtype::A).unwrap().ttl;
        assert_eq!(a_ttl(&zone, "www.sub.example.com"), 60);
        // The origin and $TTL of the including file are back after the include.
        assert_eq!(a_ttl(&zone, "after.example.com"), 3600);
        // An included file starts with the including file's $TTL.
        let zone = load_with(
            "$TTL 120\n@ SOA ns hm 1 1h 15m 1w 1d\n$INCLUDE inc/plain\n",
            "inc/plain",
            "inc A 192.0.2.7\n",
        );
        assert_eq!(a_ttl(&zone, "inc.example.com"), 120);
    }

    #[test]
    fn what_operators_write() {
        let text = "@ SOA ns.example.com. hostmaster ( 7 2h 30M 2w1d 1H )\n\
                    \tNS @\n\
                    www CNAME @\n\
                    @ MX 10 @\n\
                    loc LOC 52 22 23.000 N 4 53 32.000 E -2.00m 0.00m 10000m 10m\n\
                    eui EUI48 00-00-5e-00-53-2a\n\
                    spf SPF \"v=spf1 -all\"\n\
                    svc HTTPS 1 . alpn=h2 key65000=\"x y\"\n\
                    a6 TYPE1 \\# 4 c0000201\n";
        let (zone, _) = parse(text, &apex(), "ops.zone").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(zone.serial(), 7);
        let soa = zone.soa().rdatas.first().unwrap();
        assert_eq!(
            soa[soa.len() - 16..],
            [
                0, 0, 0x1c, 0x20, 0, 0, 7, 8, 0, 0x13, 0xc6, 0x80, 0, 0, 0xe, 0x10
            ]
        );
        assert_eq!(zone.soa().ttl, 3600);
        let www = zone.node(&key("www.example.com")).unwrap();
        assert_eq!(
            www.rrset(rtype::CNAME).unwrap().rdatas.first().unwrap(),
            b"\x07example\x03com\x00"
        );
        assert!(
            zone.node(&key("a6.example.com"))
                .unwrap()
                .rrset(rtype::A)
                .is_some()
        );
    }

    #[test]
    fn unbalanced_parenthesis_is_an_error() {
        let text = "$TTL 300\n@ IN SOA ns1 hm ( 1 2 3 4 5\nwww IN A 192.0.2.1\n";
        assert!(parse(text, &apex(), "paren.zone").is_err());
    }
}
