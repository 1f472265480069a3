//! Saving a secondary zone's copies to disk off the serving path. A new copy is served first
//! and saved after; the newest copy waiting is saved next, one save at a time, so a burst of
//! transfers costs one write and a large zone never delays its own serving.

use std::{
    sync::{Arc, Mutex, MutexGuard},
    time::SystemTime,
};

use super::store::ZoneStore;
use crate::zone::Zone;

/// How long a copy waits before it is written.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(200);
/// How long the copy of a zone of `LARGE` records or more waits at most, besides, for
/// publications to the kernel under way (see `parallel::BusyCores`): rendering a million
/// records took a twentieth of the cores while they were being published. Smaller zones
/// are quick to write and do not wait (a catalog's many savers would hold as many blocking
/// threads); the wait stays well inside the 10 s a stop gives them.
const BUSY_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
const LARGE: usize = 100_000;

#[derive(Clone)]
pub struct Saver {
    store: ZoneStore,
    queue: Arc<Mutex<Queue>>,
    /// Held while a file is written, so that [`Saver::cancel`] can wait for it.
    writing: Arc<Mutex<()>>,
}

#[derive(Default)]
struct Queue {
    next: Option<Job>,
    /// A save is under way; it takes `next` when done.
    running: bool,
    /// Why the last save failed, until one succeeds.
    failure: Option<String>,
    /// The zone is gone: nothing more is written.
    cancelled: bool,
}

struct Job {
    zone: Arc<Zone>,
    when: SystemTime,
    /// How the copy came, when the zone file must be written too (not only its metadata).
    transferred: Option<String>,
}

impl Saver {
    pub fn new(store: ZoneStore) -> Self {
        Self {
            store,
            queue: Arc::default(),
            writing: Arc::default(),
        }
    }

    pub fn store(&self) -> &ZoneStore {
        &self.store
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Saves a copy that came by `kind` at `when`: its zone file and metadata.
    pub fn save(&self, zone: Arc<Zone>, when: SystemTime, kind: &str) {
        self.enqueue(Job {
            zone,
            when,
            transferred: Some(kind.to_owned()),
        });
    }

    /// Records a successful refresh that left `zone` as it was.
    pub fn mark_success(&self, zone: Arc<Zone>, when: SystemTime) {
        self.enqueue(Job {
            zone,
            when,
            transferred: None,
        });
    }

    /// Why the last save failed, if the last one did.
    pub fn failure(&self) -> Option<String> {
        self.queue().failure.clone()
    }

    /// For a zone being removed: drops what waits, and returns once no write is under way, so
    /// that the files can be deleted for good.
    pub fn cancel(&self) {
        {
            let mut queue = self.queue();
            queue.cancelled = true;
            queue.next = None;
        }
        drop(self.writing.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn enqueue(&self, mut job: Job) {
        let mut queue = self.queue();
        if queue.cancelled {
            return;
        }
        // The job replaces the one waiting: a newer copy makes its file needless; for the
        // same copy, its file is still to be written.
        if let Some(waiting) = queue.next.take()
            && job.transferred.is_none()
            && Arc::ptr_eq(&waiting.zone, &job.zone)
        {
            job.transferred = waiting.transferred;
        }
        queue.next = Some(job);
        if queue.running {
            return;
        }
        queue.running = true;
        drop(queue);
        let saver = self.clone();
        match tokio::runtime::Handle::try_current() {
            // Blocking tasks under way finish before the runtime shuts down (it waits 10 s).
            Ok(runtime) => drop(runtime.spawn_blocking(move || saver.drain())),
            Err(_) => saver.drain(),
        }
    }

    fn drain(&self) {
        // Rendering a large zone takes a core for a while: let answering and publishing come
        // first.
        let _background = Background::enter();
        loop {
            // Let the new copy be published first, and a burst of copies become one write.
            std::thread::sleep(SETTLE);
            let large = self
                .queue()
                .next
                .as_ref()
                .is_some_and(|job| job.zone.record_count() >= LARGE);
            if large {
                crate::parallel::wait_for_busy_cores(BUSY_WAIT);
            }
            let job = {
                let mut queue = self.queue();
                match queue.next.take() {
                    Some(job) => job,
                    None => {
                        queue.running = false;
                        return;
                    }
                }
            };
            let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
            if self.queue().cancelled {
                continue;
            }
            let started = std::time::Instant::now();
            let result = match &job.transferred {
                Some(kind) => self.store.save(&job.zone, job.when, kind),
                None => self.store.mark_success(&job.zone, job.when),
            };
            let zone = job.zone.apex();
            match result {
                Ok(()) => {
                    tracing::debug!(%zone, serial = job.zone.serial(), ms = started.elapsed().as_millis(), "saved");
                    self.queue().failure = None;
                }
                Err(e) => {
                    tracing::error!(%zone, "{e:#}");
                    self.queue().failure = Some(format!("{e:#}"));
                }
            }
        }
    }
}

/// Lowers the calling thread's scheduling priority while it lives (per thread on Linux).
/// The thread belongs to tokio's blocking pool and must go back at its old priority, which
/// takes CAP_SYS_NICE: without root the priority is left alone.
struct Background(Option<i32>);

impl Background {
    const NICE: i32 = 10;

    fn enter() -> Self {
        // SAFETY: geteuid, getpriority and setpriority on this thread's own id have no
        // preconditions; a failure changes nothing.
        unsafe {
            if libc::geteuid() != 0 {
                return Self(None);
            }
            let tid = libc::gettid() as libc::id_t;
            let before = libc::getpriority(libc::PRIO_PROCESS, tid);
            libc::setpriority(libc::PRIO_PROCESS, tid, Self::NICE);
            Self(Some(before))
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(before) = self.0 {
            // SAFETY: as above.
            unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, before) };
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::{dns::Name, zone::zonefile};

    fn zone(serial: u32) -> Arc<Zone> {
        let text = format!("@ 300 IN SOA ns hm {serial} 1 2 3 4\nwww 300 IN A 192.0.2.1\n");
        Arc::new(zonefile::zone_of("example.com.", &text))
    }

    #[tokio::test]
    async fn the_newest_copy_is_saved_and_a_cancelled_zone_writes_nothing() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        let saver = Saver::new(ZoneStore::new(dir));
        let apex: Name = "example.com.".parse().unwrap();
        let when = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        // A burst: only the last is written (the first may be, before it is replaced).
        for serial in 1..=3 {
            saver.save(zone(serial), when, "IXFR");
        }
        tokio::time::sleep(SETTLE * 3).await;
        let saved = saver.store().load(&apex).unwrap().expect("saved");
        assert_eq!(saved.zone.serial(), 3);
        assert_eq!(saver.failure(), None);

        saver.store().remove(&apex);
        saver.save(zone(4), when, "IXFR");
        saver.cancel();
        tokio::time::sleep(SETTLE * 2).await;
        assert!(saver.store().load(&apex).unwrap().is_none());
    }
}
