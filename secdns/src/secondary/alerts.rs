//! Turns what happens to a secondary zone into notification events, once per change: a
//! primary failing at every retry is one `all_primaries_failing`, not one per retry.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use crate::{
    dns::Name,
    webhooks::{
        Notifier,
        event::{Event, EventKind, PeerFailure},
    },
};

/// The same warning again within this time is only logged.
const WARNING_REPEAT: Duration = Duration::from_secs(3600);
const REMEMBERED_WARNINGS: usize = 100;

pub struct Alerts {
    zone: Name,
    notifier: Arc<Notifier>,
    /// The failure state last reported: its kind and the failing peers.
    failing: Mutex<Option<(EventKind, Vec<String>)>>,
    warned: Mutex<HashMap<String, Instant>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Alerts {
    pub fn new(zone: Name, notifier: Arc<Notifier>) -> Self {
        Self {
            zone,
            notifier,
            failing: Mutex::new(None),
            warned: Mutex::default(),
        }
    }

    /// A refresh ended: with `succeeded`, after `failures` of some primaries on the way.
    pub fn refreshed(&self, succeeded: bool, failures: Vec<PeerFailure>) {
        let state = match (succeeded, failures.is_empty()) {
            (true, true) => None,
            (true, false) => Some(EventKind::SomePrimariesFailing),
            (false, _) => Some(EventKind::AllPrimariesFailing),
        };
        let mut peers: Vec<String> = failures.iter().map(|f| f.peer.clone()).collect();
        peers.sort();
        let state = state.map(|kind| (kind, peers));
        let mut last = lock(&self.failing);
        if *last == state {
            return;
        }
        *last = state.clone();
        drop(last);
        let Some((kind, _)) = state else {
            return;
        };
        let summary: Vec<String> = failures
            .iter()
            .map(|f| format!("{} ({}): {}", f.peer, f.address, f.error))
            .collect();
        let message = match kind {
            EventKind::AllPrimariesFailing => {
                format!(
                    "no primary of {} could be used: {}",
                    self.zone,
                    summary.join("; ")
                )
            }
            _ => format!(
                "{} refreshed, but some primaries failed: {}",
                self.zone,
                summary.join("; ")
            ),
        };
        let mut event = Event::new(kind, &self.zone, message);
        event.failures = failures;
        self.notifier.emit(event);
    }

    /// Something needs a person's look; `peer` when it is about one primary.
    pub fn warning(&self, message: String, peer: Option<&str>) {
        {
            let mut warned = lock(&self.warned);
            let now = Instant::now();
            if warned
                .get(&message)
                .is_some_and(|at| now.duration_since(*at) < WARNING_REPEAT)
            {
                tracing::debug!(zone = %self.zone, "warning again: {message}");
                return;
            }
            if warned.len() >= REMEMBERED_WARNINGS {
                warned.clear();
            }
            warned.insert(message.clone(), now);
        }
        let mut event = Event::new(EventKind::Warning, &self.zone, message);
        event.peer = peer.map(str::to_owned);
        self.notifier.emit(event);
    }

    pub fn updated(
        &self,
        old_serial: Option<u32>,
        new_serial: u32,
        transfer: &str,
        records_changed: u64,
        peer: &str,
    ) {
        let old = old_serial.map_or("none".to_string(), |s| s.to_string());
        let mut event = Event::new(
            EventKind::ZoneUpdated,
            &self.zone,
            format!(
                "{} updated by {transfer} from {peer}: serial {old} -> {new_serial}",
                self.zone
            ),
        );
        event.old_serial = old_serial;
        event.new_serial = Some(new_serial);
        event.transfer = Some(transfer.to_owned());
        event.records_changed = Some(records_changed);
        event.peer = Some(peer.to_owned());
        self.notifier.emit(event);
    }
}
