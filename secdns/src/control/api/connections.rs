//! The control API's connections: how many are served at once and how long a client may
//! take, so that a client sending a request a byte at a time, sending nothing, or never
//! reading the reply holds a connection for a bounded time. (`axum::serve` bounds neither:
//! such a client held its connection for ever.)

use std::{net::SocketAddr, pin::pin, sync::Arc, time::Duration};

use axum::{Extension, Router, extract::ConnectInfo};
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, sync::Semaphore, time::timeout};
use tokio_io_timeout::TimeoutStream;
use tower_layer::Layer as _;

use crate::server::tcp::accept;

/// Connections served at once; more wait in the listen queue until one ends. Operators,
/// scripts and a metrics scraper need a handful.
pub const MAX_CONNECTIONS: usize = 64;
/// How long a request's head may take to arrive, and so how long a connection may sit idle
/// between requests.
pub const HEAD_TIME: Duration = Duration::from_secs(10);
/// How long one write of a reply may wait for the client to take any of it.
pub const WRITE_STALL: Duration = Duration::from_secs(20);
/// How long a connection takes new requests; a client that keeps one busy (or reads a
/// reply a little at a time) lets go of it after this and [`GRACE`] at the most.
pub const LIFETIME: Duration = Duration::from_secs(120);
/// How long a request under way at the end of a connection's [`LIFETIME`] may still take.
pub const GRACE: Duration = Duration::from_secs(120);

/// Serves `router` to clients of `listener`, for as long as the server runs.
pub async fn serve(listener: TcpListener, router: Router) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        // The semaphore is never closed.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = accept(&listener, "control API").await;
        // What `auth` reads to tell local clients; a layer around the router, not in it, so
        // that no route is wrapped anew for each connection.
        let service = Extension(ConnectInfo::<SocketAddr>(peer)).layer(router.clone());
        tokio::spawn(async move {
            let mut stream = TimeoutStream::new(stream);
            stream.set_write_timeout(Some(WRITE_STALL));
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIME)
                .serve_connection(
                    TokioIo::new(Box::pin(stream)),
                    TowerToHyperService::new(service),
                );
            let mut connection = pin!(connection);
            let served = match timeout(LIFETIME, connection.as_mut()).await {
                Ok(served) => served,
                Err(_) => {
                    // No new request; the one under way may finish within the grace.
                    connection.as_mut().graceful_shutdown();
                    match timeout(GRACE, connection).await {
                        Ok(served) => served,
                        Err(_) => {
                            tracing::debug!(%peer, "control API: connection cut, past its grace");
                            Ok(())
                        }
                    }
                }
            };
            if let Err(e) = served {
                tracing::debug!(%peer, "control API: connection ended: {e}");
            }
            drop(slot);
        });
    }
}
