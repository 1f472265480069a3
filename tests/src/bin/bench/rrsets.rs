//! `cargo xtask bench rrsets`: the userspace CPU per query by RRset size (in process, the
//! answer path the UDP and TCP responders run): an address RRset alone, and an MX RRset whose
//! every target is an in-zone host, so that the additional section grows with it. Time per
//! query must grow in proportion to the RRset, not to its square.

use std::{sync::Arc, time::Instant};

use secdns::{
    answer::{Transport, respond},
    dns::{Name, codes::class},
    snapshot::Snapshot,
    zone::{RecordLimits, ZoneBuilder},
};

use super::report;

const APEX: &str = "big.example.";

fn name(text: &str) -> anyhow::Result<Name> {
    text.parse().map_err(anyhow::Error::msg)
}

fn wire(name: &Name) -> Vec<u8> {
    name.wire().to_vec()
}

/// A zone with `size` addresses at `huge` and `size` MX records at `mail`, each pointing to
/// its own host.
fn snapshot(size: usize) -> anyhow::Result<Snapshot> {
    let apex = name(APEX)?;
    let mut builder = ZoneBuilder::new(apex.clone());
    builder.limits = RecordLimits {
        per_rrset: size + 1,
        per_name: size + 1,
    };
    let mut soa = wire(&name("ns.big.example.")?);
    soa.extend(wire(&name("hostmaster.big.example.")?));
    for value in [1u32, 3600, 600, 86400, 300] {
        soa.extend(value.to_be_bytes());
    }
    builder.add(apex.clone(), 6, class::IN, 300, soa.into())?;
    let huge = name("huge.big.example.")?;
    let mail = name("mail.big.example.")?;
    for i in 0..size {
        let address = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
        builder.add(huge.clone(), 1, class::IN, 300, address.to_vec().into())?;
        let host = name(&format!("h{i}.big.example."))?;
        builder.add(host.clone(), 1, class::IN, 300, address.to_vec().into())?;
        let mut mx = 10u16.to_be_bytes().to_vec();
        mx.extend(wire(&host));
        builder.add(mail.clone(), 15, class::IN, 300, mx.into())?;
    }
    Ok(Snapshot::new([Arc::new(builder.finish()?)]))
}

fn query(qname: &Name, qtype: u16) -> Vec<u8> {
    let mut msg = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    msg.extend(wire(qname));
    msg.extend(qtype.to_be_bytes());
    msg.extend(1u16.to_be_bytes());
    msg
}

/// Microseconds per query, the median of `runs` timed one by one.
fn per_query_us(snapshot: &Snapshot, msg: &[u8], runs: usize) -> anyhow::Result<f64> {
    let transport = Transport::Tcp {
        payload: 1232,
        keepalive: None,
    };
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        anyhow::ensure!(respond(msg, snapshot, transport).is_some(), "no reply");
        times.push(started.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[runs / 2])
}

pub fn run(quick: bool) -> anyhow::Result<()> {
    let sizes: &[usize] = if quick {
        &[10, 1_000, 16_000]
    } else {
        &[10, 1_000, 4_000, 16_000, 32_000, 65_000]
    };
    let mut page = String::from(
        "| records in the RRset | A RRset over TCP, µs/query | µs/record | MX RRset with in-zone targets over TCP, µs/query | µs/record |\n|---|---|---|---|---|\n",
    );
    let mut rows = Vec::new();
    println!(
        "{:<12} {:>14} {:>10} {:>14} {:>10}",
        "records", "A µs/query", "µs/rec", "MX µs/query", "µs/rec"
    );
    for &size in sizes {
        let snapshot = snapshot(size)?;
        let runs = (200_000 / size).clamp(20, 2_000);
        let a = per_query_us(&snapshot, &query(&name("huge.big.example.")?, 1), runs)?;
        let mx = per_query_us(&snapshot, &query(&name("mail.big.example.")?, 15), runs)?;
        let (a_per, mx_per) = (a / size as f64, mx / size as f64);
        println!("{size:<12} {a:>14.1} {a_per:>10.3} {mx:>14.1} {mx_per:>10.3}");
        page.push_str(&format!(
            "| {size} | {a:.1} | {a_per:.3} | {mx:.1} | {mx_per:.3} |\n"
        ));
        rows.push(serde_json::json!({ "records": size, "a_us": a, "mx_us": mx, "runs": runs }));
    }
    page.push_str(
        "\nThe userspace answer path in process (`answer::respond`, TCP transport), median of \
         many queries each. An answer over 64 KiB is not encoded: it is a TC reply after the \
         lookup. Linear means the µs/record columns stay flat as the RRset grows. Knot and NSD \
         are not compared: neither holds an RRset too large for one message.\n",
    );
    report::write(
        "rrsets",
        "secdns's CPU per query by RRset size",
        quick,
        &page,
        serde_json::json!({ "rows": rows }),
        None,
    )
}
