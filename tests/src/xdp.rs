//! The XDP program loaded for BPF_PROG_TEST_RUN, with a zone's answers published into it.

use std::sync::Arc;

use secdns_common::ANSWER_MAP_MAX_ENTRIES;

use secdns::{
    dns::Name,
    snapshot::Snapshot,
    xdp::{compile::compile, loader::XdpEngine},
    zone::zonefile,
};

/// The EDNS payload size the tests give the program, as the server's default.
pub const OUR_PAYLOAD: u16 = 1232;

/// A snapshot serving `zone_text` as `apex`.
pub fn snapshot_of(apex: &str, zone_text: &str) -> anyhow::Result<Snapshot> {
    let apex: Name = apex.parse().map_err(anyhow::Error::msg)?;
    let (zone, _) = zonefile::parse(zone_text, &apex, apex.to_string().as_str())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Snapshot::new([Arc::new(zone)]))
}

/// The program loaded, listening on port 53, answering from `snapshot`.
pub fn loaded_with(snapshot: &Snapshot) -> anyhow::Result<XdpEngine> {
    let mut engine = XdpEngine::load()?;
    engine.set_listener(53, OUR_PAYLOAD)?;
    engine.publish(&compile(snapshot, ANSWER_MAP_MAX_ENTRIES as usize).entries)?;
    Ok(engine)
}
