//! The XDP half of the server as the rest of userspace sees it.

use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

use anyhow::{Context as _, anyhow};
use secdns_common::ANSWER_MAP_MAX_ENTRIES;

use crate::{
    cookies::Cookies,
    dns::Name,
    rate_limit::RateLimiter,
    snapshot::Snapshot,
    stats::MapUsage,
    xdp::{
        loader::XdpEngine, packed::Upserts, pins::Pins, published::Published, settings::XdpConfig,
    },
};

pub struct FastPath {
    /// Told which zone has which slot, since the slot keys a zone's rate-limit buckets.
    rate_limiter: Arc<RateLimiter>,
    engine: Mutex<XdpEngine>,
    capacity: usize,
    usage: Mutex<MapUsage>,
    published: Mutex<Published>,
    /// The zone in each counted slot, as live in the kernel (for answer counts by zone).
    slots: Mutex<Vec<(Name, secdns_common::ZoneSlot)>>,
}

/// What one entry takes in kernel memory at most: its 16-byte slot at the index's load with
/// room to grow (about 25 bytes), and a 64-byte body chunk of its own (names with one answer
/// share one), rounded up for longer bodies.
const ENTRY_BYTES: u64 = 128;

/// How many entries `memory_mib` holds.
pub fn capacity(memory_mib: u32) -> usize {
    let entries = u64::from(memory_mib) * 1024 * 1024 / ENTRY_BYTES;
    entries.min(u64::from(ANSWER_MAP_MAX_ENTRIES)) as usize
}

impl FastPath {
    /// Loads the program with maps sized for `records` and attaches it to every configured
    /// interface; if one attach fails, the ones already made are undone when the engine is
    /// dropped.
    pub fn start(
        config: &XdpConfig,
        port: u16,
        udp_payload: u16,
        records: usize,
        rate_limiter: Arc<RateLimiter>,
        cookies: Arc<Cookies>,
    ) -> anyhow::Result<Self> {
        let mut engine = XdpEngine::load_for(records, rate_limiter.config().table_size)?;
        engine.set_listener(port, udp_payload)?;
        engine.set_rate_limiter(rate_limiter.clone())?;
        engine.set_cookies(cookies)?;
        let pins = match Pins::open(&config.pin_dir) {
            Ok(pins) => Some(pins),
            Err(e) => {
                tracing::warn!(
                    "XDP links cannot be pinned ({e:#}): the kernel stops answering at exit \
                     and a restart starts empty"
                );
                None
            }
        };
        if let Some(pins) = &pins {
            XdpEngine::detach_unconfigured(pins, &config.interfaces)?;
        }
        for interface in &config.interfaces {
            match &pins {
                Some(pins) => {
                    engine.attach_pinned(interface, config.mode, pins, config.takeover)?
                }
                None => engine.attach(interface, config.mode)?,
            }
            tracing::info!(interface, mode = ?config.mode, "XDP attached");
        }
        Ok(Self {
            rate_limiter,
            engine: Mutex::new(engine),
            capacity: capacity(config.memory_mib),
            usage: Mutex::new(MapUsage::default()),
            published: Mutex::default(),
            slots: Mutex::default(),
        })
    }

    fn engine(&self) -> anyhow::Result<std::sync::MutexGuard<'_, XdpEngine>> {
        self.engine
            .lock()
            .map_err(|_| anyhow!("XDP engine lock poisoned"))
    }

    /// Publishes `snapshot` as a change from the last one published (see `xdp::published`).
    pub fn publish(&self, snapshot: Arc<Snapshot>) -> anyhow::Result<()> {
        let started = Instant::now();
        let _busy = crate::parallel::BusyCores::begin();
        // A full publication goes share by share, as it is compiled, into maps no packet
        // reads (empty ones, or a fresh instance the set needs anyway): the whole compiled
        // set is never held at once.
        let mut begun = None;
        let records = snapshot.zones().map(|zone| zone.record_count()).sum();
        let mut stream = |part: &Upserts| -> bool {
            let Ok(mut engine) = self.engine() else {
                return false;
            };
            *begun.get_or_insert_with(|| {
                // What the zone's transfer freed goes back before the maps take their memory.
                crate::memory::release_freed_in_background();
                engine.begin_parts(records)
            }) && engine.stage_part(part)
        };
        let update = self
            .published()?
            .update(snapshot, self.capacity, Some(&mut stream));
        let compile_ms = started.elapsed().as_millis() as u64;
        let totals = update.totals;
        if totals.too_big > 0 || totals.collisions > 0 {
            tracing::info!(
                too_big = totals.too_big,
                hash_collisions = totals.collisions,
                "answers left to userspace"
            );
        }
        if totals.left_out > 0 {
            tracing::warn!(
                left_out = totals.left_out,
                nonexistent_names_in_kernel = totals.walk,
                "the XDP maps are full; the rest is answered by userspace"
            );
        }
        // Slots change only in a full compile. Apexes as the zones spell them, like the
        // userspace counts.
        let slots = (!update.incremental).then(|| {
            self.published().map(|p| {
                let slots = p.slots();
                let named: Vec<_> = p
                    .snapshot()
                    .into_iter()
                    .flat_map(|s| s.zones())
                    .filter_map(|z| {
                        Some((z.apex().clone(), *slots.get(&z.apex().lowercase_wire())?))
                    })
                    .collect();
                self.rate_limiter
                    .set_zone_slots(named.iter().cloned().collect());
                named
            })
        });
        let mut engine = self.engine()?;
        let written = update.streamed + engine.apply(update.change).context("publishing to XDP")?;
        if let Some(slots) = slots {
            *self.slots.lock().unwrap_or_else(|e| e.into_inner()) = slots?;
        }
        let ms = started.elapsed().as_millis() as u64;
        engine
            .settle()
            .context("bringing the other XDP map up to date")?;
        let kernel_bytes = engine.answer_maps_bytes();
        drop(engine);
        drop(update.retired);
        let published = totals.entries as u64;
        let before = self.usage();
        self.set_usage(MapUsage {
            entries: published,
            capacity: self.capacity as u64,
            left_out: totals.left_out as u64,
            // The kernel's own count; an estimate where it cannot be read.
            bytes: kernel_bytes.unwrap_or((published + before.entries) * ENTRY_BYTES),
            publications: before.publications + 1,
            incremental_publications: before.incremental_publications
                + u64::from(update.incremental),
            last_publish_ms: ms,
        });
        tracing::info!(
            entries = published,
            written,
            compiled_names = update.compiled,
            incremental = update.incremental,
            compile_ms,
            ms,
            "XDP answers published"
        );
        Ok(())
    }

    /// The snapshot the kernel answers from; `None` when it answers nothing (before the first
    /// publication, after a failed one).
    pub fn held(&self) -> Option<Arc<Snapshot>> {
        self.published().ok()?.snapshot().cloned()
    }

    fn published(&self) -> anyhow::Result<std::sync::MutexGuard<'_, Published>> {
        self.published
            .lock()
            .map_err(|_| anyhow!("XDP published-set lock poisoned"))
    }

    /// Makes the kernel pass every query to userspace (after a failed publication).
    pub fn stop_answering(&self) {
        // What the maps hold is unknown now: the next publication starts from empty.
        if let Ok(mut published) = self.published() {
            // Zones keep their slots (and so their answer counts).
            published.forget_all_but_slots();
        }
        match self.engine().and_then(|mut engine| engine.stop_answering()) {
            Ok(()) => self.set_usage(MapUsage {
                entries: 0,
                ..self.usage()
            }),
            Err(e) => tracing::error!("cannot switch XDP answers off: {e:#}"),
        }
    }

    pub fn usage(&self) -> MapUsage {
        self.usage.lock().map(|u| *u).unwrap_or_default()
    }

    fn set_usage(&self, usage: MapUsage) {
        if let Ok(mut current) = self.usage.lock() {
            *current = usage;
        }
    }

    pub fn counters(&self) -> anyhow::Result<Vec<(String, u64)>> {
        Ok(self
            .engine()?
            .counters()?
            .into_iter()
            .map(|(counter, value)| (counter.name().to_owned(), value))
            .collect())
    }

    /// Answers the program sent, by zone: (apex, NOERROR, NXDOMAIN), for the zones counted.
    pub fn zone_counts(&self) -> anyhow::Result<Vec<(Name, [u64; 2])>> {
        // The engine lock first: a publication changes the slots under it.
        let engine = self.engine()?;
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut out = Vec::with_capacity(slots.len());
        for (apex, slot) in slots {
            if let Some(counts) = engine.zone_counts(slot)? {
                out.push((apex, counts));
            }
        }
        Ok(out)
    }

    /// Writes the cookie secrets and the clock's offset into the program (after a change,
    /// and now and then: the wall clock may have been set).
    pub fn update_cookies(&self) -> anyhow::Result<()> {
        self.engine()?.update_cookies()
    }

    /// Writes the rate limiter's settings into the program (after a change at runtime).
    pub fn update_rate_limit(&self) -> anyhow::Result<()> {
        self.engine()?.update_rate_limit()
    }

    /// At exit: the pinned links stay, so that the kernel answers until the next start.
    pub fn release(&self) -> anyhow::Result<()> {
        self.engine()?.release()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_budget_allows_128_bytes_an_entry_up_to_the_index_limit() {
        assert_eq!(super::capacity(1024), 8 << 20);
        assert_eq!(super::capacity(0), 0);
        assert_eq!(
            super::capacity(u32::MAX),
            secdns_common::ANSWER_MAP_MAX_ENTRIES as usize
        );
    }
}
