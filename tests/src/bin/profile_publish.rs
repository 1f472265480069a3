//! Temporary: the daemon's full publication of a 1M host zone, for perf.
use secdns::xdp::{loader::XdpEngine, packed::Upserts, published::Published};
use secdns_common::ANSWER_MAP_MAX_ENTRIES;
use secdns_tests::{records::host_records_zone, xdp::snapshot_of};
use std::{sync::Arc, time::Instant};

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let (text, _) = host_records_zone("big.example.", 1, n);
    let big = Arc::new(snapshot_of("big.example.", &text)?);
    drop(text);
    let records = big.zones().map(|z| z.record_count()).sum();
    let mut engine = XdpEngine::load()?;
    eprintln!("ready");
    let started = Instant::now();
    let mut begun = None;
    let mut stream = |part: &Upserts| -> bool {
        *begun.get_or_insert_with(|| engine.begin_parts(records)) && engine.stage_part(part)
    };
    let mut published = Published::default();
    let update = published.update(big, ANSWER_MAP_MAX_ENTRIES as usize, Some(&mut stream));
    let compile_ms = started.elapsed().as_millis();
    engine.apply(update.change)?;
    eprintln!(
        "compile+stage {compile_ms} ms, total {} ms",
        started.elapsed().as_millis()
    );
    if std::env::var_os("HOLD").is_some() {
        std::thread::sleep(std::time::Duration::from_secs(20));
    }
    Ok(())
}
