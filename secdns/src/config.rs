//! The server configuration file (TOML). Everything is checked before anything starts: an
//! error names the file and what is wrong, and the server does not start half-configured.

use std::{
    collections::HashSet,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, bail};
use serde::Deserialize;

use crate::{dns::Name, xdp::loader::AttachMode};

pub const DEFAULT_CONTROL: &str = "127.0.0.1:8053";
pub const DEFAULT_UDP_PAYLOAD: u16 = 1232;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub xdp: Option<XdpConfig>,
    #[serde(default, rename = "zone")]
    pub zones: Vec<ZoneConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Addresses answered over both UDP and TCP.
    pub listen: Vec<SocketAddr>,
    pub state_dir: PathBuf,
    #[serde(default = "default_control")]
    pub control: SocketAddr,
    /// EDNS UDP payload size we advertise and never exceed (RFC 6891 §6.2.5).
    #[serde(default = "default_udp_payload")]
    pub udp_payload: u16,
    /// Seconds a TCP connection may stay idle between queries (RFC 7766 §6.2.3).
    #[serde(default = "default_tcp_idle")]
    pub tcp_idle_timeout: u64,
    /// Concurrent TCP connections; more wait in the kernel's backlog.
    #[serde(default = "default_tcp_max")]
    pub tcp_max_connections: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XdpConfig {
    pub interfaces: Vec<String>,
    #[serde(default = "default_mode")]
    pub mode: AttachMode,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    #[serde(deserialize_with = "de_name")]
    pub name: Name,
    pub file: PathBuf,
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
fn default_mode() -> AttachMode {
    AttachMode::Native
}

fn de_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Name, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

impl Config {
    /// Reads and checks `path`. Relative zone file paths are taken from the config's folder.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        let mut config: Config =
            toml::from_str(&text).with_context(|| format!("config {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for zone in &mut config.zones {
            if zone.file.is_relative() {
                zone.file = base.join(&zone.file);
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
        if self.server.tcp_idle_timeout == 0 {
            bail!("[server] tcp_idle_timeout must be at least 1 second");
        }
        let mut names = HashSet::new();
        for zone in &self.zones {
            if !names.insert(zone.name.clone()) {
                bail!("zone {} is configured twice", zone.name);
            }
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

    fn parse(text: &str) -> anyhow::Result<Config> {
        let dir = std::env::temp_dir().join(format!("secdns-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!(
            "{:x}.toml",
            text.len() * 31 + text.bytes().map(|b| b as usize).sum::<usize>()
        ));
        std::fs::write(&path, text)?;
        let result = Config::load(&path);
        let _ = std::fs::remove_file(&path);
        result
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
        assert!(config.zones[0].file.is_absolute());
        assert_eq!(config.xdp_port().unwrap(), 53);
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
    }
}
