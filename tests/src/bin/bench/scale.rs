//! `cargo xtask bench scale`: an edge host's load, ten million host records in 100,000 zones
//! (a million in 10,000 with `--quick`), sizes spread as customers' zones are (a few big ones,
//! a long tail of small ones: the i-th largest about 1/i of the largest), served from zone
//! files by secdns (with XDP), knotd and nsd, one at a time in the same server namespace: the
//! time from start until every zone is served (for secdns: until its XDP maps hold them all),
//! peak memory, and a sweep asking every zone's last host from the client namespace. Each
//! server's log goes to `target/bench-scale/`.

use std::{
    net::Ipv4Addr,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use secdns_tests::{
    TempDir,
    netns::TestNet,
    prerequisites::{require_root, require_tools},
    records::{host_address, host_records_hosts, host_records_zone},
    secdns::stats,
    servers::{self, Server},
};

use crate::probe::{MemorySampler, Probe, wait_until};
use crate::report::Target;

const SERVERS: [Server; 3] = [Server::SecdnsXdp, Server::Knot, Server::Nsd];
/// The largest zone's size, as the issue has it.
const LARGEST: usize = 1_000_000;
/// The targets for the full run.
const MEMORY_TARGET: u64 = 3 << 30;
const SERVED_TARGET: Duration = Duration::from_secs(60);

struct ZoneFile {
    apex: String,
    path: PathBuf,
    /// The name and address of its last host.
    last_host: (String, Ipv4Addr),
}

#[derive(serde::Serialize)]
struct Row {
    server: &'static str,
    /// From start until the checked names answer (secdns: from userspace or XDP).
    serving_ms: f64,
    /// secdns: until its XDP maps hold every zone.
    xdp_ms: Option<f64>,
    peak_pss_bytes: u64,
    /// The same, outside the BPF maps mapped into the process (secdns's answer maps).
    /// The PSS outside the BPF maps, and the kernel's count of the maps, at the sample
    /// where the two together were highest.
    peak_pss_outside_maps_bytes: u64,
    peak_maps_bytes: u64,
    peak_rss_bytes: u64,
    /// secdns: the kernel's count of the answer maps' memory (mapped into the process too,
    /// so the pages written are part of its PSS).
    xdp_map_bytes: Option<u64>,
    xdp_entries: Option<u64>,
    xdp_left_out: Option<u64>,
    /// Zones whose last host was answered in the sweep.
    zones_answered: usize,
    /// secdns: answers the XDP program counted during the sweep.
    xdp_answers_in_sweep: Option<u64>,
}

pub fn run(quick: bool) -> anyhow::Result<()> {
    require_root();
    require_tools(&["ip", "knotd", "nsd"]);
    let (records, zones) = if quick {
        (1_000_000, 10_000)
    } else {
        (10_000_000, 100_000)
    };
    let dir = TempDir::new("bench-scale")?;
    let started = Instant::now();
    let (files, written, sizes) = write_zones(&dir.path().join("zones"), records, zones)?;
    println!(
        "{} zones, {written} records (largest {}, smallest {}) written in {:.1} s",
        files.len(),
        sizes.0,
        sizes.1,
        started.elapsed().as_secs_f64()
    );
    // secdns's XDP link is pinned (as on a host, for the next start): in a bpffs of ours,
    // emptied after it.
    let pins = secdns_tests::bpffs::BpfFs::mount(&dir.path().join("bpffs"))?;
    let net = TestNet::new("scale")?;
    let probe = Probe::new(&net.client_ns)?;
    // A cap well above what the zones need (about 130 bytes a record).
    let memory_mib = (records / 1024).next_multiple_of(1024).max(2048);
    let zone_list: Vec<(&str, &Path)> = files
        .iter()
        .map(|f| (f.apex.as_str(), f.path.as_path()))
        .collect();
    // Served: the largest zone's last host and the last zone's.
    let checks: Vec<&(String, Ipv4Addr)> = [files.first(), files.last()]
        .into_iter()
        .flatten()
        .map(|f| &f.last_host)
        .collect();
    let logs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-scale");
    std::fs::create_dir_all(&logs)?;
    let mut rows = Vec::new();
    for server in SERVERS {
        let server_dir = dir.path().join(server.program());
        std::fs::create_dir_all(&server_dir)?;
        let started = Instant::now();
        let xdp_lines = format!(
            "memory_mib = {memory_mib}\npin_dir = \"{}\"\n",
            pins.pin_dir().display()
        );
        let mut running = servers::spawn(server, &net, &server_dir, &zone_list, &xdp_lines)?;
        let memory = MemorySampler::start(running.process.pid());
        for (name, address) in &checks {
            probe
                .wait_for(&mut running.process, name, *address, started)
                .with_context(|| format!("{} serving {name}", server.name()))?;
        }
        let serving = started.elapsed();
        let ours = server == Server::SecdnsXdp;
        let xdp = if ours {
            Some(wait_published(&net, &mut running.process, started)?)
        } else {
            None
        };
        let peaks = memory.stop();
        let map = ours.then(|| stats(&net)).transpose()?;
        // Every zone's last host, once; a server missing many stops the sweep early (each
        // miss waits for a timeout).
        let swept = Instant::now();
        let (mut answered, mut missed) = (0, 0);
        for file in &files {
            if probe
                .addresses(&file.last_host.0)
                .contains(&file.last_host.1)
            {
                answered += 1;
            } else {
                missed += 1;
                if missed > 1000 {
                    break;
                }
            }
        }
        let after = ours.then(|| stats(&net)).transpose()?;
        println!(
            "{}: serving after {:.1} s{}, {answered} of {} zones answered in a {:.1} s sweep",
            server.name(),
            serving.as_secs_f64(),
            xdp.map_or(String::new(), |d| format!(
                " (XDP {:.1} s)",
                d.as_secs_f64()
            )),
            files.len(),
            swept.elapsed().as_secs_f64()
        );
        // For a closer look at where the time went.
        std::fs::write(
            logs.join(format!("{}.log", server.program())),
            running.process.output(),
        )?;
        running
            .stop()
            .with_context(|| format!("stopping {}", server.name()))?;
        pins.unpin_all();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        rows.push(Row {
            server: server.name(),
            serving_ms: ms(serving),
            xdp_ms: xdp.map(ms),
            peak_pss_bytes: peaks.pss,
            peak_pss_outside_maps_bytes: peaks.with_maps_outside,
            peak_maps_bytes: peaks.with_maps_maps,
            peak_rss_bytes: peaks.rss,
            xdp_map_bytes: map.as_ref().map(|m| m.xdp_map.bytes),
            xdp_entries: map.as_ref().map(|m| m.xdp_map.entries),
            xdp_left_out: map.as_ref().map(|m| m.xdp_map.left_out),
            zones_answered: answered,
            xdp_answers_in_sweep: map
                .as_ref()
                .zip(after.as_ref())
                .map(|(before, after)| after.xdp_answered - before.xdp_answered),
        });
    }
    let targets = targets(&rows, files.len(), quick);
    let table = markdown(&rows, &targets, written, files.len(), sizes, memory_mib);
    println!("{table}");
    crate::report::write(
        "scale",
        "Ten million records in 100,000 zones",
        quick,
        &table,
        serde_json::json!({
            "records": written,
            "zones": files.len(),
            "largest_zone": sizes.0,
            "smallest_zone": sizes.1,
            "secdns_memory_mib": memory_mib,
            "rows": rows,
            "targets": targets,
        }),
        None,
    )
}

/// Writes `zones` zone files of host records (see [`host_records_zone`]) into `dir`, about
/// `records` in all: the i-th zone about 1/i of the first, which holds at most [`LARGEST`].
/// Returns the files, the records written, and the largest and smallest zone's size.
fn write_zones(
    dir: &Path,
    records: usize,
    zones: usize,
) -> anyhow::Result<(Vec<ZoneFile>, usize, (usize, usize))> {
    std::fs::create_dir_all(dir)?;
    let harmonic: f64 = (1..=zones).map(|i| 1.0 / i as f64).sum();
    let first = (records as f64 / harmonic).min(LARGEST as f64);
    let mut files = Vec::with_capacity(zones);
    let (mut written, mut largest, mut smallest) = (0, 0, usize::MAX);
    for i in 0..zones {
        let apex = format!("customer{i}.example.");
        let size = ((first / (i + 1) as f64) as usize).max(1);
        let (text, count) = host_records_zone(&apex, 1, size);
        let path = dir.join(format!("customer{i}.zone"));
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        let last = match host_records_hosts(size).checked_sub(1) {
            Some(i) => (format!("host{i}.{apex}"), host_address(i)),
            None => (format!("ns.{apex}"), Ipv4Addr::new(192, 0, 2, 1)),
        };
        written += count;
        largest = largest.max(count);
        smallest = smallest.min(count);
        files.push(ZoneFile {
            apex,
            path,
            last_host: last,
        });
    }
    Ok((files, written, (largest, smallest)))
}

/// secdns: waits until its XDP maps hold what it serves (a publication with entries); the
/// time since `since`.
fn wait_published(
    net: &TestNet,
    process: &mut secdns_tests::process::Process,
    since: Instant,
) -> anyhow::Result<Duration> {
    let what = "from secdns's XDP maps (a publication)";
    wait_until(process, since, what, Duration::from_millis(50), || {
        Ok(stats(net).is_ok_and(|s| s.xdp_map.publications > 0 && s.xdp_map.entries > 0))
    })?;
    Ok(since.elapsed())
}

fn targets(rows: &[Row], zones: usize, quick: bool) -> Vec<Target> {
    let Some(ours) = rows.iter().find(|r| r.server == Server::SecdnsXdp.name()) else {
        return Vec::new();
    };
    let full = |met: bool| (!quick).then_some(met);
    let xdp_ms = ours.xdp_ms.unwrap_or(f64::INFINITY);
    let left_out = ours.xdp_left_out.unwrap_or(u64::MAX);
    let swept_by_xdp = ours.xdp_answers_in_sweep.unwrap_or(0);
    // The maps' pages written are in the PSS: taken out, and the kernel's count (every page)
    // added.
    let ours_memory = ours.peak_pss_outside_maps_bytes + ours.peak_maps_bytes;
    let gib = |bytes: u64| bytes as f64 / (1u64 << 30) as f64;
    vec![
        Target {
            target: "everything answered by XDP (nothing left out, every zone's last host \
                     answered by the XDP program)"
                .into(),
            measured: format!(
                "{left_out} entries left out; {} of {zones} zones answered, {swept_by_xdp} \
                 by XDP",
                ours.zones_answered
            ),
            met: Some(
                left_out == 0 && ours.zones_answered == zones && swept_by_xdp >= zones as u64,
            ),
        },
        Target {
            target: "peak memory of the process plus its answer maps under 3 GiB".into(),
            measured: format!(
                "{:.2} GiB: {:.2} GiB PSS outside the maps, {:.2} GiB of maps as the kernel \
                 counts them ({:.2} GiB PSS with the maps' pages mapped into it)",
                gib(ours_memory),
                gib(ours.peak_pss_outside_maps_bytes),
                gib(ours.peak_maps_bytes),
                gib(ours.peak_pss_bytes)
            ),
            met: full(ours_memory < MEMORY_TARGET),
        },
        Target {
            target: "all zones served (by XDP) within 60 s of start".into(),
            measured: format!("{:.1} s", xdp_ms / 1e3),
            met: full(xdp_ms < SERVED_TARGET.as_secs_f64() * 1e3),
        },
    ]
}

fn markdown(
    rows: &[Row],
    targets: &[Target],
    records: usize,
    zones: usize,
    sizes: (usize, usize),
    memory_mib: usize,
) -> String {
    let seconds = |ms: f64| format!("{:.1}", ms / 1e3);
    let mib = |bytes: u64| format!("{:.0}", bytes as f64 / (1 << 20) as f64);
    let mut out = String::from(
        "| server | start to serving, s | peak memory MiB: PSS / RSS | zones answered in the \
         sweep |\n|---|---|---|---|\n",
    );
    for row in rows {
        let xdp = row.xdp_ms.map_or(String::new(), |ms| {
            format!(" (XDP holds all: {})", seconds(ms))
        });
        let kernel = row.xdp_map_bytes.map_or(String::new(), |bytes| {
            format!(
                " (answer maps {} MiB, {} entries, {} left out)",
                mib(bytes),
                row.xdp_entries.unwrap_or(0),
                row.xdp_left_out.unwrap_or(0)
            )
        });
        let by_xdp = row
            .xdp_answers_in_sweep
            .map_or(String::new(), |n| format!(" ({n} by XDP)"));
        out.push_str(&format!(
            "| {} | {}{xdp} | {} / {}{kernel} | {} of {zones}{by_xdp} |\n",
            row.server,
            seconds(row.serving_ms),
            mib(row.peak_pss_bytes),
            mib(row.peak_rss_bytes),
            row.zones_answered,
        ));
    }
    out.push_str(&format!(
        "\n{records} records (host records: an A on every name, an AAAA on a fifth, a TXT on a \
         tenth) in {zones} zone files, the largest {} records, the smallest {}; the i-th \
         largest about 1/i of the largest. Each server started fresh in the server namespace \
         with every zone in its config, one at a time. Serving: the largest zone's last host \
         and the last zone's answer from the client namespace; for secdns, \"XDP holds all\" \
         is its first publication into the XDP maps (every zone file is read before it). \
         Peak memory: the server's processes' summed PSS sampled every 100 ms (or 10 times a sample's time) until serving \
         (secdns: until XDP holds all; the answer maps are mapped into the process, so the \
         pages written are in its PSS: the target takes, sample by sample, the PSS outside them \
         plus the kernel's count of the maps held then, and the highest), and the largest VmHWM of one process. Then each zone's last \
         host is asked once from the client namespace. secdns's maps may grow to \
         {memory_mib} MiB (`memory_mib`).\n",
        sizes.0, sizes.1
    ));
    crate::report::targets_table(&mut out, targets);
    out
}
