//! The immutable set of zones being served, and where it is published: responders load the
//! current [`Snapshot`] per query through `arc-swap`, and a new one replaces it in one store.

use std::{collections::HashMap, sync::Arc};

use arc_swap::ArcSwap;

use crate::{dns::name::label_offsets, zone::Zone};

#[derive(Default)]
pub struct Snapshot {
    /// Keyed by the lowercased wire form of the apex.
    zones: HashMap<Box<[u8]>, Arc<Zone>>,
}

impl Snapshot {
    pub fn new(zones: impl IntoIterator<Item = Arc<Zone>>) -> Self {
        let zones = zones
            .into_iter()
            .map(|z| (z.apex().lowercase_wire(), z))
            .collect();
        Self { zones }
    }

    pub fn zones(&self) -> impl Iterator<Item = &Arc<Zone>> {
        self.zones.values()
    }

    /// The zone with the longest apex at or above `qname` (lowercased wire form).
    pub fn find_zone(&self, qname: &[u8]) -> Option<&Zone> {
        label_offsets(qname)
            .chain(std::iter::once(qname.len() - 1))
            .find_map(|offset| self.zones.get(&qname[offset..]))
            .map(|z| &**z)
    }
}

/// What responders read from. Cloning shares the same cell.
#[derive(Clone, Default)]
pub struct SnapshotCell(Arc<ArcSwap<Snapshot>>);

impl SnapshotCell {
    pub fn load(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.0.load()
    }

    pub fn load_full(&self) -> Arc<Snapshot> {
        self.0.load_full()
    }

    pub fn store(&self, snapshot: Arc<Snapshot>) {
        self.0.store(snapshot);
    }
}
