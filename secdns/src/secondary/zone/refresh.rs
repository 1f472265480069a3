//! The REFRESH handler (RETRY too, after a failure): the primaries asked in order for their
//! SOA, and a transfer (IXFR, falling back to AXFR) from the first with something newer;
//! `events` decides what each serial means.

use super::*;

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

impl SecondaryZone {
    fn peer_result(&self, index: usize, serial: Option<u32>, outcome: &PeerOutcome) {
        if let Some(peer) = self.state().status.peers.get_mut(index) {
            peer.last_contact = Some(unix_time::seconds(SystemTime::now()));
            if serial.is_some() {
                peer.last_serial = serial;
            }
            (peer.last_result, peer.last_error) = match outcome {
                PeerOutcome::Failed(why) => (Some("failed".into()), Some(why.clone())),
                done => (Some(done.to_string()), None),
            };
        }
    }

    /// One SOA check, and a transfer when a primary has something newer. True on success.
    pub(super) async fn refresh(&self, force: bool) -> bool {
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
        self.peer_result(index, serial, &PeerOutcome::Failed(error));
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
                    let outcome = PeerOutcome::UpToDate { serial: remote };
                    self.peer_result(index, Some(remote), &outcome);
                    self.succeeded(copy, started, format!("{outcome} at {}", primary.name));
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
                            let outcome = PeerOutcome::UpToDateAfterTransfer {
                                soa: remote,
                                serial,
                                kind: transfer.kind,
                            };
                            tracing::info!(zone = %name, peer = %primary.name, "{outcome}");
                            self.peer_result(index, Some(serial), &outcome);
                            self.succeeded(copy, started, format!("{outcome} at {}", primary.name));
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
                    self.peer_result(
                        index,
                        Some(serial),
                        &PeerOutcome::Transferred { serial, kind },
                    );
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
        {
            let mut state = self.state();
            state.last_success = Some(when);
            state.status.last_check_result = Some(result);
        }
        self.saver.mark_success(copy.clone(), when);
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

    /// A transfer from `primary`, counted in the metrics by kind and result.
    async fn run_transfer(
        &self,
        primary: &Primary,
        kind: Kind,
        current: Option<&Arc<Zone>>,
    ) -> Result<Outcome, TransferError> {
        let mut collector = Collector::new(self.name.clone(), kind, self.limits);
        let (qtype, authority) = self.question(kind, current);
        let streaming = std::time::Instant::now();
        let streamed = client::stream(
            primary,
            &self.name,
            qtype,
            &authority,
            &self.limits,
            &mut |records| collector.accept(records),
        )
        .await;
        let stream_ms = streaming.elapsed().as_millis();
        let outcome = match streamed {
            Ok(()) => self.build(collector, current, stream_ms).await,
            Err(e) => Err(e),
        };
        let label = match kind {
            Kind::Ixfr { .. } => "ixfr",
            Kind::Axfr => "axfr",
        };
        self.state().metrics.transfer(label, outcome.is_ok());
        outcome
    }

    /// What a transfer of `kind` asks: AXFR, or IXFR with our copy's SOA as its authority.
    fn question(&self, kind: Kind, current: Option<&Arc<Zone>>) -> (u16, Vec<Record>) {
        let (Kind::Ixfr { .. }, Some(copy)) = (kind, current) else {
            return (rtype::AXFR, Vec::new());
        };
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

    /// The zone the streamed records make. Building a large one takes a while: not on the
    /// threads that answer TCP and control.
    async fn build(
        &self,
        collector: Collector,
        current: Option<&Arc<Zone>>,
        stream_ms: u128,
    ) -> Result<Outcome, TransferError> {
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
