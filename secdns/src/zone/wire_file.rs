//! A zone as a versioned binary file: every record in uncompressed wire form, followed by a
//! checksum. This is how transferred copies are saved: whatever a primary sent comes back
//! byte for byte (no presentation form to get wrong), and it loads far faster than text.
//!
//! Layout (integers big-endian):
//! ```text
//! "SECDNS-ZONE\0"  magic
//! u16              format version (1)
//! u8 len, bytes    apex, uncompressed wire form
//! u32              SOA serial (checked against the SOA read back)
//! u64              record count
//! records          u8 owner tag: 0 = the previous record's owner, n = n octets of owner
//!                  wire form follow; u16 type; u32 TTL; u16 length; record data
//! u32              CRC-32 of everything before it
//! ```

use std::io::Write;

use super::{Zone, ZoneBuilder, ZoneError, grouped};
use crate::dns::{Name, codes::class};

const MAGIC: &[u8; 12] = b"SECDNS-ZONE\0";
const VERSION: u16 = 1;

/// Why a saved copy was not loaded, in the order the reader checks (a file may end early
/// anywhere).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireFileError {
    #[error("not a secdns zone file (no magic)")]
    Magic,
    #[error("format version {0} is not one this secdns reads (1)")]
    Version(u16),
    #[error("checksum mismatch: the file is damaged")]
    Checksum,
    #[error("the apex is not a name: {0}")]
    Apex(String),
    #[error("holds zone {found}, expected {expected}")]
    OtherZone { found: String, expected: String },
    #[error("record {index}: {message}")]
    Record { index: u64, message: String },
    #[error("{0} bytes after the last record")]
    Trailing(usize),
    /// The records read, but do not make a zone (no SOA, say): no one record is to blame.
    #[error(transparent)]
    Zone(ZoneError),
    #[error("serial {found} in the SOA, {expected} in the header")]
    Serial { found: u32, expected: u32 },
    #[error("file ends inside {0}")]
    Truncated(&'static str),
}

/// The zone in the saved-copy format: each node's records together, set by set, nodes in
/// the order the zone holds them (sorting a million names would take longer than the rest).
pub fn encode(zone: &Zone) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + zone.wire_size());
    // Writing into a Vec cannot fail.
    let _ = encode_to(zone, &mut out);
    out
}

/// [`encode`] written to `out` as it goes: a saved copy is as big as the zone (tens of
/// megabytes for a million records), and was held whole while the XDP compile of the same
/// zone took its own memory.
pub fn encode_to(zone: &Zone, out: impl Write) -> std::io::Result<()> {
    // Buffered before the checksum: it then takes the records in large blocks, not a few
    // bytes at a time.
    let mut out = std::io::BufWriter::with_capacity(
        1 << 16,
        Checksummed {
            inner: out,
            crc: crc32fast::Hasher::new(),
        },
    );
    out.write_all(MAGIC)?;
    out.write_all(&VERSION.to_be_bytes())?;
    write_name(&mut out, zone.apex().wire())?;
    out.write_all(&zone.serial().to_be_bytes())?;
    out.write_all(&(zone.record_count() as u64).to_be_bytes())?;
    for node in zone.nodes() {
        let mut first = true;
        for rrset in node.rrsets_unrecorded() {
            for rdata in rrset.rdatas {
                if first {
                    write_name(&mut out, node.owner().wire())?;
                    first = false;
                } else {
                    out.write_all(&[0])?;
                }
                out.write_all(&rrset.rtype.to_be_bytes())?;
                out.write_all(&rrset.ttl.to_be_bytes())?;
                // A zone never holds record data over 65535 octets: every way in checks it.
                out.write_all(&(rdata.len() as u16).to_be_bytes())?;
                out.write_all(rdata)?;
            }
        }
    }
    let mut out = out.into_inner().map_err(|e| e.into_error())?;
    let checksum = out.crc.clone().finalize();
    out.inner.write_all(&checksum.to_be_bytes())
}

/// A writer that keeps the CRC-32 of what went through it.
struct Checksummed<W> {
    inner: W,
    crc: crc32fast::Hasher,
}

impl<W: Write> Write for Checksummed<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(bytes)?;
        self.crc.update(bytes.get(..written).unwrap_or(bytes));
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn write_name(out: &mut impl Write, wire: &[u8]) -> std::io::Result<()> {
    // A name is at most 255 octets, and at least one (the root).
    out.write_all(&[wire.len() as u8])?;
    out.write_all(wire)
}

/// Reads a saved copy of `apex` back into a zone, checking everything on the way.
pub fn decode(bytes: &[u8], apex: &Name) -> Result<Zone, WireFileError> {
    let body_len = bytes
        .len()
        .checked_sub(4)
        .ok_or(WireFileError::Truncated("the checksum"))?;
    let (body, stored) = bytes.split_at(body_len);
    if !body.starts_with(MAGIC) {
        return Err(WireFileError::Magic);
    }
    let mut reader = Reader {
        bytes: &body[MAGIC.len()..],
    };
    let version = reader.u16("the version")?;
    if version != VERSION {
        return Err(WireFileError::Version(version));
    }
    if crc32fast::hash(body).to_be_bytes() != stored {
        return Err(WireFileError::Checksum);
    }
    let found = reader.name("the apex")?;
    let found = Name::from_wire(found).map_err(|e| WireFileError::Apex(e.to_string()))?;
    if found != *apex {
        return Err(WireFileError::OtherZone {
            found: found.to_string(),
            expected: apex.to_string(),
        });
    }
    let serial = reader.u32("the serial")?;
    let count = reader.u64("the record count")?;
    let groups = frame(reader.bytes, count)?;
    let zone = match decode_grouped(reader.bytes, &groups, apex) {
        Some(built) => built,
        None => decode_each(reader.bytes, count, apex),
    }?;
    if zone.serial() != serial {
        return Err(WireFileError::Serial {
            found: zone.serial(),
            expected: serial,
        });
    }
    Ok(zone)
}

/// One record of a saved copy: owner wire form (`None`: the previous record's), type, TTL,
/// data.
struct Record<'a> {
    owner: Option<&'a [u8]>,
    rtype: u16,
    ttl: u32,
    rdata: &'a [u8],
}

impl<'a> Reader<'a> {
    fn record(&mut self) -> Result<Record<'a>, WireFileError> {
        let tag = self.take(1, "a record")?[0];
        let owner = match tag {
            0 => None,
            len => Some(self.take(len as usize, "an owner name")?),
        };
        let rtype = self.u16("a record type")?;
        let ttl = self.u32("a TTL")?;
        let len = self.u16("a record length")?;
        let rdata = self.take(len as usize, "record data")?;
        Ok(Record {
            owner,
            rtype,
            ttl,
            rdata,
        })
    }
}

/// Checks that `records` holds `count` whole records and nothing after, and finds where each
/// owner's records start (the offsets of its groups).
fn frame(records: &[u8], count: u64) -> Result<Vec<usize>, WireFileError> {
    let mut reader = Reader { bytes: records };
    let mut groups = Vec::new();
    for index in 0..count {
        let at = records.len() - reader.bytes.len();
        let record = reader.record()?;
        match record.owner {
            Some(_) => groups.push(at),
            None if index == 0 => {
                return Err(WireFileError::Record {
                    index,
                    message: "refers to the previous owner, but is the first".into(),
                });
            }
            None => {}
        }
    }
    if !reader.bytes.is_empty() {
        return Err(WireFileError::Trailing(reader.bytes.len()));
    }
    Ok(groups)
}

/// Every record through the zone builder, which checks each and says what is wrong.
fn decode_each(records: &[u8], count: u64, apex: &Name) -> Result<Zone, WireFileError> {
    let mut reader = Reader { bytes: records };
    let mut builder = ZoneBuilder::new(apex.clone());
    // The copy was within the limits when it was received; they may have been raised since.
    builder.limits = super::RecordLimits::NONE;
    let mut owner: Option<Name> = None;
    for index in 0..count {
        let bad = |message: String| WireFileError::Record { index, message };
        let record = reader.record()?;
        if let Some(wire) = record.owner {
            owner = Some(Name::from_wire(wire).map_err(|e| bad(format!("bad owner: {e}")))?);
        }
        let name = owner
            .clone()
            .ok_or_else(|| bad("refers to the previous owner, but is the first".into()))?;
        builder
            .add(
                name,
                record.rtype,
                class::IN,
                record.ttl,
                record.rdata.into(),
            )
            .map_err(|e| bad(e.to_string()))?;
    }
    builder.finish().map_err(WireFileError::Zone)
}

/// A copy as `encode` writes it (each owner's records together), built a node at a time on
/// every core (see [`grouped`]). `None` when the copy is anything else, which the builder
/// then reads record by record.
fn decode_grouped(
    records: &[u8],
    groups: &[usize],
    apex: &Name,
) -> Option<Result<Zone, WireFileError>> {
    // Each group ends where the next starts, the last at the end.
    let ends = groups.iter().skip(1).copied().chain([records.len()]);
    let spans: Vec<(usize, usize)> = groups.iter().copied().zip(ends).collect();
    let zone = grouped::zone(apex, &spans, |&(start, end)| {
        let mut reader = Reader {
            bytes: records.get(start..end)?,
        };
        let owner = Name::from_wire(reader.clone().record().ok()?.owner?).ok()?;
        let records = std::iter::from_fn(move || {
            let record = reader.record().ok()?;
            Some((record.rtype, record.ttl, record.rdata))
        });
        grouped::node(owner, apex, records, super::RecordLimits::NONE)
    })?;
    // A node that did not build sent the copy to be read record by record (which names the
    // record); what is left to refuse here is the zone as a whole (its SOA).
    Some(zone.map_err(WireFileError::Zone))
}

#[derive(Clone)]
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], WireFileError> {
        if self.bytes.len() < len {
            return Err(WireFileError::Truncated(what));
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], WireFileError> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N, what)?);
        Ok(array)
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, WireFileError> {
        self.array(what).map(u16::from_be_bytes)
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, WireFileError> {
        self.array(what).map(u32::from_be_bytes)
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, WireFileError> {
        self.array(what).map(u64::from_be_bytes)
    }

    fn name(&mut self, what: &'static str) -> Result<&'a [u8], WireFileError> {
        let len = self.take(1, what)?[0];
        self.take(len as usize, what)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::dns::codes::rtype;

    fn apex_of(labels: &[Vec<u8>]) -> Name {
        let mut wire = Vec::new();
        for label in labels {
            wire.push(label.len() as u8);
            wire.extend_from_slice(label);
        }
        wire.push(0);
        Name::from_wire(&wire).unwrap()
    }

    /// `labels` below `apex`, cut so that the whole name stays within 255 octets.
    fn below(apex: &Name, labels: &[Vec<u8>]) -> Name {
        let mut wire = Vec::new();
        for label in labels {
            if wire.len() + 1 + label.len() + apex.wire().len() > 255 {
                break;
            }
            wire.push(label.len() as u8);
            wire.extend_from_slice(label);
        }
        wire.extend_from_slice(apex.wire());
        Name::from_wire(&wire).unwrap()
    }

    fn sorted(zone: &Zone) -> Vec<(Vec<u8>, u16, u32, Vec<u8>)> {
        let mut records: Vec<_> = zone
            .records()
            .map(|(o, t, ttl, d)| (o.wire().to_vec(), t, ttl, d.to_vec()))
            .collect();
        records.sort();
        records
    }

    /// A writer that takes at most seven bytes a call.
    struct Trickle(Vec<u8>);

    impl std::io::Write for Trickle {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let taken = bytes.len().min(7);
            self.0.extend_from_slice(&bytes[..taken]);
            Ok(taken)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Every type a zone may hold that a primary could send, and some nobody has assigned.
    const TYPES: &[u16] = &[
        1, 2, 5, 12, 13, 14, 15, 16, 17, 18, 21, 24, 25, 28, 29, 33, 35, 36, 37, 39, 42, 43, 44,
        45, 46, 47, 48, 49, 50, 51, 52, 53, 59, 60, 61, 62, 63, 64, 65, 99, 104, 105, 106, 107,
        108, 109, 256, 257, 32769, 65280, 65534,
    ];

    fn label() -> impl Strategy<Value = Vec<u8>> {
        // Any octet, dots, backslashes and upper case included; 1 to 63 octets.
        prop::collection::vec(any::<u8>(), 1..=63)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn saved_zones_read_back_identically(
            apex_labels in prop::collection::vec(label(), 0..3),
            records in prop::collection::vec(
                (
                    prop::collection::vec(label(), 0..8),
                    prop::sample::select(TYPES),
                    any::<u32>(),
                    prop::collection::vec(any::<u8>(), 0..600),
                ),
                0..200,
            ),
        ) {
            let apex = apex_of(&apex_labels[..apex_labels.len().min(3)]);
            let mut builder = ZoneBuilder::new(apex.clone());
            builder
                .add(apex.clone(), rtype::SOA, class::IN, 3600,
                    b"\x02ns\0\x02hm\0\0\0\0\x07\0\0\0\x01\0\0\0\x02\0\0\0\x03\0\0\0\x04"[..].into())
                .unwrap();
            for (labels, rr_type, ttl, rdata) in &records {
                let owner = below(&apex, labels);
                // One TTL per RRset, as a transfer leaves it; the builder takes the lower.
                let _ = builder.add(owner, *rr_type, class::IN, *ttl, rdata.clone().into());
            }
            let zone = builder.finish().unwrap();
            let bytes = encode(&zone);
            // Written as it goes, by a writer that takes a few bytes at a time: the same.
            let mut trickled = Trickle(Vec::new());
            encode_to(&zone, &mut trickled).unwrap();
            prop_assert_eq!(&trickled.0, &bytes);
            let again = decode(&bytes, &apex).unwrap();
            prop_assert_eq!(sorted(&zone), sorted(&again));
            prop_assert_eq!(shape(&zone), shape(&again));
            // What `encode` writes is built node by node, to what the builder makes of it.
            let records = records_of(&bytes, &apex);
            let groups = frame(records, zone.record_count() as u64).unwrap();
            let grouped = decode_grouped(records, &groups, &apex).unwrap().unwrap();
            let each = decode_each(records, zone.record_count() as u64, &apex).unwrap();
            prop_assert_eq!(shape(&grouped), shape(&each));
            prop_assert_eq!(
                (grouped.record_count(), grouped.wire_size(), grouped.types()),
                (each.record_count(), each.wire_size(), each.types())
            );
        }
    }

    /// The records of a saved copy of a zone at `apex`, after the header.
    fn records_of<'a>(bytes: &'a [u8], apex: &Name) -> &'a [u8] {
        let header = MAGIC.len() + 2 + 1 + apex.wire().len() + 4 + 8;
        &bytes[header..bytes.len() - 4]
    }

    /// Every node with its sets, in name order: what a zone holds, empty non-terminals too.
    /// An empty non-terminal is named as its first child seen names it, in that child's case:
    /// two children in different cases ("a.T." and "b.t.") may name it differently in two
    /// builds, so its name is compared lowercased.
    fn shape(zone: &Zone) -> Vec<String> {
        let mut nodes: Vec<String> = zone
            .nodes()
            .map(|n| {
                let sets: Vec<_> = n.rrsets_unrecorded().collect();
                let owner = match sets.is_empty() {
                    true => n.owner().to_string().to_ascii_lowercase(),
                    false => n.owner().to_string(),
                };
                format!("{owner} {sets:?}")
            })
            .collect();
        nodes.sort();
        nodes
    }

    /// A saved copy of `records` (owner, type, TTL, data; `None`: the previous owner) as
    /// another writer might have ordered them.
    fn file(apex: &Name, records: &[(Option<&str>, u16, &[u8])]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&VERSION.to_be_bytes());
        write_name(&mut out, apex.wire()).unwrap();
        out.extend_from_slice(&7u32.to_be_bytes());
        out.extend_from_slice(&(records.len() as u64).to_be_bytes());
        for (owner, rr_type, rdata) in records {
            match owner {
                Some(owner) => write_name(&mut out, owner.parse::<Name>().unwrap().wire()).unwrap(),
                None => out.push(0),
            }
            out.extend_from_slice(&rr_type.to_be_bytes());
            out.extend_from_slice(&300u32.to_be_bytes());
            out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            out.extend_from_slice(rdata);
        }
        let checksum = crc32fast::hash(&out);
        out.extend_from_slice(&checksum.to_be_bytes());
        out
    }

    /// A copy `encode` did not write (an owner's records apart, a set out of order, a record
    /// twice) is read record by record, and nothing is lost.
    #[test]
    fn copies_in_another_order_read_the_same() {
        let apex: Name = "example.com.".parse().unwrap();
        let soa = b"\x02ns\0\x02hm\0\0\0\0\x07\0\0\0\x01\0\0\0\x02\0\0\0\x03\0\0\0\x04";
        let bytes = file(
            &apex,
            &[
                (Some("example.com."), rtype::SOA, soa),
                (Some("b.a.example.com."), rtype::A, &[10, 0, 0, 2]),
                (None, rtype::A, &[10, 0, 0, 1]),
                (Some("c.example.com."), rtype::A, &[10, 0, 0, 3]),
                (None, rtype::A, &[10, 0, 0, 3]),
                (Some("B.A.example.com."), rtype::AAAA, &[0; 16]),
            ],
        );
        let records = records_of(&bytes, &apex);
        let groups = frame(records, 6).unwrap();
        assert!(decode_grouped(records, &groups, &apex).is_none());
        let zone = decode(&bytes, &apex).unwrap();
        assert_eq!(zone.record_count(), 5);
        let ba = zone.node(&"b.a.example.com.".parse::<Name>().unwrap().lowercase_wire());
        let types: Vec<u16> = ba.unwrap().all().map(|r| r.rtype).collect();
        assert_eq!(types, [rtype::A, rtype::AAAA]);
        assert!(
            zone.node(&"a.example.com.".parse::<Name>().unwrap().lowercase_wire())
                .is_some()
        );
        // An SOA below the apex is refused with the builder's own words.
        let bytes = file(
            &apex,
            &[
                (Some("example.com."), rtype::SOA, soa),
                (Some("x.example.com."), rtype::SOA, soa),
            ],
        );
        let error = decode(&bytes, &apex).unwrap_err().to_string();
        assert!(error.contains("SOA record not at the zone apex"), "{error}");
        // Records that make no zone are refused as a zone, no one record blamed, whether
        // read a node at a time or (the apex in two groups) record by record.
        let a = [10, 0, 0, 1];
        for records in [
            &[(Some("example.com."), rtype::A, &a[..])][..],
            &[
                (Some("example.com."), rtype::A, &a[..]),
                (Some("x.example.com."), rtype::A, &a[..]),
                (Some("example.com."), rtype::TXT, b"\x01t"),
            ][..],
        ] {
            let error = decode(&file(&apex, records), &apex).unwrap_err();
            assert!(
                matches!(error, WireFileError::Zone(ZoneError::NoSoa { .. })),
                "{error:?}"
            );
            assert_eq!(
                error.to_string(),
                "zone example.com. has no SOA record at its apex"
            );
        }
    }

    /// A zone big enough to be built on every core reads back as the builder makes it,
    /// names below missing parents included; one owner in two groups far apart is found.
    #[test]
    fn large_copies_read_back_as_the_builder_makes_them() {
        let apex: Name = "example.com.".parse().unwrap();
        let soa = b"\x02ns\0\x02hm\0\0\0\0\x07\0\0\0\x01\0\0\0\x02\0\0\0\x03\0\0\0\x04";
        let owners: Vec<String> = (0..20_000)
            .map(|i| match i % 3 {
                0 => format!("h{i}.example.com."),
                1 => format!("h{i}.sub{}.example.com.", i % 7),
                _ => format!("x.y{i}.example.com."),
            })
            .collect();
        let mut records = vec![(Some("example.com."), rtype::SOA, &soa[..])];
        let address = [10, 0, 0, 1];
        records.extend(
            owners
                .iter()
                .map(|o| (Some(o.as_str()), rtype::A, &address[..])),
        );
        let count = records.len() as u64;
        let bytes = file(&apex, &records);
        let body = records_of(&bytes, &apex);
        let groups = frame(body, count).unwrap();
        let grouped = decode_grouped(body, &groups, &apex).unwrap().unwrap();
        let each = decode_each(body, count, &apex).unwrap();
        assert_eq!(shape(&grouped), shape(&each));
        assert!(
            shape(&grouped)
                .iter()
                .any(|n| n.starts_with("y2.example.com. []"))
        );
        assert_eq!(
            (grouped.record_count(), grouped.wire_size(), grouped.types()),
            (each.record_count(), each.wire_size(), each.types())
        );
        // The first host again at the end: two groups of one owner.
        let aaaa = [0; 16];
        records.push((Some("h0.example.com."), rtype::AAAA, &aaaa[..]));
        let bytes = file(&apex, &records);
        let body = records_of(&bytes, &apex);
        let groups = frame(body, count + 1).unwrap();
        assert!(decode_grouped(body, &groups, &apex).is_none());
        assert_eq!(decode(&bytes, &apex).unwrap().record_count(), records.len());
    }

    fn small_zone() -> (Name, Zone) {
        let apex: Name = "Example.COM.".parse().unwrap();
        let (zone, _) = crate::zone::zonefile::parse(
            "@ 300 IN SOA ns hm 42 1 2 3 4\n  300 IN TXT \"x\"\n",
            &apex,
            "t",
        )
        .unwrap();
        // A primary's letter case, as a transfer keeps it (a zone file's owners are
        // lowercased, as knotd reads them).
        let mut builder = ZoneBuilder::from_zone(&zone);
        let www: Name = "WWW.Example.COM.".parse().unwrap();
        builder
            .add(www, rtype::A, class::IN, 300, [192, 0, 2, 1][..].into())
            .unwrap();
        (apex, builder.finish().unwrap())
    }

    #[test]
    fn damage_is_reported_not_loaded() {
        let (apex, zone) = small_zone();
        let bytes = encode(&zone);
        for cut in [0, 3, 20, bytes.len() - 5, bytes.len() - 1] {
            assert!(decode(&bytes[..cut], &apex).is_err(), "cut at {cut}");
        }
        let mut flipped = bytes.clone();
        flipped[30] ^= 1;
        assert_eq!(
            decode(&flipped, &apex).unwrap_err(),
            WireFileError::Checksum
        );
        let other: Name = "example.net.".parse().unwrap();
        assert!(matches!(
            decode(&bytes, &other),
            Err(WireFileError::OtherZone { .. })
        ));
        let mut newer = bytes.clone();
        newer[MAGIC.len() + 1] = 2;
        assert_eq!(
            decode(&newer, &apex).unwrap_err(),
            WireFileError::Version(2)
        );
        // An apex that is not a name is named as the apex, not as a record.
        let mut bad_apex = MAGIC.to_vec();
        bad_apex.extend_from_slice(&VERSION.to_be_bytes());
        bad_apex.extend_from_slice(&[2, 9, 0]);
        bad_apex.extend_from_slice(&crc32fast::hash(&bad_apex).to_be_bytes());
        assert!(matches!(
            decode(&bad_apex, &apex),
            Err(WireFileError::Apex(_))
        ));
        // Owner letter case is kept.
        let again = decode(&bytes, &apex).unwrap();
        assert!(
            again
                .records()
                .any(|(o, ..)| o.to_string() == "WWW.Example.COM.")
        );
    }
}
