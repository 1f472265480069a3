//! Parsing an incoming DNS message into a question we can answer, or into the error reply it
//! deserves (RFC 1035 §4.1, RFC 6891 §6.1). Nothing here trusts the message.

use secdns_common::{
    cookie::{CLIENT_COOKIE_LEN, SERVER_COOKIE_LEN},
    dns_lowercase,
};

use crate::dns::{
    codes::{class, opcode, option, rcode, rtype},
    name::{Name, uncompressed_len},
    wire::{HEADER_LEN, be16},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edns {
    pub udp_size: u16,
    pub version: u8,
    pub dnssec_ok: bool,
    /// The client asked for the TCP idle timeout (edns-tcp-keepalive, RFC 7828 §3.2.1).
    pub tcp_keepalive: bool,
    /// The first COOKIE option (RFC 7873), when well-formed.
    pub cookie: Option<QueryCookie>,
}

/// A COOKIE option as a query brings it: the client cookie, and the server cookie if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryCookie {
    pub client: [u8; CLIENT_COOKIE_LEN],
    /// The server cookie's first 16 bytes (what RFC 9018 makes), and its length (0 for a
    /// client cookie alone; 8 to 32 as sent).
    pub server: [u8; SERVER_COOKIE_LEN],
    pub server_len: u8,
}

/// A COOKIE option's data: client cookie alone (8 bytes), or with a server cookie of 8 to 32
/// bytes (RFC 7873 §4); `Err` for any other length, which is FORMERR (§5.2.2).
fn query_cookie(data: &[u8]) -> Result<QueryCookie, ()> {
    if data.len() != CLIENT_COOKIE_LEN && !(16..=40).contains(&data.len()) {
        return Err(());
    }
    let (client, server) = data.split_at(CLIENT_COOKIE_LEN);
    let mut cookie = QueryCookie {
        client: client.try_into().map_err(|_| ())?,
        server: [0; SERVER_COOKIE_LEN],
        server_len: server.len() as u8,
    };
    let kept = server.len().min(SERVER_COOKIE_LEN);
    cookie.server[..kept].copy_from_slice(&server[..kept]);
    Ok(cookie)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Question<'a> {
    /// The question exactly as it arrived: name, type, class.
    pub raw: &'a [u8],
    pub qname: &'a [u8],
    pub qtype: u16,
    pub qclass: u16,
}

impl Question<'_> {
    pub fn lowercase_name(&self) -> Vec<u8> {
        self.qname.iter().map(|&b| dns_lowercase(b)).collect()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParsedQuery<'a> {
    /// Not answered at all: shorter than a header, or itself a response.
    Ignore,
    Error {
        id: u16,
        flags: u16,
        question: Option<Question<'a>>,
        edns: Option<Edns>,
        rcode: u8,
        /// Upper eight bits of an extended RCODE, carried in OPT.
        extended_rcode: u8,
    },
    Query {
        id: u16,
        flags: u16,
        question: Question<'a>,
        edns: Option<Edns>,
        /// Whether the query ends in a TSIG record (RFC 8945 §4.2).
        signed: bool,
    },
}

impl<'a> ParsedQuery<'a> {
    /// The question, when the message had one that could be read.
    pub fn question(&self) -> Option<&Question<'a>> {
        match self {
            ParsedQuery::Query { question, .. } => Some(question),
            ParsedQuery::Error { question, .. } => question.as_ref(),
            ParsedQuery::Ignore => None,
        }
    }
}

pub fn parse(msg: &[u8]) -> ParsedQuery<'_> {
    let (Some(id), Some(flags)) = (be16(msg, 0), be16(msg, 2)) else {
        return ParsedQuery::Ignore;
    };
    if msg.len() < HEADER_LEN || flags & 0x8000 != 0 {
        return ParsedQuery::Ignore;
    }
    let error = |question, edns, code: u8| ParsedQuery::Error {
        id,
        flags,
        question,
        edns,
        rcode: code,
        extended_rcode: 0,
    };
    let count = |i: usize| be16(msg, 4 + 2 * i).unwrap_or_default();
    let (qdcount, ancount, nscount, arcount) = (count(0), count(1), count(2), count(3));
    let opcode = ((flags >> 11) & 0xf) as u8;
    let known_opcode = matches!(opcode, opcode::QUERY | opcode::NOTIFY | opcode::UPDATE);
    if qdcount == 0 && !known_opcode {
        // What the message asks is not known, so not what it lacks either (as Knot).
        return error(None, None, rcode::NOTIMP);
    }
    if qdcount != 1 {
        return error(None, None, rcode::FORMERR);
    }
    let Some(question) = parse_question(msg) else {
        return error(None, None, rcode::FORMERR);
    };
    let mut pos = HEADER_LEN + question.raw.len();
    // Answer and authority sections have no place in a query.
    if ancount != 0 || nscount != 0 {
        return error(Some(question), None, rcode::FORMERR);
    }
    let mut edns = None;
    let mut signed = false;
    for n in 0..arcount {
        let Some((rr, next)) = parse_rr_header(msg, pos) else {
            return error(Some(question), edns, rcode::FORMERR);
        };
        if rr.rtype == rtype::TSIG {
            // The last record, or the message is malformed (RFC 8945 §5.1).
            if n + 1 != arcount {
                return error(Some(question), edns, rcode::FORMERR);
            }
            signed = true;
        }
        pos = next;
        if rr.rtype != rtype::OPT {
            continue; // other additional records say nothing about the answer
        }
        // One OPT, owned by the root (RFC 6891 §6.1.1).
        if edns.is_some() || !rr.owner_is_root {
            return error(Some(question), None, rcode::FORMERR);
        }
        // An option running past the record's data is ignored with what follows, as the XDP
        // program ignores every option: the two paths answer alike.
        let options = msg.get(rr.rdata.clone()).unwrap_or_default();
        let tcp_keepalive = find_option(options, option::TCP_KEEPALIVE).is_some();
        let mut found = Edns {
            udp_size: rr.class,
            version: (rr.ttl >> 16) as u8,
            dnssec_ok: rr.ttl & 0x8000 != 0,
            tcp_keepalive,
            cookie: None,
        };
        if let Some(data) = find_option(options, option::COOKIE) {
            match query_cookie(data) {
                Ok(cookie) => found.cookie = Some(cookie),
                Err(()) => return error(Some(question), Some(found), rcode::FORMERR),
            }
        }
        edns = Some(found);
    }
    if pos != msg.len() {
        return error(Some(question), edns, rcode::FORMERR);
    }
    // An UPDATE's zone section names the zone with type SOA (RFC 2136 §2.3); anything else
    // is malformed. Updates themselves go to the primary: secdns does not take them.
    if opcode == opcode::UPDATE && question.qtype != rtype::SOA {
        return error(Some(question), edns, rcode::FORMERR);
    }
    if opcode != opcode::QUERY {
        return error(Some(question), edns, rcode::NOTIMP);
    }
    if let Some(e) = edns.filter(|e| e.version != 0) {
        return ParsedQuery::Error {
            id,
            flags,
            question: Some(question),
            edns: Some(e),
            rcode: rcode::NOERROR,
            extended_rcode: rcode::BADVERS_UPPER,
        };
    }
    // QCLASS * (RFC 1035 §3.2.5) matches IN, the only class served.
    if question.qclass != class::IN && question.qclass != class::ANY {
        return error(Some(question), edns, rcode::REFUSED);
    }
    ParsedQuery::Query {
        id,
        flags,
        question,
        edns,
        signed,
    }
}

fn parse_question(msg: &[u8]) -> Option<Question<'_>> {
    let rest = msg.get(HEADER_LEN..)?;
    let name_len = uncompressed_len(rest).ok()?;
    let raw = rest.get(..name_len + 4)?;
    Some(Question {
        raw,
        qname: &raw[..name_len],
        qtype: be16(raw, name_len)?,
        qclass: be16(raw, name_len + 2)?,
    })
}

struct RrHeader {
    owner_is_root: bool,
    rtype: u16,
    class: u16,
    ttl: u32,
    /// Where its data is in the message.
    rdata: std::ops::Range<usize>,
}

/// Whether OPT data `options` holds option `code` whole, before any option that runs past
/// its end.
fn find_option(mut options: &[u8], code: u16) -> Option<&[u8]> {
    while let (Some(this), Some(len)) = (be16(options, 0), be16(options, 2)) {
        let data = options.get(4..4 + usize::from(len))?;
        if this == code {
            return Some(data);
        }
        options = options.get(4 + usize::from(len)..)?;
    }
    None
}

/// Reads one resource record at `pos`; returns its header and the position after its data.
fn parse_rr_header(msg: &[u8], pos: usize) -> Option<(RrHeader, usize)> {
    let (owner, after_name) = Name::read_compressed(msg, pos).ok()?;
    let fixed = msg.get(after_name..after_name + 10)?;
    let rdlen = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
    let end = after_name + 10 + rdlen;
    if end > msg.len() {
        return None;
    }
    Some((
        RrHeader {
            owner_is_root: owner.is_root(),
            rtype: u16::from_be_bytes([fixed[0], fixed[1]]),
            class: u16::from_be_bytes([fixed[2], fixed[3]]),
            ttl: u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]),
            rdata: after_name + 10..end,
        },
        end,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &[u8], qtype: u16, extra: &[u8], arcount: u16) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0];
        m.extend_from_slice(&arcount.to_be_bytes());
        m.extend_from_slice(name);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        m.extend_from_slice(extra);
        m
    }

    const OPT_DO: &[u8] = &[0, 0, 41, 0x10, 0, 0, 0, 0x80, 0, 0, 0];

    #[test]
    fn plain_and_edns_queries() {
        let m = query(b"\x03WwW\x00", 1, &[], 0);
        let ParsedQuery::Query {
            id, question, edns, ..
        } = parse(&m)
        else {
            panic!()
        };
        assert_eq!(id, 0x1234);
        assert_eq!(question.qname, b"\x03WwW\x00");
        assert_eq!(question.lowercase_name(), b"\x03www\x00");
        assert_eq!(edns, None);

        let m = query(b"\x00", 2, OPT_DO, 1);
        let ParsedQuery::Query { edns, .. } = parse(&m) else {
            panic!()
        };
        assert_eq!(
            edns,
            Some(Edns {
                udp_size: 4096,
                version: 0,
                dnssec_ok: true,
                tcp_keepalive: false,
                cookie: None,
            })
        );
        // edns-tcp-keepalive without a value, after another option.
        let keepalive = [&OPT_DO[..9], &[0, 8, 0, 12, 0, 0, 0, 11, 0, 0]].concat();
        let ParsedQuery::Query { edns, .. } = parse(&query(b"\x00", 2, &keepalive, 1)) else {
            panic!()
        };
        assert!(edns.is_some_and(|e| e.tcp_keepalive));
        // An option that runs past the data hides what follows, and is no error.
        let broken = [&OPT_DO[..9], &[0, 8, 0, 12, 0, 9, 0, 11, 0, 0]].concat();
        let ParsedQuery::Query { edns, .. } = parse(&query(b"\x00", 2, &broken, 1)) else {
            panic!()
        };
        assert!(edns.is_some_and(|e| !e.tcp_keepalive));
    }

    /// A query whose OPT carries one option `code` with `data`.
    fn with_option(code: u16, data: &[u8]) -> Vec<u8> {
        let mut opt = OPT_DO[..9].to_vec();
        opt.extend_from_slice(&(4 + data.len() as u16).to_be_bytes());
        opt.extend_from_slice(&code.to_be_bytes());
        opt.extend_from_slice(&(data.len() as u16).to_be_bytes());
        opt.extend_from_slice(data);
        query(b"\x00", 2, &opt, 1)
    }

    #[test]
    fn cookies_of_every_length() {
        let cookie_of = |data: &[u8]| match parse(&with_option(option::COOKIE, data)) {
            ParsedQuery::Query { edns, .. } => Ok(edns.and_then(|e| e.cookie)),
            ParsedQuery::Error { rcode, edns, .. } => {
                assert!(edns.is_some(), "the error keeps the OPT");
                Err(rcode)
            }
            ParsedQuery::Ignore => panic!(),
        };
        let client = cookie_of(&[7; 8]).unwrap().unwrap();
        assert_eq!((client.client, client.server_len), ([7; 8], 0));
        let full: Vec<u8> = (0..24).collect();
        let both = cookie_of(&full).unwrap().unwrap();
        assert_eq!(both.client, [0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(both.server[..], full[8..]);
        assert_eq!(both.server_len, 16);
        assert_eq!(cookie_of(&[1; 40]).unwrap().unwrap().server_len, 32);
        assert_eq!(cookie_of(&[1; 16]).unwrap().unwrap().server_len, 8);
        for bad in [0, 1, 7, 9, 15, 41] {
            assert_eq!(cookie_of(&vec![1; bad]), Err(rcode::FORMERR), "{bad} bytes");
        }
        // The first COOKIE counts.
        let mut two = with_option(option::COOKIE, &[1; 8]);
        let count = two.len() - 14;
        two.extend_from_slice(&[0, 10, 0, 2, 9, 9]);
        two[count..count + 2].copy_from_slice(&(12u16 + 6).to_be_bytes());
        let ParsedQuery::Query { edns, .. } = parse(&two) else {
            panic!()
        };
        assert_eq!(edns.and_then(|e| e.cookie).map(|c| c.client), Some([1; 8]));
    }

    #[test]
    fn hostile_messages() {
        assert_eq!(parse(&[]), ParsedQuery::Ignore);
        assert_eq!(parse(&[1, 2, 3]), ParsedQuery::Ignore);
        // A response is never answered.
        let mut m = query(b"\x00", 1, &[], 0);
        m[2] |= 0x80;
        assert_eq!(parse(&m), ParsedQuery::Ignore);
        // Truncated question, compressed question, trailing junk, two OPTs, bad OPT owner.
        for (m, what) in [
            (query(b"\x05ab", 1, &[], 0)[..15].to_vec(), "truncated"),
            (query(b"\xc0\x0c", 1, &[], 0), "pointer"),
            (query(b"\x00", 1, b"junk", 0), "trailing"),
            (query(b"\x00", 1, &[OPT_DO, OPT_DO].concat(), 2), "two OPT"),
            (
                query(b"\x00", 1, &[&[1, b'a', 0], &OPT_DO[1..]].concat(), 1),
                "OPT owner",
            ),
            (query(b"\x00", 1, &[0, 0, 41], 1), "short OPT"),
        ] {
            match parse(&m) {
                ParsedQuery::Error { rcode, .. } => assert_eq!(rcode, rcode::FORMERR, "{what}"),
                other => panic!("{what}: {other:?}"),
            }
        }
    }

    #[test]
    fn badvers_and_opcodes() {
        let mut opt = OPT_DO.to_vec();
        opt[6] = 1;
        let m = query(b"\x00", 1, &opt, 1);
        assert!(matches!(
            parse(&m),
            ParsedQuery::Error {
                extended_rcode: 1,
                rcode: 0,
                ..
            }
        ));
        let mut m = query(b"\x00", 1, &[], 0);
        m[2] = 0x10; // opcode 2 (STATUS)
        assert!(matches!(
            parse(&m),
            ParsedQuery::Error {
                rcode: rcode::NOTIMP,
                ..
            }
        ));
        // Without a question: NOTIMP for an opcode we do not know, FORMERR for a query.
        let empty = vec![0x12, 0x34, 0x30, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(matches!(
            parse(&empty),
            ParsedQuery::Error {
                rcode: rcode::NOTIMP,
                ..
            }
        ));
        let mut empty = empty;
        empty[2] = 0;
        assert!(matches!(
            parse(&empty),
            ParsedQuery::Error {
                rcode: rcode::FORMERR,
                ..
            }
        ));
    }
}
