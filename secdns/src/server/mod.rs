//! `secdns serve`: loads everything, binds everything, then answers until SIGTERM/SIGINT.
//! Any failure before the first answer stops the start-up with nothing left behind.

mod fast_path;
pub mod publisher;
mod tcp;
mod udp;

use std::{
    net::IpAddr,
    sync::{Arc, OnceLock},
    time::Duration,
};

use anyhow::Context as _;
use tokio::signal::unix::{SignalKind, signal};

pub use fast_path::FastPath;

use crate::{
    answer::{Transport, respond},
    config::Config,
    control,
    secondary::{Secondaries, notify::OPCODE_NOTIFY, store::ZoneStore},
    snapshot::{Snapshot, SnapshotCell},
    stats::ResponderStats,
    zone::{Zone, zonefile},
};
use publisher::Publisher;

/// Everything the responders and the control API share.
#[derive(Clone)]
pub struct Shared {
    pub snapshot: SnapshotCell,
    pub stats: Arc<ResponderStats>,
    pub fast_path: Option<Arc<FastPath>>,
    /// Set once at start-up; NOTIFY goes there.
    pub secondaries: Arc<OnceLock<Arc<Secondaries>>>,
}

/// The reply to one message from `source`: NOTIFY goes to the secondary zones, everything else
/// is answered from the current snapshot.
pub fn reply(shared: &Shared, msg: &[u8], source: IpAddr, transport: Transport) -> Option<Vec<u8>> {
    let opcode = msg.get(2).map(|b| (b >> 3) & 0x0f);
    if opcode == Some(OPCODE_NOTIFY)
        && let Some(secondaries) = shared.secondaries.get()
    {
        return secondaries.handle_notify(msg, source);
    }
    let snapshot = shared.snapshot.load();
    respond(msg, &snapshot, transport)
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.server.state_dir).with_context(|| {
        format!(
            "cannot create state directory {}",
            config.server.state_dir.display()
        )
    })?;
    let zones = load_zones(&config)?;
    let mut catalog = config.catalog()?;
    catalog.load_runtime(&config.server.state_dir.join("objects.json"))?;

    let payload = config.server.udp_payload;
    let mut udp_sockets = Vec::new();
    let mut tcp_listeners = Vec::new();
    for addr in &config.server.listen {
        udp_sockets.push(udp::bind(*addr)?);
        tcp_listeners.push(tcp::bind(*addr)?);
    }
    let control_listener = tokio::net::TcpListener::bind(config.server.control)
        .await
        .with_context(|| format!("cannot listen for control on {}", config.server.control))?;

    let fast_path = match &config.xdp {
        Some(xdp) => Some(Arc::new(FastPath::start(xdp, config.xdp_port()?, payload)?)),
        None => None,
    };
    let shared = Shared {
        snapshot: SnapshotCell::default(),
        stats: Arc::new(ResponderStats::default()),
        fast_path,
        secondaries: Arc::default(),
    };
    let publisher = Publisher::new(zones, shared.clone());
    let secondaries = Secondaries::new(
        catalog,
        config.transfer.limits(),
        ZoneStore::new(&config.server.state_dir),
        publisher.clone(),
    )?;
    // Zone files and saved copies are served before anything is refreshed.
    publish(&shared, Arc::new(publisher.snapshot())).await?;
    let _ = shared.secondaries.set(secondaries.clone());
    tokio::spawn(publisher.run());
    secondaries.start();

    for socket in udp_sockets {
        udp::start(socket, &shared, payload)?;
    }
    let tcp_limits = tcp::Limits {
        idle: Duration::from_secs(config.server.tcp_idle_timeout),
        max_connections: config.server.tcp_max_connections,
        payload,
    };
    for listener in tcp_listeners {
        tokio::spawn(tcp::serve(listener, shared.clone(), tcp_limits));
    }
    tokio::spawn(control::api::serve(control_listener, shared.clone()));
    tracing::info!(
        listen = ?config.server.listen,
        control = %config.server.control,
        xdp = shared.fast_path.is_some(),
        "secdns is serving"
    );

    let mut terminate = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    tokio::select! {
        _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = interrupt.recv() => tracing::info!("SIGINT: shutting down"),
    }
    if let Some(fast_path) = &shared.fast_path {
        fast_path.detach()?;
    }
    Ok(())
}

/// Makes `snapshot` the one served: XDP maps first, then userspace. Each switch is atomic.
pub async fn publish(shared: &Shared, snapshot: Arc<Snapshot>) -> anyhow::Result<()> {
    if let Some(fast_path) = shared.fast_path.clone() {
        let for_xdp = snapshot.clone();
        let published = tokio::task::spawn_blocking(move || {
            let result = fast_path.publish(for_xdp);
            // The kernel must never answer from data older than userspace's: when the new
            // set cannot be published, it answers nothing until the next one can.
            if result.is_err() {
                fast_path.stop_answering();
            }
            result
        })
        .await
        .context("XDP publisher task")?;
        if let Err(e) = published {
            tracing::error!("XDP answers switched off, userspace answers everything: {e:#}");
        }
    }
    shared.snapshot.store(snapshot);
    Ok(())
}

/// Loads every configured zone file; the first error stops the start.
pub fn load_zones(config: &Config) -> anyhow::Result<Vec<Arc<Zone>>> {
    let mut zones = Vec::with_capacity(config.zones.len());
    for zone_config in &config.zones {
        let Some(file) = &zone_config.file else {
            continue;
        };
        let (zone, warnings) = zonefile::load(file, &zone_config.name)
            .with_context(|| format!("zone {}", zone_config.name))?;
        for warning in warnings {
            tracing::warn!(zone = %zone_config.name, "{warning}");
        }
        tracing::info!(
            zone = %zone_config.name,
            serial = zone.serial(),
            records = zone.record_count(),
            "zone loaded"
        );
        zones.push(Arc::new(zone));
    }
    Ok(zones)
}
