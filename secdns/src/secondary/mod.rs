//! Secondary zones: the manager that owns them ([`Secondaries`]), each zone's refresh loop
//! ([`zone`]), their copies on disk ([`store`], written by [`saver`]), NOTIFY ([`notify`]) and status ([`status`]).

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
use tokio::task::JoinHandle;

use crate::{
    catalog::{Catalog, Origin, PeerDef, SecondaryDef, TsigKeyDef},
    dns::Name,
    server::publisher::Publisher,
    transfer::client::Limits,
};
use status::ZoneStatus;
use store::ZoneStore;
use zone::SecondaryZone;

type Running = (Arc<SecondaryZone>, Option<JoinHandle<()>>);

pub struct Secondaries {
    catalog: Mutex<Catalog>,
    /// Each zone and its refresh loop (once started).
    zones: Mutex<BTreeMap<Name, Running>>,
    limits: Limits,
    store: ZoneStore,
    publisher: Arc<Publisher>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Secondaries {
    /// Sets up every zone of `catalog` from its saved copy (served at once); call
    /// [`Secondaries::start`] inside the runtime to begin refreshing.
    pub fn new(
        catalog: Catalog,
        limits: Limits,
        store: ZoneStore,
        publisher: Arc<Publisher>,
    ) -> anyhow::Result<Arc<Self>> {
        let this = Arc::new(Self {
            catalog: Mutex::new(Catalog::default()),
            zones: Mutex::default(),
            limits,
            store,
            publisher,
        });
        for (def, _) in catalog.zones() {
            this.create_zone(&catalog, def.clone())?;
        }
        *lock(&this.catalog) = catalog;
        Ok(this)
    }

    fn create_zone(
        &self,
        catalog: &Catalog,
        def: SecondaryDef,
    ) -> anyhow::Result<Arc<SecondaryZone>> {
        let primaries = catalog
            .primaries(&def)
            .with_context(|| format!("zone {}", def.name))?;
        let name = def.name.clone();
        let zone = SecondaryZone::new(
            def,
            primaries,
            self.limits,
            self.store.clone(),
            self.publisher.clone(),
        );
        lock(&self.zones).insert(name, (zone.clone(), None));
        Ok(zone)
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

    pub fn statuses(&self) -> Vec<ZoneStatus> {
        lock(&self.zones)
            .values()
            .map(|(z, _)| z.status())
            .collect()
    }

    pub fn catalog(&self) -> MutexGuard<'_, Catalog> {
        lock(&self.catalog)
    }

    pub fn handle_notify(&self, raw: &[u8], source: IpAddr) -> Option<Vec<u8>> {
        notify::handle(self, raw, source)
    }

    /// Applies `change` to the catalog and saves it; nothing changes if either fails.
    fn change(
        &self,
        change: impl FnOnce(&mut Catalog) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let mut catalog = self.catalog();
        let mut updated = catalog.clone();
        change(&mut updated)?;
        updated.save()?;
        *catalog = updated;
        Ok(())
    }

    pub fn add_key(&self, def: TsigKeyDef) -> anyhow::Result<()> {
        self.change(|c| c.add_key(def, Origin::Api))
    }

    pub fn remove_key(&self, name: &Name) -> anyhow::Result<()> {
        self.change(|c| c.remove_key(name))
    }

    pub fn add_peer(&self, def: PeerDef) -> anyhow::Result<()> {
        self.change(|c| c.add_peer(def, Origin::Api))
    }

    pub fn remove_peer(&self, name: &str) -> anyhow::Result<()> {
        self.change(|c| c.remove_peer(name))
    }

    pub fn add_zone(&self, def: SecondaryDef) -> anyhow::Result<()> {
        let mut catalog = self.catalog();
        let mut updated = catalog.clone();
        updated.add_zone(def.clone(), Origin::Api)?;
        updated.save()?;
        self.create_zone(&updated, def)?;
        *catalog = updated;
        drop(catalog);
        self.start();
        Ok(())
    }

    pub fn remove_zone(&self, name: &Name) -> anyhow::Result<()> {
        self.change(|c| c.remove_zone(name))?;
        if let Some((zone, task)) = lock(&self.zones).remove(name) {
            if let Some(task) = task {
                task.abort();
            }
            // A copy waiting to be saved must not bring the files back.
            zone.cancel_saves();
        }
        self.store.remove(name);
        self.publisher.remove(name);
        Ok(())
    }
}
