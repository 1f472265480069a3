//! The secondary-DNS object model (TSIG keys, peers, secondary zones, overrides, webhooks)
//! and its rules. Objects come from the config file (fixed: change them there) or from the
//! control API (kept in the state directory, so they survive restarts).

mod defs;
mod refused;
mod table;

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

pub use defs::{
    MAX_OVERRIDES_PER_ZONE, MAX_PEERS_PER_ZONE, MAX_WEBHOOKS, OverrideDef, OverrideType, PeerDef,
    SecondaryDef, TsigKeyDef, check_handle,
};
pub use refused::{Refused, RefusedKind};
pub use table::Object;
use table::Table;

use crate::{dns::Name, transfer::client::Primary, webhooks::WebhookDef};

/// The largest objects file read (the API's own, in the state directory): as large as a
/// zone file may be.
const MAX_OBJECTS_FILE_BYTES: u64 = crate::zone::zonefile::MAX_ZONE_FILE_BYTES;

/// What the control API keeps in the state directory.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuntimeObjects {
    #[serde(default)]
    tsig: Vec<TsigKeyDef>,
    #[serde(default)]
    peers: Vec<PeerDef>,
    #[serde(default)]
    zones: Vec<SecondaryDef>,
    /// By zone name.
    #[serde(default)]
    overrides: BTreeMap<Name, Vec<OverrideDef>>,
    #[serde(default)]
    webhooks: Vec<WebhookDef>,
}

/// Where an object is defined: the config file, or the control API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Config,
    Api,
}

crate::text_forms::display_as_serialized!(Origin);

#[derive(Clone, Debug, Default)]
pub struct Catalog {
    keys: Table<TsigKeyDef>,
    peers: Table<PeerDef>,
    zones: Table<SecondaryDef>,
    /// Always made through the API, for zones of either origin.
    overrides: BTreeMap<Name, Vec<OverrideDef>>,
    webhooks: Table<WebhookDef>,
    /// Zones served from files; a secondary zone may not take one of their names.
    static_zones: BTreeSet<Name>,
    runtime_file: Option<PathBuf>,
    /// Objects in the runtime file that do not fit the config any more (a name the config
    /// now takes, a key or zone it no longer has): not used, but kept in the file, so that
    /// editing the config never loses what the API made.
    stranded: RuntimeObjects,
}

impl Catalog {
    pub fn new(static_zones: impl IntoIterator<Item = Name>) -> Self {
        Self {
            static_zones: static_zones.into_iter().collect(),
            ..Default::default()
        }
    }

    /// Every object of a kind, with where it was defined.
    pub fn all<T: Object>(&self) -> impl Iterator<Item = (&T, Origin)> {
        T::table(self).iter()
    }

    /// The object of a kind named `name`, with where it was defined.
    pub fn get<T: Object>(&self, name: &T::Name) -> Option<(&T, Origin)> {
        T::table(self).get(name)
    }

    /// As [`Catalog::get`], refused (404 in the API) when there is none.
    pub fn found<T: Object>(&self, name: &T::Name) -> Result<(&T, Origin), Refused> {
        T::table(self).found(name)
    }

    pub fn zone(&self, name: &Name) -> Option<&SecondaryDef> {
        self.get::<SecondaryDef>(name).map(|(zone, _)| zone)
    }

    /// Adds a new object (refused if one has its name, or it breaks a rule).
    pub fn add<T: Object>(&mut self, def: T, origin: Origin) -> Result<(), Refused> {
        T::table(self).absent(def.name())?;
        def.check_new(self)?;
        def.check_in(self)?;
        T::table_mut(self).insert(def, origin);
        Ok(())
    }

    /// Replaces an object the API made, by its name.
    pub fn replace<T: Object>(&mut self, def: T) -> Result<(), Refused> {
        T::table(self).changeable(def.name())?;
        def.check_in(self)?;
        T::table_mut(self).insert(def, Origin::Api);
        Ok(())
    }

    /// Removes an object the API made, unless another refers to it.
    pub fn remove<T: Object>(&mut self, name: &T::Name) -> Result<(), Refused> {
        T::table(self).changeable(name)?;
        T::check_unused(name, self)?;
        T::table_mut(self).remove(name);
        T::removed(name, self);
        Ok(())
    }

    pub fn overrides(&self, zone: &Name) -> &[OverrideDef] {
        self.overrides.get(zone).map_or(&[], Vec::as_slice)
    }

    fn secondary(&self, zone: &Name) -> Result<(), Refused> {
        if self.zones.contains(zone) {
            Ok(())
        } else if self.static_zones.contains(zone) {
            Err(Refused::conflict(format!(
                "zone {zone} is served from a zone file: change the file instead of overriding"
            )))
        } else {
            Err(Refused::not_found(format!("zone {zone} does not exist")))
        }
    }

    /// Adds or (with `replace`) replaces the override at its name and type.
    pub fn set_override(
        &mut self,
        zone: &Name,
        def: OverrideDef,
        replace: bool,
    ) -> Result<(), Refused> {
        self.secondary(zone)?;
        def.rdatas(zone)?;
        let list = self.overrides.entry(zone.clone()).or_default();
        let what = format!("override {} {} in zone {zone}", def.name, def.rtype);
        let same = list
            .iter()
            .position(|o| o.name == def.name && o.rtype == def.rtype);
        // CNAME and other data cannot share a name (RFC 1034 §3.6.2).
        let clash = list.iter().find(|o| {
            o.name == def.name
                && o.rtype != def.rtype
                && (o.rtype == OverrideType::CNAME || def.rtype == OverrideType::CNAME)
        });
        if let Some(other) = clash {
            return Err(Refused::conflict(format!(
                "{what}: the name already has a {} override, and a CNAME cannot share a name",
                other.rtype
            )));
        }
        match (same, replace) {
            (Some(_), false) => Err(Refused::conflict(format!("{what} already exists"))),
            (None, true) => Err(Refused::not_found(format!("{what} does not exist"))),
            (Some(i), true) => {
                list[i] = def;
                Ok(())
            }
            (None, false) if list.len() >= MAX_OVERRIDES_PER_ZONE => Err(Refused::conflict(
                format!("zone {zone} already has {MAX_OVERRIDES_PER_ZONE} overrides"),
            )),
            (None, false) => {
                list.push(def);
                list.sort_by(|a, b| (&a.name, a.rtype).cmp(&(&b.name, b.rtype)));
                Ok(())
            }
        }
    }

    pub fn remove_override(
        &mut self,
        zone: &Name,
        name: &Name,
        rtype: OverrideType,
    ) -> Result<(), Refused> {
        self.secondary(zone)?;
        let list = self.overrides.entry(zone.clone()).or_default();
        let before = list.len();
        list.retain(|o| !(o.name == *name && o.rtype == rtype));
        if list.len() == before {
            return Err(Refused::not_found(format!(
                "override {name} {rtype} in zone {zone} does not exist"
            )));
        }
        if list.is_empty() {
            self.overrides.remove(zone);
        }
        Ok(())
    }

    /// The primaries of `zone`, in order, ready for the transfer client.
    pub fn primaries(&self, zone: &SecondaryDef) -> anyhow::Result<Vec<Primary>> {
        zone.peers
            .iter()
            .map(|name| {
                let (peer, _) = self
                    .peers
                    .get(name)
                    .with_context(|| format!("peer {name} vanished"))?;
                let key = match &peer.tsig {
                    Some(key_name) => {
                        let (def, _) = self
                            .keys
                            .get(key_name)
                            .with_context(|| format!("TSIG key {key_name} vanished"))?;
                        Some(Arc::new(def.key()?))
                    }
                    None => None,
                };
                Ok(Primary {
                    name: peer.name.clone(),
                    addr: SocketAddr::new(peer.address, peer.port),
                    key,
                    source: peer.source,
                    ixfr: peer.ixfr,
                })
            })
            .collect()
    }

    /// Loads what the control API added earlier from `path` (if it exists) and remembers the
    /// file for [`Catalog::save`]. Objects that no longer fit the config are kept aside (and
    /// in the file); the returned warnings say which and why.
    pub fn load_runtime(&mut self, path: &Path) -> anyhow::Result<Vec<String>> {
        self.runtime_file = Some(path.to_owned());
        let read = crate::named_files::read(path, MAX_OBJECTS_FILE_BYTES);
        let text = match read.and_then(crate::named_files::text) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let objects: RuntimeObjects =
            serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
        let mut warnings = Vec::new();
        let mut note = |what: String, e: Refused| {
            warnings.push(format!(
                "{}: {what} is not used ({e}); it stays in the file",
                path.display()
            ))
        };
        // Keys before the peers that name them, peers before zones.
        let mut stranded = RuntimeObjects {
            tsig: self.add_made_by_api(objects.tsig, &mut note),
            peers: self.add_made_by_api(objects.peers, &mut note),
            zones: self.add_made_by_api(objects.zones, &mut note),
            ..RuntimeObjects::default()
        };
        for (zone, overrides) in objects.overrides {
            for def in overrides {
                if let Err(e) = self.set_override(&zone, def.clone(), false) {
                    note(
                        format!("override {} {} in zone {zone}", def.name, def.rtype),
                        e,
                    );
                    stranded
                        .overrides
                        .entry(zone.clone())
                        .or_default()
                        .push(def);
                }
            }
        }
        stranded.webhooks = self.add_made_by_api(objects.webhooks, &mut note);
        // Kept with any an earlier load left apart.
        let kept = &mut self.stranded;
        kept.tsig.extend(stranded.tsig);
        kept.peers.extend(stranded.peers);
        kept.zones.extend(stranded.zones);
        for (zone, list) in stranded.overrides {
            kept.overrides.entry(zone).or_default().extend(list);
        }
        kept.webhooks.extend(stranded.webhooks);
        Ok(warnings)
    }

    /// Adds objects the API made earlier; returns those that no longer fit, each `note`d.
    fn add_made_by_api<T: Object>(
        &mut self,
        objects: Vec<T>,
        note: &mut impl FnMut(String, Refused),
    ) -> Vec<T> {
        let mut stranded = Vec::new();
        for def in objects {
            if let Err(e) = self.add(def.clone(), Origin::Api) {
                note(format!("{} {}", T::WHAT, def.name()), e);
                stranded.push(def);
            }
        }
        stranded
    }

    /// The stranded objects of a kind whose names nothing in use has taken since.
    fn still_apart<T: Object>(&self, stranded: &[T]) -> Vec<T> {
        let table = T::table(self);
        let apart = stranded.iter().filter(|def| !table.contains(def.name()));
        apart.cloned().collect()
    }

    /// The stranded objects whose names nothing in use has taken since.
    fn stranded_still_apart(&self) -> RuntimeObjects {
        let s = &self.stranded;
        RuntimeObjects {
            tsig: self.still_apart(&s.tsig),
            peers: self.still_apart(&s.peers),
            zones: self.still_apart(&s.zones),
            overrides: s
                .overrides
                .iter()
                .map(|(zone, list)| {
                    let used = self.overrides(zone);
                    let apart = list
                        .iter()
                        .filter(|o| !used.iter().any(|u| u.name == o.name && u.rtype == o.rtype))
                        .cloned()
                        .collect();
                    (zone.clone(), apart)
                })
                .collect(),
            webhooks: self.still_apart(&s.webhooks),
        }
    }

    /// Writes the API-made objects to the state directory, crash-safely.
    pub fn save(&self) -> anyhow::Result<()> {
        let Some(path) = &self.runtime_file else {
            return Ok(());
        };
        let apart = self.stranded_still_apart();
        let mut overrides = self.overrides.clone();
        for (zone, list) in apart.overrides {
            overrides.entry(zone).or_default().extend(list);
        }
        overrides.retain(|_, list| !list.is_empty());
        let objects = RuntimeObjects {
            tsig: [self.keys.made_by_api(), apart.tsig].concat(),
            peers: [self.peers.made_by_api(), apart.peers].concat(),
            zones: [self.zones.made_by_api(), apart.zones].concat(),
            overrides,
            webhooks: [self.webhooks.made_by_api(), apart.webhooks].concat(),
        };
        crate::persist::write_atomically(path, serde_json::to_string_pretty(&objects)?.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::tsig::Algorithm;

    /// An empty catalog that saves to objects.json in `dir`, and that file.
    fn saving_in(dir: &tempfile::TempDir) -> (Catalog, std::path::PathBuf) {
        let file = dir.path().join("objects.json");
        let mut catalog = Catalog::new([]);
        catalog.load_runtime(&file).unwrap();
        (catalog, file)
    }

    fn key(name: &str) -> TsigKeyDef {
        TsigKeyDef {
            name: name.parse().unwrap(),
            algorithm: Algorithm::HmacSha256,
            secret: "c2VjcmV0".into(),
        }
    }

    fn peer(name: &str, key: Option<&str>) -> PeerDef {
        PeerDef {
            name: name.into(),
            address: "192.0.2.10".parse().unwrap(),
            port: 53,
            ixfr: true,
            tsig: key.map(|k| k.parse().unwrap()),
            source: None,
        }
    }

    fn zone(name: &str, peers: &[&str]) -> SecondaryDef {
        SecondaryDef {
            name: name.parse().unwrap(),
            peers: peers.iter().map(|p| p.to_string()).collect(),
            refresh: Some(300),
            retry: None,
            expire: None,
        }
    }

    #[test]
    fn references_are_checked() {
        let mut c = Catalog::new(["static.example.".parse().unwrap()]);
        assert!(
            c.add(peer("p1", Some("k.")), Origin::Api)
                .unwrap_err()
                .to_string()
                .contains("does not exist")
        );
        c.add(key("k."), Origin::Config).unwrap();
        c.add(peer("p1", Some("k.")), Origin::Api).unwrap();
        assert!(c.add(zone("example.net.", &["p2"]), Origin::Api).is_err());
        assert!(c.add(zone("example.net.", &[]), Origin::Api).is_err());
        assert!(
            c.add(zone("static.example.", &["p1"]), Origin::Api)
                .is_err()
        );
        assert!(
            c.add(zone("example.net.", &["p1", "p1"]), Origin::Api)
                .is_err()
        );
        c.add(zone("example.net.", &["p1"]), Origin::Api).unwrap();
        assert!(
            c.remove::<PeerDef>(&"p1".to_owned())
                .unwrap_err()
                .to_string()
                .contains("used by zone")
        );
        assert!(
            c.remove::<TsigKeyDef>(&"k.".parse().unwrap())
                .unwrap_err()
                .to_string()
                .contains("config file")
        );
        c.remove::<SecondaryDef>(&"EXAMPLE.net.".parse().unwrap())
            .unwrap();
        c.remove::<PeerDef>(&"p1".to_owned()).unwrap();
        let bad_secret = TsigKeyDef {
            secret: "!!".into(),
            ..key("bad.")
        };
        assert!(c.add(bad_secret, Origin::Api).is_err());
        let primaries = {
            c.add(peer("p1", Some("k.")), Origin::Api).unwrap();
            c.primaries(&zone("example.net.", &["p1"])).unwrap()
        };
        assert_eq!(primaries[0].addr.to_string(), "192.0.2.10:53");
        assert!(primaries[0].key.is_some());
    }

    fn override_def(name: &str, rtype: OverrideType, data: &[&str]) -> OverrideDef {
        OverrideDef {
            name: name.parse().unwrap(),
            rtype,
            ttl: 60,
            data: data.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn overrides_are_checked() {
        let mut c = Catalog::new(["static.example.".parse().unwrap()]);
        c.add(peer("p1", None), Origin::Api).unwrap();
        let apex: Name = "example.net.".parse().unwrap();
        let www = override_def("www.example.net.", OverrideType::A, &["192.0.2.1"]);
        assert_eq!(
            c.set_override(&apex, www.clone(), false).unwrap_err().kind,
            RefusedKind::NotFound
        );
        let file_zone: Name = "static.example.".parse().unwrap();
        let in_file = override_def("www.static.example.", OverrideType::A, &["192.0.2.1"]);
        assert_eq!(
            c.set_override(&file_zone, in_file, false).unwrap_err().kind,
            RefusedKind::Conflict
        );
        c.add(zone("example.net.", &["p1"]), Origin::Config)
            .unwrap();
        c.set_override(&apex, www.clone(), false).unwrap();
        assert_eq!(
            c.set_override(&apex, www.clone(), false).unwrap_err().kind,
            RefusedKind::Conflict
        );
        c.set_override(
            &apex,
            override_def("www.example.net.", OverrideType::AAAA, &["2001:db8::1"]),
            false,
        )
        .unwrap();
        let cname = override_def("www.example.net.", OverrideType::CNAME, &["x.example.org."]);
        assert!(
            c.set_override(&apex, cname, false)
                .unwrap_err()
                .message
                .contains("CNAME")
        );
        for (bad, field) in [
            (
                override_def("www.example.org.", OverrideType::A, &["192.0.2.1"]),
                "name",
            ),
            (
                override_def("a.example.net.", OverrideType::A, &["192.0.2.300"]),
                "data[0]",
            ),
            (override_def("a.example.net.", OverrideType::A, &[]), "data"),
            (
                override_def(
                    "a.example.net.",
                    OverrideType::AAAA,
                    &["2001:db8::1", "2001:db8::1"],
                ),
                "data[1]",
            ),
            (
                override_def("a.example.net.", OverrideType::CNAME, &["x.", "y."]),
                "data",
            ),
            (
                override_def("example.net.", OverrideType::CNAME, &["x."]),
                "type",
            ),
        ] {
            let refused = c.set_override(&apex, bad, false).unwrap_err();
            assert_eq!(refused.field.as_deref(), Some(field), "{refused}");
        }
        let changed = override_def(
            "www.example.net.",
            OverrideType::A,
            &["192.0.2.2", "192.0.2.3"],
        );
        c.set_override(&apex, changed.clone(), true).unwrap();
        assert_eq!(c.overrides(&apex)[0], changed);
        c.remove_override(&apex, &www.name, OverrideType::A)
            .unwrap();
        assert_eq!(
            c.remove_override(&apex, &www.name, OverrideType::A)
                .unwrap_err()
                .kind,
            RefusedKind::NotFound
        );
        assert_eq!(c.overrides(&apex).len(), 1);
    }

    #[test]
    fn objects_that_no_longer_fit_the_config_are_kept_aside() {
        let temp = tempfile::tempdir().unwrap();
        let (mut c, file) = saving_in(&temp);
        let apex: Name = "example.net.".parse().unwrap();
        let www = override_def("www.example.net.", OverrideType::A, &["192.0.2.1"]);
        c.add(peer("p1", None), Origin::Api).unwrap();
        c.add(zone("example.net.", &["p1"]), Origin::Api).unwrap();
        c.set_override(&apex, www.clone(), false).unwrap();
        c.save().unwrap();

        // The config now serves the zone from a file: the API zone and its override are not
        // used, and say why, but a save keeps them.
        let mut edited = Catalog::new([apex.clone()]);
        let warnings = edited.load_runtime(&file).unwrap();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("zone example.net."), "{warnings:?}");
        assert_eq!(edited.all::<SecondaryDef>().count(), 0);
        edited.add(peer("p2", None), Origin::Api).unwrap();
        edited.save().unwrap();

        // Back as it was: everything is there again.
        let mut again = Catalog::new([]);
        assert!(again.load_runtime(&file).unwrap().is_empty());
        assert_eq!(again.all::<SecondaryDef>().count(), 1);
        assert_eq!(again.overrides(&apex), &[www]);
        assert_eq!(again.all::<PeerDef>().count(), 2);
    }

    #[test]
    fn runtime_objects_survive_a_restart() {
        let temp = tempfile::tempdir().unwrap();
        let (mut c, file) = saving_in(&temp);
        c.add(key("k."), Origin::Api).unwrap();
        c.add(peer("p1", Some("k.")), Origin::Api).unwrap();
        c.add(zone("example.net.", &["p1"]), Origin::Api).unwrap();
        let apex: Name = "example.net.".parse().unwrap();
        let www = override_def(
            "www.example.net.",
            OverrideType::CNAME,
            &["elsewhere.example."],
        );
        c.set_override(&apex, www.clone(), false).unwrap();
        let hook = WebhookDef {
            name: "ops".into(),
            url: "http://127.0.0.1:9/hook".into(),
            events: vec![],
            ca_file: None,
        };
        c.add(hook.clone(), Origin::Api).unwrap();
        c.save().unwrap();
        let mut again = Catalog::new([]);
        again.load_runtime(&file).unwrap();
        assert_eq!(again.all::<SecondaryDef>().count(), 1);
        assert_eq!(
            again.all::<PeerDef>().next().unwrap().0,
            &peer("p1", Some("k."))
        );
        assert_eq!(again.overrides(&apex), &[www]);
        assert_eq!(again.all::<WebhookDef>().next().unwrap().0, &hook);
    }
}
