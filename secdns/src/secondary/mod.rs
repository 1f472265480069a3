//! Secondary zones: the manager that owns them ([`Secondaries`]), each zone's work as events
//! and what decides them ([`events`]), carried out by the zone ([`zone`]), their copies on disk ([`store`], written by [`saver`]), NOTIFY ([`notify`]) and status ([`status`]).

mod alerts;
mod events;
pub mod metrics;
pub mod notify;
mod saver;
pub mod status;
pub mod store;
pub mod zone;

use std::{
    collections::BTreeMap,
    net::IpAddr,
    sync::{Arc, Mutex, MutexGuard},
};

use anyhow::Context as _;
use arc_swap::ArcSwap;
use tokio::task::JoinHandle;

use crate::{
    catalog::{Catalog, OverrideDef, Refused, SecondaryDef, TsigKeyDef},
    dns::{Name, tsig::Key},
    publish::Publisher,
    transfer::client::Limits,
    webhooks::{Notifier, WebhookDef},
    zone::{Zone, overrides::Override},
};
use store::ZoneStore;
use zone::{SecondaryZone, Settings};

type Running = (Arc<SecondaryZone>, Option<JoinHandle<()>>);

pub struct Secondaries {
    catalog: Mutex<Catalog>,
    /// The catalog's TSIG keys, decoded, for signed queries: read per query without the
    /// catalog's lock, which a change holds while it saves.
    query_keys: ArcSwap<std::collections::HashMap<Name, Key>>,
    /// Each zone and its refresh loop (once started).
    zones: Mutex<BTreeMap<Name, Running>>,
    limits: Limits,
    store: ZoneStore,
    publisher: Arc<Publisher>,
    notifier: Arc<Notifier>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn settings(catalog: &Catalog, def: &SecondaryDef) -> anyhow::Result<Settings> {
    Ok(Settings {
        def: def.clone(),
        primaries: catalog
            .primaries(def)
            .with_context(|| format!("zone {}", def.name))?,
    })
}

/// The catalog's TSIG keys with their secrets decoded (the catalog has checked them).
fn decoded_keys(catalog: &Catalog) -> std::collections::HashMap<Name, Key> {
    catalog
        .all::<TsigKeyDef>()
        .filter_map(|(def, _)| Some((def.name.clone(), def.key().ok()?)))
        .collect()
}

/// What `catalog` asks to run: each zone's settings and overrides. Fails (before anything
/// changes) when a zone's primaries cannot be made.
type Plan = Vec<(Settings, Vec<Override>)>;

fn plan(catalog: &Catalog) -> anyhow::Result<Plan> {
    catalog
        .all::<SecondaryDef>()
        .map(|(def, _)| Ok((settings(catalog, def)?, overrides(catalog, &def.name))))
        .collect()
}

/// The zone's overrides as records (the catalog has checked them).
fn overrides(catalog: &Catalog, zone: &Name) -> Vec<Override> {
    catalog
        .overrides(zone)
        .iter()
        .filter_map(|o| {
            Some(Override {
                owner: o.name.clone(),
                rtype: o.rtype.code(),
                ttl: o.ttl,
                rdatas: o.rdatas(zone).ok()?.into_iter().map(Into::into).collect(),
            })
        })
        .collect()
}

impl Secondaries {
    /// Sets up every zone of `catalog` from its saved copy (served at once); call
    /// [`Secondaries::start`] inside the runtime to begin refreshing.
    pub fn new(
        catalog: Catalog,
        limits: Limits,
        store: ZoneStore,
        publisher: Arc<Publisher>,
        notifier: Arc<Notifier>,
    ) -> anyhow::Result<Arc<Self>> {
        let this = Arc::new(Self {
            catalog: Mutex::new(Catalog::default()),
            query_keys: ArcSwap::default(),
            zones: Mutex::default(),
            limits,
            store,
            publisher,
            notifier,
        });
        this.reconcile(&catalog, plan(&catalog)?);
        this.query_keys.store(Arc::new(decoded_keys(&catalog)));
        *lock(&this.catalog) = catalog;
        Ok(this)
    }

    /// Makes the running zones and webhooks those of `catalog` (whose `plan` this is):
    /// zones created, reconfigured, given new overrides or removed as it says.
    fn reconcile(&self, catalog: &Catalog, plan: Plan) {
        let mut zones = lock(&self.zones);
        for (settings, overrides) in plan {
            let name = settings.def.name.clone();
            match zones.get(&name) {
                Some((zone, _)) => {
                    let now = zone.settings();
                    if now.def != settings.def || now.primaries != settings.primaries {
                        zone.reconfigure(settings);
                    }
                    if *zone.overrides() != *overrides {
                        zone.set_overrides(overrides);
                    }
                }
                None => {
                    let zone = SecondaryZone::new(
                        settings,
                        overrides,
                        self.limits,
                        self.store.clone(),
                        self.publisher.clone(),
                        self.notifier.clone(),
                    );
                    zones.insert(name, (zone, None));
                }
            }
        }
        let gone: Vec<Name> = zones
            .keys()
            .filter(|name| catalog.zone(name).is_none())
            .cloned()
            .collect();
        let removed: Vec<Running> = gone.iter().filter_map(|name| zones.remove(name)).collect();
        // Waiting for a save under way must not hold up NOTIFY and status readers.
        drop(zones);
        for (zone, task) in removed {
            // Its task may be anywhere, even about to publish: retired, it publishes nothing.
            zone.retire();
            if let Some(task) = task {
                task.abort();
            }
            // A copy waiting to be saved must not bring the files back.
            zone.cancel_saves();
            self.store.remove(&zone.name);
            self.publisher.remove(&zone.name);
        }
        self.notifier
            .set_webhooks(catalog.all::<WebhookDef>().map(|(w, _)| w));
    }

    /// Starts the refresh loop of every zone not yet running.
    pub fn start(&self) {
        for (zone, task) in lock(&self.zones).values_mut() {
            if task.is_none() {
                *task = Some(tokio::spawn(zone.clone().run()));
            }
        }
    }

    pub fn zone(&self, name: &Name) -> Option<Arc<SecondaryZone>> {
        lock(&self.zones).get(name).map(|(z, _)| z.clone())
    }

    /// The zones served from files: by what was loaded, not by what is served, which for a
    /// moment after a secondary zone's removal still holds it.
    pub fn file_zones(&self) -> &[Arc<Zone>] {
        self.publisher.file_zones()
    }

    /// Every secondary zone, by name.
    pub fn running(&self) -> Vec<Arc<SecondaryZone>> {
        lock(&self.zones).values().map(|(z, _)| z.clone()).collect()
    }

    pub fn catalog(&self) -> MutexGuard<'_, Catalog> {
        lock(&self.catalog)
    }

    pub fn handle_notify(&self, raw: &[u8], source: IpAddr, payload: u16) -> Option<Vec<u8>> {
        notify::handle(self, raw, source, payload)
    }

    /// The TSIG key named `name`, for a signed query; `None` when there is no such key.
    pub fn key(&self, name: &Name) -> Option<Key> {
        self.query_keys.load().get(name).cloned()
    }

    /// Applies `change` to the objects, saves them and puts them to work (zones started,
    /// reconfigured, removed); what `change` gives back, once it is all done. Nothing changes
    /// when the change fails, is refused or cannot be saved; a [`Refused`] comes back inside
    /// the error as `change` gave it. The objects stay locked throughout: a change that reads
    /// them first loses no other made meanwhile.
    pub fn change<T, E>(
        &self,
        change: impl FnOnce(&mut Catalog) -> Result<T, E>,
    ) -> anyhow::Result<T>
    where
        anyhow::Error: From<E>,
    {
        let mut catalog = self.catalog();
        let mut updated = catalog.clone();
        let made = change(&mut updated)?;
        let plan = plan(&updated)?;
        updated.save()?;
        self.reconcile(&updated, plan);
        self.query_keys.store(Arc::new(decoded_keys(&updated)));
        *catalog = updated;
        drop(catalog);
        self.start();
        Ok(made)
    }

    /// Adds or replaces an override; refused for a zone signed by its primary, which cannot
    /// be changed without breaking its signatures.
    pub fn set_override(&self, zone: &Name, def: OverrideDef, replace: bool) -> anyhow::Result<()> {
        if let Some(running) = self.zone(zone)
            && running.copy().is_some_and(|copy| copy.is_signed())
        {
            return Err(Refused::conflict(format!(
                "zone {zone} is signed by its primary (DNSSEC): overrides would break its \
                 signatures"
            ))
            .into());
        }
        self.change(|c| c.set_override(zone, def, replace))
    }
}
