//! Where each distinct answer body is, by its content address: the lookups that store every
//! body once, while compiling (`packed::BodyStore`, [`ContentIndex`]) and in the arena
//! (`maps`, [`ChunkIndex`]).
//!
//! A map from the 128-bit address took 32 bytes a body (hashbrown pads the pair to the
//! address's alignment): half a gigabyte for ten million bodies, twice over while a compile
//! and the maps each held one. Here a body costs 8 bytes: where it is and 32 bits of its
//! address, enough to rehash without reading the body back and to skip almost every wrong
//! candidate; the owner confirms a candidate against the body itself.

use hashbrown::HashTable;

#[derive(Default)]
pub struct ContentIndex(HashTable<(u32, u32)>);

impl ContentIndex {
    pub fn with_capacity(bodies: usize) -> Self {
        Self(HashTable::with_capacity(bodies))
    }

    /// Where a body with `content` is, among those `same` confirms hold it.
    pub fn find(&self, content: u128, same: impl Fn(u32) -> bool) -> Option<u32> {
        let short = short(content);
        self.0
            .find(spread(short), |&(at, stored)| stored == short && same(at))
            .map(|&(at, _)| at)
    }

    /// Records that a body with `content` is at `at`.
    pub fn insert(&mut self, content: u128, at: u32) {
        let short = short(content);
        self.0
            .insert_unique(spread(short), (at, short), |&(_, stored)| spread(stored));
    }

    /// Forgets the body with `content` at `at` (if recorded).
    pub fn remove(&mut self, content: u128, at: u32) {
        let short = short(content);
        if let Ok(entry) = self.0.find_entry(spread(short), |&(stored_at, stored)| {
            stored == short && stored_at == at
        }) {
            entry.remove();
        }
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Where each distinct body is in the arena, by content address: a power-of-two array of
/// (32 bits of the address, chunk) slots, probed linearly from the slot those bits give, at
/// most three quarters full. Written here rather than taken from hashbrown for one reason:
/// staging asks for the slot of the body a few entries ahead ([`ChunkIndex::prefetch`]),
/// and a hashbrown table does not say where a key would be; a lookup that missed the cache
/// was a third of the staging of a million names. The kept bits give a slot's home, so the
/// table grows and removes without reading a body back; a candidate is confirmed against
/// the body itself.
pub struct ChunkIndex {
    slots: Box<[ChunkSlot]>,
    len: usize,
}

#[derive(Clone, Copy)]
struct ChunkSlot {
    short: u32,
    /// [`NO_CHUNK`] for a free slot.
    chunk: u32,
}

const NO_CHUNK: u32 = u32::MAX;
const FREE: ChunkSlot = ChunkSlot {
    short: 0,
    chunk: NO_CHUNK,
};

impl Default for ChunkIndex {
    fn default() -> Self {
        Self::for_chunks(0)
    }
}

impl ChunkIndex {
    /// An index for an arena of `chunks` chunks. A body takes a chunk at least, and most
    /// arenas keep room to grow: sized for three bodies in four chunks (for ten million
    /// records, half the memory of sizing for one in each), it grows if they come.
    pub fn for_chunks(chunks: usize) -> Self {
        Self {
            slots: vec![FREE; slots_for(chunks.saturating_mul(3) / 4)].into_boxed_slice(),
            len: 0,
        }
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    fn home(&self, short: u32) -> usize {
        short as usize & self.mask()
    }

    /// The chunk of a body with `content`, among those `same` confirms hold it.
    pub fn find(&self, content: u128, same: impl Fn(u32) -> bool) -> Option<u32> {
        let short = short(content);
        let mut at = self.home(short);
        // Never full: a free slot ends every probe.
        for _ in 0..self.slots.len() {
            let slot = self.slots.get(at)?;
            if slot.chunk == NO_CHUNK {
                return None;
            }
            if slot.short == short && same(slot.chunk) {
                return Some(slot.chunk);
            }
            at = (at + 1) & self.mask();
        }
        None
    }

    /// Asks for the slot a body with `content` would be found at (see [`crate::prefetch`]).
    pub fn prefetch(&self, content: u128) {
        if let Some(slot) = self.slots.get(self.home(short(content))) {
            crate::prefetch::line(slot);
        }
    }

    /// Records that a body with `content` is at `chunk`.
    pub fn insert(&mut self, content: u128, chunk: u32) {
        if chunk == NO_CHUNK {
            return;
        }
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.resize(2 * self.slots.len());
        }
        self.put(ChunkSlot {
            short: short(content),
            chunk,
        });
        self.len += 1;
    }

    fn put(&mut self, slot: ChunkSlot) {
        let mut at = self.home(slot.short);
        while self.slots.get(at).is_some_and(|s| s.chunk != NO_CHUNK) {
            at = (at + 1) & self.mask();
        }
        if let Some(free) = self.slots.get_mut(at) {
            *free = slot;
        }
    }

    /// Makes room for the bodies of an arena of `chunks` chunks (moved to a bigger arena),
    /// as [`ChunkIndex::for_chunks`] does.
    pub fn grow_to(&mut self, chunks: usize) {
        self.resize(slots_for(chunks.saturating_mul(3) / 4));
    }

    /// Moves the slots to `wanted` of them, if more.
    fn resize(&mut self, wanted: usize) {
        if wanted <= self.slots.len() {
            return;
        }
        let old = std::mem::replace(&mut self.slots, vec![FREE; wanted].into_boxed_slice());
        for slot in old.iter().filter(|s| s.chunk != NO_CHUNK) {
            self.put(*slot);
        }
    }

    /// Forgets the body with `content` at `chunk` (if recorded): the slots after it move
    /// back where their probe passes the freed one.
    pub fn remove(&mut self, content: u128, chunk: u32) {
        let short = short(content);
        let mask = self.mask();
        let mut at = self.home(short);
        loop {
            match self.slots.get(at) {
                Some(slot) if slot.chunk == NO_CHUNK => return,
                Some(slot) if slot.short == short && slot.chunk == chunk => break,
                Some(_) => at = (at + 1) & mask,
                None => return,
            }
        }
        let mut hole = at;
        let mut next = at;
        loop {
            next = (next + 1) & mask;
            let Some(&slot) = self.slots.get(next) else {
                break;
            };
            if slot.chunk == NO_CHUNK {
                break;
            }
            let home = self.home(slot.short);
            // It may fill the hole when the hole lies on its probe, from its home to here.
            if next.wrapping_sub(home) & mask >= next.wrapping_sub(hole) & mask {
                self.slots[hole] = slot;
                hole = next;
            }
        }
        self.slots[hole] = FREE;
        self.len -= 1;
    }

    pub fn clear(&mut self) {
        self.slots.fill(FREE);
        self.len = 0;
    }
}

/// Slots for `bodies`: a power of two, at most three quarters of them used.
fn slots_for(bodies: usize) -> usize {
    (bodies.saturating_mul(4) / 3 + 1)
        .next_power_of_two()
        .max(8)
}

/// The part of a content address kept: its low bits (a keyed hash: every bit is as good).
fn short(content: u128) -> u32 {
    content as u32
}

/// A table hash from the 32 kept bits: the table takes a bucket from the low bits and a
/// tag from the top seven, so every bit of the product must depend on the short address.
fn spread(short: u32) -> u64 {
    (u64::from(short) | u64::from(short) << 32).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_the_owner_confirms_and_forgets_what_is_removed() {
        let mut index = ContentIndex::default();
        // Two addresses that share the kept bits: the owner tells them apart.
        let (a, b) = (0x1234_u128 | 1 << 100, 0x1234_u128 | 2 << 100);
        index.insert(a, 10);
        index.insert(b, 20);
        for n in 0..10_000u32 {
            index.insert(u128::from(n) << 40, 100 + n);
        }
        let holds =
            |content: u128| move |at: u32| (at == 10 && content == a) || (at == 20 && content == b);
        assert_eq!(index.find(a, holds(a)), Some(10));
        assert_eq!(index.find(b, holds(b)), Some(20));
        assert_eq!(index.find(0x99, |_| true), None);
        assert_eq!(index.find(5 << 40, |at| at == 105), Some(105));
        index.remove(a, 10);
        assert_eq!(index.find(a, holds(a)), None);
        assert_eq!(index.find(b, holds(b)), Some(20));
        assert_eq!(index.len(), 10_001);
    }

    /// The arena's index against a plain map, through inserts, removals (which move the
    /// slots after them back), growth and clearing, with addresses that share their kept
    /// bits and so their slots.
    #[test]
    fn the_arena_index_finds_what_a_map_holds() {
        let mut index = ChunkIndex::for_chunks(16);
        let mut held: std::collections::HashMap<u32, u128> = Default::default();
        let content = |n: u32| u128::from(n % 97) | u128::from(n) << 64;
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for step in 0..20_000u32 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let chunk = (seed % 3000) as u32;
            match held.get(&chunk) {
                Some(&c) if seed.is_multiple_of(3) => {
                    index.remove(c, chunk);
                    held.remove(&chunk);
                }
                Some(_) => {}
                None => {
                    index.insert(content(chunk), chunk);
                    held.insert(chunk, content(chunk));
                }
            }
            if step.is_multiple_of(997) {
                for chunk in 0..3000 {
                    let found =
                        index.find(content(chunk), |at| held.get(&at) == Some(&content(chunk)));
                    assert_eq!(
                        found,
                        held.contains_key(&chunk).then_some(chunk),
                        "step {step}"
                    );
                }
            }
        }
        assert_eq!(index.len, held.len());
        index.clear();
        assert_eq!(index.find(content(1), |_| true), None);
    }
}
