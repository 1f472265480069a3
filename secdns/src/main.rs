//! The `secdns` command: `serve` runs the server; the other subcommands manage a running
//! server through its control API (see `secdns::cli`).

use std::{io::IsTerminal as _, net::IpAddr, net::SocketAddr, path::PathBuf, process::ExitCode};

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use secdns::{
    catalog::{OverrideDef, OverrideType, PeerDef, SecondaryDef, TsigKeyDef},
    cli,
    config::{Config, DEFAULT_CONTROL},
    control::{KeyChange, client::Client},
    dns::Name,
    dns::tsig::Algorithm,
    webhooks::WebhookDef,
    webhooks::event::EventKind,
    xdp::{loader::XdpEngine, settings::AttachMode},
};

/// jemalloc rather than glibc's malloc: a full XDP compile frees millions of small blocks
/// made on other threads, which glibc consolidates on the freeing thread (a tenth of the
/// compile), and jemalloc hands freed memory back to the system on its own.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options (its `malloc_conf`, under the prefix this build of it takes). Memory
/// freed by threads that then sleep (a transfer's records, a compile's buffers) goes back to
/// the system only when something purges it: a background thread does, within a second.
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static JEMALLOC_OPTIONS: &[u8; 43] = b"background_thread:true,dirty_decay_ms:1000\0";

/// Hands every arena's freed pages back to the system now (see `secdns::memory`): a
/// transfer's records are freed just before the XDP compile of its zone takes memory, and
/// would otherwise stay resident through it, until their decay.
fn purge_freed_memory() {
    // SAFETY: "arena.4096.purge" (4096 is MALLCTL_ARENAS_ALL) reads and writes no value.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            c"arena.4096.purge".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
}

#[derive(Parser)]
#[command(
    name = "secdns",
    version,
    about = "Authoritative secondary DNS with an XDP fast path",
    after_help = "Exit status: 0 done, 1 the server said no (or could not be reached), 2 usage."
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    /// Control API of the server to manage.
    #[arg(long, default_value = DEFAULT_CONTROL, global = true, env = "SECDNS_CONTROL")]
    control: SocketAddr,
    /// Bearer token of the control API ([server] control_token).
    #[arg(long, global = true, env = "SECDNS_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print JSON instead of tables and text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        #[arg(long)]
        config: PathBuf,
        /// Start the XDP program empty instead of taking over the one an earlier `serve`
        /// left answering.
        #[arg(long)]
        no_takeover: bool,
    },
    /// Check a config file and its zone files, then exit.
    CheckConfig { config: PathBuf },
    /// Whether every zone is served (exit status 1 when not).
    Health,
    /// The counters of a running server.
    Stats,
    /// The Prometheus metrics page.
    Metrics,
    /// TSIG keys.
    Tsig {
        #[command(subcommand)]
        action: TsigAction,
    },
    /// Primaries (peers) that zones transfer from.
    Peer {
        #[command(subcommand)]
        action: PeerAction,
    },
    /// Zones: secondary zones and zones served from files.
    Zone {
        #[command(subcommand)]
        action: ZoneAction,
    },
    /// Local A/AAAA/CNAME records layered over a secondary zone's transferred data.
    Override {
        #[command(subcommand)]
        action: OverrideAction,
    },
    /// Where notifications are POSTed.
    Webhook {
        #[command(subcommand)]
        action: WebhookAction,
    },
    /// Attach a program that answers nothing to INTERFACE and hold it until killed. Native XDP
    /// on a veth delivers XDP_TX frames only if the peer has a program too; tests and the demo
    /// use this on the client side.
    #[command(hide = true)]
    XdpPeer {
        #[arg(long)]
        interface: String,
    },
}

#[derive(Subcommand)]
enum TsigAction {
    /// Add a key; a secret is generated (and printed, this once) when none is given.
    Add {
        name: Name,
        #[arg(long, default_value = "hmac-sha256")]
        algorithm: Algorithm,
        /// Base64.
        #[arg(long)]
        secret: Option<String>,
    },
    /// Change a key's algorithm or secret (kept unless --secret or --generate is given).
    Set {
        name: Name,
        #[arg(long)]
        algorithm: Option<Algorithm>,
        #[arg(long, conflicts_with = "generate")]
        secret: Option<String>,
        /// Generate a new secret (printed this once).
        #[arg(long)]
        generate: bool,
    },
    List,
    Show {
        name: Name,
    },
    Rm {
        name: Name,
    },
}

#[derive(Args)]
struct PeerArgs {
    name: String,
    #[arg(long)]
    address: IpAddr,
    #[arg(long, default_value_t = 53)]
    port: u16,
    /// Try IXFR before AXFR.
    #[arg(long)]
    ixfr: bool,
    /// Name of the TSIG key for this peer.
    #[arg(long)]
    tsig: Option<Name>,
    /// Local address to send from.
    #[arg(long)]
    source: Option<IpAddr>,
}

impl PeerArgs {
    fn def(self) -> PeerDef {
        PeerDef {
            name: self.name,
            address: self.address,
            port: self.port,
            ixfr: self.ixfr,
            tsig: self.tsig,
            source: self.source,
        }
    }
}

#[derive(Subcommand)]
enum PeerAction {
    Add(PeerArgs),
    /// Replace a peer's settings (zones using it pick them up at once).
    Set(PeerArgs),
    List,
    Show {
        name: String,
    },
    Rm {
        name: String,
    },
}

#[derive(Args)]
struct ZoneArgs {
    name: Name,
    /// A peer to transfer from; repeat for more, in the order to try them.
    #[arg(long = "peer", required = true)]
    peers: Vec<String>,
    /// Seconds between checks (replaces the SOA REFRESH).
    #[arg(long)]
    refresh: Option<u32>,
    #[arg(long)]
    retry: Option<u32>,
    #[arg(long)]
    expire: Option<u32>,
}

impl ZoneArgs {
    fn def(self) -> SecondaryDef {
        SecondaryDef {
            name: self.name,
            peers: self.peers,
            refresh: self.refresh,
            retry: self.retry,
            expire: self.expire,
        }
    }
}

#[derive(Subcommand)]
enum ZoneAction {
    /// Add a secondary zone.
    Add(ZoneArgs),
    /// Replace a secondary zone's settings.
    Set(ZoneArgs),
    List,
    /// Serial, checks, transfers, timers, per-peer state.
    Show {
        name: Name,
    },
    Rm {
        name: Name,
    },
    /// Transfer the whole zone now (AXFR), whatever the serials say.
    #[command(alias = "force-axfr")]
    Transfer {
        name: Name,
    },
    /// The records served, in zone-file format (overrides applied).
    Records {
        name: Name,
    },
}

#[derive(Args)]
struct OverrideArgs {
    zone: Name,
    name: Name,
    #[arg(value_name = "TYPE")]
    rtype: OverrideType,
    /// Addresses (A, AAAA) or the target name (CNAME).
    #[arg(required = true)]
    data: Vec<String>,
    #[arg(long, default_value_t = 300)]
    ttl: u32,
}

impl OverrideArgs {
    fn split(self) -> (Name, OverrideDef) {
        let def = OverrideDef {
            name: self.name,
            rtype: self.rtype,
            ttl: self.ttl,
            data: self.data,
        };
        (self.zone, def)
    }
}

#[derive(Subcommand)]
enum OverrideAction {
    /// Serve DATA for NAME and TYPE instead of what the primary has.
    Add(OverrideArgs),
    /// Replace an override's data or TTL.
    Set(OverrideArgs),
    List {
        zone: Name,
    },
    Rm {
        zone: Name,
        name: Name,
        #[arg(value_name = "TYPE")]
        rtype: OverrideType,
    },
}

#[derive(Args)]
struct WebhookArgs {
    name: String,
    /// https://host[:port]/path (or http://)
    #[arg(long)]
    url: String,
    /// PEM file of CA certificates to trust for an https URL, besides the public roots.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// An event to send; repeat for more; all when none is given.
    #[arg(long = "event", value_parser = parse_event)]
    events: Vec<EventKind>,
}

fn parse_event(text: &str) -> Result<EventKind, String> {
    EventKind::ALL
        .into_iter()
        .find(|e| e.as_str() == text)
        .ok_or_else(|| {
            let known: Vec<&str> = EventKind::ALL.iter().map(|e| e.as_str()).collect();
            format!("known events: {}", known.join(", "))
        })
}

impl WebhookArgs {
    fn def(self) -> WebhookDef {
        WebhookDef {
            name: self.name,
            url: self.url,
            events: self.events,
            ca_file: self.ca_file,
        }
    }
}

#[derive(Subcommand)]
enum WebhookAction {
    Add(WebhookArgs),
    Set(WebhookArgs),
    List,
    Rm { name: String },
}

fn main() -> ExitCode {
    secdns::memory::register(purge_freed_memory);
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("secdns: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: journald and log files get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if !matches!(cli.command, Command::Serve { .. }) {
        // Management commands die quietly when their output pipe closes (`| head`), like
        // other Unix tools; the server keeps Rust's default of ignoring SIGPIPE.
        // SAFETY: restoring the default disposition of one signal before any thread starts.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    let manage = cli::Cli {
        client: Client::new(cli.control, cli.token),
        json: cli.json,
    };
    match cli.command {
        Command::Serve {
            config,
            no_takeover,
        } => {
            let mut config = Config::load(&config)?;
            if let Some(xdp) = &mut config.xdp {
                xdp.takeover = !no_takeover;
            }
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            let served = runtime.block_on(secdns::daemon::serve(config));
            // Work still running off the async threads (a zone being built or saved) gets a
            // bounded wait: a stop is a stop. Saves are atomic, so a cut one keeps the old copy.
            runtime.shutdown_timeout(std::time::Duration::from_secs(10));
            served
        }
        Command::CheckConfig { config } => {
            let loaded = Config::load(&config)?;
            let zones = secdns::daemon::load_zones(&loaded)?;
            let mut catalog = loaded.catalog()?;
            // What the API made must still fit this config.
            match catalog.load_runtime(&loaded.objects_file()) {
                Ok(warnings) => {
                    for warning in warnings {
                        eprintln!("secdns: warning: {warning}");
                    }
                }
                Err(e) => eprintln!(
                    "secdns: warning: the objects made through the API were not checked: {e:#}"
                ),
            }
            let [file_zones, secondary_zones, peers, tsig_keys, webhooks] = [
                zones.len(),
                catalog.all::<SecondaryDef>().count(),
                catalog.all::<PeerDef>().count(),
                catalog.all::<secdns::catalog::TsigKeyDef>().count(),
                catalog.all::<WebhookDef>().count(),
            ];
            if manage.json {
                let summary = serde_json::json!({
                    "config": config, "ok": true, "file_zones": file_zones,
                    "secondary_zones": secondary_zones, "peers": peers,
                    "tsig_keys": tsig_keys, "webhooks": webhooks, "rrl": loaded.rrl,
                });
                println!("{summary:#}");
                return Ok(());
            }
            println!(
                "{}: OK, {file_zones} zone(s) from files, {secondary_zones} secondary zone(s), \
                 {peers} peer(s), {tsig_keys} TSIG key(s), {webhooks} webhook(s)",
                config.display(),
            );
            println!("rate limits: {}", rate_limits(loaded.rrl.as_ref()));
            println!("cookies: {}", cookies(&loaded.cookies));
            Ok(())
        }
        Command::Health => manage.health(),
        Command::Stats => manage.stats(),
        Command::Metrics => manage.metrics(),
        Command::Tsig { action } => match action {
            TsigAction::Add {
                name,
                algorithm,
                secret,
            } => manage.tsig_add(name, algorithm, secret),
            TsigAction::Set {
                name,
                algorithm,
                secret,
                generate,
            } => manage.tsig_set(
                &name,
                KeyChange {
                    algorithm,
                    secret,
                    generate,
                },
            ),
            TsigAction::List => manage.tsig_list(),
            TsigAction::Show { name } => manage.tsig_show(&name),
            TsigAction::Rm { name } => manage.remove::<TsigKeyDef>(&name),
        },
        Command::Peer { action } => match action {
            PeerAction::Add(args) => manage.add(args.def(), false),
            PeerAction::Set(args) => manage.add(args.def(), true),
            PeerAction::List => manage.list::<PeerDef>(),
            PeerAction::Show { name } => manage.show::<PeerDef>(&name),
            PeerAction::Rm { name } => manage.remove::<PeerDef>(&name),
        },
        Command::Zone { action } => match action {
            ZoneAction::Add(args) => manage.zone_add(args.def(), false),
            ZoneAction::Set(args) => manage.zone_add(args.def(), true),
            ZoneAction::List => manage.zone_list(),
            ZoneAction::Show { name } => manage.zone_show(&name),
            ZoneAction::Rm { name } => manage.remove::<SecondaryDef>(&name),
            ZoneAction::Transfer { name } => manage.zone_transfer(&name),
            ZoneAction::Records { name } => manage.zone_records(&name),
        },
        Command::Override { action } => match action {
            OverrideAction::Add(args) => {
                let (zone, def) = args.split();
                manage.override_add(&zone, def, false)
            }
            OverrideAction::Set(args) => {
                let (zone, def) = args.split();
                manage.override_add(&zone, def, true)
            }
            OverrideAction::List { zone } => manage.override_list(&zone),
            OverrideAction::Rm { zone, name, rtype } => manage.override_remove(&zone, &name, rtype),
        },
        Command::Webhook { action } => match action {
            WebhookAction::Add(args) => manage.add(args.def(), false),
            WebhookAction::Set(args) => manage.add(args.def(), true),
            WebhookAction::List => manage.list::<WebhookDef>(),
            WebhookAction::Rm { name } => manage.remove::<WebhookDef>(&name),
        },
        Command::XdpPeer { interface } => {
            let mut engine = XdpEngine::load()?;
            // Port 0 never matches, so every frame is passed.
            engine.set_listener(0, 512)?;
            engine.attach(&interface, AttachMode::Native)?;
            println!("attached to {interface}");
            // Held until killed; the kernel detaches it when the process ends.
            loop {
                std::thread::park();
            }
        }
    }
}

/// `[cookies]` in a line, as `check-config` shows it (never the secrets).
fn cookies(config: &secdns::cookies::CookieConfig) -> &'static str {
    match (
        config.enabled != Some(false),
        config.secret.is_some(),
        config.previous_secret.is_some(),
    ) {
        (false, ..) => "off (enabled = false)",
        (true, false, _) => "on, a random secret at each start (give `secret` for a fleet)",
        (true, true, false) => "on, with the configured secret",
        (true, true, true) => "on, with the configured secret and the previous one",
    }
}

/// `[rrl]` in a line, as `check-config` shows it.
fn rate_limits(rrl: Option<&secdns::rate_limit::RrlConfig>) -> String {
    let Some(rrl) = rrl else {
        return "off (no [rrl])".into();
    };
    if !rrl.enabled {
        return "off (enabled = false)".into();
    }
    let allow: Vec<String> = rrl.allow.iter().map(ToString::to_string).collect();
    format!(
        "{} a second per client (/{} IPv4, /{} IPv6), class and name or zone; window {} s; \
         slip {}; {} buckets{}{}",
        rrl.rate,
        rrl.ipv4_prefix,
        rrl.ipv6_prefix,
        rrl.window,
        rrl.slip,
        rrl.table_size,
        if allow.is_empty() {
            String::new()
        } else {
            format!("; allowed: {}", allow.join(", "))
        },
        if rrl.log_only { "; log only" } else { "" },
    )
}
