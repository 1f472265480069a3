//! The layout of the answer maps as userspace writes them: which key an entry has, how an
//! entry's body is laid out in chunks, and the secret the name hash is keyed with.

use std::sync::OnceLock;

use secdns_common::{
    BODY_HEADER_LEN, BodyHeader, CHUNK_LEN, MAX_BODY_LEN, MAX_FIXUPS, NameHasher, dnssec_header_at,
    entry_tag, fixups_at,
};

use crate::xdp::value::{DnssecAnswer, Value};

/// An entry of the answer index, as userspace knows it: the keyed hash and check of a
/// lowercased name, the query type (or `DEFAULT_QTYPE`), whether it is the DO variant, and
/// its scope (`SCOPE_NAME` or `SCOPE_BELOW`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AnswerKey {
    pub name_hash: u64,
    pub check: u32,
    pub qtype: u16,
    pub dnssec_ok: u16,
    pub scope: u32,
}

impl AnswerKey {
    pub fn new(lowercased_name: &[u8], qtype: u16, scope: u32) -> Self {
        let (name_hash, check) = hasher().hash(lowercased_name);
        Self {
            name_hash,
            check: check as u32,
            qtype,
            dnssec_ok: 0,
            scope,
        }
    }

    /// Where the program looks for the entry (see `secdns_common::entry_tag`).
    pub fn tag(&self) -> u64 {
        entry_tag(self.name_hash, self.qtype, self.dnssec_ok != 0, self.scope)
    }
}

/// The name hasher of this process. Its key is random: no zone's names and no query can be
/// chosen to collide. The XDP program gets the same key (`XdpConfig::hash_key`).
pub fn hasher() -> NameHasher {
    static KEY: OnceLock<[u64; 2]> = OnceLock::new();
    let key = *KEY.get_or_init(|| {
        let mut bytes = [0u8; 16];
        if let Err(e) = getrandom::fill(&mut bytes) {
            // Without randomness the hash is still a good hash, only a predictable one.
            tracing::warn!("no randomness for the XDP name hash key: {e}");
        }
        let (a, b) = bytes.split_at(8);
        [
            u64::from_le_bytes(a.try_into().unwrap_or_default()),
            u64::from_le_bytes(b.try_into().unwrap_or_default()),
        ]
    });
    NameHasher { key }
}

/// The chunks of `value`'s body record: header, body, fixups, zero-padded to whole chunks.
/// `None` for a pass entry (it has no body) or a body beyond what the program carries.
pub fn body_record(value: &Value) -> Option<Vec<u8>> {
    let mut record = Vec::new();
    body_record_into(value, &mut record).then_some(record)
}

/// `signed` as the DO answer kept in `plain`'s record: when its body is `plain`'s followed
/// by more and its header differs only in the counts and checksum (the DO header is written
/// from `plain`'s fields but those), and neither has fixups (the DO header sits where they
/// would). `signed` back when not. Every body the program carries leaves room for the DO
/// header (`secdns_common`'s tests check `dnssec_header_at` for each length).
pub fn dnssec_extension(plain: &Value, signed: Value) -> Result<DnssecAnswer, Value> {
    let shares_header = signed.flags == plain.flags
        && signed.question_len == plain.question_len
        && signed.serial_at == plain.serial_at
        && signed.zone_slot == plain.zone_slot
        && signed.fixups.is_empty()
        && plain.fixups.is_empty();
    match signed.body.strip_prefix(&*plain.body) {
        Some(signatures) if shares_header && signed.body.len() <= MAX_BODY_LEN => {
            Ok(DnssecAnswer {
                signatures: signatures.into(),
                ancount: signed.ancount,
                nscount: signed.nscount,
                arcount: signed.arcount,
                body_csum: signed.body_csum,
            })
        }
        _ => Err(signed),
    }
}

/// As [`body_record`], into `record` (whose earlier contents go); false for no record.
/// A value with a DO answer kept with it holds the plain body, the signatures after it, and
/// then the DO header.
pub fn body_record_into(value: &Value, record: &mut Vec<u8>) -> bool {
    record.clear();
    let signatures = value.dnssec.as_ref().map_or(&[][..], |d| &d.signatures[..]);
    let body_len = value.body.len() + signatures.len();
    if value.is_pass()
        || body_len > MAX_BODY_LEN
        || value.fixups.len() > MAX_FIXUPS
        || (value.dnssec.is_some() && !value.fixups.is_empty())
        || (value.prefix_len != 0
            && (value.dnssec.is_some() || !value.fixups.is_empty() || value.serial_at != 0))
    {
        return false;
    }
    let header = |body_len: usize, counts: [u16; 3], body_csum: u32, dnssec_at: usize| BodyHeader {
        body_len: body_len as u16,
        flags: value.flags,
        ancount: counts[0],
        nscount: counts[1],
        arcount: counts[2],
        question_len: value.question_len,
        fixup_count: value.fixups.len() as u8,
        prefix_len: value.prefix_len,
        serial_at: value.serial_at,
        body_csum: body_csum as u16,
        dnssec_at: dnssec_at as u16,
        zone_slot: value.zone_slot,
    };
    let (len, dnssec_at) = match &value.dnssec {
        Some(_) => {
            let at = dnssec_header_at(body_len);
            (at + BODY_HEADER_LEN, at)
        }
        None => (fixups_at(body_len) + 2 * value.fixups.len(), 0),
    };
    record.resize(len.div_ceil(CHUNK_LEN) * CHUNK_LEN, 0);
    let counts = [value.ancount, value.nscount, value.arcount];
    let plain = header(value.body.len(), counts, value.body_csum, dnssec_at);
    write_header(&plain, record, 0);
    let body = BODY_HEADER_LEN..BODY_HEADER_LEN + value.body.len();
    record[body.clone()].copy_from_slice(&value.body);
    record[body.end..body.end + signatures.len()].copy_from_slice(signatures);
    match &value.dnssec {
        Some(signed) => {
            let counts = [signed.ancount, signed.nscount, signed.arcount];
            let header = header(body_len, counts, signed.body_csum, 0);
            write_header(&header, record, dnssec_at);
        }
        None => {
            let fixups = fixups_at(body_len);
            for (i, at) in value.fixups.iter().enumerate() {
                record[fixups + 2 * i..fixups + 2 * i + 2].copy_from_slice(&at.to_be_bytes());
            }
        }
    }
    true
}

/// `header` at `at` in the machine's order, as the program reads it.
fn write_header(header: &BodyHeader, record: &mut [u8], at: usize) {
    let Some(bytes) = record.get_mut(at..at + BODY_HEADER_LEN) else {
        return;
    };
    // SAFETY: BodyHeader is plain old data and `bytes` has room for one.
    unsafe { std::ptr::write_unaligned(bytes.as_mut_ptr().cast::<BodyHeader>(), *header) };
}

/// The header [`write_header`] wrote at `at`.
fn read_header(record: &[u8], at: usize) -> Option<BodyHeader> {
    let bytes = record.get(at..at + BODY_HEADER_LEN)?;
    // SAFETY: BodyHeader is plain old data (every bit pattern valid) and `bytes` holds one.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<BodyHeader>()) })
}

/// The value `record` (see [`body_record`]) was built from, with `options`; its name, which
/// records do not hold, empty.
pub fn value_of(record: &[u8], options: u32) -> Option<Value> {
    let header = read_header(record, 0)?;
    let body_len = usize::from(header.body_len);
    let body = record.get(BODY_HEADER_LEN..BODY_HEADER_LEN + body_len)?;
    let at = fixups_at(body_len);
    let fixups = (0..usize::from(header.fixup_count))
        .map(|i| {
            let bytes = record.get(at + 2 * i..at + 2 * i + 2)?;
            Some(u16::from_be_bytes(bytes.try_into().ok()?))
        })
        .collect::<Option<Vec<u16>>>()?;
    let dnssec = match usize::from(header.dnssec_at) {
        0 => None,
        at => {
            let signed = read_header(record, at)?;
            let end = BODY_HEADER_LEN + usize::from(signed.body_len);
            Some(Box::new(DnssecAnswer {
                signatures: record.get(BODY_HEADER_LEN + body_len..end)?.into(),
                ancount: signed.ancount,
                nscount: signed.nscount,
                arcount: signed.arcount,
                body_csum: u32::from(signed.body_csum),
            }))
        }
    };
    Some(Value {
        name: Box::default(),
        body: body.into(),
        flags: header.flags,
        ancount: header.ancount,
        nscount: header.nscount,
        arcount: header.arcount,
        question_len: header.question_len,
        fixups: fixups.into(),
        body_csum: u32::from(header.body_csum),
        options,
        prefix_len: header.prefix_len,
        serial_at: header.serial_at,
        zone_slot: header.zone_slot,
        dnssec,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_holds_the_header_the_program_reads() {
        let value = Value {
            name: b"\x01a\x00".as_slice().into(),
            body: vec![7u8; 41].into(),
            flags: 0x0403,
            ancount: 1,
            nscount: 2,
            arcount: 3,
            question_len: 5,
            fixups: vec![2, 300].into(),
            body_csum: 0xbeef,
            options: 0,
            serial_at: 9,
            zone_slot: 70_000,
            prefix_len: 0,
            dnssec: None,
        };
        let record = body_record(&value).unwrap();
        assert_eq!(record.len(), 2 * CHUNK_LEN);
        // SAFETY: BodyHeader is plain old data and the record is longer than it.
        let header: BodyHeader =
            unsafe { std::ptr::read_unaligned(record.as_ptr() as *const BodyHeader) };
        assert_eq!(
            (
                header.body_len,
                header.flags,
                header.question_len,
                header.fixup_count
            ),
            (41, 0x0403, 5, 2)
        );
        assert_eq!(
            (header.serial_at, header.body_csum, header.zone_slot),
            (9, 0xbeef, 70_000)
        );
        assert_eq!(record[BODY_HEADER_LEN..BODY_HEADER_LEN + 41], [7u8; 41]);
        let at = fixups_at(41);
        assert_eq!(record[at..at + 4], [0, 2, 1, 44]);
        assert!(body_record(&Value::pass(b"\x01a\x00")).is_none());
        // And back, but the name.
        let back = value_of(&record, 2).unwrap();
        assert_eq!(
            back,
            Value {
                name: Box::default(),
                options: 2,
                ..value.clone()
            }
        );
        // A body that follows its zone's prefix says how long the apex is; the pointers
        // and serial to write are then the prefix's, none its own.
        let after_prefix = Value {
            fixups: Box::default(),
            serial_at: 0,
            prefix_len: 13,
            ..value.clone()
        };
        let record = body_record(&after_prefix).unwrap();
        assert_eq!(read_header(&record, 0).unwrap().prefix_len, 13);
        assert_eq!(value_of(&record, 0).unwrap().prefix_len, 13);
        assert!(
            body_record(&Value {
                prefix_len: 13,
                ..value
            })
            .is_none()
        );
    }

    /// A DO answer kept with the plain one: one body (the plain one its start), the DO
    /// header after it where the plain header says, within one chunk.
    #[test]
    fn a_record_holds_the_do_answer_after_its_body() {
        let plain_body = vec![5u8; 30];
        let mut signed_body = plain_body.clone();
        signed_body.extend_from_slice(&[9u8; 90]);
        let value = Value {
            name: b"\x01a\x00".as_slice().into(),
            body: plain_body.into(),
            flags: 0x0400,
            ancount: 1,
            question_len: 3,
            body_csum: 0x1234,
            zone_slot: 3,
            dnssec: Some(Box::new(DnssecAnswer {
                signatures: vec![9u8; 90].into(),
                ancount: 2,
                body_csum: 0x5678,
                ..DnssecAnswer::default()
            })),
            ..Value::default()
        };
        let record = body_record(&value).unwrap();
        let read = |at: usize| -> BodyHeader {
            assert!(at + BODY_HEADER_LEN <= record.len());
            // SAFETY: BodyHeader is plain old data; `at` is within the record (checked).
            unsafe { std::ptr::read_unaligned(record.as_ptr().add(at) as *const BodyHeader) }
        };
        let plain = read(0);
        let at = usize::from(plain.dnssec_at);
        assert_eq!(at, dnssec_header_at(120));
        assert_eq!(
            (plain.body_len, plain.ancount, plain.body_csum),
            (30, 1, 0x1234)
        );
        let signed = read(at);
        assert_eq!(
            (
                signed.body_len,
                signed.ancount,
                signed.body_csum,
                signed.dnssec_at
            ),
            (120, 2, 0x5678, 0)
        );
        assert_eq!((signed.flags, signed.zone_slot), (0x0400, 3));
        assert_eq!(
            record[BODY_HEADER_LEN..BODY_HEADER_LEN + 120],
            signed_body[..]
        );
        assert_eq!(record.len(), 3 * CHUNK_LEN);
        let back = value_of(&record, 0).unwrap();
        assert_eq!(
            back,
            Value {
                name: Box::default(),
                ..value
            }
        );
        // A DO answer is kept with the plain one only when its body starts with the plain
        // body and neither has fixups; nor is a record written for a value with both.
        let plain = Value {
            dnssec: None,
            ..back.clone()
        };
        let signed = |body: &[u8], fixups: &[u16]| Value {
            body: body.into(),
            ancount: 2,
            body_csum: 0x5678,
            fixups: fixups.into(),
            ..plain.clone()
        };
        let kept = dnssec_extension(&plain, signed(&signed_body, &[])).unwrap();
        assert_eq!(Some(Box::new(kept)), back.dnssec);
        assert!(dnssec_extension(&plain, signed(&[6u8; 120], &[])).is_err());
        assert!(dnssec_extension(&plain, signed(&signed_body, &[2])).is_err());
        let mut with_fixups = back.clone();
        with_fixups.fixups = vec![2].into();
        assert!(body_record(&with_fixups).is_none());
    }
}
