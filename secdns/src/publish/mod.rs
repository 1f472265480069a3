//! What is served, and making a new zone set the one served: the state the responders, the
//! secondary zones and the control API share ([`Shared`]), and the [`Publisher`] that
//! rebuilds the zone set when a zone changes and hands it to userspace (arc-swap) and to the
//! XDP program (its maps), in the order that keeps the kernel from answering older data.

mod publisher;

use std::sync::{Arc, OnceLock};

use anyhow::Context as _;

pub use publisher::Publisher;

use crate::{
    cookies::Cookies,
    rate_limit::RateLimiter,
    snapshot::{Snapshot, SnapshotCell},
    stats::ResponderStats,
    xdp::{fast_path::FastPath, published::kernel_may_lag},
};

/// Everything the responders and the control API share.
#[derive(Clone)]
pub struct Shared {
    pub snapshot: SnapshotCell,
    pub stats: Arc<ResponderStats>,
    /// Set once the XDP program is attached, when it is configured.
    pub fast_path: Arc<OnceLock<Arc<FastPath>>>,
    /// What limits UDP responses, with the XDP program's buckets once it runs.
    pub rate_limit: Arc<RateLimiter>,
    /// DNS Cookies' secrets, which the XDP program gets too.
    pub cookies: Arc<Cookies>,
}

/// Makes `snapshot` the one served, by XDP and userspace, each switch atomic. The kernel must
/// never answer from data older than userspace's: it goes first, unless it answers nothing
/// that `snapshot` changes (zones only added), when userspace serves them during the compile.
pub async fn publish(shared: &Shared, snapshot: Arc<Snapshot>) -> anyhow::Result<()> {
    if let Some(fast_path) = shared.fast_path.get().cloned() {
        if fast_path
            .held()
            .is_none_or(|held| kernel_may_lag(&held, &snapshot))
        {
            shared.snapshot.store(snapshot.clone());
        }
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
