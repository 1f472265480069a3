//! NOTIFY (RFC 1996) from primaries: accepted only from a peer of the zone, and with that
//! peer's TSIG key when it has one; anything else is refused and logged. An accepted NOTIFY
//! asks the zone for a check soon; a burst of them leads to one check.

use std::net::IpAddr;

use super::Secondaries;
use crate::{
    answer::{Opt, assemble},
    dns::{
        codes::{flags, opcode, rcode, rtype},
        message,
        name::uncompressed_len,
        tsig::{self, Key},
        wire::HEADER_LEN,
    },
};

/// The reply: header and echoed question; `code` is the RCODE, `opt` our EDNS payload size
/// when the NOTIFY had an OPT record (RFC 6891 §7). Not authoritative data: no AA, as Knot.
fn reply(raw: &[u8], code: u8, opt: Option<u16>) -> Vec<u8> {
    let question = raw
        .get(HEADER_LEN..)
        .and_then(|rest| uncompressed_len(rest).ok().map(|len| (rest, len + 4)))
        .and_then(|(rest, len)| rest.get(..len));
    let id = raw
        .get(0..2)
        .map_or(0, |id| u16::from_be_bytes([id[0], id[1]]));
    let header_flags = flags::QR | ((opcode::NOTIFY as u16) << 11) | code as u16;
    assemble(
        id,
        header_flags,
        question,
        [0, 0, 0],
        &[],
        opt.map(Opt::plain),
    )
}

fn signed(mut out: Vec<u8>, key: &Key, request_mac: &[u8], error: u16) -> Vec<u8> {
    tsig::sign_response(key, request_mac, &mut out, error);
    out
}

/// The reply to a NOTIFY message from `source`; `None` for messages not to be answered.
/// `payload` is our EDNS UDP size, for the OPT of a reply to a NOTIFY that had one.
pub fn handle(
    secondaries: &Secondaries,
    raw: &[u8],
    source: IpAddr,
    payload: u16,
) -> Option<Vec<u8>> {
    let msg = match message::parse(raw) {
        Ok(msg) if msg.is_response() => return None,
        Ok(msg) => msg,
        Err(e) => {
            // Nothing in it is acted on; the reply says why, without OPT (as Knot).
            tracing::info!(%source, "malformed NOTIFY ignored: {e}");
            return (raw.len() >= HEADER_LEN && raw[2] & 0x80 == 0)
                .then(|| reply(raw, rcode::FORMERR, None));
        }
    };
    let opt = msg
        .additional
        .iter()
        .any(|r| r.rtype == rtype::OPT)
        .then_some(payload);
    let answer = |code| reply(raw, code, opt);
    let Some((zone_name, qtype, _)) = &msg.question else {
        return Some(answer(rcode::FORMERR));
    };
    let Some(zone) = secondaries.zone(zone_name) else {
        tracing::info!(%source, zone = %zone_name, "NOTIFY for a zone that is not a secondary zone here");
        return Some(answer(rcode::NOTAUTH));
    };
    let settings = zone.settings();
    let from_peers: Vec<_> = settings
        .primaries
        .iter()
        .filter(|p| p.addr.ip() == source)
        .collect();
    if from_peers.is_empty() {
        tracing::warn!(%source, zone = %zone_name, "NOTIFY refused: not from a peer of the zone");
        return Some(answer(rcode::REFUSED));
    }
    let accepted_with = match &msg.tsig {
        Some(record) => {
            let Some(key) = from_peers
                .iter()
                .filter_map(|p| p.key.as_deref())
                .find(|k| k.name == record.key_name)
            else {
                tracing::warn!(%source, zone = %zone_name, key = %record.key_name, "NOTIFY refused: BADKEY");
                // RFC 8945 §5.2.1: unknown key, an unsigned reply.
                let mut out = answer(rcode::NOTAUTH);
                tsig::append_unsigned_error(&mut out, record, tsig::BADKEY);
                return Some(out);
            };
            match tsig::verify_request(key, raw, record) {
                Ok(mac) => Some((key, mac)),
                Err(e) => {
                    tracing::warn!(%source, zone = %zone_name, "NOTIFY refused: {e}");
                    let mut out = answer(rcode::NOTAUTH);
                    tsig::append_error(&mut out, key, record, e.code());
                    return Some(out);
                }
            }
        }
        None if from_peers.iter().all(|p| p.key.is_some()) => {
            tracing::warn!(%source, zone = %zone_name, "NOTIFY refused: not signed with the peer's TSIG key");
            return Some(answer(rcode::REFUSED));
        }
        None => None,
    };
    // RFC 1996 §3.7: a NOTIFY is about the zone's SOA; one about anything else is malformed.
    let out = if *qtype != rtype::SOA {
        tracing::info!(%source, zone = %zone_name, qtype, "NOTIFY for a type other than SOA ignored");
        answer(rcode::FORMERR)
    } else {
        tracing::info!(%source, zone = %zone_name, "NOTIFY accepted; checking the zone");
        zone.refresh_soon();
        answer(rcode::NOERROR)
    };
    Some(match accepted_with {
        Some((key, mac)) => signed(out, key, &mac, 0),
        None => out,
    })
}
