//! A real Knot DNS server (`knotd`) serving a zone on loopback: the reference every answer
//! of secdns is compared with.

use std::{net::UdpSocket, process::Command, time::Duration};

use anyhow::Context as _;

use crate::{TempDir, dig, process::Process};

pub struct Knot {
    pub port: u16,
    pub process: Process,
    _dir: TempDir,
}

/// A loopback port that is free for UDP and TCP right now.
pub fn free_port() -> anyhow::Result<u16> {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0")?;
        let port = udp.local_addr()?.port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    anyhow::bail!("no free loopback port found")
}

impl Knot {
    /// Starts knotd serving `zone_text` as `apex` on 127.0.0.1 and waits until it answers.
    pub fn serve_zone(apex: &str, zone_text: &str) -> anyhow::Result<Self> {
        let dir = TempDir::new("knot")?;
        let port = free_port()?;
        let zone_file = dir.path().join("zone");
        std::fs::write(&zone_file, zone_text)?;
        let config = format!(
            r#"server:
    rundir: "{dir}"
    listen: 127.0.0.1@{port}
database:
    storage: "{dir}/db"
log:
  - target: stdout
    any: info
zone:
  - domain: {apex}
    file: "{zone}"
    zonefile-sync: -1
    journal-content: none
"#,
            dir = dir.path().display(),
            zone = zone_file.display(),
        );
        let config_file = dir.path().join("knot.conf");
        std::fs::write(&config_file, config)?;
        let mut command = Command::new("knotd");
        command.arg("-c").arg(&config_file);
        let mut process = Process::spawn("knotd", command)?;
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            process.check_running()?;
            let probe = dig::query(Command::new("dig"), "127.0.0.1", port, apex, "SOA", &[]);
            if probe.is_ok_and(|a| a.status == "NOERROR") {
                break;
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "knotd did not answer for {apex} within 20 s; output:\n{}",
                process.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(Self {
            port,
            process,
            _dir: dir,
        })
    }

    pub fn query(&self, name: &str, rtype: &str, extra: &[&str]) -> anyhow::Result<dig::DigAnswer> {
        dig::query(
            Command::new("dig"),
            "127.0.0.1",
            self.port,
            name,
            rtype,
            extra,
        )
        .context("querying the reference knotd")
    }
}
