//! The control API's connections: how many are served at once and how long a client may
//! take, so that clients sending a request a byte at a time, sending nothing, or never
//! reading the reply hold a connection for a bounded time and cannot keep the operator out.
//! (`axum::serve` sets neither: such a client held its connection for ever.)

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{Extension, Router, extract::ConnectInfo};
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, sync::Semaphore};
use tokio_io_timeout::TimeoutStream;

use crate::server::tcp::accept;

/// Connections served at once; more wait in the listen queue until one ends. Operators,
/// scripts and a metrics scraper need a handful.
pub const MAX_CONNECTIONS: usize = 64;
/// How long a request's head may take to arrive, and so how long a connection may sit idle
/// between requests.
pub const HEAD_TIME: Duration = Duration::from_secs(10);
/// How long one write of a reply may wait for the client to take it.
pub const WRITE_STALL: Duration = Duration::from_secs(20);

/// Serves `router` to clients of `listener`, for as long as the server runs.
pub async fn serve(listener: TcpListener, router: Router) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        // The semaphore is never closed.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = accept(&listener, "control API").await;
        let service = router
            .clone()
            .layer(Extension(ConnectInfo::<SocketAddr>(peer)));
        tokio::spawn(async move {
            let mut stream = TimeoutStream::new(stream);
            stream.set_write_timeout(Some(WRITE_STALL));
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIME)
                .serve_connection(
                    TokioIo::new(Box::pin(stream)),
                    TowerToHyperService::new(service),
                )
                .await;
            if let Err(e) = served {
                tracing::debug!(%peer, "control API: connection ended: {e}");
            }
            drop(slot);
        });
    }
}
