//! Real Knot DNS servers (`knotd`) started by the tests: the reference for answers, and the
//! primaries secdns transfers zones from.

use std::{
    net::{IpAddr, SocketAddr, UdpSocket},
    process::Command,
    time::Duration,
};

use anyhow::{Context as _, bail};

use crate::{TempDir, dig, process::Process};

/// A TSIG key as both sides configure it.
#[derive(Clone, Debug)]
pub struct TsigSpec {
    pub name: String,
    /// "hmac-sha256" and friends.
    pub algorithm: String,
    /// Base64.
    pub secret: String,
}

impl TsigSpec {
    pub fn new(name: &str, algorithm: &str, secret_bytes: &[u8]) -> Self {
        use std::fmt::Write as _;
        // Base64 without pulling a crate into the test bed.
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut secret = String::new();
        for chunk in secret_bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
            for i in 0..4 {
                if i <= chunk.len() {
                    let _ = write!(
                        secret,
                        "{}",
                        ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char
                    );
                } else {
                    secret.push('=');
                }
            }
        }
        Self {
            name: name.into(),
            algorithm: algorithm.into(),
            secret,
        }
    }

    /// `dig -y` form.
    /// `secdns tsig add` with this key.
    pub fn cli_add_args(&self) -> [&str; 7] {
        let (name, algorithm, secret) = (&self.name, &self.algorithm, &self.secret);
        [
            "tsig",
            "add",
            name,
            "--algorithm",
            algorithm,
            "--secret",
            secret,
        ]
    }

    pub fn dig_arg(&self) -> String {
        format!("{}:{}:{}", self.algorithm, self.name, self.secret)
    }
}

/// `secdns peer add` arguments for a primary on 127.0.0.1:`port`, IXFR, signing with `key`.
pub fn cli_peer_args<'a>(peer: &'a str, port: &'a str, key: &'a str) -> [&'a str; 10] {
    [
        "peer",
        "add",
        peer,
        "--address",
        "127.0.0.1",
        "--port",
        port,
        "--ixfr",
        "--tsig",
        key,
    ]
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
    bail!("no free loopback port found")
}

/// Debian's libfaketime, wherever the architecture puts it.
fn libfaketime() -> anyhow::Result<std::path::PathBuf> {
    let found = std::fs::read_dir("/usr/lib")?
        .flatten()
        .map(|dir| dir.path().join("faketime/libfaketime.so.1"))
        .find(|path| path.is_file());
    found.context("libfaketime.so.1 not found: run `cargo xtask setup` (it installs faketime)")
}

fn in_namespace(namespace: Option<&str>, program: &str) -> Command {
    match namespace {
        Some(ns) => crate::netns::TestNet::command(ns, program),
        None => Command::new(program),
    }
}

#[derive(Clone, Debug)]
pub struct KnotOptions {
    pub apex: String,
    pub zone_text: String,
    pub listen: IpAddr,
    /// A free port is taken when `None`.
    pub port: Option<u16>,
    /// Transfers require this key.
    pub key: Option<TsigSpec>,
    /// Send NOTIFY here, signed with `notify_key`, from `notify_via`.
    pub notify: Option<SocketAddr>,
    pub notify_key: Option<TsigSpec>,
    pub notify_via: Option<IpAddr>,
    /// Keep a journal of changes so that IXFR can be served.
    pub journal: bool,
    /// Run under faketime with this offset ("+1h").
    pub clock_offset: Option<String>,
    /// Run inside this network namespace.
    pub namespace: Option<String>,
    /// More zones served beside the first: (apex, zone text).
    pub more_zones: Vec<(String, String)>,
    /// DNS Cookies (mod-cookies) with this fixed server secret.
    pub cookie_secret: Option<[u8; 16]>,
}

impl KnotOptions {
    pub fn new(apex: &str, zone_text: &str) -> Self {
        Self {
            apex: apex.into(),
            zone_text: zone_text.into(),
            listen: IpAddr::from([127, 0, 0, 1]),
            port: None,
            key: None,
            notify: None,
            notify_key: None,
            notify_via: None,
            journal: true,
            clock_offset: None,
            namespace: None,
            more_zones: Vec::new(),
            cookie_secret: None,
        }
    }
}

pub struct Knot {
    pub port: u16,
    pub options: KnotOptions,
    pub process: Process,
    dir: TempDir,
}

impl Knot {
    /// The reference server: `zone_text` as `apex` on 127.0.0.1.
    pub fn serve_zone(apex: &str, zone_text: &str) -> anyhow::Result<Self> {
        Self::start(KnotOptions::new(apex, zone_text))
    }

    pub fn start(options: KnotOptions) -> anyhow::Result<Self> {
        let dir = TempDir::new("knot")?;
        let port = match options.port {
            Some(port) => port,
            None => free_port()?,
        };
        std::fs::create_dir_all(dir.path().join("db"))?;
        std::fs::write(dir.path().join("zone"), &options.zone_text)?;
        let mut keys = String::new();
        for key in options.key.iter().chain(options.notify_key.iter()) {
            if !keys.contains(&format!("id: {}\n", key.name)) {
                keys.push_str(&format!(
                    "  - id: {}\n    algorithm: {}\n    secret: {}\n",
                    key.name, key.algorithm, key.secret
                ));
            }
        }
        let mut config = format!(
            "server:\n    rundir: \"{d}\"\n    listen: {}@{port}\n",
            options.listen,
            d = dir.path().display()
        );
        if !keys.is_empty() {
            config.push_str(&format!("key:\n{keys}"));
        }
        if let Some(notify) = options.notify {
            config.push_str(&format!(
                "remote:\n  - id: secondary\n    address: {}@{}\n",
                notify.ip(),
                notify.port()
            ));
            if let Some(key) = &options.notify_key {
                config.push_str(&format!("    key: {}\n", key.name));
            }
            if let Some(via) = options.notify_via {
                config.push_str(&format!("    via: {via}\n"));
            }
        }
        if let Some(secret) = options.cookie_secret {
            let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
            config.push_str(&format!(
                "mod-cookies:\n  - id: fixed\n    secret: 0x{hex}\n\
                 template:\n  - id: default\n    global-module: mod-cookies/fixed\n"
            ));
        }
        config.push_str("acl:\n  - id: transfer\n    action: transfer\n");
        if let Some(key) = &options.key {
            config.push_str(&format!("    key: {}\n", key.name));
        }
        config.push_str(&format!(
            "database:\n    storage: \"{d}/db\"\nlog:\n  - target: stdout\n    any: info\n\
             zone:\n  - domain: {apex}\n    file: \"{d}/zone\"\n    zonefile-sync: -1\n    \
             journal-content: {journal}\n    acl: transfer\n",
            d = dir.path().display(),
            apex = options.apex,
            journal = if options.journal { "changes" } else { "none" },
        ));
        if options.notify.is_some() {
            config.push_str("    notify: secondary\n");
        }
        for (i, (apex, text)) in options.more_zones.iter().enumerate() {
            let file = dir.path().join(format!("zone-{i}"));
            std::fs::write(&file, text)?;
            config.push_str(&format!(
                "  - domain: {apex}\n    file: \"{}\"\n    zonefile-sync: -1\n    \
                 journal-content: none\n",
                file.display()
            ));
        }
        let config_file = dir.path().join("knot.conf");
        std::fs::write(&config_file, config)?;
        let mut command = in_namespace(options.namespace.as_deref(), "knotd");
        if let Some(offset) = &options.clock_offset {
            // libfaketime preloaded into knotd itself: the `faketime` wrapper forks, and killing
            // it would leave knotd running after the test.
            command
                .env("LD_PRELOAD", libfaketime()?)
                .env("FAKETIME", offset);
        }
        command.arg("-c").arg(&config_file);
        let mut process = Process::spawn("knotd", command)?;
        // A bench loads a million records.
        process.wait_until("zone loaded", Duration::from_secs(120), |out| {
            out.contains("loaded, serial") && out.contains("starting server")
        })?;
        let knot = Self {
            port,
            options,
            process,
            dir,
        };
        knot.wait_answering()?;
        Ok(knot)
    }

    fn wait_answering(&self) -> anyhow::Result<()> {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let apexes = std::iter::once(&self.options.apex)
            .chain(self.options.more_zones.iter().map(|(apex, _)| apex));
        for apex in apexes {
            loop {
                let probe = self.query(apex, "SOA", &[]);
                match probe {
                    Ok(answer) if answer.status == "NOERROR" => break,
                    _ if std::time::Instant::now() > deadline => {
                        let output = self.process.output();
                        bail!(
                            "knotd did not answer for {apex} within 20 s ({probe:?}); \
                             output:\n{output}"
                        );
                    }
                    _ => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        }
        Ok(())
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.options.listen, self.port)
    }

    pub fn query(&self, name: &str, rtype: &str, extra: &[&str]) -> anyhow::Result<dig::DigAnswer> {
        dig::query(
            in_namespace(self.options.namespace.as_deref(), "dig"),
            &self.options.listen.to_string(),
            self.port,
            name,
            rtype,
            extra,
        )
        .context("querying knotd")
    }

    pub fn knotc(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = Command::new("knotc")
            .arg("-s")
            .arg(self.dir.path().join("knot.sock"))
            .args(args)
            .output()
            .context("running knotc")?;
        let text = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        if !output.status.success() || text.contains("error") {
            bail!("knotc {args:?}: {text}");
        }
        Ok(text)
    }

    /// One transaction: `unset` then `set` records ("owner ttl type data" / "owner type data"),
    /// committed (Knot raises the serial).
    pub fn change(&self, set: &[&str], unset: &[&str]) -> anyhow::Result<()> {
        self.stage(set, unset)?;
        self.commit()
    }

    /// The first half of [`Knot::change`]: a transaction with the changes, not committed.
    pub fn stage(&self, set: &[&str], unset: &[&str]) -> anyhow::Result<()> {
        let apex = self.options.apex.as_str();
        self.knotc(&["zone-begin", apex])?;
        let result = (|| {
            for record in unset {
                let mut args = vec!["zone-unset", apex];
                args.extend(record.split_whitespace());
                self.knotc(&args)?;
            }
            for record in set {
                let mut args = vec!["zone-set", apex];
                args.extend(record.split_whitespace());
                self.knotc(&args)?;
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = self.knotc(&["zone-abort", apex]);
        }
        result
    }

    /// Commits what [`Knot::stage`] staged (Knot raises the serial and sends NOTIFY).
    pub fn commit(&self) -> anyhow::Result<()> {
        let apex = self.options.apex.as_str();
        let result = self.knotc(&["zone-commit", apex]);
        if result.is_err() {
            let _ = self.knotc(&["zone-abort", apex]);
        }
        result.map(drop)
    }

    pub fn serial(&self) -> anyhow::Result<u32> {
        dig::soa_serial(&self.query(&self.options.apex, "SOA", &[])?)
    }

    /// The zone as this server transfers it, one normalised line a record.
    pub fn axfr(&self) -> anyhow::Result<Vec<String>> {
        let mut command = in_namespace(self.options.namespace.as_deref(), "dig");
        command.arg(format!("@{}", self.options.listen)).args([
            "-p",
            &self.port.to_string(),
            "AXFR",
            &self.options.apex,
        ]);
        if let Some(key) = &self.options.key {
            command.args(["-y", &key.dig_arg()]);
        }
        dig::axfr(command, &self.options.apex)
    }
}
