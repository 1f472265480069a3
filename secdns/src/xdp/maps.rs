//! The answer index and the answer bodies in the kernel, written from userspace through
//! shared mappings of the two arrays, and how a change goes into them so that a packet sees
//! the old answer set or the new one, never a mix.
//!
//! One copy of everything. A change adds its entries visible only to the next parity and
//! takes the next parity's bit from the entries it removes or replaces (see
//! `secdns_common::slot_word`); the caller then flips `XdpConfig::active`. Once no packet can
//! still be reading the old parity ([`GRACE`]), [`AnswerMaps::settle`] makes the new entries
//! visible to both parities and frees the slots and bodies only the old one used. Bodies are
//! stored once per content: names with the same answer share it.

use std::{
    os::fd::{AsRawFd as _, BorrowedFd},
    ptr::NonNull,
    sync::atomic::{AtomicU32, AtomicU64, Ordering},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use secdns_common::{
    ANSWER_MAP_COUNT, Bucket, CHUNK_LEN, Chunk, MAX_BODY_CHUNKS, PASS_CHUNK, SLOTS_PER_BUCKET,
    Slot, TAG_EMPTY, WORD_VISIBLE_SHIFT, home_bucket, other_bucket, slot_word,
};

use super::{
    content_index::ChunkIndex,
    layout::AnswerKey,
    packed::{Upserts, content_of},
};

/// How long after a flip a packet may still read the old parity. An XDP program runs for
/// microseconds inside one softirq; this is a thousand times that.
pub const GRACE: Duration = Duration::from_millis(2);

/// Share of the index's slots that entries may fill: two choices of eight slots at this load
/// leave no entry without a slot in practice (a full rebuild moves entries when one does).
pub const INDEX_LOAD: f64 = 0.7;

/// A kernel array map mapped into this process.
pub struct Shared<T> {
    ptr: NonNull<T>,
    len: usize,
    bytes: usize,
}

// SAFETY: the mapping is plain memory shared with the kernel; this process writes it from
// one thread at a time (the engine is behind a lock).
unsafe impl<T> Send for Shared<T> {}

impl<T> Shared<T> {
    /// Maps the array behind `fd`, made with `BPF_F_MMAPABLE` and `len` values of `T`.
    pub fn map(fd: BorrowedFd<'_>, len: usize) -> anyhow::Result<Self> {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
        let bytes = (len * size_of::<T>()).next_multiple_of(page);
        // SAFETY: a fresh shared mapping of a map fd; checked below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            bail!(
                "mapping an XDP array of {len} x {} bytes: {}",
                size_of::<T>(),
                std::io::Error::last_os_error()
            );
        }
        let ptr = NonNull::new(ptr as *mut T).context("mmap returned null")?;
        Ok(Self { ptr, len, bytes })
    }

    /// The first value.
    pub fn start(&self) -> NonNull<T> {
        self.ptr
    }

    /// Values in the mapping.
    pub fn values(&self) -> usize {
        self.len
    }

    fn at(&self, index: usize) -> *mut T {
        assert!(
            index < self.len,
            "index {index} beyond a mapping of {}",
            self.len
        );
        // SAFETY: in bounds, checked above.
        unsafe { self.ptr.as_ptr().add(index) }
    }
}

#[cfg(test)]
impl<T> Shared<T> {
    /// Zeroed memory of this process standing in for a map.
    fn anonymous(len: usize) -> Self {
        let bytes = (len * size_of::<T>()).next_multiple_of(4096);
        // SAFETY: a fresh anonymous mapping; checked below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED);
        Self {
            ptr: NonNull::new(ptr as *mut T).unwrap(),
            len,
            bytes,
        }
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        // SAFETY: our own mapping, unmapped once.
        unsafe { libc::munmap(self.ptr.as_ptr() as *mut libc::c_void, self.bytes) };
    }
}

/// An entry as the index tells it from others: its tag and check (see
/// `secdns_common::entry_tag`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SlotKey {
    tag: u64,
    check: u32,
}

impl SlotKey {
    pub fn of(key: &AnswerKey) -> Self {
        Self {
            tag: key.tag(),
            check: key.check,
        }
    }
}

/// How many entries ahead staging asks for the buckets it will place into.
const PREFETCH_AHEAD: usize = 8;

/// Both parities' visibility bits of a slot's word.
const VISIBLE_BITS: u32 = 3 << WORD_VISIBLE_SHIFT;

/// The slots of the two buckets an entry with `tag` may be in.
fn slots_of(tag: u64, buckets: u32) -> impl Iterator<Item = usize> {
    [home_bucket(tag, buckets), other_bucket(tag, buckets)]
        .into_iter()
        .flat_map(|b| (0..SLOTS_PER_BUCKET).map(move |s| b as usize * SLOTS_PER_BUCKET + s))
}

// `AnswerMaps::occupied` keeps a bucket's slots in one byte.
const _: () = assert!(SLOTS_PER_BUCKET == u8::BITS as usize);

/// The index can take no more entries, or the arena no more bodies: the maps must be built
/// again, bigger.
#[derive(Debug)]
pub struct Full;

pub struct AnswerMaps {
    index: Shared<Bucket>,
    arena: Shared<Chunk>,
    /// The parity packets read, or `ANSWER_MAP_COUNT` for none.
    live: u32,
    /// Entries of the newest version, which the index itself lists: those visible to
    /// `newest` (the next parity while a change is staged, the live one after the flip).
    count: usize,
    newest: u32,
    /// Entries of the newest version a failed [`AnswerMaps::stage`] found no slot for; a
    /// rebuild places them.
    unplaced: Vec<(SlotKey, u32)>,
    /// The first chunk of each stored body, by content address.
    by_content: ChunkIndex,
    /// Per chunk of the arena where a stored body starts: its length in chunks (0 where none
    /// starts), and the entries (in any parity) that use it. A body's content address is
    /// its record's, read back from the arena when it is freed.
    body_chunks: Vec<u8>,
    body_refs: Vec<u32>,
    /// Free runs of chunks, by length.
    free_runs: Vec<Vec<u32>>,
    free_chunks: usize,
    next_chunk: u32,
    /// Which slots of each bucket hold an entry, a bit a slot: the index's occupancy kept
    /// where choosing a slot reads it without touching the index (placing a million entries
    /// waited on the index's cache lines more than on anything else).
    occupied: Vec<u8>,
    /// Slots the last change left visible to one parity only.
    unsettled: Vec<usize>,
    /// Bodies whose last entry the last change took away.
    released: Vec<u32>,
    flipped_at: Option<Instant>,
}

impl AnswerMaps {
    /// Empty maps over `index` and `arena`, which must be all zeroes (fresh arrays are).
    pub fn new(index: Shared<Bucket>, arena: Shared<Chunk>) -> Self {
        let chunks = arena.values();
        let buckets = index.values();
        Self {
            index,
            arena,
            live: ANSWER_MAP_COUNT,
            count: 0,
            newest: 0,
            unplaced: Vec::new(),
            by_content: ChunkIndex::for_chunks(chunks),
            body_chunks: vec![0; chunks],
            body_refs: vec![0; chunks],
            free_runs: vec![Vec::new(); MAX_BODY_CHUNKS + 1],
            free_chunks: 0,
            next_chunk: 0,
            occupied: vec![0; buckets],
            unsettled: Vec::new(),
            released: Vec::new(),
            flipped_at: None,
        }
    }

    pub fn buckets(&self) -> u32 {
        self.index.values() as u32
    }

    pub fn chunks(&self) -> u32 {
        self.arena.values() as u32
    }

    pub fn entries(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Every entry of the newest version: its key and word (without visibility bits).
    fn newest_entries(&self) -> impl Iterator<Item = (SlotKey, u32)> + '_ {
        let bit = 1 << (WORD_VISIBLE_SHIFT + self.newest);
        (0..self.index.values() * SLOTS_PER_BUCKET)
            .filter_map(move |at| {
                let slot = self.slot(at);
                let tag = slot.tag.load(Ordering::Relaxed);
                let word = slot.word.load(Ordering::Relaxed);
                let key = SlotKey {
                    tag,
                    check: slot.check.load(Ordering::Relaxed),
                };
                (tag != TAG_EMPTY && word & bit != 0).then_some((key, word & !VISIBLE_BITS))
            })
            .chain(self.unplaced.iter().copied())
    }

    /// Where the newest version holds `key` (the slot, or none for an unplaced entry) and its
    /// word (without visibility bits).
    fn newest(&self, key: SlotKey) -> Option<(Option<usize>, u32)> {
        let bit = 1 << (WORD_VISIBLE_SHIFT + self.newest);
        let in_index = slots_of(key.tag, self.buckets()).find_map(|at| {
            let slot = self.slot(at);
            let word = slot.word.load(Ordering::Relaxed);
            (slot.tag.load(Ordering::Relaxed) == key.tag
                && slot.check.load(Ordering::Relaxed) == key.check
                && word & bit != 0)
                .then_some((Some(at), word & !VISIBLE_BITS))
        });
        in_index.or_else(|| {
            self.unplaced
                .iter()
                .find(|(unplaced, _)| *unplaced == key)
                .map(|(_, word)| (None, *word))
        })
    }

    /// Keys of the newest version that `upserts` lacks.
    pub fn keys_not_in(&self, upserts: &Upserts) -> Vec<SlotKey> {
        let given: foldhash::HashSet<SlotKey> = upserts
            .entries
            .iter()
            .map(|entry| SlotKey::of(&entry.key))
            .collect();
        self.newest_entries()
            .map(|(key, _)| key)
            .filter(|key| !given.contains(key))
            .collect()
    }

    /// Whether the newest version holds nothing: every key is new to it, and nothing need be
    /// looked for (a look is a cache miss in a large index).
    fn holds_nothing(&self) -> bool {
        self.count == 0 && self.unplaced.is_empty()
    }

    /// How many of `upserts` have a key the newest version lacks.
    pub fn new_keys(&self, upserts: &Upserts) -> usize {
        if self.holds_nothing() {
            return upserts.entries.len();
        }
        upserts
            .entries
            .iter()
            .filter(|entry| self.newest(SlotKey::of(&entry.key)).is_none())
            .count()
    }

    /// Whether entries of the newest version wait for a slot: the maps must be built again
    /// before packets read it.
    pub fn has_unplaced(&self) -> bool {
        !self.unplaced.is_empty()
    }

    /// Chunks in use or waiting to be freed.
    pub fn used_chunks(&self) -> usize {
        self.next_chunk as usize - self.free_chunks
    }

    /// Chunks ever used: what a rebuild copies.
    pub fn high_water(&self) -> usize {
        self.next_chunk as usize
    }

    /// The parity a change is staged for.
    pub fn next_parity(&self) -> u32 {
        if self.live == 0 { 1 } else { 0 }
    }

    /// Whether maps of this size, empty, would hold `entries` entries with bodies of
    /// `chunks` chunks.
    pub fn could_hold(&self, entries: usize, chunks: usize) -> bool {
        let slots = self.index.values() * SLOTS_PER_BUCKET;
        entries as f64 <= slots as f64 * INDEX_LOAD && chunks <= self.arena.values()
    }

    /// Whether `upserts` new entries with bodies of at most `chunks` chunks fit without a
    /// rebuild (counting only never-used chunks: a freed run serves a body of its length).
    pub fn has_room(&self, upserts: usize, chunks: usize) -> bool {
        let slots = self.index.values() * SLOTS_PER_BUCKET;
        let entries_fit = (self.count + upserts) as f64 <= slots as f64 * INDEX_LOAD;
        entries_fit && chunks <= self.arena.values() - self.next_chunk as usize
    }

    /// Stages removals and upserts for the next parity, and says how many entries it wrote
    /// or removed (an upsert of what a key holds writes nothing). On [`Full`] the new version
    /// is recorded but not all of it is in the index: build the maps again
    /// ([`AnswerMaps::rebuild_into`]) before flipping.
    pub fn stage(&mut self, removals: &[SlotKey], upserts: &Upserts) -> Result<usize, Full> {
        self.stage_as(removals, upserts, false)
    }

    /// As [`AnswerMaps::stage`], for upserts whose keys the newest version lacks (a part of
    /// a whole set staged into maps that started empty): nothing is looked for.
    pub fn stage_new(&mut self, upserts: &Upserts) -> Result<usize, Full> {
        self.stage_as(&[], upserts, true)
    }

    fn stage_as(
        &mut self,
        removals: &[SlotKey],
        upserts: &Upserts,
        new_keys: bool,
    ) -> Result<usize, Full> {
        self.settle();
        // The next parity is the one packets read until the last flip: none may still.
        self.wait_grace();
        let next = self.next_parity();
        // Settled entries are visible to both parities: the newest version is the next one's
        // from here on.
        self.newest = next;
        // Upserts hold each key once: into empty maps, none is there to replace.
        let fresh = new_keys || self.holds_nothing();
        // Maps no packet reads yet take entries settled: visible to both parities, with
        // nothing to settle (a list of every slot written, else).
        let visible = if self.live >= ANSWER_MAP_COUNT {
            3
        } else {
            1 << next
        };
        let mut full = false;
        let mut written = 0;
        for key in removals {
            if let Some((at, word)) = self.newest(*key) {
                self.hide(*key, at, word, next);
                self.count -= 1;
                written += 1;
            }
        }
        for (i, entry) in upserts.entries.iter().enumerate() {
            if let Some(ahead) = upserts.entries.get(i + PREFETCH_AHEAD) {
                self.prefetch_slot_for(SlotKey::of(&ahead.key).tag);
                if let Some((content, _)) = upserts.bodies.body(ahead) {
                    self.by_content.prefetch(content);
                }
            }
            let key = SlotKey::of(&entry.key);
            // `has_room` keeps the arena from running out; if it did, userspace answers.
            let chunk = self
                .intern(upserts.bodies.body(entry))
                .unwrap_or(PASS_CHUNK);
            let word = slot_word(chunk, u32::from(entry.options), 0);
            let held = if fresh { None } else { self.newest(key) };
            match held {
                Some((_, old)) if old == word => {
                    // Same body, same options: the reference taken is one too many.
                    self.release(word);
                    continue;
                }
                Some((at, old)) => self.hide(key, at, old, next),
                None => self.count += 1,
            }
            written += 1;
            if !self.place(key, word, visible) {
                self.unplaced.push((key, word));
                full = true;
            }
        }
        if full { Err(Full) } else { Ok(written) }
    }

    /// Records that packets now read `parity` (after the caller flipped the config).
    pub fn flipped(&mut self, parity: u32) {
        self.live = parity;
        self.newest = parity;
        self.flipped_at = Some(Instant::now());
    }

    /// Nothing reads the maps any more (the caller switched answering off).
    pub fn stopped(&mut self) {
        self.live = ANSWER_MAP_COUNT;
    }

    /// After the grace period of the last flip: entries of the live version become visible
    /// to both parities, slots and bodies only the old one used are freed.
    pub fn settle(&mut self) {
        // Stopped: the next change starts from empty (`clear`).
        if self.live >= ANSWER_MAP_COUNT || self.unsettled.is_empty() && self.released.is_empty() {
            return;
        }
        self.wait_grace();
        let live = self.live;
        for at in std::mem::take(&mut self.unsettled) {
            let slot = self.slot(at);
            let word = slot.word.load(Ordering::Acquire);
            let both = 3 << WORD_VISIBLE_SHIFT;
            if word & (1 << (WORD_VISIBLE_SHIFT + live)) != 0 {
                slot.word.store(word | both, Ordering::Release);
            } else if word & both != both {
                // Word first, tag second (see `secdns_common::TAG_EMPTY`).
                slot.word.store(0, Ordering::Release);
                slot.tag.store(TAG_EMPTY, Ordering::Release);
                self.mark(at, false);
            }
        }
        self.free_released();
    }

    /// Sleeps out what is left of the grace period of the last flip.
    fn wait_grace(&self) {
        if let Some(at) = self.flipped_at {
            let waited = at.elapsed();
            if waited < GRACE {
                std::thread::sleep(GRACE - waited);
            }
        }
    }

    /// Builds the newest version into `other` (fresh, zeroed, bigger), every entry visible
    /// to both parities, moving entries between their two buckets where needed (nothing reads
    /// `other` yet), and hands it what these maps know. Bodies keep their chunks. On
    /// [`Full`], `self` still knows everything.
    pub fn rebuild_into(&mut self, other: &mut AnswerMaps) -> Result<(), Full> {
        // Bodies only the old version used are of no use to the new one.
        self.unsettled.clear();
        self.free_released();
        if other.arena.values() < self.next_chunk as usize {
            return Err(Full);
        }
        if self.next_chunk > 0 {
            let _ = self.arena.at(self.next_chunk as usize - 1);
            let _ = other.arena.at(self.next_chunk as usize - 1);
            // SAFETY: both mappings hold `next_chunk` chunks (checked); nobody reads `other`.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    self.arena.at(0) as *const Chunk,
                    other.arena.at(0),
                    self.next_chunk as usize,
                );
            }
        }
        let mut rng = self.count as u64 | 1;
        let newest: Vec<(SlotKey, u32)> = self.newest_entries().collect();
        for (key, word) in newest {
            if !other.place(key, word, 3) && !other.place_moving(key, word, &mut rng) {
                return Err(Full);
            }
        }
        other.count = std::mem::take(&mut self.count);
        other.newest = self.newest;
        self.unplaced.clear();
        other.by_content = std::mem::take(&mut self.by_content);
        let used = self.next_chunk as usize;
        other.body_chunks[..used].copy_from_slice(&self.body_chunks[..used]);
        other.by_content.grow_to(other.arena.values());
        other.body_refs[..used].copy_from_slice(&self.body_refs[..used]);
        other.free_runs =
            std::mem::replace(&mut self.free_runs, vec![Vec::new(); MAX_BODY_CHUNKS + 1]);
        other.free_chunks = std::mem::take(&mut self.free_chunks);
        other.next_chunk = std::mem::take(&mut self.next_chunk);
        other.live = self.live;
        Ok(())
    }

    /// Forgets everything; only while nothing reads the maps.
    pub fn clear(&mut self) {
        debug_assert!(self.live >= ANSWER_MAP_COUNT);
        // SAFETY: the whole index mapping; nothing reads it (see above).
        unsafe { std::ptr::write_bytes(self.index.at(0), 0, self.index.values()) };
        self.occupied.fill(0);
        self.count = 0;
        self.newest = self.next_parity();
        self.unplaced.clear();
        self.by_content.clear();
        self.body_chunks.fill(0);
        self.body_refs.fill(0);
        self.free_runs = vec![Vec::new(); MAX_BODY_CHUNKS + 1];
        self.free_chunks = 0;
        self.next_chunk = 0;
        self.unsettled.clear();
        self.released.clear();
    }

    fn free_released(&mut self) {
        for chunk in std::mem::take(&mut self.released) {
            let at = chunk as usize;
            let chunks = self.body_chunks.get(at).copied().unwrap_or(0) as usize;
            if chunks == 0 || self.body_refs.get(at) != Some(&0) {
                continue;
            }
            let content = content_in(&self.arena, &self.body_chunks, chunk);
            self.by_content.remove(content, chunk);
            self.free_runs[chunks].push(chunk);
            self.free_chunks += chunks;
            self.body_chunks[at] = 0;
        }
    }

    /// The record stored at chunk `at`, `chunks` long.
    fn record_at(&self, at: usize, chunks: usize) -> &[u8] {
        record_in(&self.arena, at, chunks)
    }

    /// Whether [`AnswerMaps::occupied`] says of every slot what the index holds.
    #[cfg(test)]
    fn occupancy_mirrors_index(&self) -> bool {
        (0..self.index.values() * SLOTS_PER_BUCKET).all(|at| {
            let taken = self.slot(at).tag.load(Ordering::Relaxed) != TAG_EMPTY;
            let bits = self
                .occupied
                .get(at / SLOTS_PER_BUCKET)
                .copied()
                .unwrap_or(0);
            taken == (bits & (1 << (at % SLOTS_PER_BUCKET)) != 0)
        })
    }

    /// How many bodies the arena holds.
    #[cfg(test)]
    fn bodies_stored(&self) -> usize {
        self.body_chunks.iter().filter(|&&c| c > 0).count()
    }

    /// Takes `parity`'s bit from `key`'s entry with `word` (in slot `at`, or unplaced), and
    /// the reference to its body.
    fn hide(&mut self, key: SlotKey, at: Option<usize>, word: u32, parity: u32) {
        match at {
            Some(at) => {
                let slot = self.slot(at);
                let now = slot.word.load(Ordering::Acquire);
                slot.word.store(
                    now & !(1 << (WORD_VISIBLE_SHIFT + parity)),
                    Ordering::Release,
                );
                self.unsettled.push(at);
            }
            None => self.unplaced.retain(|(unplaced, _)| *unplaced != key),
        }
        self.release(word);
    }

    /// Writes `key` into a free slot of the emptier of its buckets, visible to `visible`.
    fn place(&mut self, key: SlotKey, word: u32, visible: u32) -> bool {
        let Some(at) = self.free_slot_for(key.tag) else {
            return false;
        };
        self.fill(
            at,
            key.tag,
            key.check,
            word | (visible << WORD_VISIBLE_SHIFT),
        );
        if visible != 3 {
            self.unsettled.push(at);
        }
        true
    }

    /// The slot [`AnswerMaps::place`] gives an entry with `tag`: the first free one of the
    /// emptier of its buckets.
    fn free_slot_for(&self, tag: u64) -> Option<usize> {
        let buckets = self.buckets();
        let (first, second) = (
            self.free_in(home_bucket(tag, buckets)),
            self.free_in(other_bucket(tag, buckets)),
        );
        let emptier = if second.0 > first.0 { second } else { first };
        emptier.1
    }

    /// Asks the CPU to bring the index's cache line that an entry with `tag` will be written
    /// to: a big publication's entries land all over the index, and placing one waited for
    /// its line (a third of the staging time of a million names). Entries placed meanwhile
    /// may take that slot: then the line is a neighbour's, or another's.
    fn prefetch_slot_for(&self, tag: u64) {
        if let Some(at) = self.free_slot_for(tag) {
            let bucket = self
                .index
                .at(at / SLOTS_PER_BUCKET)
                .cast::<u8>()
                .cast_const();
            let within = (at % SLOTS_PER_BUCKET) * std::mem::size_of::<Slot>();
            crate::prefetch::line(bucket.wrapping_add(within));
        }
    }

    /// How many slots of `bucket` are free, and the first of them (from [`AnswerMaps::occupied`]).
    fn free_in(&self, bucket: u32) -> (usize, Option<usize>) {
        let taken = self
            .occupied
            .get(bucket as usize)
            .copied()
            .unwrap_or(u8::MAX);
        let free = !taken;
        let first = (free != 0)
            .then(|| bucket as usize * SLOTS_PER_BUCKET + free.trailing_zeros() as usize);
        (free.count_ones() as usize, first)
    }

    /// Records in [`AnswerMaps::occupied`] whether slot `at` holds an entry.
    fn mark(&mut self, at: usize, taken: bool) {
        if let Some(bits) = self.occupied.get_mut(at / SLOTS_PER_BUCKET) {
            let bit = 1 << (at % SLOTS_PER_BUCKET);
            *bits = if taken { *bits | bit } else { *bits & !bit };
        }
    }

    /// As [`AnswerMaps::place`] into maps nobody reads yet, moving other entries to their
    /// other bucket to make room (cuckoo hashing, a bounded random walk).
    fn place_moving(&mut self, key: SlotKey, word: u32, rng: &mut u64) -> bool {
        let buckets = self.buckets();
        let (mut tag, mut check, mut word) = (key.tag, key.check, word | VISIBLE_BITS);
        let mut bucket = home_bucket(tag, buckets);
        for _ in 0..512 {
            // xorshift: which slot to evict.
            *rng ^= *rng << 13;
            *rng ^= *rng >> 7;
            *rng ^= *rng << 17;
            let at = bucket as usize * SLOTS_PER_BUCKET + (*rng as usize % SLOTS_PER_BUCKET);
            let slot = self.slot(at);
            let evicted = (
                slot.tag.load(Ordering::Relaxed),
                slot.check.load(Ordering::Relaxed),
                slot.word.load(Ordering::Relaxed),
            );
            self.fill(at, tag, check, word);
            (tag, check, word) = evicted;
            // The evicted entry goes to its bucket other than this one.
            let (home, other) = (home_bucket(tag, buckets), other_bucket(tag, buckets));
            bucket = if home == bucket { other } else { home };
            if let (_, Some(at)) = self.free_in(bucket) {
                self.fill(at, tag, check, word);
                return true;
            }
        }
        false
    }

    /// Tag and check before the word (see `secdns_common::TAG_EMPTY`).
    fn fill(&mut self, at: usize, tag: u64, check: u32, word: u32) {
        self.mark(at, true);
        let slot = self.slot(at);
        slot.word.store(0, Ordering::Release);
        slot.tag.store(tag, Ordering::Release);
        slot.check.store(check, Ordering::Release);
        slot.word.store(word, Ordering::Release);
    }

    fn slot(&self, at: usize) -> SlotRef<'_> {
        let bucket = self.index.at(at / SLOTS_PER_BUCKET);
        // SAFETY: `Slot` is repr(C) { u64, u32, u32 }, 8-aligned in the mapping; the kernel
        // only reads it; atomics make our stores whole.
        unsafe {
            let slot: *mut Slot = (&raw mut (*bucket).slots)
                .cast::<Slot>()
                .add(at % SLOTS_PER_BUCKET);
            SlotRef {
                tag: AtomicU64::from_ptr(&raw mut (*slot).tag),
                check: AtomicU32::from_ptr(&raw mut (*slot).check),
                word: AtomicU32::from_ptr(&raw mut (*slot).word),
            }
        }
    }

    /// The first chunk of `body` (content, record), stored once per content, or
    /// [`PASS_CHUNK`] for none; `None` when the arena is full.
    fn intern(&mut self, body: Option<(u128, &[u8])>) -> Option<u32> {
        let Some((address, record)) = body else {
            return Some(PASS_CHUNK);
        };
        if let Some(chunk) = self.stored(address, record)
            && let Some(refs) = self.body_refs.get_mut(chunk as usize)
        {
            *refs += 1;
            return Some(chunk);
        }
        let chunks = record.len() / CHUNK_LEN;
        if chunks == 0 || chunks > MAX_BODY_CHUNKS {
            return Some(PASS_CHUNK);
        }
        let chunk = match self.free_runs.get_mut(chunks).and_then(Vec::pop) {
            Some(chunk) => {
                self.free_chunks -= chunks;
                chunk
            }
            None if self.next_chunk as usize + chunks <= self.arena.values() => {
                let chunk = self.next_chunk;
                self.next_chunk += chunks as u32;
                chunk
            }
            None => return None,
        };
        // The run ends inside the mapping (`at` checks) and is free: no slot refers to it.
        let _ = self.arena.at(chunk as usize + chunks - 1);
        // SAFETY: `chunks` contiguous chunks from `chunk`, checked above.
        unsafe {
            std::ptr::copy_nonoverlapping(
                record.as_ptr(),
                self.arena.at(chunk as usize).cast::<u8>(),
                chunks * CHUNK_LEN,
            );
        }
        self.by_content.insert(address, chunk);
        self.body_chunks[chunk as usize] = chunks as u8;
        self.body_refs[chunk as usize] = 1;
        Some(chunk)
    }

    /// The first chunk of the stored body with `address` and `record`, if stored.
    fn stored(&self, address: u128, record: &[u8]) -> Option<u32> {
        let chunks = record.len() / CHUNK_LEN;
        self.by_content.find(address, |chunk| {
            let at = chunk as usize;
            self.body_chunks.get(at) == Some(&(chunks as u8))
                && self.record_at(at, chunks) == record
        })
    }

    fn release(&mut self, word: u32) {
        let chunk = word & secdns_common::WORD_CHUNK_MASK;
        if self.body_chunks.get(chunk as usize).is_some_and(|&c| c > 0)
            && let Some(refs) = self.body_refs.get_mut(chunk as usize)
        {
            *refs = refs.saturating_sub(1);
            if *refs == 0 {
                self.released.push(chunk);
            }
        }
    }
}

/// The content address of the body stored at chunk `at` of `arena`.
fn content_in(arena: &Shared<Chunk>, body_chunks: &[u8], at: u32) -> u128 {
    let chunks = body_chunks.get(at as usize).copied().unwrap_or(0) as usize;
    content_of(record_in(arena, at as usize, chunks))
}

/// The record stored at chunk `at` of `arena`, `chunks` long.
fn record_in(arena: &Shared<Chunk>, at: usize, chunks: usize) -> &[u8] {
    let _ = arena.at(at + chunks.max(1) - 1);
    // SAFETY: in the mapping (checked above); only this process writes the arena, and not
    // while this borrow lives.
    unsafe { std::slice::from_raw_parts(arena.at(at).cast::<u8>(), chunks * CHUNK_LEN) }
}

struct SlotRef<'a> {
    tag: &'a AtomicU64,
    check: &'a AtomicU32,
    word: &'a AtomicU32,
}

/// Chunks the bodies of `upserts` take at most: each body counted, stored already or not.
/// One pass over the stores, no lookups: what a part streamed into maps with room checks.
pub fn chunks_at_most(upserts: &Upserts) -> usize {
    upserts
        .bodies
        .all()
        .map(|(_, record)| record.len() / CHUNK_LEN)
        .sum()
}

/// Chunks the bodies of `upserts` take that `known` (if any) does not hold yet, each
/// content once.
pub fn chunks_for(known: Option<&AnswerMaps>, upserts: &Upserts) -> usize {
    let mut seen = foldhash::HashSet::default();
    upserts
        .bodies
        .all()
        .filter(|(content, record)| {
            known.is_none_or(|maps| maps.stored(*content, record).is_none())
                && seen.insert(*content)
        })
        .map(|(_, record)| record.len() / CHUNK_LEN)
        .sum()
}

#[cfg(test)]
mod tests {
    use foldhash::{HashMap, HashMapExt};
    use proptest::prelude::*;
    use secdns_common::{
        BODY_HEADER_LEN, WORD_CHUNK_MASK, home_bucket, other_bucket, word_visible,
    };

    use super::*;
    use crate::xdp::value::Value;

    fn maps(buckets: usize, chunks: usize) -> AnswerMaps {
        AnswerMaps::new(Shared::anonymous(buckets), Shared::anonymous(chunks))
    }

    fn key(n: u32) -> AnswerKey {
        AnswerKey::new(&[1, b'a' + (n % 26) as u8, 1, (n / 26) as u8, 0], 1, 0)
    }

    fn packed(upserts: &[(AnswerKey, Value)]) -> Upserts {
        Upserts::from_values(upserts.iter().map(|(key, value)| (key, value)))
    }

    fn value(body: u8) -> Value {
        let mut value = Value::pass(b"\x01a\x00");
        value.body = vec![body; 16 + body as usize].into();
        value.ancount = 1;
        value
    }

    /// What the program finds for `key` reading parity `parity`: the body bytes.
    fn read(maps: &AnswerMaps, key: &AnswerKey, parity: u32) -> Option<Vec<u8>> {
        let tag = key.tag();
        let buckets = maps.buckets();
        let found = [home_bucket(tag, buckets), other_bucket(tag, buckets)]
            .into_iter()
            .flat_map(|b| (0..SLOTS_PER_BUCKET).map(move |s| b as usize * SLOTS_PER_BUCKET + s))
            .filter_map(|at| {
                let slot = maps.slot(at);
                let word = slot.word.load(Ordering::Relaxed);
                (slot.tag.load(Ordering::Relaxed) == tag
                    && slot.check.load(Ordering::Relaxed) == key.check
                    && word_visible(word, parity))
                .then_some(word)
            })
            .collect::<Vec<_>>();
        assert!(found.len() <= 1, "{key:?} is live twice");
        let chunk = (found.first()? & WORD_CHUNK_MASK) as usize;
        // SAFETY: chunks of the test's own mapping.
        let bytes =
            unsafe { std::slice::from_raw_parts(maps.arena.at(chunk).cast::<u8>(), CHUNK_LEN * 2) };
        let len = u16::from_ne_bytes([bytes[0], bytes[1]]) as usize;
        Some(bytes[BODY_HEADER_LEN..BODY_HEADER_LEN + len].to_vec())
    }

    fn assert_sees(maps: &AnswerMaps, parity: u32, set: &HashMap<AnswerKey, u8>, universe: u32) {
        for n in 0..universe {
            let key = key(n);
            let expected = set.get(&key).map(|b| value(*b).body.to_vec());
            assert_eq!(
                read(maps, &key, parity),
                expected,
                "entry {n}, parity {parity}"
            );
        }
    }

    proptest! {
        /// Through any sequence of changes, readers of the live parity see the old set until
        /// the flip and the new one after it; bodies are stored once and freed when unused.
        #[test]
        fn readers_see_one_version_or_the_other(
            changes in proptest::collection::vec(
                proptest::collection::vec((0u32..60, proptest::option::of(0u8..6)), 0..40),
                1..8,
            ),
        ) {
            let mut maps = maps(64, 256);
            let mut old: HashMap<AnswerKey, u8> = HashMap::new();
            for change in changes {
                let mut new = old.clone();
                let mut removals = Vec::new();
                let mut upserts = Vec::new();
                for (n, body) in change {
                    match body {
                        Some(b) => {
                            upserts.retain(|(k, _): &(AnswerKey, Value)| *k != key(n));
                            upserts.push((key(n), value(b)));
                            new.insert(key(n), b);
                        }
                        None => {
                            upserts.retain(|(k, _): &(AnswerKey, Value)| *k != key(n));
                            if old.contains_key(&key(n)) {
                                removals.push(key(n));
                            }
                            new.remove(&key(n));
                        }
                    }
                }
                removals.retain(|k| !upserts.iter().any(|(u, _)| u == k));
                let live = maps.live;
                let removals: Vec<SlotKey> = removals.iter().map(SlotKey::of).collect();
                prop_assert!(maps.stage(&removals, &packed(&upserts)).is_ok());
                let next = maps.next_parity();
                if live < 2 {
                    assert_sees(&maps, live, &old, 60);
                }
                assert_sees(&maps, next, &new, 60);
                prop_assert!(maps.occupancy_mirrors_index());
                maps.flipped(next);
                maps.settle();
                prop_assert!(maps.occupancy_mirrors_index());
                assert_sees(&maps, 0, &new, 60);
                assert_sees(&maps, 1, &new, 60);
                let mut distinct: Vec<u8> = new.values().copied().collect();
                distinct.sort();
                distinct.dedup();
                prop_assert_eq!(maps.bodies_stored(), distinct.len());
                old = new;
            }
        }
    }

    #[test]
    fn full_maps_are_built_again_bigger_with_every_entry() {
        let mut small = maps(2, 64);
        let upserts: Vec<(AnswerKey, Value)> = (0..40).map(|n| (key(n), value(1))).collect();
        // Two buckets of eight slots cannot take forty entries.
        assert!(small.stage(&[], &packed(&upserts)).is_err());
        let mut bigger = maps(16, 64);
        small.rebuild_into(&mut bigger).unwrap();
        assert!(bigger.occupancy_mirrors_index());
        let set: HashMap<AnswerKey, u8> = (0..40).map(|n| (key(n), 1)).collect();
        assert_sees(&bigger, 0, &set, 40);
        assert_sees(&bigger, 1, &set, 40);
        // One body for all forty.
        assert_eq!(bigger.used_chunks(), 1);
        // A table too small for the entries even with moving them leaves the old one whole.
        let mut tiny = maps(4, 64);
        assert!(bigger.rebuild_into(&mut tiny).is_err());
        assert_eq!(bigger.entries(), 40);
    }
}
