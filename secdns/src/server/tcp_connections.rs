//! Who holds the TCP responder's connections: a cap per client (an IPv4 address, or an IPv6
//! /64, which one host can fill with addresses), and at the global cap the connection idle
//! the longest makes way (RFC 7766 §6.2.3). Without them, one client holding idle
//! connections made every other client's TCP query wait for the idle timeout.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv6Addr},
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
};

use tokio::sync::Notify;

/// The open connections.
pub struct Connections {
    state: Mutex<State>,
    max: usize,
    per_client: usize,
    /// Counts the moments connections go idle: a connection's idle mark is the count when it
    /// went idle, so the smallest mark is the connection idle the longest.
    idle_clock: AtomicU64,
    /// Accepts waiting for room, told when a connection ends or goes idle.
    waiting: AtomicUsize,
    room: Notify,
}

#[derive(Default)]
struct State {
    next_id: u64,
    by_client: HashMap<IpAddr, usize>,
    /// By id; which is idle the longest is in their idle marks, not their order.
    open: HashMap<u64, Open>,
}

struct Open {
    client: IpAddr,
    idle: Arc<AtomicU64>,
    close: Arc<Notify>,
}

/// A connection's idle mark while it is busy with a query.
const BUSY: u64 = 0;

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
    idle: Arc<AtomicU64>,
    close: Arc<Notify>,
    /// Whether admitting it closed an idle connection.
    pub evicted_another: bool,
}

/// Whom a connection from `address` counts against: the address, or its IPv6 /64.
fn client_of(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & (u128::MAX << 64))),
        },
        v4 => v4,
    }
}

impl Connections {
    pub fn new(max: usize, per_client: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::default(),
            max: max.max(1),
            per_client: per_client.max(1),
            idle_clock: AtomicU64::new(BUSY + 1),
            waiting: AtomicUsize::new(0),
            room: Notify::new(),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a connection from `address`, closing the connection idle the longest if every
    /// place is taken.
    pub fn admit(self: &Arc<Self>, address: IpAddr) -> Admission {
        let client = client_of(address);
        let mut state = self.state();
        if state.by_client.get(&client).copied().unwrap_or(0) >= self.per_client {
            return Admission::TooManyFromClient;
        }
        let mut evicted_another = false;
        if state.open.len() >= self.max {
            let idle_longest = state
                .open
                .iter()
                .map(|(&id, open)| (open.idle.load(Ordering::Relaxed), id))
                .filter(|&(mark, _)| mark != BUSY)
                .min()
                .map(|(_, id)| id);
            let Some(id) = idle_longest else {
                return Admission::Full;
            };
            if let Some(open) = state.remove(id) {
                open.close.notify_one();
                evicted_another = true;
            }
        }
        let id = state.next_id;
        state.next_id += 1;
        let (idle, close) = (Arc::new(AtomicU64::new(BUSY)), Arc::new(Notify::new()));
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

    /// Waits until a connection ends or goes idle, while a [`Connections::will_wait`] guard
    /// is held (a change since it was taken counts).
    pub async fn room(&self) {
        self.room.notified().await;
    }

    /// Says that an accept will wait for room: while the guard lives, ends and idles are
    /// told (try to admit once more after taking it: a change before is not).
    pub fn will_wait(&self) -> Waiting<'_> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        Waiting(self)
    }

    fn tell_waiting(&self) {
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.room.notify_one();
        }
    }

    #[cfg(test)]
    fn open(&self) -> usize {
        self.state().open.len()
    }
}

/// An accept waiting for room (see [`Connections::will_wait`]).
pub struct Waiting<'c>(&'c Connections);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
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
        let mark = match idle {
            true => self.connections.idle_clock.fetch_add(1, Ordering::Relaxed),
            false => BUSY,
        };
        self.idle.store(mark, Ordering::Relaxed);
        if idle {
            self.connections.tell_waiting();
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
        self.connections.tell_waiting();
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
    fn at_the_limit_the_connection_idle_longest_makes_way() {
        let connections = Connections::new(3, 3);
        let oldest = admitted(connections.admit(ip(1)));
        let busy = admitted(connections.admit(ip(2)));
        let newer = admitted(connections.admit(ip(3)));
        // Every one busy: nothing to close.
        assert!(matches!(connections.admit(ip(4)), Admission::Full));
        // The newer one went idle first: it has been idle the longest.
        newer.set_idle(true);
        oldest.set_idle(true);
        busy.set_idle(true);
        busy.set_idle(false);
        let fourth = admitted(connections.admit(ip(4)));
        assert!(fourth.evicted_another);
        assert_eq!(connections.open(), 3);
        let told = |slot: &Slot| futures_ready(slot.close.notified());
        assert!(told(&newer));
        assert!(!told(&oldest));
        assert!(!told(&busy));
        // Its end frees nothing twice: the client's count went with the eviction.
        drop(newer);
        assert_eq!(connections.open(), 3);
        let _from_its_client_again = admitted(connections.admit(ip(3)));
        assert!(told(&oldest));
    }

    #[test]
    fn an_ipv6_client_is_its_64() {
        let connections = Connections::new(10, 2);
        let address = |last: u16| IpAddr::from([0x2001, 0xdb8, 0, 1, 0, 0, 0, last]);
        let _first = admitted(connections.admit(address(1)));
        let _second = admitted(connections.admit(address(2)));
        assert!(matches!(
            connections.admit(address(3)),
            Admission::TooManyFromClient
        ));
        let _other_64 =
            admitted(connections.admit(IpAddr::from([0x2001, 0xdb8, 0, 2, 0, 0, 0, 1])));
        // An IPv4 client mapped into IPv6 is its own address.
        let mapped =
            |last: u8| IpAddr::V6(std::net::Ipv4Addr::new(192, 0, 2, last).to_ipv6_mapped());
        let _a = admitted(connections.admit(mapped(1)));
        let _b = admitted(connections.admit(mapped(2)));
        let _c = admitted(connections.admit(mapped(3)));
    }

    /// Whether a `Notified` completes at once (a stored permit), without a runtime.
    fn futures_ready(notified: tokio::sync::futures::Notified<'_>) -> bool {
        let mut notified = std::pin::pin!(notified);
        let waker = std::task::Waker::noop();
        let mut context = std::task::Context::from_waker(waker);
        std::future::Future::poll(notified.as_mut(), &mut context).is_ready()
    }
}
