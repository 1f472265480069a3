//! Loads the XDP program, attaches it to interfaces, switches its answer maps and reads its
//! counters.

use std::{
    os::fd::{AsFd as _, AsRawFd as _},
    path::{Path, PathBuf},
    process::Command,
    sync::atomic::Ordering,
};

use anyhow::{Context as _, anyhow, bail};
use aya::{
    Ebpf, EbpfLoader,
    maps::{
        Array, MapData, PerCpuArray, PerCpuValues,
        lpm_trie::{Key as TrieKey, LpmTrie},
    },
    programs::{
        ProgramError, TestRun, TestRunOptions, Xdp, XdpMode,
        links::{FdLink, PinnedLink},
        xdp::{XdpLink, XdpLinkId},
    },
};
use foldhash::{HashMap, HashMapExt};
use secdns_common::{
    ANSWER_MAP_COUNT, Bucket, COUNTED_ZONE_SLOTS, COUNTER_COUNT, Chunk, Counter, RCODE_NXDOMAIN,
    SLOTS_PER_BUCKET, XdpConfig, ZONE_COUNTER_COUNT, ZONE_SLOTS, ZoneSlot,
    rrl::{RRL_COUNT_COUNT, RrlSettings},
    zone_counter_index,
};

use crate::{
    cookies::Cookies,
    rate_limit::{Prefix, RateLimiter, Words},
    xdp::settings::AttachMode,
};

use super::{
    PROGRAM_OBJECT,
    layout::hasher,
    maps::{AnswerMaps, Full, INDEX_LOAD, Shared, SlotKey, chunks_at_most, chunks_for},
    packed::Upserts,
    pins::Pins,
    published::MapChange,
};

const PROGRAM_NAME: &str = "secdns_xdp";

/// The smallest maps: what a program starts with before it holds anything.
const MIN_BUCKETS: u32 = 64;
const MIN_CHUNKS: u32 = 1024;
/// Room made when the maps grow, beyond what the answer set needs: a tenth more entries and
/// chunks takes a 1M-record zone through 100k changed records before it is built again (a
/// third of a second), and costs a tenth of the kernel memory, not a quarter.
const GROWTH: f64 = 1.1;

/// One loaded copy of the program with its maps. The answer maps have a fixed size; they
/// grow by loading another instance and swapping it in on every interface at once.
struct Instance {
    // Keeps the program and its links alive; dropping it detaches everything.
    ebpf: Ebpf,
    /// Written through `AnswerMaps`' mappings; kept for their memory accounting.
    index: MapData,
    bodies: MapData,
    config: Array<MapData, XdpConfig>,
    serials: Array<MapData, u32>,
    counters: PerCpuArray<MapData, u64>,
    zone_counters: PerCpuArray<MapData, u64>,
    /// Rate limiting's buckets and counts (mapped by userspace too) and allow list.
    rrl_buckets: MapData,
    rrl_counts: MapData,
    rrl_allow: LpmTrie<MapData, [u8; 16], u8>,
}

impl Instance {
    /// Loads the program (this is where the verifier runs) with answer maps of `buckets`
    /// and `chunks`, and maps those into this process.
    fn load(buckets: u32, chunks: u32, rrl_words: u32) -> anyhow::Result<(Self, AnswerMaps)> {
        // One loader for the process: making one parses the kernel's BTF (20-30 ms), and a
        // big publication loads the program again, for maps of another size, while it waits.
        static LOADER: std::sync::Mutex<Option<EbpfLoader<'static>>> = std::sync::Mutex::new(None);
        let mut loader = LOADER.lock().unwrap_or_else(|e| e.into_inner());
        let mut ebpf = loader
            .get_or_insert_with(EbpfLoader::new)
            .map_max_entries("INDEX", buckets)
            .map_max_entries("BODIES", chunks)
            .map_max_entries("RRL_BUCKETS", rrl_words.max(1))
            .load(PROGRAM_OBJECT)
            .with_context(|| {
                format!("loading the XDP object (index of {buckets} buckets, {chunks} chunks)")
            })?;
        drop(loader);
        let program: &mut Xdp = ebpf
            .program_mut(PROGRAM_NAME)
            .ok_or_else(|| anyhow!("program {PROGRAM_NAME} missing from the XDP object"))?
            .try_into()?;
        program.load().map_err(verifier_error)?;
        let mut take = |name: &str| {
            ebpf.take_map(name)
                .ok_or_else(|| anyhow!("map {name} missing from the XDP object"))
        };
        let index = map_data(take("INDEX")?, "INDEX")?;
        let bodies = map_data(take("BODIES")?, "BODIES")?;
        let config = Array::try_from(take("CONFIG")?)?;
        let serials = Array::try_from(take("SERIALS")?)?;
        let counters = PerCpuArray::try_from(take("COUNTERS")?)?;
        let zone_counters = PerCpuArray::try_from(take("ZONE_COUNTERS")?)?;
        let rrl_buckets = map_data(take("RRL_BUCKETS")?, "RRL_BUCKETS")?;
        let rrl_counts = map_data(take("RRL_COUNTS")?, "RRL_COUNTS")?;
        let rrl_allow = LpmTrie::try_from(take("RRL_ALLOW")?)?;
        let index_shared =
            Shared::<Bucket>::map(index.fd().as_fd(), buckets as usize).context("the XDP index")?;
        let arena =
            Shared::<Chunk>::map(bodies.fd().as_fd(), chunks as usize).context("the XDP bodies")?;
        let instance = Self {
            ebpf,
            index,
            bodies,
            config,
            serials,
            counters,
            zone_counters,
            rrl_buckets,
            rrl_counts,
            rrl_allow,
        };
        Ok((instance, AnswerMaps::new(index_shared, arena)))
    }

    /// Rate limiting's buckets and counts, mapped into this process.
    fn rate_limit_words(&self, buckets: u32) -> anyhow::Result<(Words, Words)> {
        let map = |data: &MapData, len: u32, what: &str| -> anyhow::Result<Words> {
            let shared =
                Shared::<u64>::map(data.fd().as_fd(), len as usize).context(what.to_owned())?;
            let ptr = shared.start();
            // SAFETY: the mapping holds `len` 8-aligned words as long as `shared` lives, and
            // the program changes them only atomically.
            Ok(unsafe { Words::mapped(ptr, len as usize, Box::new(shared)) })
        };
        Ok((
            map(
                &self.rrl_buckets,
                buckets.max(1),
                "the XDP rate-limit buckets",
            )?,
            map(
                &self.rrl_counts,
                RRL_COUNT_COUNT,
                "the XDP rate-limit counts",
            )?,
        ))
    }

    /// Makes the allow list `prefixes`.
    fn write_allow(&mut self, prefixes: &[Prefix]) -> anyhow::Result<()> {
        // The new prefixes first, then the others out: an allowed client is never limited
        // in between.
        let new: Vec<(u32, [u8; 16])> = prefixes
            .iter()
            .map(|prefix| (u32::from(prefix.len), prefix.address.octets()))
            .collect();
        for (&(len, address), prefix) in new.iter().zip(prefixes) {
            self.rrl_allow
                .insert(&TrieKey::new(len, address), 1, 0)
                .with_context(|| format!("adding {prefix} to the XDP rate-limit allow list"))?;
        }
        let old: Vec<TrieKey<[u8; 16]>> = self.rrl_allow.keys().filter_map(Result::ok).collect();
        for key in old {
            if !new.contains(&(key.prefix_len(), key.data())) {
                let _ = self.rrl_allow.remove(&key);
            }
        }
        Ok(())
    }

    fn program(&self) -> anyhow::Result<&Xdp> {
        Ok(self
            .ebpf
            .program(PROGRAM_NAME)
            .ok_or_else(|| anyhow!("program {PROGRAM_NAME} missing"))?
            .try_into()?)
    }

    fn program_mut(&mut self) -> anyhow::Result<&mut Xdp> {
        Ok(self
            .ebpf
            .program_mut(PROGRAM_NAME)
            .ok_or_else(|| anyhow!("program {PROGRAM_NAME} missing"))?
            .try_into()?)
    }

    fn write_serials(&mut self, half: u32, serials: &[(ZoneSlot, u32)]) -> anyhow::Result<()> {
        for &(slot, serial) in serials {
            self.serials
                .set(half * ZONE_SLOTS + slot, serial, 0)
                .with_context(|| format!("writing the serial of zone slot {slot}"))?;
        }
        Ok(())
    }

    /// The per-CPU counters, summed: the program's counters, then the zone counters.
    fn counts(&self) -> anyhow::Result<(Vec<u64>, Vec<u64>)> {
        let mut counters = Vec::with_capacity(COUNTER_COUNT as usize);
        for index in 0..COUNTER_COUNT {
            counters.push(self.counters.get(&index, 0)?.iter().sum());
        }
        let mut zones = Vec::with_capacity(ZONE_COUNTER_COUNT as usize);
        for index in 0..ZONE_COUNTER_COUNT {
            zones.push(self.zone_counters.get(&index, 0)?.iter().sum());
        }
        Ok((counters, zones))
    }
}

/// An interface the program is attached to.
struct Attached {
    interface: String,
    mode: AttachMode,
    link: Link,
}

enum Link {
    /// Owned by the current instance, not pinned: detached when it drops.
    Managed(XdpLinkId),
    /// Pinned in bpffs: it outlives this process. `ours` once it runs our program (a link
    /// taken over from an earlier process runs that one's until our first publication).
    Pinned {
        link: FdLink,
        path: PathBuf,
        ours: bool,
    },
}

pub struct XdpEngine {
    instance: Instance,
    maps: AnswerMaps,
    current: XdpConfig,
    links: Vec<Attached>,
    /// The newest serial of every zone slot.
    serials: HashMap<ZoneSlot, u32>,
    /// Serials written into the live half only: the other half gets them before it is live.
    serials_behind: Vec<(ZoneSlot, u32)>,
    /// What instances swapped out had counted (program counters, then zone counters).
    carried: (Vec<u64>, Vec<u64>),
    /// Times the maps were built again, bigger.
    pub rebuilds: u64,
    /// An instance sized for a streamed set too big for the maps (see
    /// [`XdpEngine::begin_parts`]): its parts are staged there, and it is swapped in when
    /// the set is applied.
    fresh: Option<(Instance, AnswerMaps)>,
    /// Buckets in every instance's rate-limit table.
    rrl_words: u32,
    /// Who limits userspace's UDP responses with the program's buckets; told of new ones.
    rate_limiter: Option<std::sync::Arc<RateLimiter>>,
    /// The cookie secrets the program shares with userspace.
    cookies: Option<std::sync::Arc<Cookies>>,
}

impl XdpEngine {
    /// Loads the program into the kernel with small answer maps (they grow with what is
    /// published). Nothing is attached and nothing is answered until [`XdpEngine::attach`]
    /// and [`XdpEngine::apply`].
    pub fn load() -> anyhow::Result<Self> {
        Self::load_for(0, 1)
    }

    /// As [`XdpEngine::load`], with maps sized for about `records` records (see
    /// [`for_records`]) and a rate-limit table of `rrl_words` buckets.
    pub fn load_for(records: usize, rrl_words: u32) -> anyhow::Result<Self> {
        raise_memlock_limit();
        let (instance, maps) = if records == 0 {
            Instance::load(MIN_BUCKETS, MIN_CHUNKS, rrl_words)?
        } else {
            let (entries, chunks) = for_records(records);
            Self::sized_instance(entries, chunks, rrl_words)?
        };
        let current = XdpConfig {
            active: ANSWER_MAP_COUNT,
            port: 53,
            udp_payload: 1232,
            buckets: maps.buckets(),
            reserved: 0,
            hash_key: hasher().key,
            rrl: RrlSettings::default(),
            cookies: Default::default(),
        };
        let mut engine = Self {
            instance,
            maps,
            current,
            links: Vec::new(),
            serials: HashMap::new(),
            serials_behind: Vec::new(),
            carried: (
                vec![0; COUNTER_COUNT as usize],
                vec![0; ZONE_COUNTER_COUNT as usize],
            ),
            rebuilds: 0,
            fresh: None,
            rrl_words,
            rate_limiter: None,
            cookies: None,
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
        let program = self.instance.program_mut()?;
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
        self.links.push(Attached {
            interface: interface.to_owned(),
            mode,
            link: Link::Managed(link),
        });
        Ok(())
    }

    /// Attaches to `interface` through a link pinned in `pins`, so that the program keeps
    /// answering after this process ends. With `takeover`, a link an earlier process left
    /// there is kept as it is (its program answers from its maps) until the first
    /// publication moves it to ours, in one atomic update; without, it is detached first.
    pub fn attach_pinned(
        &mut self,
        interface: &str,
        mode: AttachMode,
        pins: &Pins,
        takeover: bool,
    ) -> anyhow::Result<()> {
        let path = pins.link_path(interface);
        if path.exists() {
            let pinned = PinnedLink::from_pin(&path)
                .with_context(|| format!("opening the XDP link pinned at {}", path.display()))?;
            if takeover {
                tracing::info!(
                    interface,
                    pin = %path.display(),
                    "taking over the XDP program left attached; it answers until our first publication"
                );
                self.keep_pinned(interface, mode, pinned, path, false);
                return Ok(());
            }
            // Unpinned and closed, the link goes and the program with it.
            drop(
                pinned
                    .unpin()
                    .with_context(|| format!("unpinning {}", path.display()))?,
            );
            tracing::info!(
                interface,
                "detached the XDP program left attached (no takeover)"
            );
        }
        self.attach_and_pin(interface, mode, path)
    }

    /// Attaches to `interface` and pins the link at `path` (or, where it cannot be pinned,
    /// keeps it for this run only).
    fn attach_and_pin(
        &mut self,
        interface: &str,
        mode: AttachMode,
        path: PathBuf,
    ) -> anyhow::Result<()> {
        self.attach(interface, mode)?;
        let Some(Attached {
            link: Link::Managed(id),
            ..
        }) = self.links.pop()
        else {
            bail!("attaching XDP to {interface} left no link");
        };
        let link = self.instance.program_mut()?.take_link(id)?;
        let link = FdLink::try_from(link).with_context(|| {
            format!("the kernel attached XDP to {interface} without a link that can be pinned")
        })?;
        let pinned = match link.pin(&path) {
            Ok(pinned) => pinned,
            Err(e) => {
                // The link went with the error: attach again, for this run only.
                tracing::warn!(
                    interface,
                    pin = %path.display(),
                    "cannot pin the XDP link ({e}): the kernel stops answering at exit"
                );
                return self.attach(interface, mode);
            }
        };
        self.keep_pinned(interface, mode, pinned, path, true);
        Ok(())
    }

    /// Keeps the link pinned at `path` as `interface`'s: one this program made (`ours`), or
    /// one an earlier process left.
    fn keep_pinned(
        &mut self,
        interface: &str,
        mode: AttachMode,
        pinned: PinnedLink,
        path: PathBuf,
        ours: bool,
    ) {
        self.links.push(Attached {
            interface: interface.to_owned(),
            mode,
            link: Link::Pinned {
                link: FdLink::from(pinned),
                path,
                ours,
            },
        });
    }

    /// Detaches the links pinned in `pins` for interfaces not in `configured` (a config that
    /// no longer names them), saying so.
    pub fn detach_unconfigured(pins: &Pins, configured: &[String]) -> anyhow::Result<()> {
        for interface in pins.pinned_interfaces()? {
            if configured.contains(&interface) {
                continue;
            }
            let path = pins.link_path(&interface);
            let pinned = PinnedLink::from_pin(&path)
                .with_context(|| format!("opening the XDP link pinned at {}", path.display()))?;
            drop(
                pinned
                    .unpin()
                    .with_context(|| format!("unpinning {}", path.display()))?,
            );
            tracing::warn!(
                interface,
                "detached the XDP program left attached: the config no longer names the interface"
            );
        }
        Ok(())
    }

    /// Moves links taken over from an earlier process to our program (after a publication:
    /// packets go from its answers to ours in one step per interface). A link that cannot
    /// be moved (its interface went and came back, say) is unpinned, which detaches the old
    /// program, and the interface is attached afresh.
    fn adopt(&mut self) -> anyhow::Result<()> {
        let inherited = |a: &Attached| matches!(a.link, Link::Pinned { ours: false, .. });
        if !self.links.iter().any(inherited) {
            return Ok(());
        }
        let mut retry = Vec::new();
        let program = self.instance.program_mut()?;
        self.links = relink(std::mem::take(&mut self.links), |interface, mode, link| {
            Ok(match link {
                Link::Pinned {
                    link,
                    path,
                    ours: false,
                } => match move_pinned(program, link, &path, interface, true) {
                    Some(link) => Some(link),
                    None => {
                        retry.push((interface.to_owned(), mode, path));
                        None
                    }
                },
                other => Some(other),
            })
        })?;
        for (interface, mode, path) in retry {
            tracing::info!(interface, "attaching XDP afresh");
            self.attach_and_pin(&interface, mode, path)?;
        }
        Ok(())
    }

    /// At exit: pinned links stay (the kernel keeps answering for the next start), others
    /// are detached.
    pub fn release(&mut self) -> anyhow::Result<()> {
        self.let_go(false)
    }

    /// Detaches from every interface, pinned links included.
    pub fn detach_all(&mut self) -> anyhow::Result<()> {
        self.let_go(true)
    }

    fn let_go(&mut self, unpin: bool) -> anyhow::Result<()> {
        for attached in std::mem::take(&mut self.links) {
            let interface = attached.interface;
            match attached.link {
                Link::Managed(id) => self
                    .instance
                    .program_mut()?
                    .detach(id)
                    .with_context(|| format!("detaching XDP from {interface}"))?,
                Link::Pinned { path, .. } if unpin => std::fs::remove_file(&path)
                    .with_context(|| format!("unpinning {}", path.display()))?,
                Link::Pinned { path, .. } => tracing::info!(
                    interface,
                    pin = %path.display(),
                    "XDP stays attached for the next start"
                ),
            }
        }
        Ok(())
    }

    /// Limits what the program answers as `limiter` says, with buckets it shares with
    /// `limiter` (which is told of new ones whenever the maps move to a new instance).
    pub fn set_rate_limiter(&mut self, limiter: std::sync::Arc<RateLimiter>) -> anyhow::Result<()> {
        let (buckets, counts) = self.instance.rate_limit_words(self.rrl_words)?;
        limiter.use_kernel_words(buckets, counts);
        self.rate_limiter = Some(limiter);
        self.update_rate_limit()
    }

    /// Writes the limiter's settings and allow list into the program's maps (after a change
    /// at runtime).
    pub fn update_rate_limit(&mut self) -> anyhow::Result<()> {
        let Some(limiter) = &self.rate_limiter else {
            return Ok(());
        };
        let config = limiter.config();
        self.instance.write_allow(&config.allow)?;
        self.current.rrl = limiter.kernel_settings(self.rrl_words);
        self.write_config()
    }

    /// Answers COOKIE options with the secrets of `cookies` (also userspace's).
    pub fn set_cookies(&mut self, cookies: std::sync::Arc<Cookies>) -> anyhow::Result<()> {
        self.cookies = Some(cookies);
        self.update_cookies()
    }

    /// Writes the secrets and the clock's offset into the program's config.
    pub fn update_cookies(&mut self) -> anyhow::Result<()> {
        if let Some(cookies) = &self.cookies {
            self.current.cookies = cookies.kernel_settings();
            self.write_config()?;
        }
        Ok(())
    }

    pub fn set_listener(&mut self, port: u16, udp_payload: u16) -> anyhow::Result<()> {
        self.current.port = port;
        self.current.udp_payload = udp_payload;
        self.write_config()
    }

    /// Publishes `entries` and `serials` (zone slot, SOA serial) as the whole answer set, in
    /// one call: for tests and benchmarks. The server publishes a snapshot part by part
    /// (`FastPath::publish`: [`XdpEngine::begin_parts`], [`XdpEngine::stage_part`], then
    /// [`XdpEngine::apply`]).
    pub fn publish(&mut self, entries: Upserts, serials: &[(ZoneSlot, u32)]) -> anyhow::Result<()> {
        self.apply(MapChange {
            upserts: entries,
            serials: serials.to_vec(),
            from_empty: true,
            whole: true,
            ..MapChange::default()
        })?;
        Ok(())
    }

    /// Starts a whole new answer set of about `records` records, to be staged in parts as
    /// it is compiled ([`XdpEngine::stage_part`]) and ended by an [`XdpEngine::apply`] of a
    /// change with `streamed`; only while no packet reads the maps (false otherwise: apply
    /// the set whole). Maps too small for it (the first transfer of a server that started
    /// with nothing) are replaced by an instance sized for it now, so that the parts go
    /// straight into their place instead of being held and copied. (Loaded on a thread of
    /// its own while the set is compiled, it took as long on two cores and held a third of
    /// the set meanwhile.)
    pub fn begin_parts(&mut self, records: usize) -> bool {
        let (entries, chunks) = for_records(records);
        let outgrown = !self.maps.could_hold(entries, chunks);
        // Packets read live maps: a set they could not hold (the first transfer after a
        // start that published only zones waiting for theirs) needs a new instance anyway,
        // and its parts go there; any other set is applied whole.
        let live = self.current.active < ANSWER_MAP_COUNT;
        if live && !outgrown {
            return false;
        }
        if !live {
            self.maps.clear();
            self.serials.clear();
            self.serials_behind.clear();
        }
        self.fresh = outgrown
            .then(|| Self::sized_instance(entries, chunks, self.rrl_words))
            .and_then(|loaded| {
                // Empty maps then take the parts they have room for, and the apply grows
                // them for the rest; live ones take none.
                loaded
                    .inspect_err(|e| {
                        tracing::warn!("no XDP instance for {records} records yet: {e:#}")
                    })
                    .ok()
            });
        !live || self.fresh.is_some()
    }

    /// Stages `part` of the set [`XdpEngine::begin_parts`] started, its keys new to it; false
    /// (nothing staged) when the maps lack room for it.
    pub fn stage_part(&mut self, part: &Upserts) -> bool {
        let maps = match &mut self.fresh {
            Some((_, maps)) => maps,
            None => &mut self.maps,
        };
        // Counting only the bodies not stored yet takes a lookup each: done only when
        // counting them all leaves no room.
        let fits = |chunks| maps.has_room(part.len(), chunks);
        if !fits(chunks_at_most(part)) && !fits(chunks_for(Some(maps), part)) {
            return false;
        }
        // An entry that finds both its buckets full waits, unplaced: the apply that ends the
        // set builds the maps again first.
        let _ = maps.stage_new(part);
        true
    }

    /// Writes `change` into the answer maps for the next parity and makes it live in a
    /// single write: a packet sees either the old set or the new set, never a mix. Maps too
    /// small for it are built again bigger and swapped in. Returns how many entries were
    /// written or removed.
    pub fn apply(&mut self, change: MapChange) -> anyhow::Result<usize> {
        let live = self.current.active < ANSWER_MAP_COUNT;
        // Parts of a streamed set are in the maps already (see `begin_parts`).
        let from_empty = change.from_empty && !change.streamed;
        if from_empty {
            self.serials.clear();
            self.serials_behind.clear();
        }
        self.serials.extend(change.serials.iter().copied());
        // Unless a set compiled again whole (see `Published::full`) left parts of its first
        // try there.
        let fresh = self
            .fresh
            .take()
            .filter(|(_, maps)| change.streamed || change.from_empty && maps.is_empty());
        // A whole set replacing what the maps hold: the keys it lacks go (from these maps;
        // a fresh instance holds the set alone).
        let replaces =
            change.whole && !change.from_empty && !self.maps.is_empty() && fresh.is_none();
        let removals = if replaces {
            self.maps.keys_not_in(&change.upserts)
        } else {
            change.removals.iter().map(SlotKey::of).collect()
        };
        let mut written = removals.len() + change.upserts.len();
        let started = std::time::Instant::now();
        // Maps other than these when these will not do: swapped in whole.
        let replacement = if let Some((instance, maps)) = fresh {
            // A streamed set's parts are there; the parts that found no room go in too.
            Some(Self::with_rest(
                instance,
                maps,
                &change.upserts,
                self.rrl_words,
            )?)
        } else if from_empty && live {
            // Packets keep the old set until the new one is whole: build it apart.
            let chunks = chunks_for(None, &change.upserts);
            let (instance, maps) =
                Self::sized_instance(change.upserts.len(), chunks, self.rrl_words)?;
            Some(Self::staged_fresh(
                instance,
                maps,
                &[],
                &change.upserts,
                self.rrl_words,
            )?)
        } else {
            if from_empty {
                self.maps.clear();
            }
            let chunks = chunks_for(Some(&self.maps), &change.upserts);
            let needed = (self.maps.new_keys(&change.upserts), chunks);
            if !self.maps.has_room(needed.0, needed.1) || self.maps.has_unplaced() {
                // Bigger maps first, then the change into them.
                let (instance, maps) = self.grown(needed)?;
                Some(Self::staged_fresh(
                    instance,
                    maps,
                    &removals,
                    &change.upserts,
                    self.rrl_words,
                )?)
            } else {
                match self.maps.stage(&removals, &change.upserts) {
                    Ok(staged) => {
                        written = staged;
                        None
                    }
                    // An entry found both its buckets full; the maps hold the new set apart
                    // from the index: build it again, moving entries around.
                    Err(Full) => Some(self.grown((0, 0))?),
                }
            }
        };
        tracing::debug!(
            upserts = change.upserts.len(),
            removals = removals.len(),
            new_instance = replacement.is_some(),
            ms = started.elapsed().as_millis() as u64,
            "XDP change staged"
        );
        if let Some((instance, maps)) = replacement {
            self.swap_in(instance, maps)?;
            self.reset_zone_counts(&change.fresh_slots)?;
            return Ok(written);
        }
        let next = self.maps.next_parity();
        let mut behind = std::mem::take(&mut self.serials_behind);
        behind.extend(change.serials.iter().copied());
        self.instance.write_serials(next, &behind)?;
        self.reset_zone_counts(&change.fresh_slots)?;
        self.set_active(next)?;
        self.maps.flipped(next);
        self.serials_behind = change.serials;
        self.adopt()?;
        Ok(written)
    }

    /// `maps` of `instance` (read by nobody yet, holding part of a set) with `rest` of the
    /// set staged; in a bigger instance when they lack room for it.
    fn with_rest(
        instance: Instance,
        mut maps: AnswerMaps,
        rest: &Upserts,
        rrl_words: u32,
    ) -> anyhow::Result<(Instance, AnswerMaps)> {
        let needed = (maps.new_keys(rest), chunks_for(Some(&maps), rest));
        if maps.has_room(needed.0, needed.1) && !maps.has_unplaced() {
            return Self::staged_fresh(instance, maps, &[], rest, rrl_words);
        }
        let (entries, chunks) = (maps.entries() + needed.0, maps.high_water() + needed.1);
        let (instance, bigger) = Self::rebuilt_bigger(&mut maps, entries, chunks, rrl_words)?;
        Self::staged_fresh(instance, bigger, &[], rest, rrl_words)
    }

    /// `maps` of `instance` (read by nobody yet) with removals and upserts staged; when an
    /// entry finds both its buckets full, the same set built again, moving entries.
    fn staged_fresh(
        instance: Instance,
        mut maps: AnswerMaps,
        removals: &[SlotKey],
        upserts: &Upserts,
        rrl_words: u32,
    ) -> anyhow::Result<(Instance, AnswerMaps)> {
        if maps.stage(removals, upserts).is_ok() {
            return Ok((instance, maps));
        }
        let (entries, chunks) = (maps.entries(), maps.high_water());
        Self::rebuilt_bigger(&mut maps, entries, chunks, rrl_words)
    }

    /// A fresh instance with maps for `entries` entries and `chunks` chunks, with room to
    /// grow.
    fn sized_instance(
        entries: usize,
        chunks: usize,
        rrl_words: u32,
    ) -> anyhow::Result<(Instance, AnswerMaps)> {
        let slots = entries as f64 * GROWTH / INDEX_LOAD;
        let buckets = ((slots / SLOTS_PER_BUCKET as f64).ceil() as u32).max(MIN_BUCKETS);
        let chunks = ((chunks as f64 * GROWTH).ceil() as u32).max(MIN_CHUNKS);
        Instance::load(
            buckets,
            chunks.min(secdns_common::WORD_CHUNK_MASK),
            rrl_words,
        )
    }

    /// The newest answer set built into a bigger instance with room for `more` (entries,
    /// chunks).
    fn grown(&mut self, more: (usize, usize)) -> anyhow::Result<(Instance, AnswerMaps)> {
        let entries = self.maps.entries() + more.0;
        let chunks = self.maps.high_water() + more.1;
        Self::rebuilt_bigger(&mut self.maps, entries, chunks, self.rrl_words)
    }

    /// What `maps` hold built into a fresh instance sized for `entries` and `chunks`, moving
    /// entries between buckets; a bigger one still if entries cannot be placed.
    fn rebuilt_bigger(
        maps: &mut AnswerMaps,
        mut entries: usize,
        chunks: usize,
        rrl_words: u32,
    ) -> anyhow::Result<(Instance, AnswerMaps)> {
        for _ in 0..3 {
            let (instance, mut bigger) = Self::sized_instance(entries, chunks, rrl_words)?;
            if maps.rebuild_into(&mut bigger).is_ok() {
                return Ok((instance, bigger));
            }
            entries = entries * 3 / 2;
        }
        bail!("the XDP answer index cannot place {entries} entries")
    }

    /// Makes `instance` with `maps` (staged for their next parity, or holding everything in
    /// both) the one attached everywhere, and carries the old one's counts over.
    fn swap_in(&mut self, instance: Instance, maps: AnswerMaps) -> anyhow::Result<()> {
        let mut instance = instance;
        // Rate limits carry over: the new program starts from the old one's buckets (what
        // is charged between this copy and the switch is lost, a few responses at most).
        let (old_buckets, old_counts) = self.instance.rate_limit_words(self.rrl_words)?;
        let (buckets, counts) = instance.rate_limit_words(self.rrl_words)?;
        for (from, to) in [(&old_buckets, &buckets), (&old_counts, &counts)] {
            for (from, to) in from.as_slice().iter().zip(to.as_slice()) {
                to.store(from.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        }
        if let Some(limiter) = &self.rate_limiter {
            instance.write_allow(&limiter.config().allow)?;
        }
        let all: Vec<(ZoneSlot, u32)> = self.serials.iter().map(|(s, v)| (*s, *v)).collect();
        instance.write_serials(0, &all)?;
        instance.write_serials(1, &all)?;
        let mut config = self.current;
        config.active = maps.next_parity();
        config.buckets = maps.buckets();
        instance
            .config
            .set(0, config, 0)
            .context("writing the new XDP instance's config")?;
        // Every interface moves to the new program: an atomic replace per link. One that
        // cannot (its interface is gone) is let go, unpinned: never left on old maps.
        let old_program = self.instance.program_mut()?;
        let new_program = instance.program_mut()?;
        self.links = relink(std::mem::take(&mut self.links), |interface, _, link| {
            Ok(match link {
                Link::Managed(id) => {
                    let moved = old_program
                        .take_link(id)
                        .map_err(anyhow::Error::new)
                        .and_then(|link| Ok(new_program.attach_to_link(link)?));
                    match moved {
                        Ok(id) => Some(Link::Managed(id)),
                        Err(e) => {
                            tracing::warn!(
                                interface,
                                "XDP link lost while growing the maps: {e:#}"
                            );
                            None
                        }
                    }
                }
                Link::Pinned {
                    link, path, ours, ..
                } => move_pinned(new_program, link, &path, interface, !ours),
            })
        })?;
        let old = std::mem::replace(&mut self.instance, instance);
        self.maps = maps;
        if let Some(limiter) = &self.rate_limiter {
            limiter.use_kernel_words(buckets, counts);
        }
        // The old program no longer runs: what it counted is final.
        let (counters, zones) = old.counts()?;
        for (total, count) in self.carried.0.iter_mut().zip(counters) {
            *total += count;
        }
        for (total, count) in self.carried.1.iter_mut().zip(zones) {
            *total += count;
        }
        self.current = config;
        self.maps.flipped(config.active);
        self.serials_behind.clear();
        self.rebuilds += 1;
        tracing::info!(
            buckets = config.buckets,
            chunks = self.maps.chunks(),
            interfaces = self.links.len(),
            "XDP answer maps moved to a new instance of the program"
        );
        Ok(())
    }

    /// After [`XdpEngine::apply`] made a set live: once no packet can read the old version,
    /// frees what only it used.
    pub fn settle(&mut self) -> anyhow::Result<()> {
        self.maps.settle();
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
                self.instance
                    .zone_counters
                    .set(index, zeros, 0)
                    .with_context(|| format!("resetting the counts of zone slot {slot}"))?;
                if let Some(carried) = self.carried.1.get_mut(index as usize) {
                    *carried = 0;
                }
            }
        }
        Ok(())
    }

    /// How many instructions the verifier went through to accept the program (the kernel's
    /// count, since Linux 5.16): what loading it takes follows from this, and a change that
    /// lets the verifier's states multiply shows here first.
    pub fn verified_instructions(&self) -> anyhow::Result<Option<u32>> {
        let info = self.instance.program()?.info()?;
        Ok(info.verified_instruction_count())
    }

    /// The memory the kernel counts for the answer index and bodies: their `memlock` (what
    /// `bpftool map show` prints; since Linux 6.4 what they take).
    pub fn answer_maps_bytes(&self) -> anyhow::Result<u64> {
        let mut total = 0;
        for fd in [
            self.instance.index.fd().as_fd().as_raw_fd(),
            self.instance.bodies.fd().as_fd().as_raw_fd(),
        ] {
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

    /// Entries in the answer index, its buckets, and the body chunks in use and in all.
    pub fn answer_maps_usage(&self) -> (usize, u32, usize, u32) {
        (
            self.maps.entries(),
            self.maps.buckets(),
            self.maps.used_chunks(),
            self.maps.chunks(),
        )
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
            let carried = self.carried.1.get(index as usize).copied().unwrap_or(0);
            *count = self
                .instance
                .zone_counters
                .get(&index, 0)?
                .iter()
                .sum::<u64>()
                + carried;
        }
        Ok(Some(counts))
    }

    /// No answer set is live: every query goes to userspace. The next change must start from
    /// empty maps.
    pub fn stop_answering(&mut self) -> anyhow::Result<()> {
        self.set_active(ANSWER_MAP_COUNT)?;
        self.maps.stopped();
        // A program taken over must not go on answering from what it held either.
        self.adopt()
    }

    /// Makes `active` live; what the engine knows changes only once the kernel has it.
    fn set_active(&mut self, active: u32) -> anyhow::Result<()> {
        let config = XdpConfig {
            active,
            buckets: self.maps.buckets(),
            ..self.current
        };
        self.instance
            .config
            .set(0, config, 0)
            .context("writing XDP config")?;
        self.current = config;
        Ok(())
    }

    fn write_config(&mut self) -> anyhow::Result<()> {
        self.set_active(self.current.active)
    }

    /// Counters summed over CPUs, in [`Counter::ALL`] order.
    pub fn counters(&self) -> anyhow::Result<Vec<(Counter, u64)>> {
        let mut out = Vec::with_capacity(COUNTER_COUNT as usize);
        for counter in Counter::ALL {
            let per_cpu = self.instance.counters.get(&(counter as u32), 0)?;
            let carried = self.carried.0.get(counter as usize).copied().unwrap_or(0);
            out.push((counter, per_cpu.iter().sum::<u64>() + carried));
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
        let program = self.instance.program()?;
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

/// Entries and chunks for about `records` records: a name with one record takes two entries
/// (its answer and its default), names with more take fewer per record; a host zone takes a
/// chunk a record, 100,000 small zones 1.12 (their apexes' answers). A set that needs more
/// (a signed zone) is built into a bigger instance during its first publication, which then
/// holds two at once.
fn for_records(records: usize) -> (usize, usize) {
    (records * 2, records * 6 / 5)
}

/// Each of `links` through `relink` (interface, mode, link): kept with the link it gives,
/// dropped for `None`.
fn relink(
    links: Vec<Attached>,
    mut relink: impl FnMut(&str, AttachMode, Link) -> anyhow::Result<Option<Link>>,
) -> anyhow::Result<Vec<Attached>> {
    let mut kept = Vec::with_capacity(links.len());
    for Attached {
        interface,
        mode,
        link,
    } in links
    {
        if let Some(link) = relink(&interface, mode, link)? {
            kept.push(Attached {
                interface,
                mode,
                link,
            });
        }
    }
    Ok(kept)
}

/// The pinned `link` of `interface` moved to `program` (`inherited`: from an earlier
/// process's, which is then taken over); `None` when it cannot be (its interface went,
/// say): then it is unpinned, so that no program is left on maps nothing updates any more.
fn move_pinned(
    program: &mut Xdp,
    link: FdLink,
    path: &Path,
    interface: &str,
    inherited: bool,
) -> Option<Link> {
    match move_link(program, link) {
        Ok(link) => {
            if inherited {
                tracing::info!(interface, "XDP taken over");
            }
            Some(Link::Pinned {
                link,
                path: path.to_owned(),
                ours: true,
            })
        }
        Err(e) => {
            tracing::warn!(interface, "cannot move the XDP link ({e:#}); unpinned");
            let _ = std::fs::remove_file(path);
            None
        }
    }
}

/// Makes `program` the one `link` runs (an atomic update) and hands the link back.
fn move_link(program: &mut Xdp, link: FdLink) -> anyhow::Result<FdLink> {
    let link = XdpLink::try_from(link).context("a pinned link that is not an XDP link")?;
    let id = program.attach_to_link(link)?;
    Ok(FdLink::try_from(program.take_link(id)?)?)
}

/// The map data of an array map.
fn map_data(map: aya::maps::Map, name: &str) -> anyhow::Result<MapData> {
    match map {
        aya::maps::Map::Array(data) => Ok(data),
        _ => bail!("map {name} of the XDP object is not an array"),
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
