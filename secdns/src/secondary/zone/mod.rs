//! One secondary zone kept in step with its primaries: its state under one lock, and its task,
//! which waits for the next event (timer, NOTIFY, forced transfer, expiry; see
//! `secondary::events`) and hands it to its handler: REFRESH (SOA checks, IXFR with AXFR
//! fallback, several primaries in order) in [`refresh`], EXPIRE and what is served (the copy
//! with the zone's overrides on top) in [`served`]. Every new copy is served, then saved.

use std::{
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, Ordering as AtomicOrdering},
    },
    time::{Duration, SystemTime},
};

use arc_swap::ArcSwap;
use tokio::{sync::Notify, time::Instant};

use super::{
    alerts::Alerts,
    events::{
        Event, PeerOutcome, Schedule, SoaVerdict, Timers, TransferKind, TransferVerdict, judge_soa,
        judge_transfer,
    },
    metrics::{ZoneMetrics, reason},
    saver::Saver,
    status::{PeerStatus, ZoneKind, ZoneStatus},
    store::ZoneStore,
};
use crate::{
    catalog::SecondaryDef,
    dns::{Name, codes::rtype, message::Record, rdata},
    publish::Publisher,
    transfer::{
        apply::{Collector, Kind, Outcome},
        client::{self, Limits, Primary, TransferError},
        serial,
    },
    unix_time,
    webhooks::{Notifier, event::PeerFailure},
    zone::{
        Zone,
        compare::changed_records,
        overrides::{self, Override},
    },
};

mod refresh;
mod served;

use served::ServedState;

/// What the zone is configured with; replaced whole when its definition, a peer or a key
/// changes.
pub struct Settings {
    pub def: SecondaryDef,
    pub primaries: Vec<Primary>,
}

/// What the zone knows besides what it serves, under one lock.
#[derive(Default)]
struct ZoneState {
    /// The transferred copy, as the primary has it (IXFR applies to it; it is what is saved).
    copy: Option<Arc<Zone>>,
    last_success: Option<SystemTime>,
    status: ZoneStatus,
    metrics: ZoneMetrics,
}

impl ZoneState {
    /// When the copy stops being served, if there is one that refreshed once.
    fn expires_at(&self, timers: Timers) -> Option<SystemTime> {
        self.copy.as_ref()?;
        Some(timers.expires_at(self.last_success?))
    }
}

pub struct SecondaryZone {
    pub name: Name,
    settings: ArcSwap<Settings>,
    limits: Limits,
    saver: Saver,
    publisher: Arc<Publisher>,
    alerts: Arc<Alerts>,
    /// Held while the served zone is made and handed to the publisher, so that the last
    /// zone handed over is made from the latest copy and overrides. Taken before `state`.
    served: Mutex<ServedState>,
    state: Mutex<ZoneState>,
    wake: Notify,
    force: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The status of `primaries`, keeping what `before` knew about those of the same name.
fn peer_statuses(primaries: &[Primary], before: &[PeerStatus]) -> Vec<PeerStatus> {
    primaries
        .iter()
        .map(|p| {
            let known = before
                .iter()
                .find(|s| s.name == p.name)
                .cloned()
                .unwrap_or_default();
            PeerStatus {
                name: p.name.clone(),
                address: p.addr.to_string(),
                ..known
            }
        })
        .collect()
}

impl SecondaryZone {
    /// Sets the zone up from its saved copy, if any, and makes it served (or SERVFAIL).
    pub fn new(
        settings: Settings,
        overrides: Vec<Override>,
        limits: Limits,
        store: ZoneStore,
        publisher: Arc<Publisher>,
        notifier: Arc<Notifier>,
    ) -> Arc<Self> {
        let name = settings.def.name.clone();
        let status = ZoneStatus {
            name: name.to_string(),
            kind: ZoneKind::Secondary,
            peers: peer_statuses(&settings.primaries, &[]),
            ..Default::default()
        };
        let zone = Arc::new(Self {
            alerts: Arc::new(Alerts::new(name.clone(), notifier)),
            name,
            settings: ArcSwap::from_pointee(settings),
            limits,
            saver: Saver::new(store),
            publisher,
            served: Mutex::new(ServedState {
                overrides: overrides.into(),
                current: None,
                retired: false,
            }),
            state: Mutex::new(ZoneState {
                status,
                ..ZoneState::default()
            }),
            wake: Notify::new(),
            force: AtomicBool::new(false),
        });
        match zone.saver.store().load(&zone.name) {
            Ok(Some(saved)) => {
                let serial = saved.zone.serial();
                tracing::info!(zone = %zone.name, serial, "serving the saved copy");
                {
                    let mut state = zone.state();
                    state.last_success = Some(saved.last_success);
                    if let Some((when, kind)) = saved.transferred {
                        state.status.last_transfer = Some(when);
                        state.status.last_transfer_kind = Some(kind);
                    }
                }
                zone.install(Arc::new(saved.zone));
                if zone.expired_now() {
                    zone.expire();
                }
            }
            Ok(None) => zone.publisher.set(&zone.name, None),
            Err(e) => {
                tracing::error!(zone = %zone.name, "cannot use the saved copy: {e:#}");
                zone.state()
                    .status
                    .warnings
                    .push(format!("saved copy unusable: {e:#}"));
                zone.publisher.set(&zone.name, None);
            }
        }
        zone
    }

    fn state(&self) -> MutexGuard<'_, ZoneState> {
        lock(&self.state)
    }

    pub fn status(&self) -> ZoneStatus {
        let mut status = self.state().status.clone();
        if let Some(failure) = self.saver.failure() {
            status.warnings.push(failure);
        }
        let served = lock(&self.served);
        status.overrides = served.overrides.len();
        if let Some(unused) = served.current.as_ref().and_then(|s| s.unused.clone()) {
            status.warnings.push(unused);
        }
        status
    }

    /// The zone is being removed: no more saves (see [`Saver::cancel`]).
    pub fn cancel_saves(&self) {
        self.saver.cancel();
    }

    pub fn copy(&self) -> Option<Arc<Zone>> {
        self.state().copy.clone()
    }

    /// The zone as served: the copy with the overrides applied.
    pub fn served(&self) -> Option<Arc<Zone>> {
        lock(&self.served).current.as_ref().map(|s| s.zone.clone())
    }

    /// The zone is being removed: whatever its refresh task is doing, it publishes nothing
    /// from now on.
    pub fn retire(&self) {
        lock(&self.served).retired = true;
    }

    pub fn metrics(&self) -> ZoneMetrics {
        self.state().metrics.clone()
    }

    pub fn overrides(&self) -> Arc<[Override]> {
        lock(&self.served).overrides.clone()
    }

    pub fn settings(&self) -> Arc<Settings> {
        self.settings.load_full()
    }

    /// New settings (a changed definition, peer or key), used from the next check on, which
    /// comes at once.
    pub fn reconfigure(&self, settings: Settings) {
        {
            let status = &mut self.state().status;
            status.peers = peer_statuses(&settings.primaries, &status.peers);
        }
        self.settings.store(Arc::new(settings));
        self.wake.notify_one();
    }

    /// New overrides, served at once.
    pub fn set_overrides(&self, overrides: Vec<Override>) {
        lock(&self.served).overrides = overrides.into();
        self.publish_served();
    }

    /// A check soon (NOTIFY). Several calls before the check runs lead to one check.
    pub fn refresh_soon(&self) {
        self.wake.notify_one();
    }

    /// A full transfer now, whatever the serials say (never to an older serial).
    pub fn force_transfer(&self) {
        self.force.store(true, AtomicOrdering::SeqCst);
        self.wake.notify_one();
    }

    /// REFRESH, RETRY and EXPIRE: configured values, else the copy's SOA.
    fn timers(&self) -> Timers {
        self.timers_of(self.copy().as_deref())
    }

    /// As [`Self::timers`], for a copy the caller holds.
    fn timers_of(&self, copy: Option<&Zone>) -> Timers {
        let soa = copy
            .and_then(|z| z.soa().rdatas.first().and_then(rdata::soa_timers))
            .map(|[_, refresh, retry, expire, _]| [refresh, retry, expire]);
        let def = &self.settings().def;
        Timers::new([def.refresh, def.retry, def.expire], soa)
    }

    fn expires_at(&self) -> Option<SystemTime> {
        let state = self.state();
        state.expires_at(self.timers_of(state.copy.as_deref()))
    }

    fn expired_now(&self) -> bool {
        self.expires_at().is_some_and(|at| SystemTime::now() >= at)
    }

    /// The zone's task: waits for the next event (see [`events`](super::events)) and
    /// carries it out, until the zone is removed.
    pub async fn run(self: Arc<Self>) {
        let mut schedule = Schedule::new(Instant::now());
        loop {
            let until_next = schedule
                .next_refresh
                .saturating_duration_since(Instant::now());
            let expired = {
                let status = &mut self.state().status;
                status.next_refresh = Some(unix_time::seconds(SystemTime::now() + until_next));
                status.expired
            };
            let expiry = self
                .expires_at()
                .filter(|_| !expired)
                .map(|at| at.duration_since(SystemTime::now()).unwrap_or_default());
            let event = tokio::select! {
                _ = tokio::time::sleep_until(schedule.next_refresh) => Event::Refresh,
                _ = self.wake.notified() => Event::Notify,
                _ = tokio::time::sleep(expiry.unwrap_or_default()), if expiry.is_some() => {
                    Event::Expire
                }
            };
            match event {
                Event::Expire => {
                    self.expire();
                    continue;
                }
                Event::Notify => {
                    tokio::time::sleep_until(schedule.notified(Instant::now())).await;
                    // Every NOTIFY that came meanwhile is answered by this check.
                    let _ = tokio::time::timeout(Duration::ZERO, self.wake.notified()).await;
                }
                Event::Refresh => {}
            }
            let force = self.force.swap(false, AtomicOrdering::SeqCst);
            let succeeded = self.refresh(force).await;
            let wait = schedule.refreshed(succeeded, self.timers(), Instant::now());
            if !succeeded {
                let failures = schedule.failures;
                tracing::info!(zone = %self.name, failures, retry_in = ?wait, "refresh failed; will retry");
            }
            self.state().status.consecutive_failures = schedule.failures;
        }
    }
}
