//! Where the domain names sit inside record data, for the types whose names may be compressed
//! in a message (RFC 1035 types listed in RFC 3597 §4) and for additional-section processing.

use super::{codes::rtype, name::uncompressed_len};

/// Byte ranges `(start, len)` of the compressible names in `rdata` of type `rtype`; empty for
/// types whose record data is copied verbatim. Record data stored by secdns is validated on
/// entry, so a malformed range is reported as no names at all.
pub fn compressible_names(rr_type: u16, rdata: &[u8]) -> Vec<(usize, usize)> {
    let first_at = |start: usize| -> Option<(usize, usize)> {
        let len = uncompressed_len(rdata.get(start..)?).ok()?;
        Some((start, len))
    };
    let names = match rr_type {
        rtype::NS | rtype::CNAME | rtype::PTR => first_at(0).map(|n| vec![n]),
        rtype::MX => first_at(2).map(|n| vec![n]),
        rtype::SOA => first_at(0).and_then(|m| {
            let r = first_at(m.1)?;
            Some(vec![m, r])
        }),
        _ => None,
    };
    names.unwrap_or_default()
}

/// Where the target starts in SRV record data: after priority, weight and port.
pub const SRV_TARGET_AT: usize = 6;

/// The target name of an NS, MX or SRV record: what additional-section processing looks up.
pub fn additional_target(rr_type: u16, rdata: &[u8]) -> Option<&[u8]> {
    let start = match rr_type {
        rtype::NS => 0,
        rtype::MX => 2,
        rtype::SRV => SRV_TARGET_AT,
        _ => return None,
    };
    let tail = rdata.get(start..)?;
    let len = uncompressed_len(tail).ok()?;
    tail.get(..len)
}

/// SOA MINIMUM, the last 32 bits of the record data.
pub fn soa_minimum(rdata: &[u8]) -> Option<u32> {
    let tail = rdata.get(rdata.len().checked_sub(4)?..)?;
    Some(u32::from_be_bytes(tail.try_into().ok()?))
}

/// SOA SERIAL, REFRESH, RETRY, EXPIRE, MINIMUM: the five trailing 32-bit fields.
pub fn soa_timers(rdata: &[u8]) -> Option<[u32; 5]> {
    let start = rdata.len().checked_sub(20)?;
    let mut out = [0u32; 5];
    for (i, value) in out.iter_mut().enumerate() {
        *value = u32::from_be_bytes(
            rdata
                .get(start + 4 * i..start + 4 * i + 4)?
                .try_into()
                .ok()?,
        );
    }
    Some(out)
}

/// SOA SERIAL, the first of the five trailing 32-bit fields.
pub fn soa_serial(rdata: &[u8]) -> Option<u32> {
    let start = soa_serial_at(rdata)?;
    Some(u32::from_be_bytes(
        rdata.get(start..start + 4)?.try_into().ok()?,
    ))
}

/// Where SOA SERIAL starts in `rdata`.
pub fn soa_serial_at(rdata: &[u8]) -> Option<usize> {
    rdata.len().checked_sub(20)
}

/// Lowercases the names in uncompressed data of `rr_type` as knotd does when it reads a zone
/// file or a transfer: for the types whose names RFC 4034 §6.2 puts in canonical form, as
/// Knot keeps that list (NAPTR's replacement is left as written). Data that does not hold a
/// name where one belongs is left alone. Records then compare as bytes, whatever case a
/// primary spelled them in.
pub fn lowercase_names(rr_type: u16, data: &mut [u8]) {
    let (at, names) = match rr_type {
        6 | 14 | 17 => (0, 2),
        2..=9 | 12 | 39 => (0, 1),
        15 | 18 | 21 | 36 => (2, 1),
        33 => (6, 1),
        46 => (18, 1),
        _ => return,
    };
    lowercase_names_at(data, at, names);
}

/// As [`lowercase_names`], for record data received in a transfer: Knot puts the names of
/// SIG, PX, NXT and NAPTR in canonical form too when it reads a message (RFC 4034 §6.2).
pub fn lowercase_received_names(rr_type: u16, data: &mut [u8]) {
    match rr_type {
        24 => lowercase_names_at(data, 18, 1),
        26 => lowercase_names_at(data, 2, 2),
        30 => lowercase_names_at(data, 0, 1),
        // NAPTR: order, preference, then flags, services and regexp as character strings.
        35 => {
            let mut at = 4;
            for _ in 0..3 {
                match data.get(at) {
                    Some(&len) => at += 1 + len as usize,
                    None => return,
                }
            }
            lowercase_names_at(data, at, 1);
        }
        _ => lowercase_names(rr_type, data),
    }
}

/// Lowercases `names` names one after the other from `at` in `data`.
fn lowercase_names_at(data: &mut [u8], mut at: usize, names: usize) {
    for _ in 0..names {
        let Some(rest) = data.get_mut(at..) else {
            return;
        };
        let Ok(len) = crate::dns::name::uncompressed_len(rest) else {
            return;
        };
        // Label length octets are at most 63, so lowercasing them changes nothing.
        if let Some(name) = rest.get_mut(..len) {
            name.make_ascii_lowercase();
        }
        at += len;
    }
}

/// Whether two record data of `rr_type` are the same record when the names a zone keeps in
/// the case written (an NSEC's next owner name, RFC 6840 §5.1) are compared without case
/// (RFC 4343). Other types compare as bytes: their names are lowercased when read.
pub fn same_ignoring_name_case(rr_type: u16, a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    if rr_type != rtype::NSEC {
        return false;
    }
    match (split_name(a), split_name(b)) {
        (Some((name_a, rest_a)), Some((name_b, rest_b))) => {
            crate::dns::name::eq_ignore_case(name_a, name_b) && rest_a == rest_b
        }
        _ => false,
    }
}

/// The name at the start of `data`, and what follows it.
fn split_name(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = uncompressed_len(data).ok()?;
    Some((data.get(..len)?, data.get(len..)?))
}

/// The type an RRSIG covers (RFC 4034 §3.1.1); `None` for other records.
pub fn rrsig_covers(rr_type: u16, rdata: &[u8]) -> Option<u16> {
    match rdata {
        [high, low, ..] if rr_type == rtype::RRSIG => Some(u16::from_be_bytes([*high, *low])),
        _ => None,
    }
}
