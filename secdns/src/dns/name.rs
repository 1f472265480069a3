//! Domain names in wire form. Letter case is kept as received; equality and hashing ignore it
//! (RFC 4343).

use std::{fmt, hash::Hash};

use secdns_common::{MAX_NAME_LEN, dns_lowercase};

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    #[error("name is longer than 255 octets")]
    TooLong,
    #[error("label is longer than 63 octets")]
    LabelTooLong,
    #[error("name ends before its last label")]
    Truncated,
    #[error("compression pointer where none is allowed")]
    UnexpectedPointer,
    #[error("compression pointer loop or forward pointer")]
    BadPointer,
    #[error("unknown label type {0:#04x}")]
    BadLabelType(u8),
}

/// A fully qualified name in uncompressed wire form, root label included.
#[derive(Clone)]
pub struct Name {
    wire: Box<[u8]>,
}

impl Name {
    pub fn root() -> Self {
        Self {
            wire: Box::new([0]),
        }
    }

    /// Parses an uncompressed name at the start of `bytes`; returns it and its length.
    pub fn parse_uncompressed(bytes: &[u8]) -> Result<(Self, usize), NameError> {
        let len = uncompressed_len(bytes)?;
        Ok((
            Self {
                wire: bytes[..len].into(),
            },
            len,
        ))
    }

    /// Reads a possibly compressed name at `pos` of `msg` (RFC 1035 §4.1.4). Returns the name
    /// and the position just after it in the original byte stream.
    pub fn read_compressed(msg: &[u8], pos: usize) -> Result<(Self, usize), NameError> {
        let mut wire = Vec::with_capacity(32);
        let mut cursor = pos;
        let mut end = None;
        // Pointers must go strictly backwards, which bounds the walk.
        let mut limit = pos;
        loop {
            let len = *msg.get(cursor).ok_or(NameError::Truncated)?;
            match len & 0xc0 {
                0x00 => {
                    let label = msg
                        .get(cursor..cursor + 1 + len as usize)
                        .ok_or(NameError::Truncated)?;
                    if wire.len() + label.len() > MAX_NAME_LEN {
                        return Err(NameError::TooLong);
                    }
                    wire.extend_from_slice(label);
                    cursor += label.len();
                    if len == 0 {
                        break;
                    }
                }
                0xc0 => {
                    let low = *msg.get(cursor + 1).ok_or(NameError::Truncated)?;
                    let target = (((len & 0x3f) as usize) << 8) | low as usize;
                    end.get_or_insert(cursor + 2);
                    if target >= limit {
                        return Err(NameError::BadPointer);
                    }
                    limit = target;
                    cursor = target;
                }
                _ => return Err(NameError::BadLabelType(len)),
            }
        }
        Ok((Self { wire: wire.into() }, end.unwrap_or(cursor)))
    }

    pub fn from_wire(bytes: &[u8]) -> Result<Self, NameError> {
        let (name, len) = Self::parse_uncompressed(bytes)?;
        if len != bytes.len() {
            return Err(NameError::Truncated);
        }
        Ok(name)
    }
}

/// A name borrowed, as `str` is to `String`: what a [`Name`] holds, or the owner name kept
/// inside a zone's node. Every method that only reads a name is here; a `Name` has them too.
#[repr(transparent)]
pub struct Dname {
    wire: [u8],
}

impl Dname {
    /// `wire` as a name. It must be a whole uncompressed name, as checked when a [`Name`]
    /// was made of it: only what held one calls this.
    pub(crate) fn of_checked_wire(wire: &[u8]) -> &Dname {
        // SAFETY: `Dname` is a transparent wrapper of `[u8]`.
        unsafe { &*(wire as *const [u8] as *const Dname) }
    }

    pub fn wire(&self) -> &[u8] {
        &self.wire
    }

    pub fn lowercase_wire(&self) -> Box<[u8]> {
        self.wire.iter().map(|&b| dns_lowercase(b)).collect()
    }

    /// The same name in lower case (lowercasing keeps a name valid).
    pub fn lowercased(&self) -> Name {
        Name {
            wire: self.lowercase_wire(),
        }
    }

    pub fn is_root(&self) -> bool {
        self.wire.len() == 1
    }

    /// Offsets where each label starts, the root label excluded.
    pub fn label_offsets(&self) -> impl Iterator<Item = usize> + '_ {
        label_offsets(&self.wire)
    }

    /// A key whose order is [`Dname::canonical_cmp`]'s: labels from the root, each byte
    /// case-folded and raised by one, each label ended by 0. For sorting many names.
    pub fn canonical_key(&self) -> Vec<u16> {
        let mut key = Vec::with_capacity(self.wire.len());
        for label in LabelStack::of(&self.wire).root_first(&self.wire) {
            key.extend(label.iter().map(|&c| u16::from(dns_lowercase(c)) + 1));
            key.push(0);
        }
        key
    }

    /// RFC 4034 §6.1 canonical order: label by label from the root, case-folded. Without
    /// allocating: zones sort a million names with it.
    pub fn canonical_cmp(&self, other: &Dname) -> std::cmp::Ordering {
        let (a, b) = (LabelStack::of(&self.wire), LabelStack::of(&other.wire));
        for (x, y) in a.root_first(&self.wire).zip(b.root_first(&other.wire)) {
            let order = if x == y {
                std::cmp::Ordering::Equal
            } else {
                x.iter()
                    .map(|&c| dns_lowercase(c))
                    .cmp(y.iter().map(|&c| dns_lowercase(c)))
            };
            if order.is_ne() {
                return order;
            }
        }
        a.count.cmp(&b.count)
    }

    /// This name minus its first label; `None` for the root.
    pub fn parent(&self) -> Option<Name> {
        if self.is_root() {
            return None;
        }
        let skip = 1 + self.wire[0] as usize;
        Some(Name {
            wire: self.wire[skip..].into(),
        })
    }

    /// True when `self` equals `ancestor` or lies below it.
    pub fn is_at_or_below(&self, ancestor: &Dname) -> bool {
        is_at_or_below(&self.wire, &ancestor.wire)
    }
}

impl std::ops::Deref for Name {
    type Target = Dname;

    fn deref(&self) -> &Dname {
        Dname::of_checked_wire(&self.wire)
    }
}

impl std::borrow::Borrow<Dname> for Name {
    fn borrow(&self) -> &Dname {
        self
    }
}

impl ToOwned for Dname {
    type Owned = Name;

    fn to_owned(&self) -> Name {
        Name {
            wire: self.wire.into(),
        }
    }
}

/// Length of the uncompressed name at the start of `bytes`.
pub fn uncompressed_len(bytes: &[u8]) -> Result<usize, NameError> {
    let mut pos = 0;
    loop {
        let len = *bytes.get(pos).ok_or(NameError::Truncated)?;
        if len & 0xc0 == 0xc0 {
            return Err(NameError::UnexpectedPointer);
        }
        if len > 63 {
            return Err(NameError::BadLabelType(len));
        }
        pos += 1 + len as usize;
        if pos > MAX_NAME_LEN {
            return Err(NameError::TooLong);
        }
        if len == 0 {
            return Ok(pos);
        }
        if pos > bytes.len() {
            return Err(NameError::Truncated);
        }
    }
}

/// Offsets where each label of a valid wire name starts, the root label excluded.
/// The offsets of a name's labels, on the stack: a name has at most 127 labels in 255 bytes.
struct LabelStack {
    offsets: [u8; 128],
    count: usize,
}

impl LabelStack {
    fn of(wire: &[u8]) -> Self {
        let mut stack = Self {
            offsets: [0; 128],
            count: 0,
        };
        for (slot, offset) in stack.offsets.iter_mut().zip(label_offsets(wire)) {
            *slot = offset as u8;
            stack.count += 1;
        }
        stack
    }

    /// The labels of `wire` (the name this was made of), last label first.
    fn root_first<'w>(&self, wire: &'w [u8]) -> impl Iterator<Item = &'w [u8]> {
        let offsets = self.offsets.get(..self.count).unwrap_or_default();
        offsets.iter().rev().map(move |&offset| {
            let start = offset as usize + 1;
            let len = wire.get(offset as usize).copied().unwrap_or(0) as usize;
            wire.get(start..start + len).unwrap_or_default()
        })
    }
}

pub fn label_offsets(wire: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        let len = *wire.get(pos)? as usize;
        if len == 0 {
            return None;
        }
        let here = pos;
        pos += 1 + len;
        Some(here)
    })
}

/// Whether the name `mine` (wire form) is `theirs` or below it, in any letter case.
pub fn is_at_or_below(mine: &[u8], theirs: &[u8]) -> bool {
    let Some(start) = mine.len().checked_sub(theirs.len()) else {
        return false;
    };
    // The suffix must start on a label boundary.
    (start == 0 || start + 1 == mine.len() || label_offsets(mine).any(|o| o == start))
        && mine
            .get(start..)
            .is_some_and(|suffix| eq_ignore_case(suffix, theirs))
}

pub fn eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(&x, &y)| dns_lowercase(x) == dns_lowercase(y))
}

impl PartialEq for Dname {
    fn eq(&self, other: &Self) -> bool {
        eq_ignore_case(&self.wire, &other.wire)
    }
}

impl Eq for Dname {}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Name {}

impl PartialEq<Dname> for Name {
    fn eq(&self, other: &Dname) -> bool {
        **self == *other
    }
}

impl PartialEq<Name> for Dname {
    fn eq(&self, other: &Name) -> bool {
        *self == **other
    }
}

/// Orders by the lowercased wire form: consistent with equality, not the DNSSEC order.
impl Ord for Dname {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let lower = |n: &Self| {
            n.wire
                .iter()
                .map(|&b| dns_lowercase(b))
                .collect::<Vec<u8>>()
        };
        lower(self).cmp(&lower(other))
    }
}

impl PartialOrd for Dname {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (**self).cmp(&**other)
    }
}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Consistent with `Name`'s (a map keyed by `Name` is looked up by `&Dname`).
impl Hash for Dname {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for &b in self.wire.iter() {
            state.write_u8(dns_lowercase(b));
        }
    }
}

impl Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

impl fmt::Display for Dname {
    /// Presentation format (RFC 1035 §5.1), always with the trailing dot.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            return f.write_str(".");
        }
        for offset in self.label_offsets() {
            let len = self.wire[offset] as usize;
            for &b in &self.wire[offset + 1..offset + 1 + len] {
                match b {
                    b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => {
                        write!(f, "\\{}", b as char)?
                    }
                    0x21..=0x7e => write!(f, "{}", b as char)?,
                    _ => write!(f, "\\{b:03}")?,
                }
            }
            f.write_str(".")?;
        }
        Ok(())
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl fmt::Debug for Dname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl std::str::FromStr for Name {
    type Err = String;

    /// Parses an absolute name in presentation format; a missing trailing dot is allowed.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err("a domain name cannot be empty (the root is \".\")".into());
        }
        // domain takes the text as absolute whether or not it ends in a dot.
        let parsed: domain::base::Name<Vec<u8>> = s
            .parse()
            .map_err(|e| format!("bad domain name {s:?}: {e}"))?;
        Name::from_wire(parsed.as_octets()).map_err(|e| format!("bad domain name {s:?}: {e}"))
    }
}

impl serde::Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Name {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        s.parse().unwrap()
    }

    #[test]
    fn equality_ignores_case() {
        assert_eq!(n("WWW.Example.COM."), n("www.example.com."));
        assert_ne!(n("www.example.com."), n("ww.example.com."));
    }

    #[test]
    fn canonical_order() {
        let mut names: Vec<Name> = [
            "z.example.",
            "a.example.",
            "example.",
            "Z.a.example.",
            "yljkjljk.a.example.",
            "\\200.z.example.",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        names.sort_by(|a, b| a.canonical_cmp(b));
        let mut by_key = names.clone();
        by_key.reverse();
        by_key.sort_by_cached_key(|name| name.canonical_key());
        assert_eq!(by_key, names);
        let shown: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            shown,
            [
                "example.",
                "a.example.",
                "yljkjljk.a.example.",
                "Z.a.example.",
                "z.example.",
                "\\200.z.example."
            ]
        );
    }

    #[test]
    fn below() {
        assert!(n("a.b.example.com").is_at_or_below(&n("example.com")));
        assert!(n("example.com").is_at_or_below(&n("EXAMPLE.com")));
        assert!(!n("badexample.com").is_at_or_below(&n("example.com")));
        assert!(n("x.").is_at_or_below(&Name::root()));
    }

    #[test]
    fn display_escapes() {
        let name = Name::from_wire(b"\x03a.b\x02\x00z\x00").unwrap();
        assert_eq!(name.to_string(), "a\\.b.\\000z.");
        assert_eq!(Name::root().to_string(), ".");
    }

    #[test]
    fn compressed_reading_rejects_loops_and_forward_pointers() {
        // Header-sized padding, then "a" + pointer back to itself.
        let mut msg = vec![0u8; 12];
        msg.extend_from_slice(b"\x01a\xc0\x0c");
        assert_eq!(
            Name::read_compressed(&msg, 12).unwrap_err(),
            NameError::BadPointer
        );
        let mut msg = vec![0u8; 12];
        msg.extend_from_slice(b"\x03com\x00\x03www\xc0\x0c");
        let (name, end) = Name::read_compressed(&msg, 17).unwrap();
        assert_eq!(name, n("www.com"));
        assert_eq!(end, msg.len());
    }

    #[test]
    fn limits() {
        let long_label = [&[64u8][..], &[b'a'; 64], &[0]].concat();
        assert!(Name::from_wire(&long_label).is_err());
        let mut long = Vec::new();
        for _ in 0..128 {
            long.extend_from_slice(b"\x01a");
        }
        long.push(0);
        assert_eq!(Name::from_wire(&long).unwrap_err(), NameError::TooLong);
    }
}
