//! The immutable set of zones being served, and where it is published: responders load the
//! current [`Snapshot`] per query through `arc-swap`, and a new one replaces it in one store.

use std::{collections::HashMap, sync::Arc};

use arc_swap::ArcSwap;

use crate::{
    dns::{Name, name::label_offsets},
    zone::Zone,
};

/// A zone in the snapshot: its data, or a configured zone without usable data (never
/// transferred yet, or expired), which answers SERVFAIL.
pub enum Served {
    Zone(Arc<Zone>),
    Unavailable(Name),
}

#[derive(Default)]
pub struct Snapshot {
    /// Keyed by the lowercased wire form of the apex.
    zones: HashMap<Box<[u8]>, Served>,
}

impl Snapshot {
    pub fn new(zones: impl IntoIterator<Item = Arc<Zone>>) -> Self {
        Self::with_unavailable(zones, [])
    }

    pub fn with_unavailable(
        zones: impl IntoIterator<Item = Arc<Zone>>,
        unavailable: impl IntoIterator<Item = Name>,
    ) -> Self {
        let mut map: HashMap<Box<[u8]>, Served> = zones
            .into_iter()
            .map(|z| (z.apex().lowercase_wire(), Served::Zone(z)))
            .collect();
        for name in unavailable {
            map.insert(name.lowercase_wire(), Served::Unavailable(name));
        }
        Self { zones: map }
    }

    /// The zones with data.
    pub fn zones(&self) -> impl Iterator<Item = &Arc<Zone>> {
        self.zones.values().filter_map(|s| match s {
            Served::Zone(z) => Some(z),
            Served::Unavailable(_) => None,
        })
    }

    /// The apexes of the zones without data.
    pub fn unavailable(&self) -> impl Iterator<Item = &Name> {
        self.zones.values().filter_map(|s| match s {
            Served::Zone(_) => None,
            Served::Unavailable(name) => Some(name),
        })
    }

    /// The zone with the longest apex at or above `qname` (lowercased wire form).
    pub fn find(&self, qname: &[u8]) -> Option<&Served> {
        self.find_from(qname, 0)
    }

    /// The zone that answers `qtype` at `qname`: as [`Snapshot::find`], except that a DS
    /// question at a zone's apex belongs to the parent's side of the cut (RFC 4035 §3.1.4.1)
    /// when the parent zone is configured too (with data or not: an expired parent answers
    /// SERVFAIL, as Knot does).
    pub fn find_for(&self, qname: &[u8], qtype: u16) -> Option<&Served> {
        // The parent's offset: the next label, or the root for a top-level name.
        let parent = || {
            label_offsets(qname)
                .nth(1)
                .or_else(|| (qname.len() > 1).then(|| qname.len() - 1))
        };
        if qtype == crate::dns::codes::rtype::DS
            && self.zones.contains_key(qname)
            && let Some(parent) = parent()
            && let Some(served) = self.find_from(qname, parent)
        {
            return Some(served);
        }
        self.find(qname)
    }

    fn find_from(&self, qname: &[u8], from: usize) -> Option<&Served> {
        label_offsets(qname)
            .filter(|&offset| offset >= from)
            .chain(std::iter::once(qname.len().saturating_sub(1)))
            .find_map(|offset| self.zones.get(qname.get(offset..)?))
    }
}

/// What responders read from. Cloning shares the same cell.
#[derive(Clone, Default)]
pub struct SnapshotCell(Arc<ArcSwap<Snapshot>>);

impl SnapshotCell {
    pub fn load(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.0.load()
    }

    pub fn store(&self, snapshot: Arc<Snapshot>) {
        self.0.store(snapshot);
    }
}
