//! The XDP half of the server as the rest of userspace sees it.

use std::sync::{
    Mutex,
    atomic::{AtomicU64, Ordering},
};

use anyhow::{Context as _, anyhow};
use secdns_common::ANSWER_MAP_MAX_ENTRIES;

use crate::{
    config::XdpConfig,
    snapshot::Snapshot,
    xdp::{compile::compile, loader::XdpEngine},
};

pub struct FastPath {
    engine: Mutex<XdpEngine>,
    entries: AtomicU64,
}

impl FastPath {
    /// Loads the program and attaches it to every configured interface; if one attach fails,
    /// the ones already made are undone when the engine is dropped.
    pub fn start(config: &XdpConfig, port: u16, udp_payload: u16) -> anyhow::Result<Self> {
        let mut engine = XdpEngine::load()?;
        engine.set_listener(port, udp_payload)?;
        for interface in &config.interfaces {
            engine.attach(interface, config.mode)?;
            tracing::info!(interface, mode = ?config.mode, "XDP attached");
        }
        Ok(Self {
            engine: Mutex::new(engine),
            entries: AtomicU64::new(0),
        })
    }

    fn engine(&self) -> anyhow::Result<std::sync::MutexGuard<'_, XdpEngine>> {
        self.engine
            .lock()
            .map_err(|_| anyhow!("XDP engine lock poisoned"))
    }

    pub fn publish(&self, snapshot: &Snapshot) -> anyhow::Result<()> {
        let compiled = compile(snapshot, ANSWER_MAP_MAX_ENTRIES as usize);
        if compiled.too_big > 0 || compiled.collisions > 0 {
            tracing::info!(
                too_big = compiled.too_big,
                hash_collisions = compiled.collisions,
                "answers left to userspace"
            );
        }
        if compiled.left_out > 0 {
            tracing::warn!(
                left_out = compiled.left_out,
                nonexistent_names_in_kernel = compiled.walk,
                "the XDP maps are full; the rest is answered by userspace"
            );
        }
        self.engine()?
            .publish(&compiled.entries)
            .context("publishing to XDP")?;
        let published = compiled.entries.len();
        self.entries.store(published as u64, Ordering::Relaxed);
        tracing::info!(entries = published, "XDP answers published");
        Ok(())
    }

    /// Makes the kernel pass every query to userspace (after a failed publication).
    pub fn stop_answering(&self) {
        match self.engine().and_then(|mut engine| engine.stop_answering()) {
            Ok(()) => self.entries.store(0, Ordering::Relaxed),
            Err(e) => tracing::error!("cannot switch XDP answers off: {e:#}"),
        }
    }

    pub fn entries(&self) -> u64 {
        self.entries.load(Ordering::Relaxed)
    }

    pub fn counters(&self) -> anyhow::Result<Vec<(String, u64)>> {
        Ok(self
            .engine()?
            .counters()?
            .into_iter()
            .map(|(counter, value)| (counter.name().to_owned(), value))
            .collect())
    }

    pub fn detach(&self) -> anyhow::Result<()> {
        self.engine()?.detach_all()
    }
}
