//! Zones as comparable sets of records: any zone-file text (dig's AXFR output, `secdns zone
//! records`) is read with secdns's own parser and written back one record a line.

use secdns::{
    dns::Name,
    zone::{render::record_line, zonefile},
};

pub fn normalise(apex: &str, text: &str) -> anyhow::Result<Vec<String>> {
    let apex: Name = apex.parse().map_err(anyhow::Error::msg)?;
    let (zone, _) =
        zonefile::parse(text, &apex, "records").map_err(|e| anyhow::anyhow!("{e}\n{text}"))?;
    let mut lines: Vec<String> = zone
        .records()
        .map(|(o, t, ttl, d)| record_line(o, t, ttl, d))
        .collect();
    lines.sort();
    Ok(lines)
}

/// The address of host `i` in [`hosts_zone`] (and [`host_records_zone`]).
pub fn host_address(i: usize) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::new(10, (i >> 16) as u8, (i >> 8) as u8, i as u8)
}

/// How many hosts [`host_records_zone`] writes for about `records` records.
pub fn host_records_hosts(records: usize) -> usize {
    records * 10 / 13
}

/// A zone of `hosts` A records (`host0` .. ), for tests and benchmarks that need bulk.
pub fn hosts_zone(apex: &str, serial: u32, hosts: usize) -> String {
    let mut text = format!(
        "$ORIGIN {apex}\n$TTL 300\n@ IN SOA ns hostmaster {serial} 3600 600 86400 300\n  IN NS ns\nns IN A 192.0.2.1\n"
    );
    for i in 0..hosts {
        text.push_str(&format!(
            "host{i} IN A 10.{}.{}.{}\n",
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255
        ));
    }
    text
}

/// A zone of host records as an edge host holds them: an A record on every name (`host0` ..,
/// as [`hosts_zone`] writes them), an AAAA on every fifth and a TXT on every tenth, about
/// `records` records in all. Returns the text and the exact record count.
pub fn host_records_zone(apex: &str, serial: u32, records: usize) -> (String, usize) {
    let hosts = host_records_hosts(records);
    let mut text = hosts_zone(apex, serial, hosts);
    let mut count = 3 + hosts;
    for i in 0..hosts {
        if i % 5 == 0 {
            text.push_str(&format!(
                "host{i} IN AAAA 2001:db8::{:x}:{:x}\n",
                i >> 16,
                i & 0xffff
            ));
            count += 1;
        }
        if i % 10 == 0 {
            text.push_str(&format!("host{i} IN TXT \"asset {i}\"\n"));
            count += 1;
        }
    }
    (text, count)
}
