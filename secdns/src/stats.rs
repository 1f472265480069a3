//! Counters kept by the userspace responders, and the combined view the control API serves.

use std::{
    collections::HashMap,
    sync::{
        RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use serde::{Deserialize, Serialize};

use crate::dns::Name;

/// Atomic counters `C` for each zone (by apex) and for what is outside every zone. They are
/// bumped under a read lock, so that threads do not queue on one lock; a zone's entry (its
/// name copied) is made under the write lock the first time it is counted.
#[derive(Default)]
pub struct ZoneCounters<C> {
    zones: RwLock<HashMap<Name, C>>,
    outside: C,
}

/// Zones counted at most; zones beyond it (after many removals and additions) are not.
const MAX_COUNTED_ZONES: usize = 100_000;

impl<C: Default> ZoneCounters<C> {
    /// `count` on the counters of `zone`, or of what is outside every zone.
    pub fn bump(&self, zone: Option<&Name>, count: impl FnOnce(&C)) {
        let Some(zone) = zone else {
            return count(&self.outside);
        };
        if let Some(counters) = self
            .zones
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(zone)
        {
            return count(counters);
        }
        let mut zones = self.zones.write().unwrap_or_else(|e| e.into_inner());
        if zones.len() < MAX_COUNTED_ZONES {
            count(zones.entry(zone.clone()).or_default());
        }
    }

    /// What `load` makes of each zone's counters, then of the outside's (no zone).
    pub fn read<T>(&self, load: impl Fn(&C) -> T) -> Vec<(Option<Name>, T)> {
        let zones = self.zones.read().unwrap_or_else(|e| e.into_inner());
        let each = zones.iter().map(|(name, c)| (Some(name.clone()), load(c)));
        each.chain([(None, load(&self.outside))]).collect()
    }
}

/// Answers by transport, zone and RCODE, for `/metrics`; questions outside every zone (and
/// unparsable ones) count under no zone.
#[derive(Default)]
pub struct QueryCounters(ZoneCounters<ByRcode>);

/// [transport (0 UDP, 1 TCP)][RCODE (low four bits)].
type ByRcode = [[AtomicU64; 16]; 2];

impl QueryCounters {
    pub fn bump(&self, tcp: bool, zone: Option<&Name>, rcode: u8) {
        self.0.bump(zone, |by_rcode| {
            by_rcode[usize::from(tcp)][usize::from(rcode & 0x0f)].fetch_add(1, Ordering::Relaxed);
        });
    }

    /// (transport, zone, RCODE, count) for every non-zero count.
    pub fn counts(&self) -> Vec<(&'static str, Option<Name>, u8, u64)> {
        let mut out = Vec::new();
        for (zone, by_rcode) in self.0.read(load_all) {
            for (t, transport) in ["udp", "tcp"].into_iter().enumerate() {
                for (rcode, count) in by_rcode[t].into_iter().enumerate() {
                    if count > 0 {
                        out.push((transport, zone.clone(), rcode as u8, count));
                    }
                }
            }
        }
        out
    }
}

/// The counts in a table of counters.
pub fn load_all<const A: usize, const B: usize>(counters: &[[AtomicU64; B]; A]) -> [[u64; B]; A] {
    counters
        .each_ref()
        .map(|row| row.each_ref().map(|c| c.load(Ordering::Relaxed)))
}

#[derive(Default)]
pub struct ResponderStats {
    pub queries: QueryCounters,
    pub udp_answered: AtomicU64,
    pub udp_ignored: AtomicU64,
    pub udp_truncated: AtomicU64,
    /// Over the rate limit: a truncated reply sent instead of the answer.
    pub udp_slipped: AtomicU64,
    /// Over the rate limit: nothing sent.
    pub udp_rate_limited: AtomicU64,
    pub tcp_answered: AtomicU64,
    pub tcp_connections: AtomicU64,
    /// Connections closed at once: their client held as many as one may.
    pub tcp_refused_per_client: AtomicU64,
    /// Idle connections closed to make room for a new one.
    pub tcp_idle_closed: AtomicU64,
}

impl ResponderStats {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// What `secdns stats` prints. `xdp_*` are zero when XDP is not configured.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[schema(as = Stats)]
pub struct StatsReport {
    pub xdp_answered: u64,
    pub xdp_passed: u64,
    pub udp_answered: u64,
    pub tcp_answered: u64,
    pub udp_ignored: u64,
    pub udp_truncated: u64,
    /// UDP responses over the rate limit sent as a truncated reply (userspace; the
    /// kernel's are in `xdp`).
    #[serde(default)]
    pub udp_slipped: u64,
    /// UDP responses over the rate limit not sent (userspace).
    #[serde(default)]
    pub udp_rate_limited: u64,
    pub tcp_connections: u64,
    /// TCP connections closed at once: their client held `tcp_max_per_client` already.
    #[serde(default)]
    pub tcp_refused_per_client: u64,
    /// Idle TCP connections closed to make room for a new one (at `tcp_max_connections`).
    #[serde(default)]
    pub tcp_idle_closed: u64,
    /// Every XDP counter by name (why packets were passed, etc.).
    pub xdp: Vec<(String, u64)>,
    pub xdp_map: MapUsage,
    pub zones: u64,
}

/// How full the XDP answer maps are.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct MapUsage {
    /// Entries in the live map.
    pub entries: u64,
    /// The most entries the memory budget allows.
    pub capacity: u64,
    /// Entries compiled but left to userspace for want of room.
    pub left_out: u64,
    /// Memory the kernel counts for both answer maps (live and previous), buckets included.
    pub bytes: u64,
    /// Publications so far, and how many compiled only what changed.
    pub publications: u64,
    pub incremental_publications: u64,
    /// How long the last publication took, from compiling to the switch.
    pub last_publish_ms: u64,
}

impl StatsReport {
    pub fn from_parts(
        responders: &ResponderStats,
        xdp: Vec<(String, u64)>,
        xdp_map: MapUsage,
        zones: u64,
    ) -> Self {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let answered = xdp
            .iter()
            .filter(|(n, _)| n.starts_with("answered"))
            .map(|(_, v)| v)
            .sum();
        let passed = xdp
            .iter()
            .filter(|(n, _)| n.starts_with("passed_"))
            .map(|(_, v)| v)
            .sum();
        Self {
            xdp_answered: answered,
            xdp_passed: passed,
            udp_answered: get(&responders.udp_answered),
            tcp_answered: get(&responders.tcp_answered),
            udp_ignored: get(&responders.udp_ignored),
            udp_truncated: get(&responders.udp_truncated),
            udp_slipped: get(&responders.udp_slipped),
            udp_rate_limited: get(&responders.udp_rate_limited),
            tcp_connections: get(&responders.tcp_connections),
            tcp_refused_per_client: get(&responders.tcp_refused_per_client),
            tcp_idle_closed: get(&responders.tcp_idle_closed),
            xdp,
            xdp_map,
            zones,
        }
    }

    /// `name value` lines, the main counters first.
    pub fn to_text(&self) -> String {
        let mut lines = vec![
            format!("xdp_answered {}", self.xdp_answered),
            format!("xdp_passed {}", self.xdp_passed),
            format!("udp_answered {}", self.udp_answered),
            format!("tcp_answered {}", self.tcp_answered),
            format!("udp_ignored {}", self.udp_ignored),
            format!("udp_truncated {}", self.udp_truncated),
            format!("udp_slipped {}", self.udp_slipped),
            format!("udp_rate_limited {}", self.udp_rate_limited),
            format!("tcp_connections {}", self.tcp_connections),
            format!("tcp_refused_per_client {}", self.tcp_refused_per_client),
            format!("tcp_idle_closed {}", self.tcp_idle_closed),
            format!("xdp_entries {}", self.xdp_map.entries),
            format!("xdp_capacity {}", self.xdp_map.capacity),
            format!("xdp_left_out {}", self.xdp_map.left_out),
            format!("xdp_map_bytes {}", self.xdp_map.bytes),
            format!("xdp_publications {}", self.xdp_map.publications),
            format!(
                "xdp_incremental_publications {}",
                self.xdp_map.incremental_publications
            ),
            format!("xdp_last_publish_ms {}", self.xdp_map.last_publish_ms),
            format!("zones {}", self.zones),
        ];
        lines.extend(
            self.xdp
                .iter()
                .map(|(name, value)| format!("xdp.{name} {value}")),
        );
        lines.join("\n") + "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_are_counted_apart_and_only_so_many() {
        let counters = ZoneCounters::<AtomicU64>::default();
        let one = |c: &AtomicU64| {
            c.fetch_add(1, Ordering::Relaxed);
        };
        let zone: Name = "example.com.".parse().unwrap();
        counters.bump(Some(&zone), one);
        counters.bump(Some(&zone), one);
        counters.bump(None, one);
        let mut counts = counters.read(|c| c.load(Ordering::Relaxed));
        counts.sort();
        assert_eq!(counts, [(None, 1), (Some(zone), 2)]);

        for i in 0..=MAX_COUNTED_ZONES {
            let name: Name = format!("z{i}.example.").parse().unwrap();
            counters.bump(Some(&name), one);
        }
        let counts = counters.read(|c| c.load(Ordering::Relaxed));
        assert_eq!(counts.len(), MAX_COUNTED_ZONES + 1, "the cap, and no zone");
    }
}
