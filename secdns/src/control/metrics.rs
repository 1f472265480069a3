//! The Prometheus text page served at `/metrics` (text format 0.0.4): answers by path, zone
//! and RCODE, the XDP program's outcomes and map usage, transfers, zone freshness, peer
//! failures.

use std::{fmt::Write as _, time::SystemTime};

use secdns_common::rrl::ResponseClass;

use crate::{
    dns::{Name, codes::rcode_name},
    rate_limit::LimitedCounts,
    secondary::{metrics::ZoneMetrics, status::ZoneStatus},
    stats::{MapUsage, QueryCounters},
    unix_time,
};

/// Metric families, each declared once with its help and type and its samples kept
/// together (the text format wants a family's lines in one group), in first-use order.
#[derive(Default)]
pub struct Page {
    families: Vec<Family>,
}

struct Family {
    name: &'static str,
    header: String,
    samples: String,
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Page {
    fn family(&mut self, name: &'static str, kind: &str, help: &str) -> &mut String {
        let index = match self.families.iter().position(|f| f.name == name) {
            Some(index) => index,
            None => {
                self.families.push(Family {
                    name,
                    header: format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"),
                    samples: String::new(),
                });
                self.families.len() - 1
            }
        };
        &mut self.families[index].samples
    }

    fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
        out.push_str(name);
        if !labels.is_empty() {
            let pairs: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = write!(out, "{{{}}}", pairs.join(","));
        }
        let _ = writeln!(out, " {value}");
    }

    pub fn counter(&mut self, name: &'static str, help: &str, labels: &[(&str, &str)], v: u64) {
        let out = self.family(name, "counter", help);
        Self::sample(out, name, labels, v as f64);
    }

    pub fn gauge(&mut self, name: &'static str, help: &str, labels: &[(&str, &str)], v: f64) {
        let out = self.family(name, "gauge", help);
        Self::sample(out, name, labels, v);
    }

    pub fn finish(self) -> String {
        self.families
            .into_iter()
            .map(|f| f.header + &f.samples)
            .collect()
    }
}

/// What the page is made from.
pub struct Inputs<'a> {
    pub queries: &'a QueryCounters,
    /// TCP connections the server closed to keep room for every client, by reason.
    pub tcp_closed: [(&'static str, u64); 2],
    /// The XDP program's counters by name, when it is attached.
    pub xdp: Option<(Vec<(String, u64)>, MapUsage)>,
    /// Answers the XDP program sent by zone: (apex, NOERROR, NXDOMAIN).
    pub xdp_zones: Vec<(Name, [u64; 2])>,
    pub zones: Vec<(ZoneStatus, ZoneMetrics)>,
    pub file_zones: Vec<(String, u32)>,
    /// Rate limiting: whether on, whether log-only, and what was limited by zone (the
    /// kernel's and userspace's together).
    pub rrl: (bool, bool, Vec<(Option<Name>, LimitedCounts)>),
}

pub fn render(inputs: Inputs<'_>) -> String {
    let mut page = Page::default();
    const QUERIES: &str = "DNS answers sent, by path (xdp from the kernel, udp and tcp from userspace), zone and RCODE";
    for (zone, counts) in &inputs.xdp_zones {
        let zone = zone.to_string();
        for (rcode, count) in ["NOERROR", "NXDOMAIN"].into_iter().zip(counts) {
            if *count > 0 {
                let labels = [("path", "xdp"), ("zone", zone.as_str()), ("rcode", rcode)];
                page.counter("secdns_queries_total", QUERIES, &labels, *count);
            }
        }
    }
    for (transport, zone, rcode, count) in inputs.queries.counts() {
        let zone = zone.map(|z| z.to_string()).unwrap_or_default();
        let rcode = rcode_name(rcode.into());
        let labels = [("path", transport), ("zone", &zone), ("rcode", &rcode)];
        page.counter("secdns_queries_total", QUERIES, &labels, count);
    }
    let (rrl_on, log_only, limited) = &inputs.rrl;
    page.gauge(
        "secdns_rrl_enabled",
        "1 when UDP responses are rate limited ([rrl], or the API)",
        &[],
        f64::from(u8::from(*rrl_on)),
    );
    page.gauge(
        "secdns_rrl_log_only",
        "1 when limits are only counted: every response is sent",
        &[],
        f64::from(u8::from(*log_only)),
    );
    for (zone, counts) in limited {
        let zone = zone.as_ref().map(|z| z.to_string()).unwrap_or_default();
        for (class, by_action) in ResponseClass::ALL.iter().zip(counts) {
            for (action, count) in ["slipped", "dropped"].into_iter().zip(by_action) {
                if *count > 0 {
                    page.counter(
                        "secdns_rrl_limited_total",
                        "UDP responses over the rate limit (from the kernel and userspace), by zone, response class and what was done: slipped (sent truncated) or dropped; in log-only mode, what would have been done",
                        &[("zone", &zone), ("class", class.name()), ("action", action)],
                        *count,
                    );
                }
            }
        }
    }
    for (reason, count) in inputs.tcp_closed {
        page.counter(
            "secdns_tcp_connections_closed_total",
            "TCP connections closed by the server to keep room for every client: per_client_limit (the client held tcp_max_per_client), idle_made_room (idle the longest when tcp_max_connections were open)",
            &[("reason", reason)],
            count,
        );
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
                "Memory the kernel counts for the XDP answer maps, live and previous, with their buckets",
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
    let now = unix_time::seconds(SystemTime::now()) as f64;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_stay_together_and_labels_are_escaped() {
        let mut page = Page::default();
        page.gauge("a", "first", &[("zone", "x.")], 1.0);
        page.counter("b_total", "second", &[], 2);
        page.gauge("a", "first", &[("zone", "q\"\\\n")], 3.0);
        assert_eq!(
            page.finish(),
            "# HELP a first\n# TYPE a gauge\na{zone=\"x.\"} 1\na{zone=\"q\\\"\\\\\\n\"} 3\n\
             # HELP b_total second\n# TYPE b_total counter\nb_total 2\n"
        );
    }
}
