//! `cargo xtask bench transfers`: a zone of a million host records (100,000 with `--quick`)
//! on a Knot primary, taken by secdns (with XDP), knotd and nsd as secondaries, one at a time,
//! each in the same server namespace: the time from starting the secondary until it answers
//! from the zone, and its peak memory; the time from the primary's commit of 100 changed
//! records (NOTIFY, IXFR) until the secondary answers the new data; and the time from a
//! restart until it answers again, from what it saved. Answers are checked from the client
//! namespace, through the veth (so through XDP for secdns). Three passes (one with
//! `--quick`), the servers taken in turn in each, and the median of each figure: a machine of
//! this kind can slow down by half within minutes, and a single pass put it on one server.
//! Each server's last log goes to `target/bench-transfers/`.

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use secdns_tests::{
    TempDir,
    knot::{Knot, KnotOptions},
    netns::{SERVER_V4, TestNet},
    prerequisites::{require_root, require_tools},
    records::{host_address, hosts_zone},
    secdns::{start_xdp_peer, stats},
    servers::{Server, percentile, process_tree_rss, reset_peak_rss, spawn_secondary},
};

use crate::probe::{MemorySampler, Probe, WAIT_LIMIT, wait_for_tcp};
use crate::report::Target;

const APEX: &str = "big.example.";
const PRIMARY_PORT: u16 = 5300;
/// Records changed by the IXFR of each round.
const CHANGED: usize = 100;
const SECONDARIES: [Server; 3] = [Server::SecdnsXdp, Server::Knot, Server::Nsd];
/// Passes over all the secondaries (see the module's comment).
const PASSES: usize = 3;

#[derive(serde::Serialize)]
struct Row {
    server: &'static str,
    records: usize,
    /// From starting the secondary until it answers from the zone.
    axfr_to_serving_ms: f64,
    /// secdns: until its XDP program holds the zone (it answers from userspace before).
    axfr_to_xdp_ms: Option<f64>,
    /// Largest summed PSS of the server's processes, sampled every 100 ms (or 10 times a
    /// sample's time), until serving (secdns: until its XDP maps hold the zone).
    peak_pss_bytes: u64,
    /// The same, outside the BPF maps mapped into the processes (secdns's answer maps).
    /// The PSS outside the BPF maps, and the kernel's count of the maps, at the sample
    /// where the two together were highest.
    peak_pss_outside_maps_bytes: u64,
    peak_maps_bytes: u64,
    /// Largest peak resident set (VmHWM) of any one of its processes.
    peak_rss_bytes: u64,
    /// secdns: kernel memory of the XDP answer maps, as the kernel counts it (their pages
    /// written are mapped into the process too, and in its PSS).
    xdp_map_bytes: Option<u64>,
    /// secdns: entries compiled but left to userspace (the maps' capacity is reached).
    xdp_left_out: Option<u64>,
    /// From the primary's commit of CHANGED records until the secondary answers the new data.
    ixfr_to_serving_ms: f64,
    /// Resident memory before the IXFR, once it stopped falling after the zone was taken
    /// (see [`settled_rss`]).
    steady_rss_bytes: u64,
    /// The largest resident memory from the primary's commit until the change is served
    /// (secdns: held by its XDP maps too).
    ixfr_peak_rss_bytes: u64,
    /// From starting it again until it answers (secdns: its pinned XDP program answers
    /// throughout).
    restart_to_serving_ms: f64,
    /// From starting it again until it answers over TCP: userspace serving again.
    restart_to_tcp_ms: f64,
    restart_to_xdp_ms: Option<f64>,
}

pub fn run(quick: bool) -> anyhow::Result<()> {
    require_root();
    require_tools(&["ip", "dig", "knotd", "knotc", "nsd"]);
    let records = if quick { 100_000 } else { 1_000_000 };
    // secdns's XDP maps allowed to grow to far more than the zone needs (about 131 bytes a
    // record), as an operator would: a zone over the cap is compiled whole at every change.
    let memory_mib = (4 * records as u32 / 1024).next_multiple_of(256).max(2048);
    let dir = TempDir::new("bench-transfers")?;
    // secdns's XDP links pinned where the restart finds them, as on a host.
    let pins = secdns_tests::bpffs::BpfFs::mount(&dir.path().join("bpffs"))?;
    let net = TestNet::new("xfr")?;
    let server_v4: Ipv4Addr = SERVER_V4.parse()?;
    let started = Instant::now();
    let mut options = KnotOptions::new(APEX, &hosts_zone(APEX, 1, records));
    options.listen = server_v4.into();
    options.port = Some(PRIMARY_PORT);
    options.namespace = Some(net.server_ns.clone());
    options.notify = Some(SocketAddr::from((server_v4, 53)));
    let primary = Knot::start(options).context("starting the Knot primary")?;
    println!(
        "Knot primary serving {records} records after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // One change before any secondary: a fresh primary's first commit was the slow one, and
    // it fell on whichever secondary went first (secdns, 230-240 ms against 110-170 since).
    primary.stage(&[&format!("warm-up.{APEX} 300 TXT \"warm-up\"")], &[])?;
    primary.commit()?;
    let probe = Probe::new(&net.client_ns)?;
    // secdns's XDP_TX replies reach the client only with a program on its side too.
    let _peer = start_xdp_peer(&net)?;
    let last_host = format!("host{}.{APEX}", records - 1);
    let last_address = host_address(records - 1);
    let logs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-transfers");
    std::fs::create_dir_all(&logs)?;
    let passes = if quick { 1 } else { PASSES };
    let mut runs = Vec::new();
    for (round, server) in (0..passes).flat_map(|_| SECONDARIES).enumerate() {
        // Fresh each run: a start must not find what the last pass saved.
        let server_dir = dir.path().join(format!("{}-{round}", server.program()));
        std::fs::create_dir_all(&server_dir)?;
        let spawn = || {
            spawn_secondary(
                server,
                &net,
                &server_dir,
                APEX,
                (server_v4, PRIMARY_PORT).into(),
                memory_mib,
                Some(&pins.pin_dir()),
            )
        };
        let what = |step: &str| format!("{} {step}", server.name());

        // The whole zone, from nothing.
        let started = Instant::now();
        let mut running = spawn()?;
        let memory = MemorySampler::start(running.process.pid());
        probe
            .wait_for(&mut running.process, &last_host, last_address, started)
            .with_context(|| what("initial transfer"))?;
        let axfr = started.elapsed();
        let axfr_xdp = wait_xdp(server, &net, started, 0)?;
        // Until the XDP maps are written too: compiling them takes memory.
        let peaks = memory.stop();
        let map = xdp_map(server, &net)?;

        // An IXFR of CHANGED records, announced by NOTIFY.
        let first = round * CHANGED;
        let unset: Vec<String> = (first..first + CHANGED)
            .map(|i| format!("host{i}.{APEX} A {}", host_address(i)))
            .collect();
        let set: Vec<String> = (first..first + CHANGED)
            .map(|i| format!("host{i}.{APEX} 300 A {}", changed_address(round, i)))
            .collect();
        let set: Vec<&str> = set.iter().map(String::as_str).collect();
        let unset: Vec<&str> = unset.iter().map(String::as_str).collect();
        primary.stage(&set, &unset)?;
        let publications = map.as_ref().map_or(0, |m| m.publications);
        let changed_host = format!("host{}.{APEX}", first + CHANGED - 1);
        let changed = changed_address(round, first + CHANGED - 1);
        let steady = settled_rss(running.process.pid())?;
        reset_peak_rss(running.process.pid())?;
        let committed = Instant::now();
        primary.commit()?;
        probe
            .wait_for(&mut running.process, &changed_host, changed, committed)
            .with_context(|| what("IXFR"))?;
        let ixfr = committed.elapsed();
        // The XDP program must hold the change too before the next step.
        wait_xdp(server, &net, committed, publications)?;
        let (_, ixfr_peak) = process_tree_rss(running.process.pid())?;

        // A restart, from what it saved.
        let mut log = running.process.output();
        running.stop().with_context(|| what("stopping"))?;
        let started = Instant::now();
        let mut running = spawn()?;
        probe
            .wait_for(&mut running.process, &changed_host, changed, started)
            .with_context(|| what("restart"))?;
        let restart = started.elapsed();
        wait_for_tcp(&net, &mut running.process, &changed_host, changed, started)
            .with_context(|| what("restart, over TCP"))?;
        let restart_tcp = started.elapsed();
        let restart_xdp = wait_xdp(server, &net, started, 0)?;
        log.push_str(&running.process.output());
        drop(running);
        // Its XDP program stays attached after it ends (for the next start): not for the
        // next server.
        pins.unpin_all();
        // For a closer look at where the time went.
        std::fs::write(logs.join(format!("{}.log", server.program())), log)?;

        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let row = Row {
            server: server.name(),
            records,
            axfr_to_serving_ms: ms(axfr),
            axfr_to_xdp_ms: axfr_xdp.map(ms),
            peak_pss_bytes: peaks.pss,
            peak_pss_outside_maps_bytes: peaks.with_maps_outside,
            peak_maps_bytes: peaks.with_maps_maps,
            peak_rss_bytes: peaks.rss,
            xdp_map_bytes: map.as_ref().map(|m| m.bytes),
            xdp_left_out: map.as_ref().map(|m| m.left_out),
            ixfr_to_serving_ms: ms(ixfr),
            steady_rss_bytes: steady,
            ixfr_peak_rss_bytes: ixfr_peak,
            restart_to_serving_ms: ms(restart),
            restart_to_tcp_ms: ms(restart_tcp),
            restart_to_xdp_ms: restart_xdp.map(ms),
        };
        println!(
            "pass {}, {}: serving after {:.0} ms{}, IXFR {:.0} ms, restart {:.0} ms",
            round / SECONDARIES.len() + 1,
            row.server,
            row.axfr_to_serving_ms,
            row.axfr_to_xdp_ms
                .map_or(String::new(), |ms| format!(" (XDP {ms:.0} ms)")),
            row.ixfr_to_serving_ms,
            row.restart_to_serving_ms
        );
        runs.push(row);
    }
    let rows: Vec<Row> = SECONDARIES
        .iter()
        .filter_map(|server| {
            let of_server: Vec<&Row> = runs.iter().filter(|r| r.server == server.name()).collect();
            median_row(&of_server)
        })
        .collect();
    // Each pass's own ratio, for how far the passes spread.
    let xdp_ratios: Vec<f64> = runs
        .chunks(SECONDARIES.len())
        .filter_map(|pass| {
            let ours = pass.iter().find(|r| r.server == Server::SecdnsXdp.name())?;
            let nsd = pass.iter().find(|r| r.server == Server::Nsd.name())?;
            Some(ours.axfr_to_xdp_ms? / nsd.axfr_to_serving_ms)
        })
        .collect();
    let targets = targets(&rows, records, &xdp_ratios);
    let table = markdown(&rows, &targets, records, memory_mib, passes);
    println!("{table}");
    crate::report::write(
        "transfers",
        "Zone transfers into secdns, knotd and nsd",
        quick,
        &table,
        serde_json::json!({
            "records": records,
            "changed_records": CHANGED,
            "secdns_memory_mib": memory_mib,
            "passes": passes,
            "rows": rows,
            "runs": runs,
            "targets": targets,
        }),
        None,
    )
}

/// The address host `i` gets in the IXFR of `round`.
fn changed_address(round: usize, i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 255, round as u8, (i % 256) as u8)
}

/// secdns: waits until its XDP maps hold the zone (more than `publications` publications, and
/// entries); the time since `since`. `None` for other servers.
fn wait_xdp(
    server: Server,
    net: &TestNet,
    since: Instant,
    publications: u64,
) -> anyhow::Result<Option<Duration>> {
    if server != Server::SecdnsXdp {
        return Ok(None);
    }
    loop {
        // After a restart the kernel may answer before the control API is up.
        let map = match stats(net) {
            Ok(stats) => Some(stats.xdp_map),
            Err(_) if since.elapsed() < WAIT_LIMIT => None,
            Err(e) => return Err(e),
        };
        if let Some(map) = &map
            && map.publications > publications
            && map.entries > CHANGED as u64
        {
            return Ok(Some(since.elapsed()));
        }
        if since.elapsed() > WAIT_LIMIT {
            bail!("secdns's XDP maps did not take the zone within {WAIT_LIMIT:?}: {map:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// secdns: its answer maps' use.
fn xdp_map(server: Server, net: &TestNet) -> anyhow::Result<Option<secdns::stats::MapUsage>> {
    if server != Server::SecdnsXdp {
        return Ok(None);
    }
    Ok(Some(stats(net)?.xdp_map))
}

/// Resident memory of a server's processes once it has stopped falling: read every half
/// second until two readings are within 1 % (memory freed after taking a zone goes back to
/// the system over seconds), for at most 20 s.
fn settled_rss(pid: u32) -> anyhow::Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = process_tree_rss(pid)?.0;
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = process_tree_rss(pid)?.0;
        if now.abs_diff(last) * 100 <= last || Instant::now() > deadline {
            return Ok(now);
        }
        last = now;
    }
}

/// The median of `values` (nearest rank); NaN for none.
fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    percentile(&values, 50).unwrap_or(f64::NAN)
}

/// One server's runs as one row: each time the median of its runs; the memory figures, which
/// belong together, those of the run whose peak (outside the maps plus the maps) is the
/// median.
fn median_row(runs: &[&Row]) -> Option<Row> {
    let time = |get: fn(&Row) -> f64| median(runs.iter().map(|r| get(r)));
    let some_time = |get: fn(&Row) -> Option<f64>| {
        let values: Vec<f64> = runs.iter().filter_map(|r| get(r)).collect();
        (!values.is_empty()).then(|| median(values.into_iter()))
    };
    let memory = |r: &&&Row| r.peak_pss_outside_maps_bytes + r.peak_maps_bytes;
    let mut by_memory: Vec<&&Row> = runs.iter().collect();
    by_memory.sort_by_key(memory);
    let middle = by_memory.get(by_memory.len() / 2)?;
    Some(Row {
        server: middle.server,
        records: middle.records,
        axfr_to_serving_ms: time(|r| r.axfr_to_serving_ms),
        axfr_to_xdp_ms: some_time(|r| r.axfr_to_xdp_ms),
        peak_pss_bytes: middle.peak_pss_bytes,
        peak_pss_outside_maps_bytes: middle.peak_pss_outside_maps_bytes,
        peak_maps_bytes: middle.peak_maps_bytes,
        peak_rss_bytes: middle.peak_rss_bytes,
        xdp_map_bytes: middle.xdp_map_bytes,
        xdp_left_out: middle.xdp_left_out,
        ixfr_to_serving_ms: time(|r| r.ixfr_to_serving_ms),
        steady_rss_bytes: middle.steady_rss_bytes,
        ixfr_peak_rss_bytes: middle.ixfr_peak_rss_bytes,
        restart_to_serving_ms: time(|r| r.restart_to_serving_ms),
        restart_to_tcp_ms: time(|r| r.restart_to_tcp_ms),
        restart_to_xdp_ms: some_time(|r| r.restart_to_xdp_ms),
    })
}

fn targets(rows: &[Row], records: usize, xdp_ratios: &[f64]) -> Vec<Target> {
    let find = |server: Server| rows.iter().find(|r| r.server == server.name());
    let (Some(ours), Some(knot), Some(nsd)) = (
        find(Server::SecdnsXdp),
        find(Server::Knot),
        find(Server::Nsd),
    ) else {
        return Vec::new();
    };
    let peak = |r: &Row| r.peak_pss_bytes.max(r.peak_rss_bytes);
    // The answer maps' pages that secdns wrote are mapped into it, in its PSS: they are
    // taken out of it and the kernel's count of the maps it held then (every page, written
    // or not) added, sample by sample.
    let ours_memory = ours.peak_pss_outside_maps_bytes + ours.peak_maps_bytes;
    let to_xdp = ours.axfr_to_xdp_ms.unwrap_or(f64::INFINITY);
    let growth =
        |r: &Row| (r.ixfr_peak_rss_bytes as f64 / r.steady_rss_bytes.max(1) as f64 - 1.0) * 100.0;
    vec![
        Target {
            target: format!("{records}-record AXFR to serving faster than knotd and nsd"),
            measured: format!(
                "{:.2}x knotd's time, {:.2}x nsd's",
                ours.axfr_to_serving_ms / knot.axfr_to_serving_ms,
                ours.axfr_to_serving_ms / nsd.axfr_to_serving_ms
            ),
            met: Some(
                ours.axfr_to_serving_ms < knot.axfr_to_serving_ms
                    && ours.axfr_to_serving_ms < nsd.axfr_to_serving_ms,
            ),
        },
        Target {
            target: format!(
                "{records}-record AXFR to answered by XDP no slower than nsd's AXFR to serving"
            ),
            measured: format!(
                "{:.2} s, {:.1}x nsd's (each pass: {})",
                to_xdp / 1e3,
                to_xdp / nsd.axfr_to_serving_ms,
                xdp_ratios
                    .iter()
                    .map(|ratio| format!("{ratio:.1}x"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            met: Some(to_xdp <= nsd.axfr_to_serving_ms),
        },
        Target {
            target: "peak memory while taking it (process and answer maps) no more than knotd's"
                .into(),
            measured: format!(
                "{:.2}x knotd's ({} MiB: {} MiB outside the maps, {} MiB of maps at that \
                 moment; knotd {} MiB)",
                ours_memory as f64 / peak(knot).max(1) as f64,
                ours_memory >> 20,
                ours.peak_pss_outside_maps_bytes >> 20,
                ours.peak_maps_bytes >> 20,
                peak(knot) >> 20
            ),
            met: Some(ours_memory <= peak(knot)),
        },
        Target {
            target: format!("IXFR of {CHANGED} changes, commit to serving, no slower than nsd"),
            measured: format!(
                "{:.0} ms, nsd {:.0} ms",
                ours.ixfr_to_serving_ms, nsd.ixfr_to_serving_ms
            ),
            met: Some(ours.ixfr_to_serving_ms <= nsd.ixfr_to_serving_ms),
        },
        Target {
            target: format!(
                "peak memory during the IXFR of {CHANGED} changes within 10 % of the steady state"
            ),
            measured: format!(
                "{} MiB resident at the peak, {} MiB before: {:+.1} % (knotd {:+.1} %, nsd \
                 {:+.1} %)",
                ours.ixfr_peak_rss_bytes >> 20,
                ours.steady_rss_bytes >> 20,
                growth(ours),
                growth(knot),
                growth(nsd)
            ),
            met: Some(ours.ixfr_peak_rss_bytes * 10 <= ours.steady_rss_bytes * 11),
        },
        Target {
            target: "the kernel answers through a restart (first UDP answer after the start)"
                .into(),
            measured: format!("{:.0} ms", ours.restart_to_serving_ms),
            met: Some(ours.restart_to_serving_ms < 100.0),
        },
        Target {
            target: "userspace serving again within 0.3 s of a restart (TCP)".into(),
            measured: format!(
                "{:.2} s (knotd {:.2} s, nsd {:.2} s)",
                ours.restart_to_tcp_ms / 1e3,
                knot.restart_to_tcp_ms / 1e3,
                nsd.restart_to_tcp_ms / 1e3
            ),
            met: Some(ours.restart_to_tcp_ms <= 300.0),
        },
    ]
}

fn markdown(
    rows: &[Row],
    targets: &[Target],
    records: usize,
    memory_mib: u32,
    passes: usize,
) -> String {
    let seconds = |ms: f64| format!("{:.2}", ms / 1e3);
    let mib = |bytes: u64| format!("{:.0}", bytes as f64 / (1 << 20) as f64);
    let xdp = |ms: Option<f64>| ms.map_or(String::new(), |ms| format!(" (XDP {})", seconds(ms)));
    let mut out = format!(
        "| secondary | AXFR of {records} records to serving, s | peak memory MiB: PSS / RSS | \
         IXFR of {CHANGED} changes, commit to serving, ms | restart to serving, s |\n\
         |---|---|---|---|---|\n"
    );
    for row in rows {
        let kernel = row.xdp_map_bytes.map_or(String::new(), |b| {
            format!(
                " (at its highest, {} MiB outside the XDP maps and {} MiB of maps; the maps \
                 at the end {} MiB, {} entries left to userspace)",
                mib(row.peak_pss_outside_maps_bytes),
                mib(row.peak_maps_bytes),
                mib(b),
                row.xdp_left_out.unwrap_or(0)
            )
        });
        out.push_str(&format!(
            "| {} | {}{} | {} / {}{kernel} | {:.0} | {}{} (TCP {}) |\n",
            row.server,
            seconds(row.axfr_to_serving_ms),
            xdp(row.axfr_to_xdp_ms),
            mib(row.peak_pss_bytes),
            mib(row.peak_rss_bytes),
            row.ixfr_to_serving_ms,
            seconds(row.restart_to_serving_ms),
            xdp(row.restart_to_xdp_ms),
            seconds(row.restart_to_tcp_ms),
        ));
    }
    out.push_str(&format!(
        "\nA Knot primary in the server namespace, which commits one change before any \
         secondary starts (its first commit is the slow one); each secondary started fresh in \
         the same namespace with its defaults, answers checked by UDP queries from the client namespace \
         every millisecond (through secdns's XDP program, which passes what it does not hold to \
         userspace; \"XDP\" is when its maps hold the zone). Serving means answering the \
         zone's last host ({records} hosts); after the IXFR, the last changed host's new \
         address. Peak memory: the server's processes' summed PSS sampled every 100 ms (or 10 times a sample's time) until \
         serving (for secdns, until its XDP maps hold the zone), and the largest VmHWM of one \
         process; for secdns, whose XDP answer maps are mapped into it, also the sample where its \
         PSS outside them plus the kernel's count of the maps it held then (every instance's) \
         was highest: what the target compares. Memory during the \
         IXFR: the processes' resident memory (VmRSS, summed) once it stopped falling after the \
         zone was taken (read every half second until two readings are within 1 %), then their \
         peaks (VmHWM, reset just before the primary's commit) until the change is served, \
         by XDP too for secdns. Restart: SIGTERM, then started again with the \
         primary up at the same serial; secdns's XDP links are pinned in a bpffs the restart \
         finds (as /sys/fs/bpf on a host), so its kernel answers throughout, and \"XDP\" is \
         when the new process's own maps hold the zone; \"TCP\" is when a TCP query (which \
         only userspace answers) is answered, asked with dig every few milliseconds. secdns's XDP maps are given {memory_mib} MiB \
         (`memory_mib`), enough to hold the zone. Each figure is the median of {passes} \
         passes, the three servers taken in turn in each (the memory figures those of the \
         run with the median peak).\n"
    ));
    out.push_str(&per_record(rows, records));
    crate::report::targets_table(&mut out, targets);
    out
}

/// What each server holds per record once the zone settled (before the IXFR): resident
/// memory, and for secdns its parts, userspace outside the XDP maps and the maps as the
/// kernel counts them.
fn per_record(rows: &[Row], records: usize) -> String {
    let per = |bytes: u64| bytes as f64 / records.max(1) as f64;
    let servers: Vec<String> = rows
        .iter()
        .map(|row| match row.xdp_map_bytes {
            Some(maps) => format!(
                "{} {:.0} (userspace {:.0}, XDP maps {:.0})",
                row.server,
                per(row.steady_rss_bytes),
                per(row.steady_rss_bytes.saturating_sub(maps)),
                per(maps)
            ),
            None => format!("{} {:.0}", row.server, per(row.steady_rss_bytes)),
        })
        .collect();
    format!(
        "\nBytes per record once the zone settled (resident memory, the maps' pages written \
         included once): {}.\n",
        servers.join("; ")
    )
}
