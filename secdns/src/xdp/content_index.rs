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

/// Where each distinct body is in the arena, by content address, in 4 bytes a body: the
/// arena's lookup. It is sized for as many bodies as the arena has chunks (a body takes one
/// at least) and so never grows, which would read every body back to hash it again; a
/// candidate is confirmed against the body itself.
#[derive(Default)]
pub struct ChunkIndex(HashTable<u32>);

impl ChunkIndex {
    /// An index for up to `chunks` bodies.
    pub fn for_chunks(chunks: usize) -> Self {
        Self(HashTable::with_capacity(chunks))
    }

    /// The chunk of a body with `content`, among those `same` confirms hold it.
    pub fn find(&self, content: u128, same: impl Fn(u32) -> bool) -> Option<u32> {
        self.0.find(content as u64, |&chunk| same(chunk)).copied()
    }

    /// Records that a body with `content` is at `chunk`; `content_at` gives the content
    /// address of the body at a chunk, should the index have to grow after all.
    pub fn insert(&mut self, content: u128, chunk: u32, content_at: impl Fn(u32) -> u128) {
        self.0
            .insert_unique(content as u64, chunk, |&at| content_at(at) as u64);
    }

    /// Makes room for up to `chunks` bodies in all (moved to a bigger arena), hashing each
    /// body again by `content_at`.
    pub fn grow_to(&mut self, chunks: usize, content_at: impl Fn(u32) -> u128) {
        let more = chunks.saturating_sub(self.0.len());
        self.0.reserve(more, |&at| content_at(at) as u64);
    }

    /// Forgets the body with `content` at `chunk` (if recorded).
    pub fn remove(&mut self, content: u128, chunk: u32) {
        if let Ok(entry) = self.0.find_entry(content as u64, |&at| at == chunk) {
            entry.remove();
        }
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }
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
}
