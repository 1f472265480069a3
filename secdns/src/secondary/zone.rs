//! One secondary zone kept in step with its primaries: the refresh loop (timer, NOTIFY, forced
//! transfer), SOA checks, IXFR with AXFR fallback, several primaries in order, retry with
//! backoff, expiry; every new copy is served, then saved.

use std::{
    cmp::Ordering,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, Ordering as AtomicOrdering},
    },
    time::{Duration, SystemTime},
};

use tokio::{sync::Notify, time::Instant};

use super::{
    saver::Saver,
    status::{PeerStatus, ZoneStatus},
    store::{ZoneStore, unix},
};
use crate::{
    catalog::SecondaryDef,
    dns::{codes::rtype, rdata},
    server::publisher::Publisher,
    transfer::{
        apply::{Collector, Kind, Outcome},
        client::{self, Limits, Primary, TransferError},
        message::Record,
        serial,
    },
    zone::Zone,
};

/// Retry interval before the first copy exists, when none is configured.
const BOOTSTRAP_RETRY: u32 = 10;
/// Least time between two checks that NOTIFY (or a forced transfer) asks for.
const NOTIFY_HOLD_DOWN: Duration = Duration::from_secs(1);
/// Refresh interval with neither a configured one nor an SOA to take it from.
const DEFAULT_REFRESH: u32 = 3600;

pub struct SecondaryZone {
    pub def: SecondaryDef,
    primaries: Vec<Primary>,
    limits: Limits,
    saver: Saver,
    publisher: Arc<Publisher>,
    copy: Mutex<Option<Arc<Zone>>>,
    last_success: Mutex<Option<SystemTime>>,
    status: Mutex<ZoneStatus>,
    wake: Notify,
    force: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Retry after `failures` failures in a row: the retry interval, doubled each time, never
/// beyond the larger of retry and refresh.
pub fn backoff(retry: u32, refresh: u32, failures: u32) -> Duration {
    let doubled = (retry as u64).saturating_mul(1u64 << failures.saturating_sub(1).min(20));
    Duration::from_secs(doubled.min(retry.max(refresh) as u64).max(1))
}

impl SecondaryZone {
    /// Sets the zone up from its saved copy, if any, and makes it served (or SERVFAIL).
    pub fn new(
        def: SecondaryDef,
        primaries: Vec<Primary>,
        limits: Limits,
        store: ZoneStore,
        publisher: Arc<Publisher>,
    ) -> Arc<Self> {
        let status = ZoneStatus {
            name: def.name.to_string(),
            peers: primaries
                .iter()
                .map(|p| PeerStatus {
                    name: p.name.clone(),
                    address: p.addr.to_string(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let zone = Arc::new(Self {
            def,
            primaries,
            limits,
            saver: Saver::new(store),
            publisher,
            copy: Mutex::new(None),
            last_success: Mutex::new(None),
            status: Mutex::new(status),
            wake: Notify::new(),
            force: AtomicBool::new(false),
        });
        match zone.saver.store().load(&zone.def.name) {
            Ok(Some(saved)) => {
                let serial = saved.zone.serial();
                tracing::info!(zone = %zone.def.name, serial, "serving the saved copy");
                *lock(&zone.last_success) = Some(saved.last_success);
                if let Some((when, kind)) = saved.transferred {
                    let mut status = lock(&zone.status);
                    status.last_transfer = Some(when);
                    status.last_transfer_kind = Some(kind);
                }
                zone.install(Arc::new(saved.zone));
                if zone.expired_now() {
                    zone.expire();
                }
            }
            Ok(None) => zone.publisher.set(&zone.def.name, None),
            Err(e) => {
                tracing::error!(zone = %zone.def.name, "cannot use the saved copy: {e:#}");
                lock(&zone.status)
                    .warnings
                    .push(format!("saved copy unusable: {e:#}"));
                zone.publisher.set(&zone.def.name, None);
            }
        }
        zone
    }

    pub fn status(&self) -> ZoneStatus {
        let mut status = lock(&self.status).clone();
        if let Some(failure) = self.saver.failure() {
            status.warnings.push(failure);
        }
        status
    }

    /// The zone is being removed: no more saves (see [`Saver::cancel`]).
    pub fn cancel_saves(&self) {
        self.saver.cancel();
    }

    pub fn copy(&self) -> Option<Arc<Zone>> {
        lock(&self.copy).clone()
    }

    pub fn primaries(&self) -> &[Primary] {
        &self.primaries
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

    /// (refresh, retry, expire) in seconds: configured values, else the copy's SOA.
    fn timers(&self) -> (u32, u32, u32) {
        let soa = self
            .copy()
            .and_then(|z| z.soa().rdatas.first().and_then(|r| rdata::soa_timers(r)));
        let refresh = self
            .def
            .refresh
            .or(soa.map(|t| t[1]))
            .unwrap_or(DEFAULT_REFRESH)
            .max(1);
        let retry = self
            .def
            .retry
            .or(soa.map(|t| t[2]))
            .unwrap_or(BOOTSTRAP_RETRY)
            .max(1);
        let expire = self.def.expire.or(soa.map(|t| t[3])).unwrap_or(u32::MAX);
        (refresh, retry, expire)
    }

    fn expires_at(&self) -> Option<SystemTime> {
        let last = (*lock(&self.last_success))?;
        self.copy()?;
        Some(last + Duration::from_secs(self.timers().2 as u64))
    }

    fn expired_now(&self) -> bool {
        self.expires_at().is_some_and(|at| SystemTime::now() >= at)
    }

    /// Makes `zone` the served copy.
    fn install(&self, zone: Arc<Zone>) {
        *lock(&self.copy) = Some(zone.clone());
        {
            let (refresh, retry, expire) = self.timers();
            let mut status = lock(&self.status);
            status.serial = Some(zone.serial());
            status.records = zone.record_count();
            status.serving = true;
            status.expired = false;
            (status.refresh, status.retry, status.expire) =
                (Some(refresh), Some(retry), Some(expire));
            status.last_success = lock(&self.last_success).map(unix);
            status.expires = self.expires_at().map(unix);
        }
        self.publisher.set(&self.def.name, Some(zone));
    }

    /// EXPIRE passed without a successful refresh: stop serving (SERVFAIL), keep the copy for
    /// IXFR and for serving again after the next success.
    fn expire(&self) {
        tracing::warn!(zone = %self.def.name, "zone expired: answering SERVFAIL until a refresh succeeds");
        let mut status = lock(&self.status);
        status.expired = true;
        status.serving = false;
        drop(status);
        self.publisher.set(&self.def.name, None);
    }

    pub async fn run(self: Arc<Self>) {
        let mut failures = 0u32;
        let mut next = Instant::now();
        let mut last_notified_check: Option<Instant> = None;
        loop {
            let until_next = next.saturating_duration_since(Instant::now());
            lock(&self.status).next_refresh = Some(unix(SystemTime::now() + until_next));
            let expired = lock(&self.status).expired;
            let expiry = self
                .expires_at()
                .filter(|_| !expired)
                .map(|at| at.duration_since(SystemTime::now()).unwrap_or_default());
            let woken = tokio::select! {
                _ = tokio::time::sleep_until(next) => false,
                _ = self.wake.notified() => true,
                _ = tokio::time::sleep(expiry.unwrap_or_default()), if expiry.is_some() => {
                    self.expire();
                    continue;
                }
            };
            if woken {
                // A burst of NOTIFYs must not become a burst of checks: the first is checked at
                // once, later ones at most once per hold-down period, answering every NOTIFY
                // that arrived in it.
                if let Some(last) = last_notified_check {
                    tokio::time::sleep_until(last + NOTIFY_HOLD_DOWN).await;
                }
                let _ = tokio::time::timeout(Duration::ZERO, self.wake.notified()).await;
                last_notified_check = Some(Instant::now());
            }
            let force = self.force.swap(false, AtomicOrdering::SeqCst);
            let succeeded = self.refresh(force).await;
            let (refresh, retry, _) = self.timers();
            if succeeded {
                failures = 0;
                next = Instant::now() + Duration::from_secs(refresh as u64);
            } else {
                failures += 1;
                let delay = backoff(retry, refresh, failures);
                next = Instant::now() + delay;
                tracing::info!(zone = %self.def.name, failures, retry_in = ?delay, "refresh failed; will retry");
            }
            lock(&self.status).consecutive_failures = failures;
        }
    }

    fn peer_result(&self, index: usize, serial: Option<u32>, result: Result<String, String>) {
        let mut status = lock(&self.status);
        if let Some(peer) = status.peers.get_mut(index) {
            peer.last_contact = Some(unix(SystemTime::now()));
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
        let name = &self.def.name;
        tracing::debug!(zone = %name, force, "checking the primaries");
        let started = SystemTime::now();
        lock(&self.status).last_check = Some(unix(started));
        let current = self.copy();
        for (index, primary) in self.primaries.iter().enumerate() {
            let soa = match client::query_soa(primary, name, &self.limits).await {
                Ok(soa) => soa,
                Err(e) => {
                    tracing::warn!(zone = %name, peer = %primary.name, "SOA query failed: {e}");
                    self.peer_result(index, None, Err(format!("SOA query: {e}")));
                    continue;
                }
            };
            let remote = rdata::soa_serial(&soa.rdata).unwrap_or_default();
            if let Some(copy) = &current {
                match serial::compare(remote, copy.serial()) {
                    Some(Ordering::Equal) if !force => {
                        self.peer_result(
                            index,
                            Some(remote),
                            Ok(format!("up to date (serial {remote})")),
                        );
                        self.succeeded(
                            copy,
                            started,
                            format!("up to date (serial {remote}) at {}", primary.name),
                        );
                        return true;
                    }
                    Some(Ordering::Less) | None => {
                        let error = format!("behind: serial {remote}, ours {}", copy.serial());
                        tracing::warn!(zone = %name, peer = %primary.name, "{error}");
                        self.peer_result(index, Some(remote), Err(error));
                        continue;
                    }
                    _ => {}
                }
            }
            match self.transfer_from(primary, current.as_ref(), force).await {
                Ok((zone, kind, warnings)) => {
                    // Whatever the SOA said, never go back to an older serial.
                    if let Some(copy) = &current
                        && !serial::is_newer(zone.serial(), copy.serial())
                        && !(force && zone.serial() == copy.serial())
                    {
                        let error = format!(
                            "{kind} brought serial {}, not newer than ours {}",
                            zone.serial(),
                            copy.serial()
                        );
                        self.peer_result(index, Some(zone.serial()), Err(error));
                        continue;
                    }
                    let serial = zone.serial();
                    self.peer_result(index, Some(serial), Ok(format!("{kind} serial {serial}")));
                    self.transferred(Arc::new(zone), kind, warnings, started);
                    tracing::info!(zone = %name, peer = %primary.name, serial, kind, "zone updated");
                    return true;
                }
                Err(e) => {
                    tracing::warn!(zone = %name, peer = %primary.name, "transfer failed: {e}");
                    self.peer_result(index, Some(remote), Err(format!("transfer: {e}")));
                }
            }
        }
        lock(&self.status).last_check_result = Some("failed: no primary could be used".into());
        false
    }

    fn succeeded(&self, copy: &Arc<Zone>, when: SystemTime, result: String) {
        *lock(&self.last_success) = Some(when);
        self.saver.mark_success(copy.clone(), when);
        lock(&self.status).last_check_result = Some(result);
        // Serving again if it had expired; refreshes timers and expiry in the status.
        self.install(copy.clone());
    }

    fn transferred(&self, zone: Arc<Zone>, kind: &str, warnings: Vec<String>, when: SystemTime) {
        for warning in &warnings {
            tracing::warn!(zone = %self.def.name, "{warning}");
        }
        *lock(&self.last_success) = Some(when);
        {
            let mut status = lock(&self.status);
            status.last_transfer = Some(unix(when));
            status.last_transfer_kind = Some(kind.to_owned());
            status.last_check_result = Some(format!("{kind} serial {}", zone.serial()));
            status.warnings = warnings;
        }
        // Served first: writing a large zone takes a while. A crash before the save is done
        // serves the copy before at start, which the first refresh brings up to date.
        self.install(zone.clone());
        self.saver.save(zone, when, kind);
    }

    /// IXFR when the primary allows it and we hold a copy (falling back to AXFR when it does
    /// not work out), else AXFR. Returns the zone, how it came, and warnings.
    async fn transfer_from(
        &self,
        primary: &Primary,
        current: Option<&Arc<Zone>>,
        force: bool,
    ) -> Result<(Zone, &'static str, Vec<String>), TransferError> {
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
                Ok(Outcome::Incremental { zone, warnings, .. }) => {
                    return Ok((zone, "IXFR", warnings));
                }
                Ok(Outcome::Full { zone, warnings }) => {
                    return Ok((zone, "IXFR (full zone)", warnings));
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
                tracing::info!(zone = %self.def.name, "{note}");
            }
        }
        match self.run_transfer(primary, Kind::Axfr, current).await? {
            Outcome::Full { zone, mut warnings } => {
                notes.append(&mut warnings);
                Ok((zone, "AXFR", notes))
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
        let mut collector = Collector::new(self.def.name.clone(), kind, self.limits);
        let (qtype, authority) = match (kind, current) {
            (Kind::Ixfr { .. }, Some(copy)) => {
                let soa = copy.soa();
                let record = Record {
                    owner: self.def.name.clone(),
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
            &self.def.name,
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
            zone = %self.def.name,
            stream_ms,
            build_ms = building.elapsed().as_millis(),
            "transfer received"
        );
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_refresh_interval() {
        assert_eq!(backoff(10, 300, 1), Duration::from_secs(10));
        assert_eq!(backoff(10, 300, 2), Duration::from_secs(20));
        assert_eq!(backoff(10, 300, 5), Duration::from_secs(160));
        assert_eq!(backoff(10, 300, 6), Duration::from_secs(300));
        assert_eq!(backoff(10, 300, 60), Duration::from_secs(300));
        assert_eq!(backoff(600, 300, 3), Duration::from_secs(600));
    }
}
