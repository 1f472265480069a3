//! The `secdns` command: `serve` runs the server; the other subcommands talk to a running
//! server through its control API.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use secdns::{
    config::{Config, DEFAULT_CONTROL},
    control::{ZoneSummary, client::Client},
    stats::StatsReport,
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
    Stats {
        #[arg(long)]
        json: bool,
        #[arg(long, default_value = DEFAULT_CONTROL)]
        control: SocketAddr,
    },
    /// List the zones a running server serves.
    Zones {
        #[arg(long)]
        json: bool,
        #[arg(long, default_value = DEFAULT_CONTROL)]
        control: SocketAddr,
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match run(cli.command) {
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

fn run(command: Command) -> anyhow::Result<()> {
    match command {
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
            println!("{}: OK, {} zone(s)", config.display(), zones.len());
            Ok(())
        }
        Command::Stats { json, control } => {
            let report: StatsReport = Client::new(control).get("/v1/stats")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.to_text());
            }
            Ok(())
        }
        Command::Zones { json, control } => {
            let zones: Vec<ZoneSummary> = Client::new(control).get("/v1/zones")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&zones)?);
            } else {
                for zone in zones {
                    println!(
                        "{} serial {} records {}",
                        zone.name, zone.serial, zone.records
                    );
                }
            }
            Ok(())
        }
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
