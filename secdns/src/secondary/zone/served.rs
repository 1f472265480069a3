//! What the zone serves: the copy with its overrides on top, made and handed to the
//! publisher (`install`), and the EXPIRE handler, which stops serving it.

use super::*;

/// What is served for the zone, and what it is made from.
pub(super) struct ServedState {
    /// The zone's overrides, as configured (applied or not).
    pub(super) overrides: Arc<[Override]>,
    pub(super) current: Option<Served>,
    /// The zone was removed: nothing may be published for it any more.
    pub(super) retired: bool,
}

/// The zone as served: the copy with the overrides on top.
pub(super) struct Served {
    pub(super) copy: Arc<Zone>,
    pub(super) overrides: Arc<[Override]>,
    pub(super) zone: Arc<Zone>,
    /// Why the overrides are not applied, when they are not.
    pub(super) unused: Option<String>,
}

impl SecondaryZone {
    /// Makes `zone` the copy, served with the overrides on top.
    pub(super) fn install(&self, zone: Arc<Zone>) {
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
    pub(super) fn publish_served(&self) {
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
    pub(super) fn expire(&self) {
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
}
