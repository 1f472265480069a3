//! The `secdns` command: `serve` runs the server; the other subcommands manage a running
//! server through its control API (see `secdns::cli`).

use std::{net::IpAddr, net::SocketAddr, path::PathBuf, process::ExitCode};

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use secdns::{
    catalog::{PeerDef, SecondaryDef},
    cli,
    config::{Config, DEFAULT_CONTROL},
    control::client::Client,
    dns::Name,
    transfer::tsig::Algorithm,
    xdp::loader::{AttachMode, XdpEngine},
};

#[derive(Parser)]
#[command(
    name = "secdns",
    version,
    about = "Authoritative secondary DNS with an XDP fast path"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    /// Control API of the server to manage.
    #[arg(long, default_value = DEFAULT_CONTROL, global = true)]
    control: SocketAddr,
    /// Print JSON instead of text.
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
    },
    /// Check a config file and its zone files, then exit.
    Check {
        #[arg(long)]
        config: PathBuf,
    },
    /// Print the counters of a running server.
    Stats,
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
    /// Add a key; a secret is generated (and printed) when none is given.
    Add {
        name: Name,
        #[arg(long, default_value = "hmac-sha256")]
        algorithm: Algorithm,
        /// Base64.
        #[arg(long)]
        secret: Option<String>,
    },
    List,
    Rm {
        name: Name,
    },
}

#[derive(Subcommand)]
enum PeerAction {
    Add {
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
    },
    List,
    Rm {
        name: String,
    },
}

#[derive(Subcommand)]
enum ZoneAction {
    /// Add a secondary zone.
    Add {
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
    },
    List,
    /// Serial, checks, transfers, timers, per-peer state.
    Show {
        name: Name,
    },
    Rm {
        name: Name,
    },
    /// Transfer the whole zone now, whatever the serials say.
    Transfer {
        name: Name,
    },
    /// The served zone in zone-file format.
    Records {
        name: Name,
    },
}

fn main() -> ExitCode {
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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
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
    let client = Client::new(cli.control);
    let json = cli.json;
    match cli.command {
        Command::Serve { config } => {
            let config = Config::load(&config)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(secdns::server::serve(config))
        }
        Command::Check { config } => {
            let loaded = Config::load(&config)?;
            let zones = secdns::server::load_zones(&loaded)?;
            let secondaries = loaded.catalog()?.zones().count();
            println!(
                "{}: OK, {} zone(s) from files, {secondaries} secondary zone(s)",
                config.display(),
                zones.len()
            );
            Ok(())
        }
        Command::Stats => cli::stats(&client, json),
        Command::Tsig { action } => match action {
            TsigAction::Add {
                name,
                algorithm,
                secret,
            } => cli::tsig_add(&client, json, name, algorithm, secret),
            TsigAction::List => cli::tsig_list(&client, json),
            TsigAction::Rm { name } => cli::remove(&client, "tsig", &name.to_string()),
        },
        Command::Peer { action } => match action {
            PeerAction::Add {
                name,
                address,
                port,
                ixfr,
                tsig,
                source,
            } => cli::peer_add(
                &client,
                json,
                PeerDef {
                    name,
                    address,
                    port,
                    ixfr,
                    tsig,
                    source,
                },
            ),
            PeerAction::List => cli::peer_list(&client, json),
            PeerAction::Rm { name } => cli::remove(&client, "peers", &name),
        },
        Command::Zone { action } => match action {
            ZoneAction::Add {
                name,
                peers,
                refresh,
                retry,
                expire,
            } => cli::zone_add(
                &client,
                json,
                SecondaryDef {
                    name,
                    peers,
                    refresh,
                    retry,
                    expire,
                },
            ),
            ZoneAction::List => cli::zone_list(&client, json),
            ZoneAction::Show { name } => cli::zone_show(&client, json, &name),
            ZoneAction::Rm { name } => cli::remove(&client, "zones", &name.to_string()),
            ZoneAction::Transfer { name } => cli::zone_transfer(&client, &name),
            ZoneAction::Records { name } => cli::zone_records(&client, &name),
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
