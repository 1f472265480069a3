//! A real BIND (`named`) primary started by the tests: an independent second implementation
//! of AXFR, IXFR, NOTIFY and TSIG to transfer from. Changes go in with `nsupdate`, which makes
//! BIND keep the history IXFR needs.

use std::{net::SocketAddr, process::Command, time::Duration};

use anyhow::{Context as _, bail};

use crate::{TempDir, dig, knot::TsigSpec, process::Process};

pub struct Bind {
    pub port: u16,
    pub apex: String,
    pub key: TsigSpec,
    pub process: Process,
    _dir: TempDir,
}

impl Bind {
    /// Serves `zone_text` as `apex` on 127.0.0.1:`port`; transfers and updates need `key`;
    /// NOTIFY goes to `notify`, signed with `key`.
    pub fn start(
        apex: &str,
        zone_text: &str,
        port: u16,
        key: &TsigSpec,
        notify: SocketAddr,
    ) -> anyhow::Result<Self> {
        Self::start_with(apex, zone_text, port, key, notify, "")
    }

    /// As [`Bind::start`], answering DNS Cookies (RFC 9018's SipHash-2-4) with the server
    /// secret `secret`, and BADCOOKIE to a UDP query without a valid server cookie (as Knot's
    /// mod-cookies does), so that which cookies it accepts shows.
    pub fn start_with_cookie_secret(
        apex: &str,
        zone_text: &str,
        port: u16,
        key: &TsigSpec,
        notify: SocketAddr,
        secret: [u8; 16],
    ) -> anyhow::Result<Self> {
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        let options = format!(
            "cookie-algorithm siphash24;\n    cookie-secret \"{hex}\";\n    require-server-cookie yes;\n"
        );
        Self::start_with(apex, zone_text, port, key, notify, &options)
    }

    /// As [`Bind::start`], with `more_options` in the options block.
    fn start_with(
        apex: &str,
        zone_text: &str,
        port: u16,
        key: &TsigSpec,
        notify: SocketAddr,
        more_options: &str,
    ) -> anyhow::Result<Self> {
        let dir = TempDir::new("bind")?;
        let zone_file = dir.path().join("zone.db");
        std::fs::write(&zone_file, zone_text)?;
        let config = format!(
            r#"key "{key}" {{ algorithm {algorithm}; secret "{secret}"; }};
options {{
    directory "{d}";
    pid-file "{d}/named.pid";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    notify explicit;
    also-notify {{ {ip} port {notify_port} key "{key}"; }};
    allow-transfer {{ key "{key}"; }};
    {more_options}
}};
controls {{ }};
zone "{apex}" {{
    type primary;
    file "{zone}";
    allow-update {{ key "{key}"; }};
}};
"#,
            key = key.name,
            algorithm = key.algorithm,
            secret = key.secret,
            d = dir.path().display(),
            ip = notify.ip(),
            notify_port = notify.port(),
            zone = zone_file.display(),
        );
        let config_file = dir.path().join("named.conf");
        std::fs::write(&config_file, config)?;
        let mut command = Command::new("named");
        command.args(["-g", "-n", "1", "-c"]).arg(&config_file);
        let mut process = Process::spawn("named", command)?;
        process.wait_until("start-up", Duration::from_secs(30), |out| {
            out.contains("running")
        })?;
        Ok(Self {
            port,
            apex: apex.into(),
            key: key.clone(),
            process,
            _dir: dir,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Adds records ("name ttl type data") with a signed dynamic update.
    pub fn add(&self, records: &[&str]) -> anyhow::Result<()> {
        let mut script = format!("server 127.0.0.1 {}\nzone {}\n", self.port, self.apex);
        for record in records {
            script.push_str(&format!("update add {record}\n"));
        }
        script.push_str("send\n");
        let mut child = Command::new("nsupdate")
            .args(["-y", &self.key.dig_arg()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .context("running nsupdate")?;
        std::io::Write::write_all(
            child.stdin.as_mut().context("nsupdate stdin")?,
            script.as_bytes(),
        )?;
        drop(child.stdin.take());
        let output = child.wait_with_output()?;
        if !output.status.success() {
            bail!(
                "nsupdate failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    pub fn serial(&self) -> anyhow::Result<u32> {
        dig::soa_serial(&dig::query(
            Command::new("dig"),
            "127.0.0.1",
            self.port,
            &self.apex,
            "SOA",
            &[],
        )?)
    }

    /// The zone as BIND transfers it, one normalised line a record.
    pub fn axfr(&self) -> anyhow::Result<Vec<String>> {
        let mut command = Command::new("dig");
        command.args([
            "@127.0.0.1",
            "-p",
            &self.port.to_string(),
            "AXFR",
            &self.apex,
            "-y",
            &self.key.dig_arg(),
        ]);
        dig::axfr(command, &self.apex)
    }
}
