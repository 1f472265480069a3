//! Answering a DNS message: [`query`] parses it, [`lookup`] finds the records in the zone
//! snapshot, [`encode`] writes them. The XDP compiler uses the same lookup and encoder, which is
//! what makes the two paths agree byte for byte.

pub mod encode;
pub mod lookup;
pub mod query;

use secdns_common::{
    COPIED_QUERY_FLAGS, FLAG_QR, OPT_RR_LEN,
    cookie::{BADCOOKIE_LOWER, BADCOOKIE_UPPER, COOKIE_REPLY_LEN},
};

use crate::{
    dns::tsig::{self, Key},
    dns::{
        Name,
        codes::{flags, option, rcode, rtype},
    },
    snapshot::Snapshot,
};
use query::{Edns, ParsedQuery, Question};

/// The largest UDP reply when the client sent no EDNS (RFC 1035 §2.3.4).
pub const PLAIN_UDP_LIMIT: usize = 512;

/// The data of the COOKIE option a reply carries: the client's cookie, then ours (see
/// `cookies::Cookies::reply_cookie`).
pub type ReplyCookie = [u8; COOKIE_REPLY_LEN - 4];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `payload` is our configured EDNS UDP size.
    Udp { payload: u16 },
    /// `keepalive`: the idle timeout told to clients that ask (RFC 7828), in 100 ms units.
    Tcp {
        payload: u16,
        keepalive: Option<u16>,
    },
}

impl Transport {
    pub fn our_payload(self) -> u16 {
        match self {
            Transport::Udp { payload } | Transport::Tcp { payload, .. } => payload,
        }
    }

    /// The idle timeout to tell the client in the reply, when it asked over TCP; never over
    /// UDP (RFC 7828 §3.2.1).
    fn keepalive_for(self, edns: Option<Edns>) -> Option<u16> {
        match self {
            Transport::Tcp { keepalive, .. } if edns.is_some_and(|e| e.tcp_keepalive) => keepalive,
            _ => None,
        }
    }
}

/// The reply to `msg`, or `None` when it must not be answered (not a query, or too broken to
/// even echo an ID).
pub fn respond(msg: &[u8], snapshot: &Snapshot, transport: Transport) -> Option<Vec<u8>> {
    respond_in(msg, snapshot, transport).map(|(reply, _)| reply)
}

/// As [`respond`], with the apex of the zone the question fell in, if any.
pub fn respond_in<'s>(
    msg: &[u8],
    snapshot: &'s Snapshot,
    transport: Transport,
) -> Option<(Vec<u8>, Option<&'s Name>)> {
    respond_parsed(query::parse(msg), snapshot, transport, None)
}

/// The reply to `parsed`; with `cookie`, its OPT carries that COOKIE option.
fn respond_parsed<'s>(
    parsed: ParsedQuery<'_>,
    snapshot: &'s Snapshot,
    transport: Transport,
    cookie: Option<ReplyCookie>,
) -> Option<(Vec<u8>, Option<&'s Name>)> {
    match parsed {
        ParsedQuery::Ignore => None,
        ParsedQuery::Error {
            id,
            flags,
            question,
            edns,
            rcode,
            extended_rcode,
        } => Some((
            error_reply(
                (id, flags),
                question.map(|q| q.raw),
                opt_for(edns, transport, cookie),
                (rcode, extended_rcode),
            ),
            None,
        )),
        ParsedQuery::Query {
            id,
            flags,
            question,
            edns,
            ..
        } => {
            let opt = opt_for(edns, transport, cookie);
            Some(answer_question(
                id, flags, &question, edns, opt, snapshot, transport, 0,
            ))
        }
    }
}

/// As [`respond_in`], for `msg` parsed as `parsed`, which may be signed with TSIG (RFC 8945
/// §5.2): a query about a zone served here signed with a key `key_named` knows is answered
/// and the answer signed; with a key it does not know, or a signature that does not verify,
/// NOTAUTH says which (BADKEY, BADSIG, BADTIME). Signed questions outside every zone are
/// refused unsigned, as Knot does. With `cookie`, an unsigned reply's OPT carries it.
pub fn respond_keyed<'s>(
    parsed: ParsedQuery<'_>,
    msg: &[u8],
    snapshot: &'s Snapshot,
    transport: Transport,
    cookie: Option<ReplyCookie>,
    key_named: impl FnOnce(&Name) -> Option<Key>,
) -> Option<(Vec<u8>, Option<&'s Name>)> {
    let ParsedQuery::Query {
        id,
        flags,
        question,
        edns,
        signed: true,
    } = parsed
    else {
        return respond_parsed(parsed, snapshot, transport, cookie);
    };
    if snapshot
        .find_for(&question.lowercase_name(), question.qtype)
        .is_none()
    {
        return respond_parsed(parsed, snapshot, transport, cookie);
    }
    // A signed reply carries no cookie: the signature covers what the answer holds.
    let opt = opt_for(edns, transport, None);
    let error = |code: u8| error_reply((id, flags), Some(question.raw), opt, (code, 0));
    let record = match crate::dns::message::parse(msg).map(|m| m.tsig) {
        Ok(Some(record)) => record,
        _ => return Some((error(rcode::FORMERR), None)),
    };
    let Some(key) = key_named(&record.key_name)
        .filter(|k| tsig::Algorithm::from_wire_name(&record.algorithm) == Some(k.algorithm))
    else {
        let mut reply = error(rcode::NOTAUTH);
        tsig::append_unsigned_error(&mut reply, &record, tsig::BADKEY);
        return Some((reply, None));
    };
    match tsig::verify_request(&key, msg, &record) {
        Ok(request_mac) => {
            let reserve = tsig::response_len(&key);
            let (mut reply, zone) = answer_question(
                id, flags, &question, edns, opt, snapshot, transport, reserve,
            );
            tsig::sign_response(&key, &request_mac, &mut reply, 0);
            Some((reply, zone))
        }
        Err(e) => {
            let mut reply = error(rcode::NOTAUTH);
            tsig::append_error(&mut reply, &key, &record, e.code());
            Some((reply, None))
        }
    }
}

/// The truncated reply (TC set, the question and OPT only) that a client over its rate
/// limit gets instead of `reply` to `parsed`: the same AA bit and RCODE, no records, so that
/// a real client retries over TCP; or, with our `cookie` for it, BADCOOKIE.
pub fn slip_reply(
    parsed: &ParsedQuery<'_>,
    reply: &[u8],
    transport: Transport,
    cookie: Option<ReplyCookie>,
) -> Option<Vec<u8>> {
    let &ParsedQuery::Query {
        id,
        flags,
        question,
        edns,
        ..
    } = parsed
    else {
        return None;
    };
    let opt = opt_for(edns, transport, cookie);
    // A client that sent a cookie is told to come back with ours (RFC 7873 §5.2.3), as
    // BIND does, rather than to retry over TCP.
    if opt.is_some_and(|o| o.cookie.is_some()) {
        let badcookie = (BADCOOKIE_LOWER as u8, BADCOOKIE_UPPER);
        return Some(error_reply((id, flags), Some(question.raw), opt, badcookie));
    }
    let reply_flags = u16::from_be_bytes([*reply.get(2)?, *reply.get(3)?]);
    let mut slip = error_reply(
        (id, flags),
        Some(question.raw),
        opt,
        ((reply_flags & 0x000f) as u8, 0),
    );
    let kept = (reply_flags & crate::dns::codes::flags::AA) | crate::dns::codes::flags::TC;
    let header = slip.get_mut(2..4)?;
    let marked = u16::from_be_bytes([header[0], header[1]]) | kept;
    header.copy_from_slice(&marked.to_be_bytes());
    Some(slip)
}

/// A reply that carries only an RCODE (and its upper bits in OPT, when the query had OPT):
/// the query's ID and copied flags, the question as asked, if any.
fn error_reply(
    (id, query_flags): (u16, u16),
    question: Option<&[u8]>,
    opt: Option<Opt>,
    (rcode, extended_rcode): (u8, u8),
) -> Vec<u8> {
    let header_flags = FLAG_QR | (query_flags & COPIED_QUERY_FLAGS) | rcode as u16;
    let opt = opt.map(|o| Opt {
        extended_rcode,
        ..o
    });
    assemble(id, header_flags, question, [0, 0, 0], &[], opt)
}

/// Our OPT for a reply to a query with `edns` (none without), over `transport`, carrying
/// `cookie`.
fn opt_for(edns: Option<Edns>, transport: Transport, cookie: Option<ReplyCookie>) -> Option<Opt> {
    edns.map(|e| Opt {
        payload: transport.our_payload(),
        extended_rcode: 0,
        dnssec_ok: e.dnssec_ok,
        extended_error: None,
        keepalive: transport.keepalive_for(edns),
        cookie,
    })
}

/// The reply to `question`, ending in `opt`; `reserve` octets are kept free of the client's
/// size for a signature.
#[allow(clippy::too_many_arguments)]
fn answer_question<'s>(
    id: u16,
    query_flags: u16,
    question: &Question<'_>,
    edns: Option<Edns>,
    opt: Option<Opt>,
    snapshot: &'s Snapshot,
    transport: Transport,
    reserve: usize,
) -> (Vec<u8>, Option<&'s Name>) {
    let dnssec_ok = edns.is_some_and(|e| e.dnssec_ok);
    let opt_with = |extended_error| {
        opt.map(|o| Opt {
            extended_error,
            ..o
        })
    };
    let qname = question.lowercase_name();
    let limit = match (transport, edns) {
        (Transport::Tcp { .. }, _) => u16::MAX as usize,
        // The same rule as the XDP program: the client's size (at least 512), capped by ours.
        (Transport::Udp { payload }, Some(e)) => {
            e.udp_size.max(PLAIN_UDP_LIMIT as u16).min(payload) as usize
        }
        (Transport::Udp { .. }, None) => PLAIN_UDP_LIMIT,
    };
    let (body, zone, truncated) = if matches!(question.qtype, rtype::AXFR | rtype::IXFR) {
        // Zone transfers out of secdns are not offered.
        let rcode = if matches!(transport, Transport::Udp { .. }) {
            rcode::FORMERR
        } else {
            rcode::REFUSED
        };
        (encode::Body::empty(rcode), None, false)
    } else {
        let answer = lookup::lookup(snapshot, &qname, question.qtype, dnssec_ok);
        let opt_len = opt_with(answer.extended_error).map_or(0, |opt| opt.wire_len());
        let room = limit.saturating_sub(12 + question.raw.len() + opt_len + reserve);
        let (body, truncated) = encode::encode_within(&qname, &answer, room);
        (body, answer.zone, truncated)
    };
    let base_flags = FLAG_QR | (query_flags & COPIED_QUERY_FLAGS);
    let opt = opt_with(body.extended_error);
    // What did not fit is left out; TC tells the client that what it needs is missing.
    let flags = base_flags | body.flags | if truncated { flags::TC } else { 0 };
    let counts = [body.ancount, body.nscount, body.arcount];
    let reply = assemble(id, flags, Some(question.raw), counts, &body.bytes, opt);
    (reply, zone)
}

/// What our OPT record says (RFC 6891 §6.1.2).
#[derive(Clone, Copy)]
pub(crate) struct Opt {
    pub payload: u16,
    pub extended_rcode: u8,
    pub dnssec_ok: bool,
    pub extended_error: Option<u16>,
    /// The TCP idle timeout in 100 ms units (edns-tcp-keepalive, RFC 7828 §3.1).
    pub keepalive: Option<u16>,
    /// The COOKIE option (RFC 7873), after the others, as the XDP program writes it.
    pub cookie: Option<ReplyCookie>,
}

impl Opt {
    /// Our plain OPT: our payload size, no flags, no options.
    pub fn plain(payload: u16) -> Self {
        Self {
            payload,
            extended_rcode: 0,
            dnssec_ok: false,
            extended_error: None,
            keepalive: None,
            cookie: None,
        }
    }

    /// Its options, each with two bytes of data: (code, data).
    fn options(&self) -> impl Iterator<Item = (u16, u16)> {
        [
            self.extended_error
                .map(|code| (option::EXTENDED_ERROR, code)),
            self.keepalive
                .map(|timeout| (option::TCP_KEEPALIVE, timeout)),
        ]
        .into_iter()
        .flatten()
    }

    /// Its length on the wire (see [`write_opt`]).
    fn wire_len(&self) -> usize {
        let cookie = self.cookie.map_or(0, |_| COOKIE_REPLY_LEN);
        OPT_RR_LEN + 6 * self.options().count() + cookie
    }
}

/// A reply: header, the question as asked (if any), the sections after it, and OPT.
pub(crate) fn assemble(
    id: u16,
    header_flags: u16,
    question: Option<&[u8]>,
    counts: [u16; 3],
    body: &[u8],
    opt: Option<Opt>,
) -> Vec<u8> {
    let question = question.unwrap_or_default();
    let mut reply = Vec::with_capacity(12 + question.len() + body.len() + 17);
    write_header(
        &mut reply,
        id,
        header_flags,
        !question.is_empty() as u16,
        counts,
        opt.is_some(),
    );
    reply.extend_from_slice(question);
    reply.extend_from_slice(body);
    if let Some(o) = opt {
        write_opt(&mut reply, &o);
    }
    reply
}

fn write_header(
    out: &mut Vec<u8>,
    id: u16,
    header_flags: u16,
    qdcount: u16,
    counts: [u16; 3],
    opt: bool,
) {
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&header_flags.to_be_bytes());
    out.extend_from_slice(&qdcount.to_be_bytes());
    out.extend_from_slice(&counts[0].to_be_bytes());
    out.extend_from_slice(&counts[1].to_be_bytes());
    out.extend_from_slice(&(counts[2] + opt as u16).to_be_bytes());
}

/// Our OPT record (RFC 6891 §6.1.2). Without options these are the same eleven bytes the
/// XDP program writes.
fn write_opt(out: &mut Vec<u8>, opt: &Opt) {
    out.push(0);
    out.extend_from_slice(&rtype::OPT.to_be_bytes());
    out.extend_from_slice(&opt.payload.to_be_bytes());
    out.push(opt.extended_rcode);
    out.push(0); // version
    out.push(if opt.dnssec_ok { 0x80 } else { 0 });
    out.push(0);
    let rdlen = (opt.wire_len() - OPT_RR_LEN) as u16;
    out.extend_from_slice(&rdlen.to_be_bytes());
    for (code, value) in opt.options() {
        out.extend_from_slice(&code.to_be_bytes());
        out.extend_from_slice(&2u16.to_be_bytes());
        out.extend_from_slice(&value.to_be_bytes());
    }
    if let Some(cookie) = opt.cookie {
        out.extend_from_slice(&option::COOKIE.to_be_bytes());
        out.extend_from_slice(&(cookie.len() as u16).to_be_bytes());
        out.extend_from_slice(&cookie);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{
        answer::lookup::{Answer, lookup},
        dns::{Name, codes::rcode, rdata},
        zone::zonefile,
    };

    const ZONE: &str = r#"$TTL 3600
@        IN SOA ns1 hostmaster 7 7200 900 1209600 300
         IN NS  ns1
ns1      IN A   192.0.2.53
www      IN A   192.0.2.80
alias    IN CNAME www
loop1    IN CNAME loop2
loop2    IN CNAME loop1
out      IN CNAME www.example.org.
a.b.c    IN A   192.0.2.3
sub      IN NS  ns.sub
ns.sub   IN A   192.0.2.54
big      IN TXT "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
big      IN TXT "1123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
big      IN TXT "2123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
"#;

    fn snapshot() -> Snapshot {
        snapshot_of(ZONE)
    }

    /// example.com. from `text`, alone in a snapshot.
    fn snapshot_of(text: &str) -> Snapshot {
        Snapshot::new([Arc::new(zonefile::zone_of("example.com.", text))])
    }

    /// The reply over UDP to a client with a 1232-octet buffer.
    fn over_udp(query: &[u8], snapshot: &Snapshot) -> Vec<u8> {
        respond(query, snapshot, Transport::Udp { payload: 1232 }).unwrap()
    }

    /// RCODE, AA and the number of answers.
    fn outline(answer: &Answer) -> (u8, bool, usize) {
        (answer.rcode, answer.authoritative, answer.answer.len())
    }

    fn name(s: &str) -> Vec<u8> {
        s.parse::<Name>().unwrap().lowercase_wire().into_vec()
    }

    fn query(qname: &str, qtype: u16, opt: Option<(u16, u8)>) -> Vec<u8> {
        let mut m = vec![
            0xab,
            0xcd,
            0x01,
            0x00,
            0,
            1,
            0,
            0,
            0,
            0,
            0,
            opt.is_some() as u8,
        ];
        m.extend_from_slice(qname.parse::<Name>().unwrap().wire());
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        if let Some((size, version)) = opt {
            m.extend_from_slice(&[0, 0, 41]);
            m.extend_from_slice(&size.to_be_bytes());
            m.extend_from_slice(&[0, version, 0, 0, 0, 0]);
        }
        m
    }

    #[test]
    fn lookup_outcomes() {
        let s = snapshot();
        let ask = |qname: &str, qtype| lookup(&s, &name(qname), qtype, false);
        let a = ask("www.example.com", rtype::A);
        assert_eq!(outline(&a), (rcode::NOERROR, true, 1));

        let nodata = ask("www.example.com", rtype::MX);
        assert_eq!(
            (nodata.rcode, nodata.answer.len(), nodata.authority.len()),
            (rcode::NOERROR, 0, 1)
        );
        assert_eq!(
            nodata.authority[0].ttl, 300,
            "negative TTL is min(SOA TTL, MINIMUM)"
        );

        let nx = ask("nope.example.com", rtype::A);
        assert_eq!(
            (nx.rcode, nx.authority[0].rtype),
            (rcode::NXDOMAIN, rtype::SOA)
        );

        let ent = ask("b.c.example.com", rtype::A);
        let empty = (rcode::NOERROR, true, 0);
        assert_eq!(outline(&ent), empty, "empty non-terminal is NODATA");

        let chain = ask("alias.example.com", rtype::A);
        let types: Vec<u16> = chain.answer.iter().map(|r| r.rtype).collect();
        assert_eq!(types, [rtype::CNAME, rtype::A]);

        let looped = ask("loop1.example.com", rtype::A);
        assert_eq!(looped.answer.len(), 2, "a CNAME loop stops after one round");

        let out = ask("out.example.com", rtype::A);
        let left = (rcode::NOERROR, true, 1);
        assert_eq!(outline(&out), left, "chain leaving the zone");

        let referral = ask("x.sub.example.com", rtype::A);
        assert!(!referral.authoritative);
        assert_eq!(referral.authority[0].rtype, rtype::NS);
        assert_eq!(referral.additional.len(), 1, "glue");

        let refused = ask("example.org", rtype::A);
        assert_eq!(refused.rcode, rcode::REFUSED);
        assert!(!refused.authoritative);
    }

    #[test]
    fn the_most_specific_zone_answers() {
        let parent = zonefile::zone_of(
            "example.com.",
            "@ 300 IN SOA ns hm 1 2 3 4 5\nsub 300 IN NS ns.sub\nns.sub 300 IN A 192.0.2.9\n",
        );
        let child = zonefile::zone_of(
            "sub.example.com.",
            "@ 300 IN SOA ns hm 7 2 3 4 5\n@ 300 IN NS ns\nwww 300 IN A 192.0.2.10\n",
        );
        let s = Snapshot::new([Arc::new(parent), Arc::new(child)]);
        let www = lookup(&s, &name("www.sub.example.com"), rtype::A, false);
        assert_eq!(outline(&www), (rcode::NOERROR, true, 1));
        let ns = lookup(&s, &name("sub.example.com"), rtype::NS, false);
        assert!(
            ns.authoritative,
            "the child's apex NS, not the parent's referral"
        );
        let soa = lookup(&s, &name("nope.sub.example.com"), rtype::A, false);
        assert_eq!(rdata::soa_serial(&soa.authority[0].rdata), Some(7));
    }

    #[test]
    fn chains_into_cuts_and_wildcards_that_are_only_empty_non_terminals() {
        let text = format!("{ZONE}to-sub IN CNAME host.sub\na.*.went IN A 192.0.2.7\n");
        let s = snapshot_of(&text);
        // RFC 1034 §4.3.2 step 3b after the CNAME: the referral follows, the CNAME is ours.
        let chain = lookup(&s, &name("to-sub.example.com"), rtype::A, false);
        assert!(chain.authoritative);
        assert_eq!(chain.answer.len(), 1);
        assert_eq!(chain.authority[0].rtype, rtype::NS);
        assert_eq!(chain.additional.len(), 1, "glue");
        // RFC 4592 §2.2.2: `*.went` exists, with no data: NODATA, not NXDOMAIN.
        let empty = lookup(&s, &name("x.went.example.com"), rtype::A, false);
        assert_eq!((empty.rcode, empty.answer.len()), (rcode::NOERROR, 0));
        assert_eq!(empty.authority[0].rtype, rtype::SOA);
    }

    #[test]
    fn ds_at_a_served_child_comes_from_the_parent() {
        let parent = zonefile::zone_of("example.com.", ZONE);
        let child = zonefile::zone_of(
            "sub.example.com.",
            "@ 300 IN SOA ns hm 9 2 3 4 5\n@ 300 IN NS ns\nns 300 IN A 192.0.2.10\n",
        );
        let s = Snapshot::new([Arc::new(parent), Arc::new(child)]);
        let ds = lookup(&s, &name("sub.example.com"), rtype::DS, false);
        // RFC 4035 §3.1.4.1: NODATA from the parent, with the parent's SOA.
        assert_eq!((ds.rcode, ds.authoritative), (rcode::NOERROR, true));
        assert_eq!(rdata::soa_serial(&ds.authority[0].rdata), Some(7));
        assert_eq!(ds.zone.map(|z| z.to_string()), Some("example.com.".into()));
        let ns = lookup(&s, &name("sub.example.com"), rtype::NS, false);
        assert_eq!(
            ns.zone.map(|z| z.to_string()),
            Some("sub.example.com.".into())
        );
    }

    #[test]
    fn a_large_rrset_that_does_not_fit_truncates_after_what_does() {
        // As Knot fills a reply: the CNAME that fits stays, the large RRset it leads to is
        // left out (not even encoded: it cannot fit), and TC says so.
        let mut text = format!("{ZONE}bigalias IN CNAME many\n");
        for i in 0..40 {
            text.push_str(&format!("many IN TXT \"{i:0>100}\"\n"));
        }
        let s = snapshot_of(&text);
        let reply = over_udp(&query("bigalias.example.com.", rtype::TXT, None), &s);
        assert!(reply.len() <= 512);
        assert_ne!(reply[2] & 0x02, 0, "TC");
        assert_eq!(&reply[6..8], &[0, 1], "the CNAME, alone");
    }

    #[test]
    fn additional_records_that_do_not_fit_are_left_out_without_tc() {
        let mut text = format!("{ZONE}mx IN MX 10 m1\nmx IN MX 20 m2\n");
        for i in 0..40 {
            text.push_str(&format!("m1 IN A 192.0.2.{i}\n"));
        }
        text.push_str("m2 IN A 192.0.2.200\n");
        let s = snapshot_of(&text);
        let reply = over_udp(&query("mx.example.com.", rtype::MX, None), &s);
        assert!(reply.len() <= 512);
        assert_eq!(reply[2] & 0x02, 0, "no TC: the answer is whole");
        assert_eq!(&reply[6..8], &[0, 2], "both MX");
        // m1's 40 addresses do not fit and are left out; m2's one does and is there.
        assert_eq!(&reply[10..12], &[0, 1]);
    }

    #[test]
    fn a_negative_answers_soa_left_out_leaves_no_pointer_behind() {
        // SOA names so long that the SOA does not fit in 512 octets; the NSEC that covers the
        // question is owned by the SOA's MNAME, which must then be written out, not pointed
        // at where the SOA was taken back.
        let long = |c: char| {
            format!(
                "{}.{}.{}.{}",
                c.to_string().repeat(63),
                c.to_string().repeat(63),
                c.to_string().repeat(63),
                c.to_string().repeat(40)
            )
        };
        let (mname, rname) = (long('a'), long('h'));
        let text = format!(
            "@ 300 IN SOA {mname} {rname} 1 2 3 4 5\n\
             @ 300 IN NS {mname}\n\
             @ 300 IN NSEC {mname} SOA NS NSEC RRSIG\n\
             @ 300 IN RRSIG SOA 13 2 300 20300101000000 20200101000000 1 example.com. AAAA\n\
             {mname} 300 IN NSEC www A NSEC\n\
             www 300 IN A 192.0.2.1\n\
             www 300 IN NSEC @ A NSEC\n"
        );
        let s = snapshot_of(&text);
        let mut q = query("e.example.com.", rtype::A, Some((512, 0)));
        let do_byte = q.len() - 4;
        q[do_byte] = 0x80; // DO
        let reply = over_udp(&q, &s);
        assert!(reply.len() <= 512);
        let parsed = crate::dns::message::parse(&reply).unwrap();
        assert_eq!(parsed.rcode(), rcode::NXDOMAIN);
        assert!(
            !parsed.authority.iter().any(|r| r.rtype == rtype::SOA),
            "the SOA did not fit"
        );
        let nsec = parsed
            .authority
            .iter()
            .find(|r| r.rtype == rtype::NSEC)
            .expect("the NSEC covering the name");
        assert_eq!(nsec.owner.to_string(), format!("{mname}.example.com."));
    }

    #[test]
    fn ds_at_a_top_level_zone_comes_from_the_root_when_both_are_served() {
        let root = Name::root();
        let com: Name = "com.".parse().unwrap();
        let (root, _) = zonefile::parse(
            "@ 300 IN SOA a.root hm 11 2 3 4 5\n@ 300 IN NS a.root\na.root 300 IN A 192.0.2.1\n\
             com 300 IN NS a.gtld\ncom 300 IN DS 1 13 2 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
            &root,
            "root",
        )
        .unwrap();
        let (com, _) = zonefile::parse(
            "@ 300 IN SOA a.gtld hm 22 2 3 4 5\n@ 300 IN NS a.gtld\na.gtld 300 IN A 192.0.2.2\n",
            &com,
            "com",
        )
        .unwrap();
        let s = Snapshot::new([Arc::new(root), Arc::new(com)]);
        let ds = lookup(&s, &name("com"), rtype::DS, false);
        assert_eq!((ds.rcode, ds.answer.len()), (rcode::NOERROR, 1));
        assert_eq!(ds.answer[0].rtype, rtype::DS);
        assert_eq!(ds.zone.map(|z| z.to_string()), Some(".".into()));
    }

    #[test]
    fn owner_names_point_at_the_question() {
        let s = snapshot();
        let reply = over_udp(&query("WWW.example.com.", rtype::A, None), &s);
        let question_end = 12 + 17 + 4;
        assert_eq!(&reply[12..12 + 17], b"\x03WWW\x07example\x03com\x00");
        assert_eq!(&reply[question_end..question_end + 2], &[0xc0, 0x0c]);
    }

    #[test]
    fn truncation_follows_the_size_the_client_allows() {
        let s = snapshot();
        let plain = over_udp(&query("big.example.com.", rtype::TXT, None), &s);
        assert!(plain.len() <= 512);
        assert_ne!(plain[2] & 0x02, 0, "TC set");
        assert_eq!(&plain[6..8], &[0, 0], "no answers in a truncated reply");
        let edns = over_udp(&query("big.example.com.", rtype::TXT, Some((4096, 0))), &s);
        assert_eq!(edns[2] & 0x02, 0);
        assert_eq!(&edns[6..8], &[0, 3]);
        let tcp = respond(
            &query("big.example.com.", rtype::TXT, None),
            &s,
            Transport::Tcp {
                payload: 1232,
                keepalive: None,
            },
        )
        .unwrap();
        assert_eq!(tcp[2] & 0x02, 0, "TCP is never truncated");
    }

    #[test]
    fn error_replies() {
        let s = snapshot();
        let udp = Transport::Udp { payload: 1232 };
        let badvers = over_udp(&query("www.example.com.", rtype::A, Some((1232, 1))), &s);
        assert_eq!(badvers[3] & 0x0f, 0);
        let opt = &badvers[badvers.len() - 11..];
        assert_eq!((opt[2], opt[5]), (41, 1), "BADVERS in the extended RCODE");
        let axfr = over_udp(&query("example.com.", rtype::AXFR, None), &s);
        assert_eq!(axfr[3] & 0x0f, rcode::FORMERR);
        let mut notify = query("example.com.", rtype::SOA, None);
        notify[2] = 0x20;
        assert_eq!(over_udp(&notify, &s)[3] & 0x0f, rcode::NOTIMP);
        assert!(respond(&[0u8; 5], &s, udp).is_none());
    }
}
