//! The secondary-DNS object model (TSIG keys, peers, secondary zones) and its rules. Objects
//! come from the config file (fixed: change them there) or from the control API (kept in the
//! state directory, so they survive restarts).

use std::{
    collections::{BTreeMap, BTreeSet},
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

use crate::{
    dns::Name,
    transfer::{
        client::Primary,
        tsig::{self, Algorithm, Key},
    },
};

/// RFC-free but sane: a zone lists between 1 and 30 primaries (as managed services allow).
pub const MAX_PEERS_PER_ZONE: usize = 30;

fn default_algorithm() -> Algorithm {
    Algorithm::HmacSha256
}

fn default_port() -> u16 {
    53
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TsigKeyDef {
    pub name: Name,
    #[serde(default = "default_algorithm")]
    pub algorithm: Algorithm,
    /// Base64. The control API generates one when none is given.
    pub secret: String,
}

impl TsigKeyDef {
    pub fn key(&self) -> anyhow::Result<Key> {
        let secret = tsig::decode_secret(&self.secret)
            .map_err(|e| anyhow::anyhow!("TSIG key {}: {e}", self.name))?;
        Ok(Key {
            name: self.name.clone(),
            algorithm: self.algorithm,
            secret,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerDef {
    pub name: String,
    pub address: IpAddr,
    #[serde(default = "default_port")]
    pub port: u16,
    /// Ask for IXFR before AXFR when we hold a copy.
    #[serde(default)]
    pub ixfr: bool,
    pub tsig: Option<Name>,
    /// Local address for queries to this peer, to match its ACLs.
    pub source: Option<IpAddr>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecondaryDef {
    pub name: Name,
    pub peers: Vec<String>,
    /// Seconds; replaces the SOA REFRESH of the transferred zone.
    pub refresh: Option<u32>,
    /// Seconds; the SOA RETRY when absent.
    pub retry: Option<u32>,
    /// Seconds; the SOA EXPIRE when absent.
    pub expire: Option<u32>,
}

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
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Config,
    Api,
}

#[derive(Clone, Debug, Default)]
pub struct Catalog {
    keys: BTreeMap<Name, (TsigKeyDef, Origin)>,
    peers: BTreeMap<String, (PeerDef, Origin)>,
    zones: BTreeMap<Name, (SecondaryDef, Origin)>,
    /// Zones served from files; a secondary zone may not take one of their names.
    static_zones: BTreeSet<Name>,
    runtime_file: Option<PathBuf>,
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

    pub fn peers(&self) -> impl Iterator<Item = (&PeerDef, Origin)> {
        self.peers.values().map(|(p, o)| (p, *o))
    }

    pub fn zones(&self) -> impl Iterator<Item = (&SecondaryDef, Origin)> {
        self.zones.values().map(|(z, o)| (z, *o))
    }

    pub fn zone(&self, name: &Name) -> Option<&SecondaryDef> {
        self.zones.get(name).map(|(z, _)| z)
    }

    pub fn add_key(&mut self, def: TsigKeyDef, origin: Origin) -> anyhow::Result<()> {
        def.key()?;
        if self.keys.contains_key(&def.name) {
            bail!("TSIG key {} already exists", def.name);
        }
        self.keys.insert(def.name.clone(), (def, origin));
        Ok(())
    }

    pub fn add_peer(&mut self, def: PeerDef, origin: Origin) -> anyhow::Result<()> {
        if def.name.is_empty() {
            bail!("a peer needs a name");
        }
        if self.peers.contains_key(&def.name) {
            bail!("peer {} already exists", def.name);
        }
        if let Some(key) = &def.tsig
            && !self.keys.contains_key(key)
        {
            bail!(
                "peer {} names TSIG key {key}, which does not exist",
                def.name
            );
        }
        if def.port == 0 {
            bail!("peer {}: port 0", def.name);
        }
        if let Some(source) = def.source
            && source.is_ipv4() != def.address.is_ipv4()
        {
            bail!(
                "peer {}: source {source} and address {} are of different IP versions",
                def.name,
                def.address
            );
        }
        self.peers.insert(def.name.clone(), (def, origin));
        Ok(())
    }

    pub fn add_zone(&mut self, def: SecondaryDef, origin: Origin) -> anyhow::Result<()> {
        if self.zones.contains_key(&def.name) {
            bail!("zone {} already exists", def.name);
        }
        if self.static_zones.contains(&def.name) {
            bail!("zone {} is already served from a zone file", def.name);
        }
        if def.peers.is_empty() || def.peers.len() > MAX_PEERS_PER_ZONE {
            bail!(
                "zone {} lists {} peers; give 1 to {MAX_PEERS_PER_ZONE}",
                def.name,
                def.peers.len()
            );
        }
        let mut seen = BTreeSet::new();
        for peer in &def.peers {
            if !self.peers.contains_key(peer) {
                bail!("zone {} names peer {peer}, which does not exist", def.name);
            }
            if !seen.insert(peer) {
                bail!("zone {} lists peer {peer} twice", def.name);
            }
        }
        for (what, value) in [
            ("refresh", def.refresh),
            ("retry", def.retry),
            ("expire", def.expire),
        ] {
            if value == Some(0) {
                bail!("zone {}: {what} must be at least 1 second", def.name);
            }
        }
        self.zones.insert(def.name.clone(), (def, origin));
        Ok(())
    }

    fn removable<T>(what: &str, entry: Option<&(T, Origin)>) -> anyhow::Result<()> {
        match entry {
            None => bail!("{what} does not exist"),
            Some((_, Origin::Config)) => {
                bail!("{what} is defined in the config file; remove it there")
            }
            Some((_, Origin::Api)) => Ok(()),
        }
    }

    pub fn remove_key(&mut self, name: &Name) -> anyhow::Result<()> {
        Self::removable(&format!("TSIG key {name}"), self.keys.get(name))?;
        if let Some((peer, _)) = self
            .peers
            .values()
            .find(|(p, _)| p.tsig.as_ref() == Some(name))
        {
            bail!("TSIG key {name} is used by peer {}", peer.name);
        }
        self.keys.remove(name);
        Ok(())
    }

    pub fn remove_peer(&mut self, name: &str) -> anyhow::Result<()> {
        Self::removable(&format!("peer {name}"), self.peers.get(name))?;
        if let Some((zone, _)) = self
            .zones
            .values()
            .find(|(z, _)| z.peers.iter().any(|p| p == name))
        {
            bail!("peer {name} is used by zone {}", zone.name);
        }
        self.peers.remove(name);
        Ok(())
    }

    pub fn remove_zone(&mut self, name: &Name) -> anyhow::Result<()> {
        Self::removable(&format!("zone {name}"), self.zones.get(name))?;
        self.zones.remove(name);
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
    /// file for [`Catalog::save`].
    pub fn load_runtime(&mut self, path: &Path) -> anyhow::Result<()> {
        self.runtime_file = Some(path.to_owned());
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let objects: RuntimeObjects =
            serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
        let context = || format!("objects saved in {}", path.display());
        for key in objects.tsig {
            self.add_key(key, Origin::Api).with_context(context)?;
        }
        for peer in objects.peers {
            self.add_peer(peer, Origin::Api).with_context(context)?;
        }
        for zone in objects.zones {
            self.add_zone(zone, Origin::Api).with_context(context)?;
        }
        Ok(())
    }

    /// Writes the API-made objects to the state directory, crash-safely.
    pub fn save(&self) -> anyhow::Result<()> {
        let Some(path) = &self.runtime_file else {
            return Ok(());
        };
        let objects = RuntimeObjects {
            tsig: self
                .keys
                .values()
                .filter(|(_, o)| *o == Origin::Api)
                .map(|(k, _)| k.clone())
                .collect(),
            peers: self
                .peers
                .values()
                .filter(|(_, o)| *o == Origin::Api)
                .map(|(p, _)| p.clone())
                .collect(),
            zones: self
                .zones
                .values()
                .filter(|(_, o)| *o == Origin::Api)
                .map(|(z, _)| z.clone())
                .collect(),
        };
        crate::persist::write_atomically(path, serde_json::to_string_pretty(&objects)?.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        c.save().unwrap();
        let mut again = Catalog::new([]);
        again.load_runtime(&file).unwrap();
        assert_eq!(again.zones().count(), 1);
        assert_eq!(again.peers().next().unwrap().0, &peer("p1", Some("k.")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
