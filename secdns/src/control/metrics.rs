//! The Prometheus text page served at `/metrics` (text format 0.0.4): answers by path, zone
//! and RCODE, the XDP program's outcomes and map usage, transfers, zone freshness, peer
//! failures.

use std::{collections::BTreeSet, fmt::Write as _, time::SystemTime};

use crate::{
    secondary::{metrics::ZoneMetrics, status::ZoneStatus, store::unix},
    stats::{MapUsage, QueryCounters},
    transfer::client::rcode_name,
};

/// Writes metric families, each declared once with its help and type.
#[derive(Default)]
pub struct Page {
    text: String,
    declared: BTreeSet<&'static str>,
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Page {
    fn family(&mut self, name: &'static str, kind: &str, help: &str) {
        if self.declared.insert(name) {
            let _ = writeln!(self.text, "# HELP {name} {help}");
            let _ = writeln!(self.text, "# TYPE {name} {kind}");
        }
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            let pairs: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = write!(self.text, "{{{}}}", pairs.join(","));
        }
        let _ = writeln!(self.text, " {value}");
    }

    pub fn counter(&mut self, name: &'static str, help: &str, labels: &[(&str, &str)], v: u64) {
        self.family(name, "counter", help);
        self.sample(name, labels, v as f64);
    }

    pub fn gauge(&mut self, name: &'static str, help: &str, labels: &[(&str, &str)], v: f64) {
        self.family(name, "gauge", help);
        self.sample(name, labels, v);
    }

    pub fn finish(self) -> String {
        self.text
    }
}

/// What the page is made from.
pub struct Inputs<'a> {
    pub queries: &'a QueryCounters,
    /// The XDP program's counters by name, when it is attached.
    pub xdp: Option<(Vec<(String, u64)>, MapUsage)>,
    pub zones: Vec<(ZoneStatus, ZoneMetrics)>,
    pub file_zones: Vec<(String, u32)>,
}

pub fn render(inputs: Inputs<'_>) -> String {
    let mut page = Page::default();
    const QUERIES: &str = "DNS answers sent, by path (udp and tcp from userspace), zone and RCODE";
    for (transport, zone, rcode, count) in inputs.queries.counts() {
        let zone = zone.map(|z| z.to_string()).unwrap_or_default();
        let rcode = rcode_name(rcode.into());
        let labels = [("path", transport), ("zone", &zone), ("rcode", &rcode)];
        page.counter("secdns_queries_total", QUERIES, &labels, count);
    }
    page.gauge(
        "secdns_xdp_attached",
        "1 when the XDP program is attached and answering",
        &[],
        if inputs.xdp.is_some() { 1.0 } else { 0.0 },
    );
    if let Some((counters, usage)) = &inputs.xdp {
        for (outcome, count) in counters {
            page.counter(
                "secdns_xdp_packets_total",
                "Packets seen by the XDP program, by outcome (answered_* went out from the kernel)",
                &[("outcome", outcome)],
                *count,
            );
        }
        let gauges: [(&'static str, &str, u64); 4] = [
            (
                "secdns_xdp_map_entries",
                "Answers held in the live XDP map",
                usage.entries,
            ),
            (
                "secdns_xdp_map_capacity_entries",
                "Answers the XDP memory budget allows",
                usage.capacity,
            ),
            (
                "secdns_xdp_map_left_out_entries",
                "Answers compiled but left to userspace for want of room",
                usage.left_out,
            ),
            (
                "secdns_xdp_map_bytes",
                "Memory the XDP answer entries take, live and previous map",
                usage.bytes,
            ),
        ];
        for (name, help, value) in gauges {
            page.gauge(name, help, &[], value as f64);
        }
        page.counter(
            "secdns_xdp_publications_total",
            "Zone sets published into the XDP maps",
            &[],
            usage.publications,
        );
        page.gauge(
            "secdns_xdp_last_publication_seconds",
            "How long the last XDP publication took",
            &[],
            usage.last_publish_ms as f64 / 1000.0,
        );
    }
    let now = unix(SystemTime::now()) as f64;
    for (name, serial) in &inputs.file_zones {
        page.gauge(
            "secdns_zone_serial",
            "SOA serial of the copy served",
            &[("zone", name), ("kind", "file")],
            *serial as f64,
        );
    }
    for (status, metrics) in &inputs.zones {
        let zone = [("zone", status.name.as_str())];
        if let Some(serial) = status.serial {
            page.gauge(
                "secdns_zone_serial",
                "SOA serial of the copy served",
                &[("zone", &status.name), ("kind", "secondary")],
                serial as f64,
            );
        }
        page.gauge(
            "secdns_zone_serving",
            "1 when the zone is answered from a copy, 0 when it is answered SERVFAIL",
            &zone,
            if status.serving { 1.0 } else { 0.0 },
        );
        page.gauge(
            "secdns_zone_records",
            "Records in the copy of the zone",
            &zone,
            status.records as f64,
        );
        if let Some(last) = status.last_success {
            page.gauge(
                "secdns_zone_seconds_since_refresh",
                "Seconds since the last successful refresh (SOA check or transfer)",
                &zone,
                (now - last as f64).max(0.0),
            );
        }
        if let Some(expires) = status.expires {
            page.gauge(
                "secdns_zone_expire_seconds",
                "Seconds until the zone expires without a successful refresh (negative: expired)",
                &zone,
                expires as f64 - now,
            );
        }
        page.gauge(
            "secdns_zone_consecutive_failures",
            "Refreshes failed in a row",
            &zone,
            status.consecutive_failures as f64,
        );
        for ((kind, result), count) in &metrics.transfers {
            page.counter(
                "secdns_transfers_total",
                "Zone transfers by kind (axfr, ixfr) and result (success, failure)",
                &[("zone", &status.name), ("kind", kind), ("result", result)],
                *count,
            );
        }
        for ((peer, reason), count) in &metrics.peer_failures {
            page.counter(
                "secdns_peer_failures_total",
                "Failed SOA checks and transfers by peer and reason",
                &[("zone", &status.name), ("peer", peer), ("reason", reason)],
                *count,
            );
        }
    }
    page.finish()
}
