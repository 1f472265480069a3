//! DNS messages as a secondary exchanges them with its primaries: building SOA/AXFR/IXFR
//! queries and reading responses into records. Record data is stored uncompressed: names
//! inside the record data of the types that allow compression are expanded here.

use crate::dns::{
    Name, NameError,
    codes::{class, rtype},
    rdata,
    wire::{HEADER_LEN, be16, be32},
};

/// A resource record with uncompressed record data.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Record {
    pub owner: Name,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub rdata: Vec<u8>,
}

impl Record {
    /// Appends the record in uncompressed wire form.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.owner.wire());
        out.extend_from_slice(&self.rtype.to_be_bytes());
        out.extend_from_slice(&self.class.to_be_bytes());
        out.extend_from_slice(&self.ttl.to_be_bytes());
        out.extend_from_slice(&(self.rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.rdata);
    }
}

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum MessageError {
    #[error("message shorter than a DNS header")]
    Short,
    #[error("message ends inside its {0} section")]
    Truncated(&'static str),
    #[error("bad name in the {section} section: {error}")]
    Name {
        section: &'static str,
        error: NameError,
    },
    #[error("record data of type {rtype} does not match its length")]
    Rdata { rtype: u16 },
    #[error("{0} bytes after the last record")]
    Trailing(usize),
    #[error("TSIG record is not the last record of the message")]
    TsigNotLast,
}

/// The TSIG record of a message, where it starts, and its fields (RFC 8945 §4.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TsigRecord {
    /// Offset of the TSIG record in the raw message: the MAC covers everything before it.
    pub offset: usize,
    pub key_name: Name,
    pub algorithm: Name,
    pub time_signed: u64,
    pub fudge: u16,
    pub mac: Vec<u8>,
    pub original_id: u16,
    pub error: u16,
    pub other: Vec<u8>,
}

#[derive(Clone, Debug)]
pub struct Message {
    pub id: u16,
    pub flags: u16,
    pub question: Option<(Name, u16, u16)>,
    pub answers: Vec<Record>,
    pub authority: Vec<Record>,
    pub additional: Vec<Record>,
    pub tsig: Option<TsigRecord>,
}

impl Message {
    pub fn rcode(&self) -> u8 {
        (self.flags & 0x000f) as u8
    }

    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0x0f) as u8
    }

    pub fn is_response(&self) -> bool {
        self.flags & 0x8000 != 0
    }

    pub fn truncated(&self) -> bool {
        self.flags & 0x0200 != 0
    }

    pub fn authoritative(&self) -> bool {
        self.flags & 0x0400 != 0
    }
}

/// Parses a whole message. Every count, length and name is checked against the bytes.
pub fn parse(raw: &[u8]) -> Result<Message, MessageError> {
    if raw.len() < HEADER_LEN {
        return Err(MessageError::Short);
    }
    let field = |i: usize| be16(raw, 2 * i).unwrap_or_default();
    let (id, flags, qdcount, ancount, nscount, arcount) =
        (field(0), field(1), field(2), field(3), field(4), field(5));
    let mut pos = HEADER_LEN;
    let mut question = None;
    for _ in 0..qdcount {
        let (name, after) =
            Name::read_compressed(raw, pos).map_err(|error| MessageError::Name {
                section: "question",
                error,
            })?;
        let qtype = be16(raw, after).ok_or(MessageError::Truncated("question"))?;
        let qclass = be16(raw, after + 2).ok_or(MessageError::Truncated("question"))?;
        question.get_or_insert((name, qtype, qclass));
        pos = after + 4;
    }
    let mut sections: [Vec<Record>; 3] = Default::default();
    let mut tsig = None;
    for (index, (count, section)) in [
        (ancount, "answer"),
        (nscount, "authority"),
        (arcount, "additional"),
    ]
    .into_iter()
    .enumerate()
    {
        for n in 0..count {
            if tsig.is_some() {
                return Err(MessageError::TsigNotLast);
            }
            let start = pos;
            let (record, next) = read_record(raw, pos, section)?;
            pos = next;
            if record.rtype == rtype::TSIG && index == 2 && n + 1 == count {
                tsig = Some(parse_tsig(start, record)?);
            } else if record.rtype == rtype::TSIG {
                return Err(MessageError::TsigNotLast);
            } else {
                sections[index].push(record);
            }
        }
    }
    if pos != raw.len() {
        return Err(MessageError::Trailing(raw.len() - pos));
    }
    let [answers, authority, additional] = sections;
    Ok(Message {
        id,
        flags,
        question,
        answers,
        authority,
        additional,
        tsig,
    })
}

fn read_record(
    raw: &[u8],
    pos: usize,
    section: &'static str,
) -> Result<(Record, usize), MessageError> {
    let (owner, after) =
        Name::read_compressed(raw, pos).map_err(|error| MessageError::Name { section, error })?;
    let truncated = MessageError::Truncated(section);
    let rr_type = be16(raw, after).ok_or(truncated.clone())?;
    let rr_class = be16(raw, after + 2).ok_or(truncated.clone())?;
    let ttl = be32(raw, after + 4).ok_or(truncated.clone())?;
    let rdlen = be16(raw, after + 8).ok_or(truncated.clone())? as usize;
    let start = after + 10;
    let end = start + rdlen;
    if end > raw.len() {
        return Err(truncated);
    }
    let mut rdata = decompress_rdata(raw, start, end, rr_type)?;
    // A deletion spelled in another case is the same record (RFC 4343).
    rdata::lowercase_received_names(rr_type, &mut rdata);
    Ok((
        Record {
            owner,
            rtype: rr_type,
            class: rr_class,
            ttl,
            rdata,
        },
        end,
    ))
}

/// How a type's record data is laid out around its names: a fixed prefix, then `names`
/// domain names, then the rest verbatim.
fn name_layout(rr_type: u16) -> Option<(usize, usize)> {
    Some(match rr_type {
        // NS, MD, MF, CNAME, MB, MG, MR, PTR (RFC 1035), DNAME is never compressed but
        // expanding an uncompressed name is harmless.
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 => (0, 1),
        rtype::SOA => (0, 2),
        // MINFO, RP: two names.
        14 | 17 => (0, 2),
        // MX, AFSDB, RT, KX: preference then a name.
        15 | 18 | 21 | 36 => (2, 1),
        // PX: preference then two names.
        26 => (2, 2),
        // SRV: priority, weight, port, target (RFC 2782 forbids compression; some send it).
        33 => (6, 1),
        _ => return None,
    })
}

fn decompress_rdata(
    raw: &[u8],
    start: usize,
    end: usize,
    rr_type: u16,
) -> Result<Vec<u8>, MessageError> {
    let Some((prefix, names)) = name_layout(rr_type) else {
        return Ok(raw[start..end].to_vec());
    };
    let bad = || MessageError::Rdata { rtype: rr_type };
    if start + prefix > end {
        return Err(bad());
    }
    let mut out = raw[start..start + prefix].to_vec();
    let mut pos = start + prefix;
    for _ in 0..names {
        // A name may not run past the record data, though its pointers lead anywhere earlier.
        let (name, after) = Name::read_compressed(&raw[..end], pos).map_err(|_| bad())?;
        out.extend_from_slice(name.wire());
        pos = after;
    }
    // SOA: SERIAL, REFRESH, RETRY, EXPIRE, MINIMUM follow the names, and nothing else.
    if rr_type == rtype::SOA && end - pos != 20 {
        return Err(bad());
    }
    out.extend_from_slice(&raw[pos..end]);
    if out.len() > u16::MAX as usize {
        return Err(bad());
    }
    Ok(out)
}

fn parse_tsig(offset: usize, record: Record) -> Result<TsigRecord, MessageError> {
    let bad = MessageError::Rdata { rtype: rtype::TSIG };
    let data = &record.rdata;
    let (algorithm, mut pos) = Name::parse_uncompressed(data).map_err(|_| bad.clone())?;
    let field = |p: usize, n: usize| data.get(p..p + n).ok_or(bad.clone());
    let time = field(pos, 6)?;
    let time_signed = time.iter().fold(0u64, |acc, &b| (acc << 8) | b as u64);
    let fudge = be16(data, pos + 6).ok_or(bad.clone())?;
    let mac_len = be16(data, pos + 8).ok_or(bad.clone())? as usize;
    pos += 10;
    let mac = field(pos, mac_len)?.to_vec();
    pos += mac_len;
    let original_id = be16(data, pos).ok_or(bad.clone())?;
    let error = be16(data, pos + 2).ok_or(bad.clone())?;
    let other_len = be16(data, pos + 4).ok_or(bad.clone())? as usize;
    let other = field(pos + 6, other_len)?.to_vec();
    if pos + 6 + other_len != data.len() {
        return Err(bad);
    }
    Ok(TsigRecord {
        offset,
        key_name: record.owner,
        algorithm,
        time_signed,
        fudge,
        mac,
        original_id,
        error,
        other,
    })
}

/// A query without RD: `qname`/`qtype` class IN, plus `authority` records (IXFR carries
/// our SOA there, RFC 1995 §3).
pub fn build_query(id: u16, opcode: u8, qname: &Name, qtype: u16, authority: &[Record]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&((opcode as u16) << 11).to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&(authority.len() as u16).to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(qname.wire());
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&class::IN.to_be_bytes());
    for record in authority {
        record.write(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_record_data_are_expanded() {
        // Header, question "example.com. SOA IN", one SOA answer whose names point back.
        let mut m = vec![0, 1, 0x84, 0, 0, 1, 0, 1, 0, 0, 0, 0];
        m.extend_from_slice(b"\x07example\x03com\x00\x00\x06\x00\x01");
        m.extend_from_slice(&[0xc0, 12, 0, 6, 0, 1, 0, 0, 0x0e, 0x10]);
        let rdata: Vec<u8> = [&b"\x03ns1\xc0\x0c"[..], b"\x02hm\xc0\x0c", &[0; 20]].concat();
        m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        m.extend_from_slice(&rdata);
        let message = parse(&m).unwrap();
        let soa = &message.answers[0];
        assert_eq!(soa.owner, "example.com.".parse::<Name>().unwrap());
        let expected: Vec<u8> = [
            &b"\x03ns1\x07example\x03com\x00"[..],
            b"\x02hm\x07example\x03com\x00",
            &[0; 20],
        ]
        .concat();
        assert_eq!(soa.rdata, expected);
    }

    #[test]
    fn names_in_record_data_take_the_canonical_case() {
        // An RRSIG whose signer a primary spells in capitals, and a SOA cut short.
        let mut m = vec![0, 1, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        m.extend_from_slice(&[0, 0, 46, 0, 1, 0, 0, 0, 0]);
        let rdata: Vec<u8> = [
            &[0u8, 1, 13, 2, 0, 0, 0, 60][..],
            &[0; 10],
            b"\x02SE\x00",
            b"sig",
        ]
        .concat();
        m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        m.extend_from_slice(&rdata);
        let message = parse(&m).unwrap();
        assert_eq!(&message.answers[0].rdata[18..22], b"\x02se\x00");
        let mut short = vec![0, 1, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        short.extend_from_slice(&[0, 0, 6, 0, 1, 0, 0, 0, 0, 0, 19, 0, 0]);
        short.extend_from_slice(&[0; 17]);
        assert!(matches!(
            parse(&short),
            Err(MessageError::Rdata { rtype: 6 })
        ));
    }

    #[test]
    fn hostile_messages_are_errors() {
        assert_eq!(parse(&[0; 5]).unwrap_err(), MessageError::Short);
        // One answer claimed, none present.
        let m = [0, 1, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        assert!(matches!(parse(&m), Err(MessageError::Name { .. })));
        // Record data longer than the message.
        let mut m = vec![
            0, 1, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 9,
        ];
        m.extend_from_slice(&[1, 2, 3]);
        assert!(matches!(parse(&m), Err(MessageError::Truncated(_))));
        // A name in record data running past its length.
        let mut m = vec![
            0, 1, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5, 0, 1, 0, 0, 0, 0, 0, 2,
        ];
        m.extend_from_slice(b"\x05abcde\x00");
        assert!(parse(&m).is_err());
    }

    #[test]
    fn query_round_trips() {
        let soa = Record {
            owner: "example.com.".parse().unwrap(),
            rtype: rtype::SOA,
            class: class::IN,
            ttl: 0,
            rdata: [&b"\x00\x00"[..], &[0; 20]].concat(),
        };
        let q = build_query(
            7,
            0,
            &"example.com.".parse().unwrap(),
            rtype::IXFR,
            std::slice::from_ref(&soa),
        );
        let m = parse(&q).unwrap();
        assert_eq!(m.id, 7);
        assert_eq!(m.question.unwrap().1, rtype::IXFR);
        assert_eq!(m.authority, vec![soa]);
    }
}
