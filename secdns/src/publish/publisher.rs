//! Keeps the served zone set current: file-served zones plus the current copy of every
//! secondary zone (or its absence). A change schedules one rebuild and publication; a burst of
//! changes leads to one.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use tokio::sync::Notify;

use super::{Shared, publish};
use crate::{dns::Name, snapshot::Snapshot, zone::Zone};

pub struct Publisher {
    static_zones: Vec<Arc<Zone>>,
    /// Secondary zones: `None` while there is no copy to serve (SERVFAIL).
    secondary: Mutex<BTreeMap<Name, Option<Arc<Zone>>>>,
    changed: Notify,
    /// One publication at a time, each of the zone set as it is when it starts.
    publishing: tokio::sync::Mutex<()>,
    shared: Shared,
}

impl Publisher {
    pub fn new(static_zones: Vec<Arc<Zone>>, shared: Shared) -> Arc<Self> {
        Arc::new(Self {
            static_zones,
            secondary: Mutex::default(),
            changed: Notify::new(),
            publishing: tokio::sync::Mutex::new(()),
            shared,
        })
    }

    fn secondary(&self) -> std::sync::MutexGuard<'_, BTreeMap<Name, Option<Arc<Zone>>>> {
        // A poisoned lock only means a panic elsewhere; the map itself is always whole.
        self.secondary.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The zones served from files, as loaded at start-up.
    pub fn file_zones(&self) -> &[Arc<Zone>] {
        &self.static_zones
    }

    pub fn set(&self, name: &Name, zone: Option<Arc<Zone>>) {
        self.secondary().insert(name.clone(), zone);
        self.changed.notify_one();
    }

    pub fn remove(&self, name: &Name) {
        self.secondary().remove(name);
        self.changed.notify_one();
    }

    pub fn snapshot(&self) -> Snapshot {
        let secondary = self.secondary();
        let available = secondary.values().flatten().cloned();
        let unavailable = secondary
            .iter()
            .filter(|(_, z)| z.is_none())
            .map(|(n, _)| n.clone());
        Snapshot::with_unavailable(
            self.static_zones.iter().cloned().chain(available),
            unavailable.collect::<Vec<_>>(),
        )
    }

    /// Publishes the zone set as it is now.
    pub async fn publish_now(&self) {
        let _one_at_a_time = self.publishing.lock().await;
        let snapshot = Arc::new(self.snapshot());
        if let Err(e) = publish(&self.shared, snapshot).await {
            tracing::error!("publishing the zone set failed: {e:#}");
        }
    }

    /// Publishes now, then again after every change, until the process ends.
    pub async fn run(self: Arc<Self>) {
        loop {
            self.publish_now().await;
            self.changed.notified().await;
        }
    }
}
