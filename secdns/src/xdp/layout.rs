//! The layout of the answer maps as userspace writes them: which key an entry has, how an
//! entry's body is laid out in chunks, and the secret the name hash is keyed with.

use std::sync::OnceLock;

use secdns_common::{
    BODY_HEADER_LEN, BodyHeader, CHUNK_LEN, MAX_BODY_LEN, MAX_FIXUPS, NameHasher, entry_tag,
    fixups_at,
};

use crate::xdp::value::Value;

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

/// As [`body_record`], into `record` (whose earlier contents go); false for no record.
pub fn body_record_into(value: &Value, record: &mut Vec<u8>) -> bool {
    record.clear();
    if value.is_pass() || value.body.len() > MAX_BODY_LEN || value.fixups.len() > MAX_FIXUPS {
        return false;
    }
    let header = BodyHeader {
        body_len: value.body.len() as u16,
        flags: value.flags,
        ancount: value.ancount,
        nscount: value.nscount,
        arcount: value.arcount,
        question_len: value.question_len,
        fixup_count: value.fixups.len() as u16,
        serial_at: value.serial_at,
        body_csum: value.body_csum as u16,
        reserved: 0,
        zone_slot: value.zone_slot,
    };
    let fixups = fixups_at(value.body.len());
    let len = fixups + 2 * value.fixups.len();
    record.resize(len.div_ceil(CHUNK_LEN) * CHUNK_LEN, 0);
    let fields = [
        header.body_len,
        header.flags,
        header.ancount,
        header.nscount,
        header.arcount,
        header.question_len,
        header.fixup_count,
        header.serial_at,
        header.body_csum,
        header.reserved,
    ];
    // The header in the machine's order, as the program reads it (`BodyHeader`).
    for (i, field) in fields.iter().enumerate() {
        record[2 * i..2 * i + 2].copy_from_slice(&field.to_ne_bytes());
    }
    record[20..BODY_HEADER_LEN].copy_from_slice(&header.zone_slot.to_ne_bytes());
    record[BODY_HEADER_LEN..BODY_HEADER_LEN + value.body.len()].copy_from_slice(&value.body);
    for (i, at) in value.fixups.iter().enumerate() {
        record[fixups + 2 * i..fixups + 2 * i + 2].copy_from_slice(&at.to_be_bytes());
    }
    true
}

/// The value `record` (see [`body_record`]) was built from, with `options`; its name, which
/// records do not hold, empty.
pub fn value_of(record: &[u8], options: u32) -> Option<Value> {
    let field = |i: usize| -> Option<u16> {
        Some(u16::from_ne_bytes(
            record.get(2 * i..2 * i + 2)?.try_into().ok()?,
        ))
    };
    let body_len = usize::from(field(0)?);
    let fixup_count = usize::from(field(6)?);
    let body = record.get(BODY_HEADER_LEN..BODY_HEADER_LEN + body_len)?;
    let at = fixups_at(body_len);
    let fixups = (0..fixup_count)
        .map(|i| {
            let bytes = record.get(at + 2 * i..at + 2 * i + 2)?;
            Some(u16::from_be_bytes(bytes.try_into().ok()?))
        })
        .collect::<Option<Vec<u16>>>()?;
    Some(Value {
        name: Box::default(),
        body: body.into(),
        flags: field(1)?,
        ancount: field(2)?,
        nscount: field(3)?,
        arcount: field(4)?,
        question_len: field(5)?,
        fixups: fixups.into(),
        body_csum: u32::from(field(8)?),
        options,
        serial_at: field(7)?,
        zone_slot: u32::from_ne_bytes(record.get(20..BODY_HEADER_LEN)?.try_into().ok()?),
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
                ..value
            }
        );
    }
}
