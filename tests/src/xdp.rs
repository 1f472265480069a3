//! The XDP program loaded for BPF_PROG_TEST_RUN, with a zone's answers published into it.

use std::sync::Arc;

use secdns_common::ANSWER_MAP_MAX_ENTRIES;

use anyhow::{bail, ensure};
use secdns::{
    answer::{Transport, respond},
    dns::Name,
    snapshot::Snapshot,
    xdp::{compile::compile, loader::XdpEngine},
    zone::zonefile,
};

use crate::frame::UdpFrame;

/// The EDNS payload size the tests give the program, as the server's default.
pub const OUR_PAYLOAD: u16 = 1232;

/// A snapshot serving `zone_text` as `apex`.
pub fn snapshot_of(apex: &str, zone_text: &str) -> anyhow::Result<Snapshot> {
    snapshot_of_zones(&[(apex, zone_text.to_string())])
}

/// A snapshot serving each (apex, zone text).
pub fn snapshot_of_zones(zones: &[(&str, String)]) -> anyhow::Result<Snapshot> {
    let mut parsed = Vec::new();
    for (apex, zone_text) in zones {
        let apex: Name = apex.parse().map_err(anyhow::Error::msg)?;
        let (zone, _) = zonefile::parse(zone_text, &apex, apex.to_string().as_str())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        parsed.push(Arc::new(zone));
    }
    Ok(Snapshot::new(parsed))
}

/// The program loaded, listening on port 53, answering from `snapshot`.
pub fn loaded_with(snapshot: &Snapshot) -> anyhow::Result<XdpEngine> {
    let mut engine = XdpEngine::load()?;
    engine.set_listener(53, OUR_PAYLOAD)?;
    let compiled = compile(snapshot, ANSWER_MAP_MAX_ENTRIES as usize);
    engine.publish(compiled.entries, &compiled.serials)?;
    Ok(engine)
}

/// As [`loaded_with`], limiting responses as `rrl` says (the limiter shares the program's
/// buckets, and knows each zone's slot, as the server's does).
pub fn loaded_with_rate_limit(
    snapshot: &Snapshot,
    rrl: secdns::rate_limit::RrlConfig,
) -> anyhow::Result<(XdpEngine, Arc<secdns::rate_limit::RateLimiter>)> {
    let table = rrl.table_size;
    let limiter = Arc::new(secdns::rate_limit::RateLimiter::new(
        rrl,
        secdns::xdp::layout::hasher().key,
    ));
    let mut engine = XdpEngine::load_for(0, table)?;
    engine.set_listener(53, OUR_PAYLOAD)?;
    engine.set_rate_limiter(limiter.clone())?;
    let compiled = compile(snapshot, ANSWER_MAP_MAX_ENTRIES as usize);
    engine.publish(compiled.entries, &compiled.serials)?;
    let slots = secdns::xdp::compile::zone_slots(snapshot, &Default::default());
    limiter.set_zone_slots(
        snapshot
            .zones()
            .filter_map(|z| Some((z.apex().clone(), *slots.get(&z.apex().lowercase_wire())?)))
            .collect(),
    );
    Ok((engine, limiter))
}

/// As [`loaded_with_rate_limit`], answering cookies with `cookies`' secrets.
pub fn loaded_with_cookies(
    snapshot: &Snapshot,
    rrl: secdns::rate_limit::RrlConfig,
    cookies: Arc<secdns::cookies::Cookies>,
) -> anyhow::Result<(XdpEngine, Arc<secdns::rate_limit::RateLimiter>)> {
    let (mut engine, limiter) = loaded_with_rate_limit(snapshot, rrl)?;
    engine.set_cookies(cookies)?;
    Ok((engine, limiter))
}

const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;

/// What the program did with a frame, checked.
pub enum Outcome {
    /// Passed, the frame unchanged.
    Passed,
    /// Sent back: the reply frame.
    Answered(UdpFrame),
}

/// Runs `frame` through the program. A passed frame must come back unchanged; a reply must
/// parse (lengths and checksums, checked independently of the program) and carry exactly
/// what userspace answers from `snapshot` to the frame's DNS payload. Anything else is an
/// error saying what went wrong.
pub fn run_checked(
    engine: &XdpEngine,
    snapshot: &Snapshot,
    frame: &[u8],
) -> anyhow::Result<Outcome> {
    let (action, out) = engine.test_run(frame)?;
    match action {
        XDP_PASS => {
            ensure!(out == frame, "passed, but the frame was changed");
            Ok(Outcome::Passed)
        }
        XDP_TX => {
            let reply = UdpFrame::parse(&out).map_err(|e| e.context("bad reply frame"))?;
            let Some(query) = payload_of(frame) else {
                bail!("answered a frame without a DNS payload")
            };
            let userspace = respond(
                query,
                snapshot,
                Transport::Udp {
                    payload: OUR_PAYLOAD,
                },
            );
            ensure!(
                userspace.as_deref() == Some(&reply.payload[..]),
                "XDP and userspace differ for {query:02x?}"
            );
            Ok(Outcome::Answered(reply))
        }
        other => bail!("action {other}"),
    }
}

/// The DNS payload of a frame the program may answer (IPv4 without options, IPv6 without
/// extension headers, behind at most one VLAN tag), by its UDP length.
fn payload_of(frame: &[u8]) -> Option<&[u8]> {
    let be16 = |at: usize| Some(u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]));
    let (ethertype, l3) = match be16(12)? {
        0x8100 => (be16(16)?, 18),
        ethertype => (ethertype, 14),
    };
    let udp = match ethertype {
        0x0800 => l3 + 20,
        0x86dd => l3 + 40,
        _ => return None,
    };
    let udp_len = be16(udp + 4)? as usize;
    frame.get(udp + 8..udp + udp_len.max(8))
}
