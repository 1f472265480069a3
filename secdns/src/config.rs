//! The server configuration file (TOML). Everything is checked before anything starts: an
//! error names the file and what is wrong, and the server does not start half-configured.

use std::{
    collections::HashSet,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, bail};
use serde::Deserialize;

use crate::{
    catalog::{Catalog, Origin, PeerDef, SecondaryDef, TsigKeyDef},
    dns::Name,
    transfer::client::Limits,
    webhooks::WebhookDef,
    xdp::settings::XdpConfig,
};

pub const DEFAULT_CONTROL: &str = "127.0.0.1:8053";
pub const DEFAULT_UDP_PAYLOAD: u16 = 1232;
/// The largest config file read, far above one of many thousands of zones.
const MAX_CONFIG_BYTES: u64 = 256 << 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub xdp: Option<XdpConfig>,
    #[serde(default)]
    pub transfer: TransferConfig,
    #[serde(default, rename = "tsig")]
    pub tsig_keys: Vec<TsigKeyDef>,
    #[serde(default, rename = "peer")]
    pub peers: Vec<PeerDef>,
    #[serde(default, rename = "zone")]
    pub zones: Vec<ZoneConfig>,
    #[serde(default, rename = "webhook")]
    pub webhooks: Vec<WebhookDef>,
    /// Response rate limiting; none without the section.
    pub rrl: Option<crate::rate_limit::RrlConfig>,
    /// DNS Cookies; on, with a random secret, without the section.
    #[serde(default)]
    pub cookies: crate::cookies::CookieConfig,
}

/// Limits on what a primary may send; a transfer over them keeps the old copy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransferConfig {
    pub max_records: usize,
    pub max_bytes: usize,
    /// Records in one RRset, and at one name (transfers and zone files alike).
    pub max_records_per_rrset: usize,
    pub max_records_per_name: usize,
    /// Seconds for a whole transfer.
    pub timeout: u64,
    /// Seconds to wait for any one message.
    pub idle_timeout: u64,
}

impl Default for TransferConfig {
    fn default() -> Self {
        let limits = Limits::default();
        Self {
            max_records: limits.max_records,
            max_bytes: limits.max_bytes,
            max_records_per_rrset: limits.records.per_rrset,
            max_records_per_name: limits.records.per_name,
            timeout: limits.transfer_timeout.as_secs(),
            idle_timeout: limits.idle_timeout.as_secs(),
        }
    }
}

impl TransferConfig {
    pub fn limits(&self) -> Limits {
        Limits {
            max_records: self.max_records,
            max_bytes: self.max_bytes,
            records: crate::zone::RecordLimits {
                per_rrset: self.max_records_per_rrset,
                per_name: self.max_records_per_name,
            },
            transfer_timeout: std::time::Duration::from_secs(self.timeout),
            idle_timeout: std::time::Duration::from_secs(self.idle_timeout),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Addresses answered over both UDP and TCP.
    pub listen: Vec<SocketAddr>,
    pub state_dir: PathBuf,
    #[serde(default = "default_control")]
    pub control: SocketAddr,
    /// Bearer token the control API requires of every client. Without it, the API answers
    /// local (loopback) clients only.
    pub control_token: Option<String>,
    /// EDNS UDP payload size we advertise and never exceed (RFC 6891 §6.2.5).
    #[serde(default = "default_udp_payload")]
    pub udp_payload: u16,
    /// Seconds a TCP connection may stay idle between queries (RFC 7766 §6.2.3).
    #[serde(default = "default_tcp_idle")]
    pub tcp_idle_timeout: u64,
    /// Concurrent TCP connections. At the limit, a new one closes the connection idle the
    /// longest (RFC 7766 §6.2.3); with none idle, it waits in the kernel's backlog.
    #[serde(default = "default_tcp_max")]
    pub tcp_max_connections: usize,
    /// Concurrent TCP connections from one client (an IPv4 address, an IPv6 /64); more are
    /// closed at once, so that one client cannot hold the slots everyone else needs.
    #[serde(default = "default_tcp_max_per_client")]
    pub tcp_max_per_client: usize,
}

/// A zone served from a file, or (with `peers`) a secondary zone.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    pub name: Name,
    pub file: Option<PathBuf>,
    #[serde(default)]
    pub peers: Vec<String>,
    pub refresh: Option<u32>,
    pub retry: Option<u32>,
    pub expire: Option<u32>,
}

impl ZoneConfig {
    pub fn secondary(&self) -> Option<SecondaryDef> {
        (!self.peers.is_empty()).then(|| SecondaryDef {
            name: self.name.clone(),
            peers: self.peers.clone(),
            refresh: self.refresh,
            retry: self.retry,
            expire: self.expire,
        })
    }
}

fn default_control() -> SocketAddr {
    DEFAULT_CONTROL.parse().unwrap_or_else(|_| unreachable!())
}
fn default_udp_payload() -> u16 {
    DEFAULT_UDP_PAYLOAD
}
fn default_tcp_idle() -> u64 {
    10
}
fn default_tcp_max() -> usize {
    1024
}
fn default_tcp_max_per_client() -> usize {
    64
}

impl Config {
    /// Reads and checks `path`. Relative zone file paths are taken from the config's folder.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = crate::named_files::read_stream(path, MAX_CONFIG_BYTES)
            .and_then(crate::named_files::text)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        let mut config: Config =
            toml::from_str(&text).with_context(|| format!("config {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for file in config.zones.iter_mut().filter_map(|z| z.file.as_mut()) {
            if file.is_relative() {
                *file = base.join(&*file);
            }
        }
        config
            .check()
            .with_context(|| format!("config {}", path.display()))?;
        Ok(config)
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.server.listen.is_empty() {
            bail!("[server] listen is empty: give at least one address, e.g. \"0.0.0.0:53\"");
        }
        if !(512..=65535).contains(&self.server.udp_payload) || self.server.udp_payload < 512 {
            bail!(
                "[server] udp_payload {} is below 512",
                self.server.udp_payload
            );
        }
        if let Some(token) = &self.server.control_token
            && (token.len() < 16 || !token.bytes().all(|b| b.is_ascii_graphic()))
        {
            bail!("[server] control_token: use at least 16 printable characters, no spaces");
        }
        if self.server.tcp_idle_timeout == 0 {
            bail!("[server] tcp_idle_timeout must be at least 1 second");
        }
        if self.server.tcp_max_connections == 0 {
            bail!("[server] tcp_max_connections must be at least 1");
        }
        if !(1..=self.server.tcp_max_connections).contains(&self.server.tcp_max_per_client) {
            bail!(
                "[server] tcp_max_per_client {} must be from 1 to tcp_max_connections ({})",
                self.server.tcp_max_per_client,
                self.server.tcp_max_connections
            );
        }
        let mut names = HashSet::new();
        for zone in &self.zones {
            if !names.insert(zone.name.clone()) {
                bail!("zone {} is configured twice", zone.name);
            }
            match (&zone.file, zone.peers.is_empty()) {
                (Some(_), false) => bail!(
                    "zone {}: give either file (a zone served from a file) or peers (a secondary zone), not both",
                    zone.name
                ),
                (None, true) => bail!(
                    "zone {}: give file (a zone served from a file) or peers (a secondary zone)",
                    zone.name
                ),
                (Some(_), true)
                    if zone.refresh.is_some() || zone.retry.is_some() || zone.expire.is_some() =>
                {
                    bail!(
                        "zone {}: refresh, retry and expire apply to secondary zones (with peers) only",
                        zone.name
                    )
                }
                _ => {}
            }
        }
        self.catalog()?;
        if let Some(rrl) = &self.rrl {
            rrl.check()?;
        }
        if let Some(xdp) = &self.xdp {
            if xdp.interfaces.is_empty() {
                bail!(
                    "[xdp] interfaces is empty: list interfaces, or remove [xdp] to answer from userspace only"
                );
            }
            self.xdp_port()?;
        }
        Ok(())
    }

    /// The TSIG keys, peers and secondary zones of this file, checked against each other.
    pub fn catalog(&self) -> anyhow::Result<Catalog> {
        let static_zones = self
            .zones
            .iter()
            .filter(|z| z.file.is_some())
            .map(|z| z.name.clone());
        let mut catalog = Catalog::new(static_zones);
        for key in &self.tsig_keys {
            catalog
                .add(key.clone(), Origin::Config)
                .context("[[tsig]]")?;
        }
        for peer in &self.peers {
            catalog
                .add(peer.clone(), Origin::Config)
                .context("[[peer]]")?;
        }
        for zone in self.zones.iter().filter_map(ZoneConfig::secondary) {
            catalog.add(zone, Origin::Config).context("[[zone]]")?;
        }
        for webhook in &self.webhooks {
            catalog
                .add(webhook.clone(), Origin::Config)
                .context("[[webhook]]")?;
        }
        Ok(catalog)
    }

    /// Where the objects made through the control API are kept.
    pub fn objects_file(&self) -> PathBuf {
        self.server.state_dir.join("objects.json")
    }

    /// The UDP port the XDP program answers on: the listen addresses must agree on it.
    pub fn xdp_port(&self) -> anyhow::Result<u16> {
        let ports: HashSet<u16> = self.server.listen.iter().map(|a| a.port()).collect();
        match ports.len() {
            1 => Ok(self.server.listen[0].port()),
            _ => bail!(
                "with [xdp], every [server] listen address must use the same port (got {ports:?})"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xdp::settings::AttachMode;

    fn parse(text: &str) -> anyhow::Result<Config> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("secdns.toml");
        std::fs::write(&path, text)?;
        Config::load(&path)
    }

    const GOOD: &str = r#"
[server]
listen = ["0.0.0.0:53", "[::]:53"]
state_dir = "/var/lib/secdns"

[xdp]
interfaces = ["eth0"]
mode = "generic"

[[zone]]
name = "example.com."
file = "example.com.zone"
"#;

    #[test]
    fn good_config() {
        let config = parse(GOOD).unwrap();
        assert_eq!(config.server.control.to_string(), DEFAULT_CONTROL);
        assert_eq!(config.xdp.as_ref().unwrap().mode, AttachMode::Generic);
        assert!(config.zones[0].file.as_ref().unwrap().is_absolute());
        assert_eq!(config.xdp_port().unwrap(), 53);
    }

    #[test]
    fn secondary_zones_with_keys_and_peers() {
        let text = format!(
            "{GOOD}\n[[tsig]]\nname = \"transfer-key.\"\nsecret = \"c2VjcmV0\"\n\n\
             [[peer]]\nname = \"primary-1\"\naddress = \"192.0.2.10\"\nixfr = true\ntsig = \"transfer-key.\"\n\n\
             [[zone]]\nname = \"example.net.\"\npeers = [\"primary-1\"]\nrefresh = 300\n"
        );
        let config = parse(&text).unwrap();
        let catalog = config.catalog().unwrap();
        assert_eq!(catalog.all::<SecondaryDef>().count(), 1);
        let missing_peer = text.replace("peers = [\"primary-1\"]", "peers = [\"primary-2\"]");
        let err = parse(&missing_peer).unwrap_err();
        assert!(format!("{err:#}").contains("primary-2"), "{err:#}");
        let missing_key = text.replace("tsig = \"transfer-key.\"", "tsig = \"other-key.\"");
        assert!(format!("{:#}", parse(&missing_key).unwrap_err()).contains("other-key"));
        let bad_secret = text.replace("c2VjcmV0", "not*base64");
        assert!(format!("{:#}", parse(&bad_secret).unwrap_err()).contains("base64"));
        let both = text.replace(
            "peers = [\"primary-1\"]",
            "peers = [\"primary-1\"]\nfile = \"x\"",
        );
        assert!(format!("{:#}", parse(&both).unwrap_err()).contains("not both"));
        let bad_algorithm = text.replace("secret = ", "algorithm = \"hmac-sha3\"\nsecret = ");
        assert!(format!("{:#}", parse(&bad_algorithm).unwrap_err()).contains("hmac-sha3"));
    }

    /// The sample config, with every commented-out key and table put in.
    fn sample_with_every_key() -> String {
        include_str!("../../packaging/secdns.toml")
            .lines()
            .map(|line| {
                let rest = line.strip_prefix("# ").unwrap_or(line);
                let is_key = rest
                    .split_once(" = ")
                    .is_some_and(|(k, _)| k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
                if is_key || rest.starts_with("[[") {
                    rest
                } else {
                    line
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_sample_config_shows_every_key() {
        let config = parse(include_str!("../../packaging/secdns.toml")).unwrap();
        assert_eq!(config.catalog().unwrap().all::<SecondaryDef>().count(), 1);
        let full = parse(&sample_with_every_key()).unwrap();
        let server = &full.server;
        assert!(server.control_token.is_some());
        let xdp = full.xdp.as_ref().unwrap();
        assert_eq!(xdp.mode, AttachMode::Native);
        let zone = &full.zones[0];
        assert!(zone.refresh.is_some() && zone.retry.is_some() && zone.expire.is_some());
        assert!(full.zones.iter().any(|z| z.file.is_some()));
        assert!(full.peers[0].source.is_some());
        assert!(!full.webhooks.is_empty() && !full.webhooks[0].events.is_empty());
        assert!(!full.tsig_keys.is_empty());
    }

    #[test]
    fn errors_are_clear() {
        let unknown = parse(&GOOD.replace("state_dir", "stat_dir")).unwrap_err();
        assert!(format!("{unknown:#}").contains("stat_dir"), "{unknown:#}");
        let mode = parse(&GOOD.replace("\"generic\"", "\"turbo\"")).unwrap_err();
        assert!(format!("{mode:#}").contains("turbo"), "{mode:#}");
        let ports = parse(&GOOD.replace("[::]:53", "[::]:5353")).unwrap_err();
        assert!(format!("{ports:#}").contains("same port"), "{ports:#}");
        let dup = parse(&format!(
            "{GOOD}\n[[zone]]\nname = \"EXAMPLE.com\"\nfile = \"x\"\n"
        ))
        .unwrap_err();
        assert!(format!("{dup:#}").contains("twice"), "{dup:#}");
        let name = parse(&GOOD.replace("example.com.", "exa..mple.com.")).unwrap_err();
        assert!(format!("{name:#}").contains("exa..mple"), "{name:#}");
        let share = parse(&GOOD.replace(
            "state_dir = ",
            "tcp_max_connections = 10\ntcp_max_per_client = 11\nstate_dir = ",
        ))
        .unwrap_err();
        assert!(
            format!("{share:#}")
                .contains("tcp_max_per_client 11 must be from 1 to tcp_max_connections (10)"),
            "{share:#}"
        );
    }
}
