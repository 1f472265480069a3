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
