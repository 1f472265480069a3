//! Who holds the TCP responder's connections: a cap per client address, and at the global
//! cap the connection idle the longest makes way (RFC 7766 §6.2.3). Without them, one client
//! holding idle connections made every other client's TCP query wait for the idle timeout.

use std::{
    collections::{BTreeMap, HashMap},
    net::IpAddr,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, Ordering},
    },
};

use tokio::sync::Notify;

/// The open connections, oldest first.
pub struct Connections {
    state: Mutex<State>,
    max: usize,
    per_client: usize,
    /// Told when a connection ends or goes idle: an accept waiting for room tries again.
    room: Notify,
}

#[derive(Default)]
struct State {
    next_id: u64,
    by_client: HashMap<IpAddr, usize>,
    /// By id, which grows with every connection: the first idle one is the oldest idle.
    open: BTreeMap<u64, Open>,
}

struct Open {
    client: IpAddr,
    idle: Arc<AtomicBool>,
    close: Arc<Notify>,
}

/// What [`Connections::admit`] decided for a new connection.
pub enum Admission {
    Admitted(Slot),
    /// The client holds as many connections as one may.
    TooManyFromClient,
    /// Every connection is busy with a query.
    Full,
}

/// One admitted connection; dropping it frees its place.
pub struct Slot {
    connections: Arc<Connections>,
    id: u64,
    idle: Arc<AtomicBool>,
    close: Arc<Notify>,
    /// Whether admitting it closed an idle connection.
    pub evicted_another: bool,
}

impl Connections {
    pub fn new(max: usize, per_client: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::default(),
            max: max.max(1),
            per_client: per_client.max(1),
            room: Notify::new(),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a connection from `client`, closing the oldest idle one if every place is
    /// taken.
    pub fn admit(self: &Arc<Self>, client: IpAddr) -> Admission {
        let mut state = self.state();
        if state.by_client.get(&client).copied().unwrap_or(0) >= self.per_client {
            return Admission::TooManyFromClient;
        }
        let mut evicted_another = false;
        if state.open.len() >= self.max {
            let oldest_idle = state
                .open
                .iter()
                .find(|(_, open)| open.idle.load(Ordering::Relaxed))
                .map(|(&id, _)| id);
            let Some(id) = oldest_idle else {
                return Admission::Full;
            };
            if let Some(open) = state.remove(id) {
                open.close.notify_one();
                evicted_another = true;
            }
        }
        let id = state.next_id;
        state.next_id += 1;
        let (idle, close) = (Arc::new(AtomicBool::new(false)), Arc::new(Notify::new()));
        *state.by_client.entry(client).or_insert(0) += 1;
        state.open.insert(
            id,
            Open {
                client,
                idle: idle.clone(),
                close: close.clone(),
            },
        );
        Admission::Admitted(Slot {
            connections: self.clone(),
            id,
            idle,
            close,
            evicted_another,
        })
    }

    /// Waits until a connection ends or goes idle.
    pub async fn room(&self) {
        self.room.notified().await;
    }

    #[cfg(test)]
    fn open(&self) -> usize {
        self.state().open.len()
    }
}

impl State {
    fn remove(&mut self, id: u64) -> Option<Open> {
        let open = self.open.remove(&id)?;
        if let Some(count) = self.by_client.get_mut(&open.client) {
            *count -= 1;
            if *count == 0 {
                self.by_client.remove(&open.client);
            }
        }
        Some(open)
    }
}

impl Slot {
    /// Marks the connection as waiting for its next query (it may then be closed to make
    /// room), or as busy with one.
    pub fn set_idle(&self, idle: bool) {
        self.idle.store(idle, Ordering::Relaxed);
        if idle {
            self.connections.room.notify_one();
        }
    }

    /// Resolves once the connection was closed to make room for another.
    pub async fn closed(&self) {
        self.close.notified().await;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // Gone already when it was closed to make room.
        let _ = self.connections.state().remove(self.id);
        self.connections.room.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    fn admitted(admission: Admission) -> Slot {
        match admission {
            Admission::Admitted(slot) => slot,
            Admission::TooManyFromClient => panic!("refused: too many from the client"),
            Admission::Full => panic!("refused: full"),
        }
    }

    #[test]
    fn one_client_gets_its_share_only() {
        let connections = Connections::new(10, 2);
        let first = admitted(connections.admit(ip(1)));
        let _second = admitted(connections.admit(ip(1)));
        assert!(matches!(
            connections.admit(ip(1)),
            Admission::TooManyFromClient
        ));
        let _other = admitted(connections.admit(ip(2)));
        drop(first);
        let _again = admitted(connections.admit(ip(1)));
        assert_eq!(connections.open(), 3);
    }

    #[test]
    fn at_the_limit_the_oldest_idle_connection_makes_way() {
        let connections = Connections::new(3, 3);
        let oldest = admitted(connections.admit(ip(1)));
        let busy_older = admitted(connections.admit(ip(2)));
        let newer = admitted(connections.admit(ip(3)));
        // Every one busy: nothing to close.
        assert!(matches!(connections.admit(ip(4)), Admission::Full));
        newer.set_idle(true);
        oldest.set_idle(true);
        busy_older.set_idle(false);
        let fourth = admitted(connections.admit(ip(4)));
        assert!(fourth.evicted_another);
        assert_eq!(connections.open(), 3);
        // The oldest idle one was told to close; the newer idle one was not.
        let told = |slot: &Slot| {
            let notified = slot.close.notified();
            futures_ready(notified)
        };
        assert!(told(&oldest));
        assert!(!told(&newer));
        // Its end frees nothing twice: the client's count went with the eviction.
        drop(oldest);
        assert_eq!(connections.open(), 3);
        let _from_first_again = admitted(connections.admit(ip(1)));
    }

    /// Whether a `Notified` completes at once (a stored permit), without a runtime.
    fn futures_ready(notified: tokio::sync::futures::Notified<'_>) -> bool {
        let mut notified = std::pin::pin!(notified);
        let waker = std::task::Waker::noop();
        let mut context = std::task::Context::from_waker(waker);
        std::future::Future::poll(notified.as_mut(), &mut context).is_ready()
    }
}
