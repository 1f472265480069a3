//! Compiled answers in the form the maps take them, held compactly between the compile and
//! the maps: each distinct body record once (see `layout::body_record`), in a store per
//! compiling thread, and per entry its key, where its body is, its options, and what merging
//! needs to tell entries apart. A million names compile to about 1.8 million entries: as
//! [`Value`]s (three allocations each) they took gigabytes until the maps were written.

use std::hash::BuildHasher as _;

use secdns_common::CHUNK_LEN;

use super::{
    compile::Group,
    content_index::ContentIndex,
    layout::{AnswerKey, body_record, body_record_into, hasher, value_of},
    value::Value,
};

/// Body records, each content once: `[length u16][content u128][record]`, little-endian.
#[derive(Default)]
pub struct BodyStore {
    bytes: Vec<u8>,
    by_content: ContentIndex,
    /// Room to build a record in.
    record: Vec<u8>,
    /// The last record added that was stored already, and its offset: bodies shared by many
    /// names (a zone's NODATA) come again and again, between others, and are compared
    /// before being hashed.
    hot: Option<(Vec<u8>, u32)>,
}

const STORED_HEADER: usize = 18;

impl BodyStore {
    /// A store with room for about `bodies` bodies of a chunk.
    fn with_room(bodies: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(bodies * (STORED_HEADER + CHUNK_LEN)),
            by_content: ContentIndex::with_capacity(bodies),
            ..Self::default()
        }
    }

    /// Stores `value`'s body record (once per content): its offset, or `None` for a value
    /// without one (a pass entry).
    fn add(&mut self, value: &Value) -> Option<u32> {
        let mut record = std::mem::take(&mut self.record);
        let mut offset = None;
        if body_record_into(value, &mut record) {
            match &self.hot {
                Some((hot, at)) if *hot == record => offset = Some(*at),
                _ => {
                    let content = content_of(&record);
                    offset = self.find(content);
                    match offset {
                        Some(at) => self.hot = Some((record.clone(), at)),
                        None => offset = self.store(content, &record),
                    }
                }
            }
        }
        self.record = record;
        offset
    }

    /// The offset of the record whose content address is `content`, if stored.
    fn find(&self, content: u128) -> Option<u32> {
        self.by_content
            .find(content, |at| self.get(at).is_some_and(|b| b.0 == content))
    }

    /// Stores `record`, whose content address is `content`, once: its offset.
    fn store(&mut self, content: u128, record: &[u8]) -> Option<u32> {
        if let Some(offset) = self.find(content) {
            return Some(offset);
        }
        let offset = u32::try_from(self.bytes.len()).ok()?;
        let len = u16::try_from(record.len()).ok()?;
        self.bytes.extend_from_slice(&len.to_le_bytes());
        self.bytes.extend_from_slice(&content.to_le_bytes());
        self.bytes.extend_from_slice(record);
        self.by_content.insert(content, offset);
        Some(offset)
    }

    /// The content address and record at `offset`.
    fn get(&self, offset: u32) -> Option<(u128, &[u8])> {
        let at = offset as usize;
        let len = u16::from_le_bytes(self.bytes.get(at..at + 2)?.try_into().ok()?) as usize;
        let content = u128::from_le_bytes(self.bytes.get(at + 2..at + 18)?.try_into().ok()?);
        let record = self
            .bytes
            .get(at + STORED_HEADER..at + STORED_HEADER + len)?;
        Some((content, record))
    }

    /// Every body: (content, record).
    fn bodies(&self) -> impl Iterator<Item = (u128, &[u8])> {
        let mut at = 0;
        std::iter::from_fn(move || {
            let body = self.get(at as u32)?;
            at += STORED_HEADER + body.1.len();
            Some(body)
        })
    }

    /// Done adding: the lookup by content goes.
    fn seal(&mut self) {
        self.by_content = ContentIndex::default();
        self.record = Vec::new();
        self.hot = None;
        self.bytes.shrink_to_fit();
    }
}

/// Where an entry's body is: the store and the offset in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyRef {
    store: u32,
    offset: u32,
}

#[derive(Clone, Copy, Debug)]
pub struct PackedEntry {
    pub key: AnswerKey,
    /// `None` for a pass entry: the name is there, userspace answers.
    pub body: Option<BodyRef>,
    /// The `OPTION_*` bits.
    pub options: u8,
    /// A hash of the name the answer is for (see [`name_id`]), to tell names with one key
    /// apart; 0 for the pass entry standing for such names.
    pub name: u64,
    pub group: Group,
    /// Given for a name other than its unit's own (see `Published::shared`).
    pub foreign: bool,
}

/// The stores of a compile's bodies, by [`BodyRef::store`].
#[derive(Default)]
pub struct Bodies(Vec<BodyStore>);

impl Bodies {
    /// `stores` (by index: see [`Packer::new`]), done adding to.
    pub fn new(mut stores: Vec<BodyStore>) -> Self {
        stores.iter_mut().for_each(BodyStore::seal);
        Self(stores)
    }

    /// `store` alone, at `index` (see [`Packer::new`]): the stores before it are empty.
    /// Not sealed: a streamed part is staged and dropped (sealing shrank its bytes, a copy
    /// of each part on the staging thread), or handed back to be sealed with the others.
    pub fn one_at(index: u32, store: BodyStore) -> Self {
        let mut stores: Vec<BodyStore> = (0..index).map(|_| BodyStore::default()).collect();
        stores.push(store);
        Self(stores)
    }

    /// The stores, by index.
    pub fn into_stores(self) -> Vec<BodyStore> {
        self.0
    }

    /// The content address and record of `entry`'s body.
    pub fn body(&self, entry: &PackedEntry) -> Option<(u128, &[u8])> {
        let at = entry.body?;
        self.0.get(at.store as usize)?.get(at.offset)
    }

    /// Every distinct body of every store: (content, record).
    pub fn all(&self) -> impl Iterator<Item = (u128, &[u8])> {
        self.0.iter().flat_map(BodyStore::bodies)
    }

    /// [`identity`] of `entry`.
    pub fn identity(&self, entry: &PackedEntry) -> u64 {
        let content = self.body(entry).map_or(0, |b| b.0);
        identity(content, entry.options, entry.name)
    }
}

/// Entries with their bodies: what a publication writes.
#[derive(Default)]
pub struct Upserts {
    pub entries: Vec<PackedEntry>,
    pub bodies: Bodies,
}

impl Upserts {
    /// Entries of `values`, their bodies in one store.
    pub fn from_values<'v>(values: impl IntoIterator<Item = (&'v AnswerKey, &'v Value)>) -> Self {
        let mut packer = Packer::new(0);
        let entries = values
            .into_iter()
            .map(|(key, value)| packer.pack(*key, value, Group::Typed, false))
            .collect();
        Self {
            entries,
            bodies: Bodies::new(vec![packer.into_store()]),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries as values (their names left empty; a pass entry's body empty too): for
    /// tests and for looking closer.
    pub fn values(&self) -> Vec<(AnswerKey, Value)> {
        self.entries
            .iter()
            .map(|entry| {
                let options = u32::from(entry.options);
                let value = self
                    .bodies
                    .body(entry)
                    .and_then(|(_, record)| value_of(record, options))
                    .unwrap_or_else(|| Value {
                        options,
                        ..Value::pass(&[])
                    });
                (entry.key, value)
            })
            .collect()
    }
}

/// Packs one thread's values: their bodies into its own store.
pub struct Packer {
    store: BodyStore,
    index: u32,
}

impl Packer {
    /// A packer whose store will be at `index` in the [`Upserts`] made of its entries.
    pub fn new(index: u32) -> Self {
        Self::with_room(index, 0)
    }

    pub fn pack(
        &mut self,
        key: AnswerKey,
        value: &Value,
        group: Group,
        foreign: bool,
    ) -> PackedEntry {
        let body = self.store.add(value).map(|offset| BodyRef {
            store: self.index,
            offset,
        });
        PackedEntry {
            key,
            body,
            options: value.options as u8,
            name: name_id(&value.name),
            group,
            foreign,
        }
    }

    /// As [`Packer::new`], with room for about `bodies` bodies.
    pub fn with_room(index: u32, bodies: usize) -> Self {
        Self {
            store: BodyStore::with_room(bodies),
            index,
        }
    }

    /// `entry`, its body (in `from`) copied into this packer's store.
    pub fn copy(&mut self, entry: &PackedEntry, from: &Bodies) -> PackedEntry {
        let body = from
            .body(entry)
            .and_then(|(content, record)| self.store.store(content, record))
            .map(|offset| BodyRef {
                store: self.index,
                offset,
            });
        PackedEntry { body, ..*entry }
    }

    pub fn into_store(self) -> BodyStore {
        self.store
    }
}

/// The content address of a body record.
pub fn content_of(record: &[u8]) -> u128 {
    let (a, b) = hasher().hash(record);
    (u128::from(a) << 64) | u128::from(b)
}

/// [`PackedEntry::name`] of a lowercased name (0 for none).
pub fn name_id(name: &[u8]) -> u64 {
    if name.is_empty() {
        return 0;
    }
    foldhash::fast::FixedState::with_seed(0x5ec_d25).hash_one(name) | 1
}

/// What tells a value from another for one key, as a number: its body's content address,
/// its options and its name. The same for a value and its packed entry.
pub fn identity(content: u128, options: u8, name: u64) -> u64 {
    foldhash::fast::FixedState::with_seed(0x1d).hash_one((content, options, name))
}

/// [`identity`] of a value.
pub fn value_identity(value: &Value) -> u64 {
    let content = body_record(value).map_or(0, |record| content_of(&record));
    identity(content, value.options as u8, name_id(&value.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_stored_once_and_read_back() {
        let value = |body: &[u8]| Value {
            name: b"\x01a\x00".as_slice().into(),
            body: body.into(),
            question_len: 3,
            ..Value::default()
        };
        let key = AnswerKey::new(b"\x01a\x00", 1, 0);
        let (one, two) = (value(&[1; 40]), value(&[2; 100]));
        let pass = Value::pass(b"\x01a\x00");
        let upserts =
            Upserts::from_values([(&key, &one), (&key, &two), (&key, &one), (&key, &pass)]);
        let bodies: Vec<(u128, usize)> = upserts
            .bodies
            .all()
            .map(|(content, record)| (content, record.len() / CHUNK_LEN))
            .collect();
        assert_eq!(bodies.iter().map(|b| b.1).collect::<Vec<_>>(), [1, 2]);
        let [a, b, c, d] = upserts.entries[..] else {
            panic!("four entries")
        };
        assert_eq!(a.body, c.body);
        assert_ne!(a.body, b.body);
        assert!(d.body.is_none() && upserts.bodies.body(&d).is_none());
        let (content, record) = upserts.bodies.body(&b).unwrap();
        assert_eq!(content, content_of(record));
        let identity_of = |e: &PackedEntry| upserts.bodies.identity(e);
        assert_eq!(identity_of(&b), value_identity(&two));
        assert_eq!(identity_of(&d), value_identity(&pass));
        assert_ne!(identity_of(&a), identity_of(&b));
    }

    /// A body that comes again between others (see `BodyStore::hot`) keeps its one offset,
    /// and no other body is taken for it.
    #[test]
    fn a_body_shared_between_others_is_found_again() {
        let value = |fill: u8| Value {
            name: b"\x01a\x00".as_slice().into(),
            body: vec![fill; 40].into(),
            question_len: 3,
            ..Value::default()
        };
        let mut store = BodyStore::default();
        let shared = store.add(&value(0));
        let mut offsets = Vec::new();
        for fill in 1..=5 {
            offsets.push(store.add(&value(fill)));
            assert_eq!(store.add(&value(0)), shared);
        }
        offsets.push(shared);
        offsets.sort();
        offsets.dedup();
        assert_eq!(offsets.len(), 6, "six bodies, six offsets");
        let contents: Vec<u128> = store.bodies().map(|(content, _)| content).collect();
        assert_eq!(contents.len(), 6);
    }
}
