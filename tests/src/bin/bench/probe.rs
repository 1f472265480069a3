//! Asking a server from the client namespace, and sampling its memory, for the benches that
//! time how long a server takes to serve.

use std::{
    net::{Ipv4Addr, UdpSocket},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use hickory_proto::{
    op::{Message, ResponseCode},
    rr::RData,
};
use secdns_tests::{
    frame::QueryBuilder,
    netns::{SERVER_V4, TestNet},
    process::Process,
    servers::process_tree_memory,
};

/// How long a server may take to answer a name before [`Probe::wait_for`] fails.
pub const WAIT_LIMIT: Duration = Duration::from_secs(300);

/// A UDP socket in the client namespace, asking the server over the veth.
pub struct Probe(UdpSocket);

impl Probe {
    pub fn new(namespace: &str) -> anyhow::Result<Self> {
        let path = format!("/var/run/netns/{namespace}");
        // setns changes the calling thread's namespace only; a socket stays in the namespace
        // it was made in, whichever thread uses it.
        let socket = std::thread::spawn(move || -> anyhow::Result<UdpSocket> {
            let file = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
            // SAFETY: a valid namespace descriptor; affects this short-lived thread only.
            if unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET) }
                != 0
            {
                bail!("setns into {path}: {}", std::io::Error::last_os_error());
            }
            Ok(UdpSocket::bind("0.0.0.0:0")?)
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the thread entering {namespace} panicked"))??;
        socket.set_read_timeout(Some(Duration::from_millis(100)))?;
        socket.connect((SERVER_V4, 53))?;
        Ok(Self(socket))
    }

    /// The A records of an authoritative NOERROR answer for `name`, or nothing.
    pub fn addresses(&self, name: &str) -> Vec<Ipv4Addr> {
        let mut query = QueryBuilder::new(name, 1);
        query.id = next_id();
        if self.0.send(&query.build()).is_err() {
            return Vec::new();
        }
        let mut buffer = [0u8; 1500];
        // Until the timeout, skipping late answers to earlier queries.
        while let Ok(len) = self.0.recv(&mut buffer) {
            let Some(reply) = buffer.get(..len).and_then(|b| Message::from_vec(b).ok()) else {
                continue;
            };
            if reply.metadata.id != query.id {
                continue;
            }
            if reply.metadata.response_code != ResponseCode::NoError
                || !reply.metadata.authoritative
            {
                return Vec::new();
            }
            return reply
                .answers
                .iter()
                .filter_map(|r| match &r.data {
                    RData::A(a) => Some(a.0),
                    _ => None,
                })
                .collect();
        }
        Vec::new()
    }

    /// Waits until the server answers `name` with `address`, failing if `process` dies or
    /// after WAIT_LIMIT from `since`.
    pub fn wait_for(
        &self,
        process: &mut Process,
        name: &str,
        address: Ipv4Addr,
        since: Instant,
    ) -> anyhow::Result<()> {
        let what = format!("{name} A {address}");
        wait_until(process, since, &what, Duration::from_millis(1), || {
            Ok(self.addresses(name).contains(&address))
        })
    }
}

/// Calls `answered` every `pause` until it says yes; fails if `process` dies or after
/// WAIT_LIMIT from `since`, with its output.
pub fn wait_until(
    process: &mut Process,
    since: Instant,
    what: &str,
    pause: Duration,
    mut answered: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    loop {
        if answered()? {
            return Ok(());
        }
        process.check_running()?;
        if since.elapsed() > WAIT_LIMIT {
            bail!(
                "no answer {what} within {WAIT_LIMIT:?}; output:\n{}",
                process.output()
            );
        }
        std::thread::sleep(pause);
    }
}

/// Waits until the server answers `name` with `address` over TCP (which only userspace
/// answers: the XDP program passes it), asked with `dig` from `net`'s client namespace;
/// failing if `process` dies or after WAIT_LIMIT from `since`.
pub fn wait_for_tcp(
    net: &TestNet,
    process: &mut Process,
    name: &str,
    address: Ipv4Addr,
    since: Instant,
) -> anyhow::Result<()> {
    let what = format!("over TCP {name} A {address}");
    let address = address.to_string();
    wait_until(process, since, &what, Duration::from_millis(5), || {
        let answer = net
            .client("dig")
            .args([
                &format!("@{SERVER_V4}"),
                name,
                "A",
                "+tcp",
                "+short",
                "+time=1",
                "+tries=1",
            ])
            .output()?;
        Ok(String::from_utf8_lossy(&answer.stdout)
            .lines()
            .any(|line| line.trim() == address))
    })
}

/// A fresh message ID for each query (wrapping).
fn next_id() -> u16 {
    use std::sync::atomic::AtomicU16;
    static NEXT: AtomicU16 = AtomicU16::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The memory of a process tree, sampled on a thread until stopped: every 100 ms, or ten
/// times as long as one sample takes (reading the PSS of gigabytes walks their page tables,
/// which would otherwise take a core's share from the server measured).
pub struct MemorySampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<MemoryPeaks>,
}

/// The largest values a [`MemorySampler`] saw, in bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct MemoryPeaks {
    /// Summed PSS of the processes.
    pub pss: u64,
    /// VmHWM of any one process.
    pub rss: u64,
    /// The processes and their BPF maps at the sample where they held the most together
    /// (see `TreeMemory::with_maps`), and that sample's two parts: the PSS outside the maps,
    /// the kernel's count of the maps.
    pub with_maps: u64,
    pub with_maps_outside: u64,
    pub with_maps_maps: u64,
}

impl MemorySampler {
    pub fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peaks = MemoryPeaks::default();
            loop {
                let sampled = Instant::now();
                if let Ok(now) = process_tree_memory(pid) {
                    peaks.pss = peaks.pss.max(now.pss);
                    peaks.rss = peaks.rss.max(now.peak_rss);
                    if now.with_maps() > peaks.with_maps {
                        peaks.with_maps = now.with_maps();
                        peaks.with_maps_outside = now.pss.saturating_sub(now.bpf_map_pss);
                        peaks.with_maps_maps = now.bpf_map_bytes;
                    }
                }
                if flag.load(Ordering::Relaxed) {
                    return peaks;
                }
                std::thread::sleep(Duration::from_millis(100).max(10 * sampled.elapsed()));
            }
        });
        Self { stop, thread }
    }

    pub fn stop(self) -> MemoryPeaks {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}
