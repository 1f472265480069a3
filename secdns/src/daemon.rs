//! `secdns serve`: loads everything, binds everything, answers from userspace at once, then
//! loads XDP and hands it the zones; answers until SIGTERM/SIGINT. Any failure during start-up
//! (attaching XDP too) stops it with nothing left behind.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use tokio::signal::unix::{SignalKind, signal};

use crate::{
    config::Config,
    control,
    cookies::Cookies,
    handler::Handler,
    publish::{Publisher, Shared},
    rate_limit::{RateLimiter, RrlConfig},
    secondary::{Secondaries, store::ZoneStore},
    server::{tcp, udp},
    snapshot::SnapshotCell,
    stats::ResponderStats,
    webhooks::Notifier,
    xdp::fast_path::FastPath,
    zone::{Zone, zonefile},
};

pub async fn serve(config: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.server.state_dir).with_context(|| {
        format!(
            "cannot create state directory {}",
            config.server.state_dir.display()
        )
    })?;
    let zones = load_zones(&config)?;
    let mut catalog = config.catalog()?;
    for warning in catalog.load_runtime(&config.objects_file())? {
        tracing::warn!("{warning}");
    }

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

    let xdp_port = config.xdp_port()?;
    let shared = Shared {
        snapshot: SnapshotCell::default(),
        stats: Arc::new(ResponderStats::default()),
        fast_path: Arc::default(),
        rate_limit: Arc::new(RateLimiter::new(
            config.rrl.clone().unwrap_or_else(RrlConfig::off),
            crate::xdp::layout::hasher().key,
        )),
        cookies: Arc::new(Cookies::new(&config.cookies)),
    };
    let publisher = Publisher::new(zones, shared.clone());
    let secondaries = Secondaries::new(
        catalog,
        config.transfer.limits(),
        ZoneStore::new(&config.server.state_dir),
        publisher.clone(),
        Arc::new(Notifier::default()),
    )?;
    // Zone files and saved copies are answered at once, from userspace, before anything is
    // refreshed; the kernel takes them once its program is loaded (which takes a while).
    shared.snapshot.store(Arc::new(publisher.snapshot()));
    secondaries.start();
    let handler = Handler {
        shared: shared.clone(),
        secondaries: secondaries.clone(),
    };
    tokio::spawn(publisher.clone().run());

    for socket in udp_sockets {
        udp::start(socket, &handler, payload)?;
    }
    let tcp_limits = tcp::Limits {
        idle: Duration::from_secs(config.server.tcp_idle_timeout),
        max_connections: config.server.tcp_max_connections,
        max_per_client: config.server.tcp_max_per_client,
        payload,
    };
    // One set of caps for every address listened on, as the config states them.
    let tcp_connections = tcp::connections(tcp_limits);
    for listener in tcp_listeners {
        tokio::spawn(tcp::serve(
            listener,
            handler.clone(),
            tcp_limits,
            tcp_connections.clone(),
        ));
    }
    if config.server.control_token.is_none() && !config.server.control.ip().is_loopback() {
        tracing::warn!(
            control = %config.server.control,
            "no control_token: the control API will refuse every non-local client"
        );
    }
    let api = control::api::Api {
        shared: shared.clone(),
        secondaries,
        token: config.server.control_token.clone(),
    };
    tokio::spawn(control::api::serve(control_listener, api));
    if let Some(xdp) = &config.xdp {
        let (xdp, start) = (xdp.clone(), Instant::now());
        tracing::info!(listen = ?config.server.listen, "answering from userspace; loading XDP");
        // Maps sized for what is served already: no second load of the program (the
        // verifier's time) when the first publication would not fit small ones.
        let records: usize = shared
            .snapshot
            .load()
            .zones()
            .map(|zone| zone.record_count())
            .sum();
        let (rate_limit, cookies) = (shared.rate_limit.clone(), shared.cookies.clone());
        let fast_path = tokio::task::spawn_blocking(move || {
            FastPath::start(&xdp, xdp_port, payload, records, rate_limit, cookies)
        })
        .await
        .context("XDP start-up task")??;
        tracing::debug!(ms = start.elapsed().as_millis(), "XDP program loaded");
        let fast_path = Arc::new(fast_path);
        let _ = shared.fast_path.set(fast_path.clone());
        tokio::spawn(follow_the_wall_clock(fast_path));
        publisher.publish_now().await;
    } else {
        // An earlier start with XDP may have left its program answering: not any more.
        let pins = crate::xdp::pins::Pins::existing(&crate::xdp::settings::default_pin_dir())?;
        if let Some(pins) = pins {
            crate::xdp::loader::XdpEngine::detach_unconfigured(&pins, &[])?;
        }
    }
    tracing::info!(
        listen = ?config.server.listen,
        control = %config.server.control,
        xdp = shared.fast_path.get().is_some(),
        "secdns is serving"
    );

    let mut terminate = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    tokio::select! {
        _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = interrupt.recv() => tracing::info!("SIGINT: shutting down"),
    }
    if let Some(fast_path) = shared.fast_path.get() {
        fast_path.release()?;
    }
    Ok(())
}

/// Tells the XDP program, now and then, how its clock stands to the wall clock (cookie
/// timestamps are wall-clock seconds): the wall clock may be set or slewed.
async fn follow_the_wall_clock(fast_path: Arc<FastPath>) {
    let mut every = tokio::time::interval(Duration::from_secs(10));
    loop {
        every.tick().await;
        let fast_path = fast_path.clone();
        let updated = tokio::task::spawn_blocking(move || fast_path.update_cookies()).await;
        if let Ok(Err(e)) = updated {
            tracing::warn!("cannot give the XDP program the wall clock: {e:#}");
        }
    }
}

/// Loads every configured zone file, on every core (an edge host has thousands); the first
/// error (in the config's order) stops the start.
pub fn load_zones(config: &Config) -> anyhow::Result<Vec<Arc<Zone>>> {
    let files: Vec<_> = config
        .zones
        .iter()
        .filter_map(|zone| Some((zone, zone.file.as_ref()?)))
        .collect();
    let limits = config.transfer.limits().records;
    let loaded = crate::parallel::each(&files, |(zone_config, file)| {
        zonefile::load_limited(file, &zone_config.name, limits)
            .with_context(|| format!("zone {}", zone_config.name))
    });
    let mut zones = Vec::with_capacity(files.len());
    for ((zone_config, _), result) in files.iter().zip(loaded) {
        let (zone, warnings) = result?;
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
