//! Loads the XDP program, attaches it to interfaces, switches its answer maps and reads its
//! counters.

use std::process::Command;

use anyhow::{Context as _, anyhow, bail};
use aya::{
    Ebpf,
    maps::{Array, HashMap, IterableMap as _, MapData, MapError, PerCpuArray, PerCpuValues},
    programs::{ProgramError, TestRun, TestRunOptions, Xdp, XdpMode, xdp::XdpLinkId},
};
use secdns_common::{
    ANSWER_MAP_COUNT, AnswerKey, AnswerValue, COUNTED_ZONE_SLOTS, COUNTER_COUNT, Counter,
    RCODE_NXDOMAIN, XdpConfig, ZONE_SLOTS, ZoneSlot, zone_counter_index,
};

use super::{PROGRAM_OBJECT, published::MapChange, value::empty};

/// Changes up to this many entries are kept to bring the other map up to date at the next
/// publication; bigger ones are applied to both maps at once.
const KEPT_CHANGE: usize = 4096;

const PROGRAM_NAME: &str = "secdns_xdp";

/// How the program is attached: in the driver, or in the generic skb path (works anywhere).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AttachMode {
    Native,
    Generic,
}

pub struct XdpEngine {
    // Keeps the program and its links alive; dropping it detaches everything.
    ebpf: Ebpf,
    answers: Vec<HashMap<MapData, AnswerKey, AnswerValue>>,
    config: Array<MapData, XdpConfig>,
    serials: Array<MapData, u32>,
    counters: PerCpuArray<MapData, u64>,
    zone_counters: PerCpuArray<MapData, u64>,
    current: XdpConfig,
    /// Changes the live map has and the other one does not yet.
    behind: Vec<MapChange>,
    /// Maps whose content is unknown (after a failure) or stale (a new set from empty).
    must_clear: [bool; ANSWER_MAP_COUNT as usize],
    links: Vec<(String, XdpLinkId)>,
}

impl XdpEngine {
    /// Loads the program into the kernel (this is where the verifier runs). Nothing is
    /// attached and nothing is answered until [`XdpEngine::attach`] and [`XdpEngine::publish`].
    pub fn load() -> anyhow::Result<Self> {
        raise_memlock_limit();
        let mut ebpf = Ebpf::load(PROGRAM_OBJECT).context("loading the XDP object")?;
        let program: &mut Xdp = ebpf
            .program_mut(PROGRAM_NAME)
            .ok_or_else(|| anyhow!("program {PROGRAM_NAME} missing from the XDP object"))?
            .try_into()?;
        program.load().map_err(verifier_error)?;
        let mut answers = Vec::new();
        for i in 0..ANSWER_MAP_COUNT {
            let name = format!("ANSWERS_{i}");
            let map = ebpf
                .take_map(&name)
                .ok_or_else(|| anyhow!("map {name} missing"))?;
            answers.push(HashMap::try_from(map).with_context(|| format!("map {name}"))?);
        }
        let config = Array::try_from(
            ebpf.take_map("CONFIG")
                .ok_or_else(|| anyhow!("map CONFIG missing"))?,
        )?;
        let serials = Array::try_from(
            ebpf.take_map("SERIALS")
                .ok_or_else(|| anyhow!("map SERIALS missing"))?,
        )?;
        let counters = PerCpuArray::try_from(
            ebpf.take_map("COUNTERS")
                .ok_or_else(|| anyhow!("map COUNTERS missing"))?,
        )?;
        let zone_counters = PerCpuArray::try_from(
            ebpf.take_map("ZONE_COUNTERS")
                .ok_or_else(|| anyhow!("map ZONE_COUNTERS missing"))?,
        )?;
        let current = XdpConfig {
            active: ANSWER_MAP_COUNT,
            port: 53,
            udp_payload: 1232,
        };
        let mut engine = Self {
            ebpf,
            answers,
            config,
            serials,
            counters,
            zone_counters,
            current,
            behind: Vec::new(),
            must_clear: [false; ANSWER_MAP_COUNT as usize],
            links: Vec::new(),
        };
        engine.write_config()?;
        Ok(engine)
    }

    /// Attaches to `interface`. A program left attached by an earlier instance that could not
    /// clean up (one attached through netlink rather than a link we own) is replaced.
    pub fn attach(&mut self, interface: &str, mode: AttachMode) -> anyhow::Result<()> {
        let xdp_mode = match mode {
            AttachMode::Native => XdpMode::Driver,
            AttachMode::Generic => XdpMode::Skb,
        };
        let program: &mut Xdp = self
            .ebpf
            .program_mut(PROGRAM_NAME)
            .ok_or_else(|| anyhow!("program {PROGRAM_NAME} missing"))?
            .try_into()?;
        let link = match program.attach(interface, xdp_mode) {
            Ok(link) => link,
            Err(err) if is_busy(&err) => {
                tracing::warn!(
                    interface,
                    "an XDP program is already attached; replacing it"
                );
                detach_foreign(interface)?;
                program.attach(interface, xdp_mode).with_context(|| {
                    format!(
                        "attaching XDP to {interface} ({mode:?}) after removing the old program"
                    )
                })?
            }
            Err(err) => {
                return Err(anyhow::Error::new(err)
                    .context(format!("attaching XDP to {interface} ({mode:?})")));
            }
        };
        self.links.push((interface.to_owned(), link));
        Ok(())
    }

    /// Detaches from every interface.
    pub fn detach_all(&mut self) -> anyhow::Result<()> {
        let program: &mut Xdp = self
            .ebpf
            .program_mut(PROGRAM_NAME)
            .ok_or_else(|| anyhow!("program {PROGRAM_NAME} missing"))?
            .try_into()?;
        for (interface, link) in self.links.drain(..) {
            program
                .detach(link)
                .with_context(|| format!("detaching XDP from {interface}"))?;
        }
        Ok(())
    }

    pub fn set_listener(&mut self, port: u16, udp_payload: u16) -> anyhow::Result<()> {
        self.current.port = port;
        self.current.udp_payload = udp_payload;
        self.write_config()
    }

    /// Publishes `entries` and `serials` (zone slot, SOA serial) as the whole answer set,
    /// in both maps.
    pub fn publish(
        &mut self,
        entries: &[(AnswerKey, AnswerValue)],
        serials: &[(ZoneSlot, u32)],
    ) -> anyhow::Result<()> {
        self.behind.clear();
        let target = self.inactive();
        for index in [target, 1 - target] {
            self.clear(index)?;
            self.write_serials(index, serials)?;
            let map = &mut self.answers[index];
            for (key, value) in entries {
                map.insert(key, value, 0)
                    .with_context(|| format!("inserting XDP answer {key:?}"))?;
            }
            if index == target {
                self.current.active = target as u32;
                self.write_config()?;
            }
        }
        Ok(())
    }

    /// Brings the inactive answer map (and its half of the serials) up to date, applies
    /// `change` to it, then makes it the live one in a single write: a packet sees either the
    /// old set or the new set, never a mix. The other map catches up at the next call (or at
    /// [`XdpEngine::settle`]).
    pub fn apply(&mut self, change: MapChange) -> anyhow::Result<()> {
        if change.from_empty {
            self.forget_contents();
        }
        let target = self.inactive();
        let restarts = change.from_empty || self.behind.first().is_some_and(|c| c.from_empty);
        if self.must_clear[target] && !restarts {
            bail!(
                "XDP answer map {target} lost its content; the next change must start from empty"
            );
        }
        self.catch_up(target)?;
        self.write(target, &change)?;
        self.reset_zone_counts(&change.fresh_slots)?;
        self.current.active = target as u32;
        self.write_config()?;
        self.behind.push(change);
        Ok(())
    }

    /// After [`XdpEngine::apply`] made a set live: brings the other map up to date now when
    /// the changes it misses are big, rather than keeping them (and their values) until the
    /// next publication.
    pub fn settle(&mut self) -> anyhow::Result<()> {
        let missed: usize = self.behind.iter().map(MapChange::len).sum();
        if self.current.active >= ANSWER_MAP_COUNT {
            return Ok(());
        }
        let other = self.inactive();
        let restarts = self.behind.first().is_some_and(|c| c.from_empty);
        if missed > KEPT_CHANGE && (restarts || !self.must_clear[other]) {
            self.catch_up(other)?;
        }
        Ok(())
    }

    /// The map that is not live (either, when none is).
    fn inactive(&self) -> usize {
        if self.current.active == 0 { 1 } else { 0 }
    }

    /// Whatever the maps hold is of no use: the next change must start from empty.
    fn forget_contents(&mut self) {
        self.behind.clear();
        self.must_clear = [true; ANSWER_MAP_COUNT as usize];
    }

    /// Makes map `index` hold what the live map holds.
    fn catch_up(&mut self, index: usize) -> anyhow::Result<()> {
        if self.must_clear[index] {
            self.clear(index)?;
        }
        for change in std::mem::take(&mut self.behind) {
            self.write(index, &change)?;
        }
        Ok(())
    }

    fn clear(&mut self, index: usize) -> anyhow::Result<()> {
        let map = &mut self.answers[index];
        // The map was live two publications ago; every packet that read it has long finished.
        let stale: Vec<AnswerKey> = map.keys().collect::<Result<_, _>>()?;
        for key in stale {
            map.remove(&key)?;
        }
        self.must_clear[index] = false;
        Ok(())
    }

    /// Zeroes the answer counts of `slots`, which are about to count a new zone.
    fn reset_zone_counts(&mut self, slots: &[ZoneSlot]) -> anyhow::Result<()> {
        if slots.is_empty() {
            return Ok(());
        }
        let cpus = aya::util::nr_cpus().map_err(|(what, e)| anyhow!("{what}: {e}"))?;
        for &slot in slots.iter().filter(|&&s| s < COUNTED_ZONE_SLOTS) {
            let slot_index = |rcode| zone_counter_index(slot, rcode);
            for index in [slot_index(0), slot_index(RCODE_NXDOMAIN)] {
                let zeros = PerCpuValues::try_from(vec![0u64; cpus])?;
                self.zone_counters
                    .set(index, zeros, 0)
                    .with_context(|| format!("resetting the counts of zone slot {slot}"))?;
            }
        }
        Ok(())
    }

    /// The memory the kernel counts for both answer maps, entries and buckets: their
    /// `memlock` (what `bpftool map show` prints; since Linux 6.4 what they take).
    pub fn answer_maps_bytes(&self) -> anyhow::Result<u64> {
        use std::os::fd::{AsFd as _, AsRawFd as _};
        let mut total = 0;
        for map in &self.answers {
            let fd = map.map().fd().as_fd().as_raw_fd();
            let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}"))
                .with_context(|| format!("reading the fdinfo of answer map fd {fd}"))?;
            total += info
                .lines()
                .find_map(|line| line.strip_prefix("memlock:"))
                .and_then(|value| value.trim().parse::<u64>().ok())
                .with_context(|| format!("no memlock in the fdinfo of answer map fd {fd}"))?;
        }
        Ok(total)
    }

    /// Answers sent by the program for the zone in `slot`: (NOERROR, NXDOMAIN); `None` for
    /// a slot beyond those counted.
    pub fn zone_counts(&self, slot: ZoneSlot) -> anyhow::Result<Option<[u64; 2]>> {
        if slot >= COUNTED_ZONE_SLOTS {
            return Ok(None);
        }
        let mut counts = [0; 2];
        for (count, rcode) in counts.iter_mut().zip([0, RCODE_NXDOMAIN]) {
            let index = zone_counter_index(slot, rcode);
            *count = self.zone_counters.get(&index, 0)?.iter().sum();
        }
        Ok(Some(counts))
    }

    fn write_serials(&mut self, index: usize, serials: &[(ZoneSlot, u32)]) -> anyhow::Result<()> {
        let half = index as u32 * ZONE_SLOTS;
        for &(slot, serial) in serials {
            self.serials
                .set(half + slot, serial, 0)
                .with_context(|| format!("writing the serial of zone slot {slot}"))?;
        }
        Ok(())
    }

    fn write(&mut self, index: usize, change: &MapChange) -> anyhow::Result<()> {
        self.write_serials(index, &change.serials)?;
        let map = &mut self.answers[index];
        for key in &change.removals {
            match map.remove(key) {
                Ok(()) => {}
                Err(MapError::SyscallError(e))
                    if e.io_error.raw_os_error() == Some(libc::ENOENT) => {}
                Err(e) => {
                    return Err(
                        anyhow::Error::new(e).context(format!("removing XDP answer {key:?}"))
                    );
                }
            }
        }
        // One buffer for every value: the map's form is 1.3 KB.
        let mut packed = Box::new(empty());
        for (key, value) in &change.upserts {
            value.pack_into(&mut packed);
            map.insert(key, *packed, 0)
                .with_context(|| format!("inserting XDP answer {key:?}"))?;
        }
        Ok(())
    }

    /// No answer map is live: every query goes to userspace. The next change must start from
    /// empty maps.
    pub fn stop_answering(&mut self) -> anyhow::Result<()> {
        self.forget_contents();
        self.current.active = ANSWER_MAP_COUNT;
        self.write_config()
    }

    fn write_config(&mut self) -> anyhow::Result<()> {
        self.config
            .set(0, self.current, 0)
            .context("writing XDP config")
    }

    /// Counters summed over CPUs, in [`Counter::ALL`] order.
    pub fn counters(&self) -> anyhow::Result<Vec<(Counter, u64)>> {
        let mut out = Vec::with_capacity(COUNTER_COUNT as usize);
        for counter in Counter::ALL {
            let per_cpu = self.counters.get(&(counter as u32), 0)?;
            out.push((counter, per_cpu.iter().sum()));
        }
        Ok(out)
    }

    /// Runs the program once on `frame` with BPF_PROG_TEST_RUN; returns the XDP action and
    /// the frame as the program left it.
    pub fn test_run(&self, frame: &[u8]) -> anyhow::Result<(u32, Vec<u8>)> {
        let (action, out, _) = self.timed_run(frame)?;
        Ok((action, out))
    }

    /// As [`XdpEngine::test_run`], with the time the kernel measured for the one run.
    pub fn timed_run(&self, frame: &[u8]) -> anyhow::Result<(u32, Vec<u8>, std::time::Duration)> {
        self.timed_runs(frame, 1)
    }

    /// As [`XdpEngine::timed_run`], running the program `repeat` times on the same frame
    /// (which it may have changed in an earlier run); the time is the average per run.
    pub fn timed_runs(
        &self,
        frame: &[u8],
        repeat: u32,
    ) -> anyhow::Result<(u32, Vec<u8>, std::time::Duration)> {
        let program: &Xdp = self
            .ebpf
            .program(PROGRAM_NAME)
            .ok_or_else(|| anyhow!("program {PROGRAM_NAME} missing"))?
            .try_into()?;
        let mut out = vec![0u8; 4096];
        let result = program.test_run(TestRunOptions {
            data_in: Some(frame),
            data_out: Some(&mut out),
            repeat,
            ..Default::default()
        })?;
        out.truncate(result.data_size_out as usize);
        Ok((result.return_value, out, result.duration))
    }
}

fn verifier_error(err: ProgramError) -> anyhow::Error {
    match err {
        ProgramError::LoadError {
            io_error,
            verifier_log,
        } => {
            anyhow!("the kernel rejected the XDP program: {io_error}\n{verifier_log}")
        }
        other => anyhow::Error::new(other).context("loading the XDP program"),
    }
}

fn is_busy(err: &ProgramError) -> bool {
    matches!(err, ProgramError::SyscallError(e) if e.io_error.raw_os_error() == Some(libc::EBUSY))
}

/// Removes a netlink-attached XDP program (any mode) from `interface`.
fn detach_foreign(interface: &str) -> anyhow::Result<()> {
    for mode in ["xdpgeneric", "xdpdrv"] {
        let status = Command::new("ip")
            .args(["link", "set", "dev", interface, mode, "off"])
            .status()
            .context("running `ip link set ... off` (iproute2)")?;
        if !status.success() {
            bail!("`ip link set dev {interface} {mode} off` failed: {status}");
        }
    }
    Ok(())
}

/// Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK; newer ones ignore it.
fn raise_memlock_limit() {
    let limit = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: plain syscall with a valid struct.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit) };
    if rc != 0 {
        tracing::debug!(
            "could not raise RLIMIT_MEMLOCK: {}",
            std::io::Error::last_os_error()
        );
    }
}
