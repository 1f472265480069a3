//! The secondary-DNS object model (TSIG keys, peers, secondary zones, overrides, webhooks)
//! and its rules. Objects come from the config file (fixed: change them there) or from the
//! control API (kept in the state directory, so they survive restarts).

mod defs;
mod refused;

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
    SecondaryDef, TsigKeyDef,
};
pub use refused::{Refused, RefusedKind};

use crate::{dns::Name, transfer::client::Primary, webhooks::WebhookDef};

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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Config,
    Api,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Origin::Config => "config",
            Origin::Api => "api",
        })
    }
}

#[derive(Clone, Debug, Default)]
pub struct Catalog {
    keys: BTreeMap<Name, (TsigKeyDef, Origin)>,
    peers: BTreeMap<String, (PeerDef, Origin)>,
    zones: BTreeMap<Name, (SecondaryDef, Origin)>,
    /// Always made through the API, for zones of either origin.
    overrides: BTreeMap<Name, Vec<OverrideDef>>,
    webhooks: BTreeMap<String, (WebhookDef, Origin)>,
    /// Zones served from files; a secondary zone may not take one of their names.
    static_zones: BTreeSet<Name>,
    runtime_file: Option<PathBuf>,
    /// Objects in the runtime file that do not fit the config any more (a name the config
    /// now takes, a key or zone it no longer has): not used, but kept in the file, so that
    /// editing the config never loses what the API made.
    stranded: RuntimeObjects,
}

/// An object may be added under `name` only if none has it.
fn absent<K: Ord + std::fmt::Display, T>(
    map: &BTreeMap<K, (T, Origin)>,
    name: &K,
    what: &str,
) -> Result<(), Refused> {
    match map.contains_key(name) {
        true => Err(Refused::conflict(format!("{what} {name} already exists"))),
        false => Ok(()),
    }
}

/// An object that may be replaced or removed through the API: it exists and is not fixed by
/// the config file.
fn changeable<T>(what: &str, entry: Option<&(T, Origin)>) -> Result<(), Refused> {
    match entry {
        None => Err(Refused::not_found(format!("{what} does not exist"))),
        Some((_, Origin::Config)) => Err(Refused::conflict(format!(
            "{what} is defined in the config file; change it there"
        ))),
        Some((_, Origin::Api)) => Ok(()),
    }
}

impl Catalog {
    pub fn new(static_zones: impl IntoIterator<Item = Name>) -> Self {
        Self {
            static_zones: static_zones.into_iter().collect(),
            ..Default::default()
        }
    }

    pub fn keys(&self) -> impl Iterator<Item = (&TsigKeyDef, Origin)> {
        self.keys.values().map(|(k, o)| (k, *o))
    }

    pub fn key(&self, name: &Name) -> Option<(&TsigKeyDef, Origin)> {
        self.keys.get(name).map(|(k, o)| (k, *o))
    }

    pub fn peers(&self) -> impl Iterator<Item = (&PeerDef, Origin)> {
        self.peers.values().map(|(p, o)| (p, *o))
    }

    pub fn peer(&self, name: &str) -> Option<(&PeerDef, Origin)> {
        self.peers.get(name).map(|(p, o)| (p, *o))
    }

    pub fn zones(&self) -> impl Iterator<Item = (&SecondaryDef, Origin)> {
        self.zones.values().map(|(z, o)| (z, *o))
    }

    pub fn zone(&self, name: &Name) -> Option<&SecondaryDef> {
        self.zones.get(name).map(|(z, _)| z)
    }

    pub fn zone_origin(&self, name: &Name) -> Option<Origin> {
        self.zones.get(name).map(|(_, o)| *o)
    }

    pub fn webhooks(&self) -> impl Iterator<Item = (&WebhookDef, Origin)> {
        self.webhooks.values().map(|(w, o)| (w, *o))
    }

    pub fn webhook(&self, name: &str) -> Option<(&WebhookDef, Origin)> {
        self.webhooks.get(name).map(|(w, o)| (w, *o))
    }

    pub fn overrides(&self, zone: &Name) -> &[OverrideDef] {
        self.overrides.get(zone).map_or(&[], Vec::as_slice)
    }

    fn check_key(&self, def: &TsigKeyDef) -> Result<(), Refused> {
        def.key().map(drop)
    }

    pub fn add_key(&mut self, def: TsigKeyDef, origin: Origin) -> Result<(), Refused> {
        absent(&self.keys, &def.name, "TSIG key")?;
        self.check_key(&def)?;
        self.keys.insert(def.name.clone(), (def, origin));
        Ok(())
    }

    pub fn replace_key(&mut self, def: TsigKeyDef) -> Result<(), Refused> {
        changeable(&format!("TSIG key {}", def.name), self.keys.get(&def.name))?;
        self.check_key(&def)?;
        self.keys.insert(def.name.clone(), (def, Origin::Api));
        Ok(())
    }

    pub fn remove_key(&mut self, name: &Name) -> Result<(), Refused> {
        changeable(&format!("TSIG key {name}"), self.keys.get(name))?;
        if let Some((peer, _)) = self
            .peers
            .values()
            .find(|(p, _)| p.tsig.as_ref() == Some(name))
        {
            return Err(Refused::conflict(format!(
                "TSIG key {name} is used by peer {}",
                peer.name
            )));
        }
        self.keys.remove(name);
        Ok(())
    }

    fn check_peer(&self, def: &PeerDef) -> Result<(), Refused> {
        def.check()?;
        if let Some(key) = &def.tsig
            && !self.keys.contains_key(key)
        {
            return Err(Refused::invalid(
                "tsig",
                format!(
                    "peer {} names TSIG key {key}, which does not exist",
                    def.name
                ),
            ));
        }
        Ok(())
    }

    pub fn add_peer(&mut self, def: PeerDef, origin: Origin) -> Result<(), Refused> {
        absent(&self.peers, &def.name, "peer")?;
        self.check_peer(&def)?;
        self.peers.insert(def.name.clone(), (def, origin));
        Ok(())
    }

    pub fn replace_peer(&mut self, def: PeerDef) -> Result<(), Refused> {
        changeable(&format!("peer {}", def.name), self.peers.get(&def.name))?;
        self.check_peer(&def)?;
        self.peers.insert(def.name.clone(), (def, Origin::Api));
        Ok(())
    }

    pub fn remove_peer(&mut self, name: &str) -> Result<(), Refused> {
        changeable(&format!("peer {name}"), self.peers.get(name))?;
        if let Some((zone, _)) = self
            .zones
            .values()
            .find(|(z, _)| z.peers.iter().any(|p| p == name))
        {
            return Err(Refused::conflict(format!(
                "peer {name} is used by zone {}",
                zone.name
            )));
        }
        self.peers.remove(name);
        Ok(())
    }

    fn check_zone(&self, def: &SecondaryDef) -> Result<(), Refused> {
        def.check()?;
        if let Some(peer) = def.peers.iter().find(|p| !self.peers.contains_key(*p)) {
            return Err(Refused::invalid(
                "peers",
                format!("zone {} names peer {peer}, which does not exist", def.name),
            ));
        }
        Ok(())
    }

    pub fn add_zone(&mut self, def: SecondaryDef, origin: Origin) -> Result<(), Refused> {
        absent(&self.zones, &def.name, "zone")?;
        if self.static_zones.contains(&def.name) {
            return Err(Refused::conflict(format!(
                "zone {} is already served from a zone file",
                def.name
            )));
        }
        self.check_zone(&def)?;
        self.zones.insert(def.name.clone(), (def, origin));
        Ok(())
    }

    pub fn replace_zone(&mut self, def: SecondaryDef) -> Result<(), Refused> {
        changeable(&format!("zone {}", def.name), self.zones.get(&def.name))?;
        self.check_zone(&def)?;
        self.zones.insert(def.name.clone(), (def, Origin::Api));
        Ok(())
    }

    /// Removes the zone and its overrides.
    pub fn remove_zone(&mut self, name: &Name) -> Result<(), Refused> {
        changeable(&format!("zone {name}"), self.zones.get(name))?;
        self.zones.remove(name);
        self.overrides.remove(name);
        Ok(())
    }

    fn secondary(&self, zone: &Name) -> Result<(), Refused> {
        if self.zones.contains_key(zone) {
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

    pub fn add_webhook(&mut self, def: WebhookDef, origin: Origin) -> Result<(), Refused> {
        absent(&self.webhooks, &def.name, "webhook")?;
        if self.webhooks.len() >= MAX_WEBHOOKS {
            return Err(Refused::conflict(format!(
                "there are already {MAX_WEBHOOKS} webhooks"
            )));
        }
        defs::check_webhook(&def)?;
        self.webhooks.insert(def.name.clone(), (def, origin));
        Ok(())
    }

    pub fn replace_webhook(&mut self, def: WebhookDef) -> Result<(), Refused> {
        changeable(
            &format!("webhook {}", def.name),
            self.webhooks.get(&def.name),
        )?;
        defs::check_webhook(&def)?;
        self.webhooks.insert(def.name.clone(), (def, Origin::Api));
        Ok(())
    }

    pub fn remove_webhook(&mut self, name: &str) -> Result<(), Refused> {
        changeable(&format!("webhook {name}"), self.webhooks.get(name))?;
        self.webhooks.remove(name);
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
        let text = match std::fs::read_to_string(path) {
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
        for key in objects.tsig {
            if let Err(e) = self.add_key(key.clone(), Origin::Api) {
                note(format!("TSIG key {}", key.name), e);
                self.stranded.tsig.push(key);
            }
        }
        for peer in objects.peers {
            if let Err(e) = self.add_peer(peer.clone(), Origin::Api) {
                note(format!("peer {}", peer.name), e);
                self.stranded.peers.push(peer);
            }
        }
        for zone in objects.zones {
            if let Err(e) = self.add_zone(zone.clone(), Origin::Api) {
                note(format!("zone {}", zone.name), e);
                self.stranded.zones.push(zone);
            }
        }
        for (zone, overrides) in objects.overrides {
            for def in overrides {
                if let Err(e) = self.set_override(&zone, def.clone(), false) {
                    note(
                        format!("override {} {} in zone {zone}", def.name, def.rtype),
                        e,
                    );
                    self.stranded
                        .overrides
                        .entry(zone.clone())
                        .or_default()
                        .push(def);
                }
            }
        }
        for webhook in objects.webhooks {
            if let Err(e) = self.add_webhook(webhook.clone(), Origin::Api) {
                note(format!("webhook {}", webhook.name), e);
                self.stranded.webhooks.push(webhook);
            }
        }
        Ok(warnings)
    }

    /// The stranded objects whose names nothing in use has taken since.
    fn stranded_still_apart(&self) -> RuntimeObjects {
        let s = &self.stranded;
        RuntimeObjects {
            tsig: s
                .tsig
                .iter()
                .filter(|k| !self.keys.contains_key(&k.name))
                .cloned()
                .collect(),
            peers: s
                .peers
                .iter()
                .filter(|p| !self.peers.contains_key(&p.name))
                .cloned()
                .collect(),
            zones: s
                .zones
                .iter()
                .filter(|z| !self.zones.contains_key(&z.name))
                .cloned()
                .collect(),
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
            webhooks: s
                .webhooks
                .iter()
                .filter(|w| !self.webhooks.contains_key(&w.name))
                .cloned()
                .collect(),
        }
    }

    /// Writes the API-made objects to the state directory, crash-safely.
    pub fn save(&self) -> anyhow::Result<()> {
        let Some(path) = &self.runtime_file else {
            return Ok(());
        };
        fn made_by_api<K, T: Clone>(map: &BTreeMap<K, (T, Origin)>) -> Vec<T> {
            map.values()
                .filter(|(_, o)| *o == Origin::Api)
                .map(|(v, _)| v.clone())
                .collect()
        }
        let apart = self.stranded_still_apart();
        let mut overrides = self.overrides.clone();
        for (zone, list) in apart.overrides {
            overrides.entry(zone).or_default().extend(list);
        }
        overrides.retain(|_, list| !list.is_empty());
        let objects = RuntimeObjects {
            tsig: [made_by_api(&self.keys), apart.tsig].concat(),
            peers: [made_by_api(&self.peers), apart.peers].concat(),
            zones: [made_by_api(&self.zones), apart.zones].concat(),
            overrides,
            webhooks: [made_by_api(&self.webhooks), apart.webhooks].concat(),
        };
        crate::persist::write_atomically(path, serde_json::to_string_pretty(&objects)?.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::tsig::Algorithm;

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
            c.add_peer(peer("p1", Some("k.")), Origin::Api)
                .unwrap_err()
                .to_string()
                .contains("does not exist")
        );
        c.add_key(key("k."), Origin::Config).unwrap();
        c.add_peer(peer("p1", Some("k.")), Origin::Api).unwrap();
        assert!(
            c.add_zone(zone("example.net.", &["p2"]), Origin::Api)
                .is_err()
        );
        assert!(c.add_zone(zone("example.net.", &[]), Origin::Api).is_err());
        assert!(
            c.add_zone(zone("static.example.", &["p1"]), Origin::Api)
                .is_err()
        );
        assert!(
            c.add_zone(zone("example.net.", &["p1", "p1"]), Origin::Api)
                .is_err()
        );
        c.add_zone(zone("example.net.", &["p1"]), Origin::Api)
            .unwrap();
        assert!(
            c.remove_peer("p1")
                .unwrap_err()
                .to_string()
                .contains("used by zone")
        );
        assert!(
            c.remove_key(&"k.".parse().unwrap())
                .unwrap_err()
                .to_string()
                .contains("config file")
        );
        c.remove_zone(&"EXAMPLE.net.".parse().unwrap()).unwrap();
        c.remove_peer("p1").unwrap();
        let bad_secret = TsigKeyDef {
            secret: "!!".into(),
            ..key("bad.")
        };
        assert!(c.add_key(bad_secret, Origin::Api).is_err());
        let primaries = {
            c.add_peer(peer("p1", Some("k.")), Origin::Api).unwrap();
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
        c.add_peer(peer("p1", None), Origin::Api).unwrap();
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
        c.add_zone(zone("example.net.", &["p1"]), Origin::Config)
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
        let dir = std::env::temp_dir().join(format!("secdns-stranded-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("objects.json");
        let _ = std::fs::remove_file(&file);
        let apex: Name = "example.net.".parse().unwrap();
        let www = override_def("www.example.net.", OverrideType::A, &["192.0.2.1"]);
        let mut c = Catalog::new([]);
        c.load_runtime(&file).unwrap();
        c.add_peer(peer("p1", None), Origin::Api).unwrap();
        c.add_zone(zone("example.net.", &["p1"]), Origin::Api)
            .unwrap();
        c.set_override(&apex, www.clone(), false).unwrap();
        c.save().unwrap();

        // The config now serves the zone from a file: the API zone and its override are not
        // used, and say why, but a save keeps them.
        let mut edited = Catalog::new([apex.clone()]);
        let warnings = edited.load_runtime(&file).unwrap();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("zone example.net."), "{warnings:?}");
        assert_eq!(edited.zones().count(), 0);
        edited.add_peer(peer("p2", None), Origin::Api).unwrap();
        edited.save().unwrap();

        // Back as it was: everything is there again.
        let mut again = Catalog::new([]);
        assert!(again.load_runtime(&file).unwrap().is_empty());
        assert_eq!(again.zones().count(), 1);
        assert_eq!(again.overrides(&apex), &[www]);
        assert_eq!(again.peers().count(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn runtime_objects_survive_a_restart() {
        let dir = std::env::temp_dir().join(format!("secdns-catalog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("objects.json");
        let _ = std::fs::remove_file(&file);
        let mut c = Catalog::new([]);
        c.load_runtime(&file).unwrap();
        c.add_key(key("k."), Origin::Api).unwrap();
        c.add_peer(peer("p1", Some("k.")), Origin::Api).unwrap();
        c.add_zone(zone("example.net.", &["p1"]), Origin::Api)
            .unwrap();
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
        c.add_webhook(hook.clone(), Origin::Api).unwrap();
        c.save().unwrap();
        let mut again = Catalog::new([]);
        again.load_runtime(&file).unwrap();
        assert_eq!(again.zones().count(), 1);
        assert_eq!(again.peers().next().unwrap().0, &peer("p1", Some("k.")));
        assert_eq!(again.overrides(&apex), &[www]);
        assert_eq!(again.webhooks().next().unwrap().0, &hook);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
