//! Writing a zone out in zone-file format (RFC 1035 §5) for `secdns zone records` and the
//! API's record listing (which also gives each record's data in wire form, exact where this
//! text cannot be). Saved copies are not text: see [`super::wire_file`].

use std::fmt::Write as _;

use domain::dep::octseq::Parser;
use domain::{
    base::{
        iana::Rtype,
        rdata::ParseRecordData,
        zonefile_fmt::{DisplayKind, ZonefileFmt},
    },
    rdata::ZoneRecordData,
};

use super::Zone;
use crate::dns::{Dname, codes::rtype};

/// One record as a zone-file line (without the line break).
pub fn record_line(owner: &Dname, rr_type: u16, ttl: u32, rdata: &[u8]) -> String {
    let mut line = format!("{owner} {ttl} IN {} ", Rtype::from_int(rr_type));
    write_data(&mut line, rr_type, rdata);
    line
}

/// Record data in zone-file presentation form.
pub fn record_data(rr_type: u16, rdata: &[u8]) -> String {
    let mut text = String::new();
    write_data(&mut text, rr_type, rdata);
    text
}

fn write_data(line: &mut String, rr_type: u16, rdata: &[u8]) {
    let mut parser = Parser::from_ref(rdata);
    let parsed = ZoneRecordData::<&[u8], domain::base::ParsedName<&[u8]>>::parse_rdata(
        Rtype::from_int(rr_type),
        &mut parser,
    );
    match parsed {
        Ok(Some(data)) if parser.remaining() == 0 => {
            let _ = write!(line, "{}", data.display_zonefile(DisplayKind::Simple));
        }
        // Anything domain cannot show (or shows for another length) goes out in the generic
        // form of RFC 3597 §5, which every zone-file reader accepts.
        _ => {
            let _ = write!(line, "\\# {}", rdata.len());
            if !rdata.is_empty() {
                line.push(' ');
                for b in rdata {
                    let _ = write!(line, "{b:02x}");
                }
            }
        }
    }
}

/// Every record of the zone, SOA first, then owners in canonical order.
pub fn sorted_records(zone: &Zone) -> Vec<(&Dname, u16, u32, &[u8])> {
    let mut records: Vec<(&Dname, u16, u32, &[u8])> = zone.records().collect();
    let apex = zone.apex();
    records.sort_by_cached_key(|&(owner, rr_type, _, rdata)| {
        let soa_first = !(rr_type == rtype::SOA && owner == apex);
        (soa_first, owner.canonical_key(), rr_type, rdata)
    });
    records
}

/// The whole zone, SOA first, then owners in a stable order.
pub fn zone_text(zone: &Zone) -> String {
    let records = sorted_records(zone);
    let mut text = String::with_capacity(records.len() * 48);
    for (owner, rr_type, ttl, rdata) in records {
        text.push_str(&record_line(owner, rr_type, ttl, rdata));
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{dns::Name, zone::zonefile};

    #[test]
    fn written_zones_read_back_identically() {
        let apex: Name = "example.com.".parse().unwrap();
        let source = r#"$TTL 300
@ IN SOA ns1 hostmaster 7 7200 900 1209600 300
  IN NS ns1
  IN MX 10 mail
  IN TXT "quoted \"text\"; with semicolon" "two"
  IN CAA 0 issue "letsencrypt.org"
ns1 IN A 192.0.2.1
ns1 IN AAAA 2001:db8::1
_sip._udp IN SRV 0 5 5060 ns1
raw IN TYPE65280 \# 3 010203
empty IN TYPE65281 \# 0
weird\.label IN A 192.0.2.9
sig IN RRSIG A 13 3 300 20300101000000 20200101000000 12345 example.com. dGVzdHNpZ25hdHVyZQ==
sig IN NSEC next.example.com. A RRSIG NSEC
key IN DNSKEY 257 3 13 dGVzdGtleWRhdGE=
ds IN DS 12345 13 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
n3 IN NSEC3 1 1 10 aabbccdd 2vptu5timamqttgl4luu9kg21e0aor3s A RRSIG
n3p IN NSEC3PARAM 1 0 10 aabbccdd
"#;
        let (zone, _) = zonefile::parse(source, &apex, "source").unwrap();
        let text = zone_text(&zone);
        let (again, _) =
            zonefile::parse(&text, &apex, "written").unwrap_or_else(|e| panic!("{e}\n{text}"));
        let mut a: Vec<_> = zone
            .records()
            .map(|(o, t, ttl, d)| (o.to_string(), t, ttl, d.to_vec()))
            .collect();
        let mut b: Vec<_> = again
            .records()
            .map(|(o, t, ttl, d)| (o.to_string(), t, ttl, d.to_vec()))
            .collect();
        a.sort();
        b.sort();
        assert_eq!(a, b, "{text}");
        assert!(text.starts_with("example.com. 300 IN SOA"), "{text}");
    }
}
