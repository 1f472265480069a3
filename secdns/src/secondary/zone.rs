//! One secondary zone kept in step with its primaries: the refresh loop (timer, NOTIFY, forced
//! transfer), SOA checks, IXFR with AXFR fallback, several primaries in order, retry with
//! backoff, expiry; every new copy is served (with the zone's overrides on top), then saved.

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
        Event, Schedule, SoaVerdict, Timers, TransferKind, TransferVerdict, judge_soa,
        judge_transfer,
    },
    metrics::{ZoneMetrics, reason},
    saver::Saver,
    status::{PeerStatus, ZoneStatus},
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

/// What the zone is configured with; replaced whole when its definition, a peer or a key
/// changes.
pub struct Settings {
    pub def: SecondaryDef,
    pub primaries: Vec<Primary>,
}

/// What is served for the zone, and what it is made from.
struct ServedState {
    /// The zone's overrides, as configured (applied or not).
    overrides: Arc<[Override]>,
    current: Option<Served>,
    /// The zone was removed: nothing may be published for it any more.
    retired: bool,
}

/// The zone as served: the copy with the overrides on top.
struct Served {
    copy: Arc<Zone>,
    overrides: Arc<[Override]>,
    zone: Arc<Zone>,
    /// Why the overrides are not applied, when they are not.
    unused: Option<String>,
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

/// A new copy from a primary.
struct Transferred {
    zone: Zone,
    /// "AXFR", "IXFR", "IXFR (full zone)".
    kind: TransferKind,
    warnings: Vec<String>,
    /// Records deleted plus added, when the transfer says (IXFR).
    changed: Option<u64>,
}

/// Failures that retrying will not mend and a person should look at.
fn needs_a_look(e: &TransferError) -> bool {
    matches!(
        e,
        TransferError::Tsig(_) | TransferError::Limit(_) | TransferError::TransferTimeout(_)
    )
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
            kind: "secondary".into(),
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

    /// Makes `zone` the copy, served with the overrides on top.
    fn install(&self, zone: Arc<Zone>) {
        {
            let mut state = self.state();
            state.copy = Some(zone.clone());
            let timers = self.timers_of(Some(&zone));
            let (last_success, expires) = (state.last_success, state.expires_at(timers));
            let status = &mut state.status;
            status.serial = Some(zone.serial());
            status.records = zone.record_count();
            status.serving = true;
            status.expired = false;
            (status.refresh, status.retry, status.expire) = (
                Some(timers.refresh),
                Some(timers.retry),
                Some(timers.expire),
            );
            status.last_success = last_success.map(unix_time::seconds);
            status.expires = expires.map(unix_time::seconds);
        }
        self.publish_served();
    }

    /// Serves the copy with the current overrides, unless the zone has expired.
    fn publish_served(&self) {
        let mut served = lock(&self.served);
        if served.retired {
            return;
        }
        let Some(copy) = self.copy() else {
            return;
        };
        let zone = self.overlay(&mut served, copy);
        if !self.state().status.expired {
            self.publisher.set(&self.name, Some(zone));
        }
    }

    /// `copy` with the overrides applied. When only the copy changed, and by a known change,
    /// the result is marked as derived from the zone served before, so that the XDP maps are
    /// updated for the changed names only.
    fn overlay(&self, served: &mut ServedState, copy: Arc<Zone>) -> Arc<Zone> {
        let overrides = served.overrides.clone();
        if let Some(same) = served
            .current
            .as_ref()
            .filter(|s| Arc::ptr_eq(&s.copy, &copy) && Arc::ptr_eq(&s.overrides, &overrides))
        {
            return same.zone.clone();
        }
        let mut unused = None;
        let zone = if overrides.is_empty() {
            copy.clone()
        } else if copy.is_signed() {
            unused = Some(format!(
                "{} overrides are not applied: the zone is signed by its primary, and \
                 changing it would break its signatures",
                overrides.len()
            ));
            copy.clone()
        } else {
            match overrides::apply(&copy, &overrides) {
                Ok(mut zone) => {
                    if let Some(before) = served.current.as_ref()
                        && Arc::ptr_eq(&before.overrides, &overrides)
                        && let Some(changed) = copy.changed_since(&before.copy)
                    {
                        let owners = changed
                            .iter()
                            .cloned()
                            .chain(overrides::owners(&overrides))
                            .collect();
                        zone.set_derived(&before.zone, owners);
                    }
                    Arc::new(zone)
                }
                Err(e) => {
                    unused = Some(format!("overrides are not applied: {e}"));
                    copy.clone()
                }
            }
        };
        if let Some(why) = &unused {
            self.alerts.warning(why.clone(), None);
        }
        served.current = Some(Served {
            copy,
            overrides,
            zone: zone.clone(),
            unused,
        });
        zone
    }

    /// EXPIRE passed without a successful refresh: stop serving (SERVFAIL), keep the copy for
    /// IXFR and for serving again after the next success.
    fn expire(&self) {
        let served = lock(&self.served);
        if served.retired {
            return;
        }
        tracing::warn!(zone = %self.name, "zone expired: answering SERVFAIL until a refresh succeeds");
        {
            let status = &mut self.state().status;
            status.expired = true;
            status.serving = false;
        }
        self.publisher.set(&self.name, None);
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

    fn peer_result(&self, index: usize, serial: Option<u32>, result: Result<String, String>) {
        if let Some(peer) = self.state().status.peers.get_mut(index) {
            peer.last_contact = Some(unix_time::seconds(SystemTime::now()));
            if serial.is_some() {
                peer.last_serial = serial;
            }
            match result {
                Ok(text) => {
                    peer.last_result = Some(text);
                    peer.last_error = None;
                }
                Err(text) => {
                    peer.last_result = Some("failed".into());
                    peer.last_error = Some(text);
                }
            }
        }
    }

    /// One SOA check, and a transfer when a primary has something newer. True on success.
    async fn refresh(&self, force: bool) -> bool {
        let mut failures = Vec::new();
        let succeeded = self.check_primaries(force, &mut failures).await;
        self.alerts.refreshed(succeeded, failures);
        succeeded
    }

    /// Notes that `primary` (at `index`) failed; the failures worth a person's look (TSIG,
    /// limits, a peer behind) are also warnings.
    fn peer_failed(
        &self,
        failures: &mut Vec<PeerFailure>,
        (index, primary): (usize, &Primary),
        serial: Option<u32>,
        (error, why): (String, &'static str),
        warn: bool,
    ) {
        tracing::warn!(zone = %self.name, peer = %primary.name, "{error}");
        self.state().metrics.peer_failure(&primary.name, why);
        if warn {
            self.alerts.warning(
                format!("peer {}: {error}", primary.name),
                Some(&primary.name),
            );
        }
        failures.push(PeerFailure {
            peer: primary.name.clone(),
            address: primary.addr.to_string(),
            error: error.clone(),
        });
        self.peer_result(index, serial, Err(error));
    }

    async fn check_primaries(&self, force: bool, failures: &mut Vec<PeerFailure>) -> bool {
        let name = &self.name;
        tracing::debug!(zone = %name, force, "checking the primaries");
        let started = SystemTime::now();
        let (held, expired) = {
            let mut state = self.state();
            state.status.last_check = Some(unix_time::seconds(started));
            (state.copy.clone(), state.status.expired)
        };
        // After EXPIRE our copy says nothing about what is current: whatever a primary has is
        // taken, whole, even an older serial (as NSD does). `current` is what serials are
        // compared with and differences applied to.
        let current = held.clone().filter(|_| !expired);
        let settings = self.settings();
        for peer @ (index, primary) in settings.primaries.iter().enumerate() {
            let soa = match client::query_soa(primary, name, &self.limits).await {
                Ok(soa) => soa,
                Err(e) => {
                    let warn = needs_a_look(&e);
                    let error = (format!("SOA query: {e}"), reason(&e));
                    self.peer_failed(failures, peer, None, error, warn);
                    continue;
                }
            };
            let remote = rdata::soa_serial(&soa.rdata).unwrap_or_default();
            let ours = current.as_ref().map(|copy| copy.serial());
            match (judge_soa(ours, remote, force), &current) {
                (SoaVerdict::UpToDate, Some(copy)) => {
                    let text = format!("up to date (serial {remote})");
                    self.peer_result(index, Some(remote), Ok(text.clone()));
                    self.succeeded(copy, started, format!("{text} at {}", primary.name));
                    return true;
                }
                (SoaVerdict::Behind, Some(copy)) => {
                    let error = format!("behind: serial {remote}, ours {}", copy.serial());
                    self.peer_failed(failures, peer, Some(remote), (error, "behind"), true);
                    continue;
                }
                _ => {}
            }
            match self.transfer_from(primary, current.as_ref(), force).await {
                Ok(mut transfer) => {
                    let zone = &transfer.zone;
                    match (judge_transfer(ours, zone.serial(), force), &current) {
                        (TransferVerdict::UpToDate, Some(copy)) => {
                            let serial = zone.serial();
                            let text = format!(
                                "up to date (serial {serial}; its SOA said {remote}, the {} \
                                 brought {serial})",
                                transfer.kind
                            );
                            tracing::info!(zone = %name, peer = %primary.name, "{text}");
                            self.peer_result(index, Some(serial), Ok(text.clone()));
                            self.succeeded(copy, started, format!("{text} at {}", primary.name));
                            return true;
                        }
                        (TransferVerdict::Older { comparable }, Some(copy)) => {
                            let relation = match comparable {
                                true => "older than",
                                false => "not comparable (RFC 1982) with",
                            };
                            let error = format!(
                                "{} brought serial {}, {relation} ours {}",
                                transfer.kind,
                                zone.serial(),
                                copy.serial()
                            );
                            let error = (error, "behind");
                            self.peer_failed(failures, peer, Some(zone.serial()), error, true);
                            continue;
                        }
                        _ => {}
                    }
                    if let Some(old) = held.as_ref().filter(|_| expired) {
                        let older = !serial::is_newer(zone.serial(), old.serial());
                        transfer.warnings.push(format!(
                            "taken after the zone expired: serial {} in place of the expired \
                             copy's {}{}",
                            zone.serial(),
                            old.serial(),
                            if older { ", though not newer" } else { "" }
                        ));
                    }
                    let (serial, kind) = (zone.serial(), transfer.kind);
                    self.peer_result(index, Some(serial), Ok(format!("{kind} serial {serial}")));
                    tracing::info!(zone = %name, peer = %primary.name, serial, kind = kind.as_str(), "zone updated");
                    self.transferred(transfer, held, primary, started);
                    return true;
                }
                Err(e) => {
                    let warn = needs_a_look(&e);
                    let error = (format!("transfer: {e}"), reason(&e));
                    self.peer_failed(failures, peer, Some(remote), error, warn);
                }
            }
        }
        self.state().status.last_check_result = Some("failed: no primary could be used".into());
        false
    }

    fn succeeded(&self, copy: &Arc<Zone>, when: SystemTime, result: String) {
        self.state().last_success = Some(when);
        self.saver.mark_success(copy.clone(), when);
        self.state().status.last_check_result = Some(result);
        // Serving again if it had expired; refreshes timers and expiry in the status.
        self.install(copy.clone());
    }

    fn transferred(
        &self,
        transfer: Transferred,
        before: Option<Arc<Zone>>,
        primary: &Primary,
        when: SystemTime,
    ) {
        let Transferred {
            zone,
            kind,
            warnings,
            changed,
        } = transfer;
        let zone = Arc::new(zone);
        if !warnings.is_empty() {
            self.alerts.warning(
                format!("{kind} from {}: {}", primary.name, warnings.join("; ")),
                Some(&primary.name),
            );
        }
        {
            let mut state = self.state();
            state.last_success = Some(when);
            let status = &mut state.status;
            status.last_transfer = Some(unix_time::seconds(when));
            status.last_transfer_kind = Some(kind.to_string());
            status.last_check_result = Some(format!("{kind} serial {}", zone.serial()));
            status.warnings = warnings;
        }
        // Served first: writing a large zone takes a while. A crash before the save is done
        // serves the copy before at start, which the first refresh brings up to date.
        self.install(zone.clone());
        self.saver.save(zone.clone(), when, kind.as_str());
        // Only an IXFR applied as differences says what it changed.
        let kind = kind.counted_as();
        let old_serial = before.as_ref().map(|z| z.serial());
        match (changed, before) {
            // Comparing two large copies takes a while: not on this task.
            (None, Some(before)) => {
                let (alerts, peer) = (self.alerts.clone(), primary.name.clone());
                tokio::task::spawn_blocking(move || {
                    let changed = changed_records(&before, &zone);
                    alerts.updated(old_serial, zone.serial(), kind, changed, &peer);
                });
            }
            (changed, _) => {
                let changed = changed.unwrap_or(zone.record_count() as u64);
                let serial = zone.serial();
                self.alerts
                    .updated(old_serial, serial, kind, changed, &primary.name);
            }
        }
    }

    /// IXFR when the primary allows it and we hold a copy (falling back to AXFR when it does
    /// not work out), else AXFR. Returns the zone, how it came, and warnings.
    async fn transfer_from(
        &self,
        primary: &Primary,
        current: Option<&Arc<Zone>>,
        force: bool,
    ) -> Result<Transferred, TransferError> {
        let mut notes = Vec::new();
        if let Some(copy) = current.filter(|_| primary.ixfr && !force) {
            match self
                .run_transfer(
                    primary,
                    Kind::Ixfr {
                        from: copy.serial(),
                    },
                    Some(copy),
                )
                .await
            {
                Ok(Outcome::Incremental {
                    zone,
                    warnings,
                    changed,
                    ..
                }) => {
                    return Ok(Transferred {
                        zone,
                        kind: TransferKind::Ixfr,
                        warnings,
                        changed: Some(changed as u64),
                    });
                }
                Ok(Outcome::Full { zone, warnings }) => {
                    return Ok(Transferred {
                        zone,
                        kind: TransferKind::IxfrFullZone,
                        warnings,
                        changed: None,
                    });
                }
                Ok(Outcome::UpToDate { serial }) => {
                    notes.push(format!(
                        "IXFR from {} said serial {serial} is current; trying AXFR",
                        primary.name
                    ));
                }
                Err(e) if e.is_transport() => return Err(e),
                Err(e) => notes.push(format!(
                    "IXFR from {} failed ({e}); fell back to AXFR",
                    primary.name
                )),
            }
            for note in &notes {
                tracing::info!(zone = %self.name, "{note}");
            }
        }
        match self.run_transfer(primary, Kind::Axfr, current).await? {
            Outcome::Full { zone, mut warnings } => {
                notes.append(&mut warnings);
                Ok(Transferred {
                    zone,
                    kind: TransferKind::Axfr,
                    warnings: notes,
                    changed: None,
                })
            }
            _ => Err(TransferError::Protocol("AXFR did not bring a zone".into())),
        }
    }

    async fn run_transfer(
        &self,
        primary: &Primary,
        kind: Kind,
        current: Option<&Arc<Zone>>,
    ) -> Result<Outcome, TransferError> {
        let label = match kind {
            Kind::Ixfr { .. } => "ixfr",
            Kind::Axfr => "axfr",
        };
        let outcome = self.receive(primary, kind, current).await;
        self.state().metrics.transfer(label, outcome.is_ok());
        outcome
    }

    async fn receive(
        &self,
        primary: &Primary,
        kind: Kind,
        current: Option<&Arc<Zone>>,
    ) -> Result<Outcome, TransferError> {
        let mut collector = Collector::new(self.name.clone(), kind, self.limits);
        let (qtype, authority) = match (kind, current) {
            (Kind::Ixfr { .. }, Some(copy)) => {
                let soa = copy.soa();
                let record = Record {
                    owner: self.name.clone(),
                    rtype: rtype::SOA,
                    class: crate::dns::codes::class::IN,
                    ttl: soa.ttl,
                    rdata: soa.rdatas.first().map(|r| r.to_vec()).unwrap_or_default(),
                };
                (rtype::IXFR, vec![record])
            }
            _ => (rtype::AXFR, Vec::new()),
        };
        let streaming = std::time::Instant::now();
        client::stream(
            primary,
            &self.name,
            qtype,
            &authority,
            &self.limits,
            &mut |records| collector.accept(records),
        )
        .await?;
        let stream_ms = streaming.elapsed().as_millis();
        // Building a large zone takes a while: not on the threads that answer TCP and control.
        let current = current.cloned();
        let building = std::time::Instant::now();
        let outcome = tokio::task::spawn_blocking(move || collector.finish(current.as_deref()))
            .await
            .map_err(|e| TransferError::Protocol(format!("building the zone failed: {e}")))?;
        tracing::debug!(
            zone = %self.name,
            stream_ms,
            build_ms = building.elapsed().as_millis(),
            "transfer received"
        );
        outcome
    }
}
