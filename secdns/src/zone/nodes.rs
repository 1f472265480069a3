//! A zone's nodes by name, in shards shared between versions of the zone: the copy a change
//! starts from (an IXFR of a large zone) copies one pointer per shard, and the change then
//! copies only the shards it touches (a few dozen nodes each for a big zone). A plain map
//! would have to be copied whole — for a million names, 80 ms of pointer chasing before the
//! first record of a 100-record IXFR is applied, and as long again to drop the old one.
//!
//! The tables hold the nodes themselves (16 bytes each, see `rrsets::NodeData`), not
//! pointers to them: an `Arc` per node cost 32 bytes a name to save copying the nodes of a
//! touched shard.
//!
//! A node is found by its owner's wire form in any case (RFC 4343): the table holds the nodes
//! alone, no second copy of each name as a key.

use std::{
    collections::hash_map::RandomState,
    hash::{BuildHasher, Hasher},
    sync::{Arc, LazyLock},
};

use secdns_common::dns_lowercase_word;

use hashbrown::HashTable;

use super::Node;

type Shard = HashTable<Node>;

/// About this many nodes to a shard once a zone is finished: a change copies a few dozen
/// nodes per name it touches (at 256, an IXFR of 100 names on a million took 18 ms to
/// apply, 1.7 ms at 64), and a small zone has one shard. A shard's table has a power of two
/// of slots, at most 7/8 of them used: 80 nodes fill 128 slots to 62 %, with room for the
/// spread between shards (a power of two of shards left a million names 61 a shard, at 48 %).
const NODES_PER_SHARD: usize = 80;
/// At most this many shards: a change of a very large zone touching many names copies more
/// per name instead of holding ever more shards.
const MAX_SHARDS: usize = 1 << 14;
/// While a zone is built, its nodes are spread again once shards hold this many times
/// [`NODES_PER_SHARD`], into sixteen times the shards its size calls for: a million names are
/// moved once, at 5,120, not all at the end.
const OVERLOAD: usize = 64;

/// A node and the hash of its name ([`name_hash`]).
pub type HashedNode = (u64, Node);

/// How a table of a known number of nodes is filled on every core: its shards in one range
/// per core, and each node made put with those of its range (see [`Nodes::from_parts`]).
pub struct Partition {
    shards: usize,
    per_part: usize,
}

impl Partition {
    /// For a table of `len` nodes.
    pub fn for_len(len: usize) -> Self {
        let shards = ideal_shards(len);
        // Threads only for tables worth them.
        let cores = if len < 1 << 14 {
            1
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        };
        Self {
            shards,
            per_part: shards.div_ceil(cores),
        }
    }

    pub fn parts(&self) -> usize {
        self.shards.div_ceil(self.per_part)
    }

    /// The part a node of name hash `hash` goes in.
    pub fn part_of(&self, hash: u64) -> usize {
        shard_of(hash, self.shards) / self.per_part
    }
}

#[derive(Clone, Debug)]
pub struct Nodes {
    shards: Vec<Arc<Shard>>,
    len: usize,
}

impl Default for Nodes {
    fn default() -> Self {
        Self::with_shards(1)
    }
}

/// The hash of a name in wire form, whatever its case, eight octets at a time. Seeded once
/// per process: every copy of a zone agrees on shards, and names a primary chose cannot be
/// made to collide.
pub fn name_hash(wire: &[u8]) -> u64 {
    static SEED: LazyLock<u64> = LazyLock::new(|| RandomState::new().hash_one(0x5ec_d25_u64));
    let mut hasher = foldhash::fast::FixedState::with_seed(*SEED).build_hasher();
    hasher.write_usize(wire.len());
    for chunk in wire.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        hasher.write_u64(dns_lowercase_word(u64::from_le_bytes(word)));
    }
    hasher.finish()
}

fn node_hash(node: &Node) -> u64 {
    name_hash(node.owner().wire())
}

/// Whether `node` is the one named `wire`. Label lengths (at most 63) are no letters, so a
/// byte-wise comparison ignoring ASCII case compares names as DNS does.
fn named(wire: &[u8]) -> impl Fn(&Node) -> bool + '_ {
    move |node| node.owner().wire().eq_ignore_ascii_case(wire)
}

/// Which of `count` shards holds the name of hash `hash`: from the hash's low half, scaled
/// (a shard's table takes a slot from the lowest bits, which barely weigh here, and a tag
/// from the top seven).
fn shard_of(hash: u64, count: usize) -> usize {
    (((hash & 0xffff_ffff) * count as u64) >> 32) as usize
}

impl Nodes {
    fn with_shards(count: usize) -> Self {
        Self {
            shards: (0..count).map(|_| Arc::new(Shard::new())).collect(),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn get(&self, wire: &[u8]) -> Option<&Node> {
        let hash = name_hash(wire);
        self.shards[shard_of(hash, self.shards.len())].find(hash, named(wire))
    }

    pub fn contains_key(&self, wire: &[u8]) -> bool {
        self.get(wire).is_some()
    }

    /// The node at `wire`, to change; its shard is copied only when there is one.
    pub fn get_mut(&mut self, wire: &[u8]) -> Option<&mut Node> {
        let hash = name_hash(wire);
        let index = shard_of(hash, self.shards.len());
        self.shards[index].find(hash, named(wire))?;
        Arc::make_mut(&mut self.shards[index]).find_mut(hash, named(wire))
    }

    /// The node at `wire`, made by `make` when there is none.
    pub fn get_or_insert_with(&mut self, wire: &[u8], make: impl FnOnce() -> Node) -> &mut Node {
        self.grow();
        let hash = name_hash(wire);
        let index = shard_of(hash, self.shards.len());
        let shard = Arc::make_mut(&mut self.shards[index]);
        let entry = shard.entry(hash, named(wire), node_hash);
        if let hashbrown::hash_table::Entry::Vacant(_) = entry {
            self.len += 1;
        }
        entry.or_insert_with(make).into_mut()
    }

    /// Adds `node`, replacing the node of the same name.
    pub fn insert(&mut self, node: Node) {
        self.grow();
        let hash = node_hash(&node);
        let index = shard_of(hash, self.shards.len());
        let shard = Arc::make_mut(&mut self.shards[index]);
        match shard.entry(hash, named(node.owner().wire()), node_hash) {
            hashbrown::hash_table::Entry::Occupied(mut held) => *held.get_mut() = node,
            hashbrown::hash_table::Entry::Vacant(vacant) => {
                vacant.insert(node);
                self.len += 1;
            }
        }
    }

    /// A table of nodes all of different names, given in the parts `partition` put them
    /// in (`parts[share][part]`, from each share of the work that made them); `None` if two
    /// share a name. Each core fills the shards of one part.
    pub fn from_parts(partition: &Partition, parts: Vec<Vec<Vec<HashedNode>>>) -> Option<Self> {
        let mut by_part: Vec<Vec<Vec<HashedNode>>> =
            (0..partition.parts()).map(|_| Vec::new()).collect();
        for share in parts {
            for (part, nodes) in by_part.iter_mut().zip(share) {
                part.push(nodes);
            }
        }
        let (count, per_part) = (partition.shards, partition.per_part);
        let len: usize = by_part.iter().flatten().map(Vec::len).sum();
        let capacity = len / count + len / count / 4 + 8;
        let filled = crate::parallel::each_owned(
            by_part.into_iter().enumerate().collect(),
            |(part, lists)| {
                let first = part * per_part;
                let mut shards: Vec<Shard> = (first..(first + per_part).min(count))
                    .map(|_| Shard::with_capacity(capacity))
                    .collect();
                for (hash, node) in lists.into_iter().flatten() {
                    let shard = shards.get_mut(shard_of(hash, count).checked_sub(first)?)?;
                    // The new node's name is read only on a match of the hash's top bits: its
                    // memory was last touched on another core.
                    let same = |held: &Node| named(node.owner().wire())(held);
                    match shard.entry(hash, same, node_hash) {
                        hashbrown::hash_table::Entry::Occupied(_) => return None,
                        hashbrown::hash_table::Entry::Vacant(vacant) => {
                            vacant.insert(node);
                        }
                    }
                }
                Some(shards)
            },
        );
        let mut shards = Vec::with_capacity(count);
        for part in filled {
            shards.extend(part?.into_iter().map(Arc::new));
        }
        Some(Self { shards, len })
    }

    /// Spreads the nodes over more shards when they have grown far past their number
    /// (checked before an insertion).
    fn grow(&mut self) {
        let count = self.shards.len();
        if count < MAX_SHARDS && self.len > count * NODES_PER_SHARD * OVERLOAD {
            self.reshard_to(ideal_shards(self.len) * 16);
        }
    }

    pub fn extend(&mut self, nodes: impl IntoIterator<Item = Node>) {
        for node in nodes {
            self.insert(node);
        }
    }

    /// Keeps the nodes `keep` says yes to; shards where it says yes to all stay shared.
    pub fn retain(&mut self, mut keep: impl FnMut(&Node) -> bool) {
        for shard in &mut self.shards {
            if shard.iter().all(&mut keep) {
                continue;
            }
            let shard = Arc::make_mut(shard);
            let before = shard.len();
            shard.retain(|node| keep(node));
            self.len -= before - shard.len();
        }
    }

    pub fn values(&self) -> impl Iterator<Item = &Node> {
        self.shards.iter().flat_map(|shard| shard.iter())
    }

    /// [`Nodes::values`] without the first `skip`: whole shards are passed by their length,
    /// so a share of a big zone starts without a walk over the nodes before it.
    pub fn values_from(&self, mut skip: usize) -> impl Iterator<Item = &Node> {
        let first = self
            .shards
            .iter()
            .position(|shard| {
                let within = skip < shard.len();
                skip -= if within { 0 } else { shard.len() };
                within
            })
            .unwrap_or(self.shards.len());
        let rest = self.shards.get(first..).unwrap_or_default();
        rest.iter().flat_map(|shard| shard.iter()).skip(skip)
    }

    /// Every node, taken out.
    pub fn into_values(self) -> impl Iterator<Item = Node> {
        self.shards.into_iter().flat_map(|shard| {
            Arc::try_unwrap(shard)
                .unwrap_or_else(|shared| (*shared).clone())
                .into_iter()
        })
    }

    /// Spreads the nodes over about as many shards as their number calls for (see
    /// [`NODES_PER_SHARD`]), unless they are within a factor of four of it; done once a zone
    /// is built whole.
    pub fn reshard(&mut self) {
        let (ideal, count) = (ideal_shards(self.len), self.shards.len());
        if count * 4 < ideal || count > ideal * 4 {
            self.reshard_to(ideal);
        }
    }

    fn reshard_to(&mut self, count: usize) {
        let count = count.clamp(1, MAX_SHARDS);
        // Sized for what they will hold, with room for the spread: no shard grows on the way.
        let capacity = self.len / count + self.len / count / 4 + 8;
        let mut shards: Vec<Shard> = (0..count).map(|_| Shard::with_capacity(capacity)).collect();
        for node in std::mem::take(self).into_values() {
            let hash = node_hash(&node);
            shards[shard_of(hash, count)].insert_unique(hash, node, node_hash);
        }
        let len = shards.iter().map(HashTable::len).sum();
        *self = Self {
            shards: shards.into_iter().map(Arc::new).collect(),
            len,
        };
    }
}

/// The number of shards for `len` nodes.
fn ideal_shards(len: usize) -> usize {
    (len / NODES_PER_SHARD).clamp(1, MAX_SHARDS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::Name;

    fn node(name: &str) -> Node {
        Node::new(&name.parse().unwrap())
    }

    fn key(name: &str) -> Box<[u8]> {
        name.parse::<Name>().unwrap().lowercase_wire()
    }

    #[test]
    fn a_copy_shares_what_it_does_not_change() {
        let mut nodes = Nodes::default();
        nodes.extend((0..10_000).map(|i| node(&format!("n{i}.example."))));
        nodes.reshard();
        assert_eq!(nodes.len(), 10_000);
        assert!(nodes.shards.len() > 1);
        let before = nodes.clone();
        let changed = nodes.get_mut(&key("n42.example.")).unwrap();
        *changed = node("N42.Example.");
        let shared = nodes
            .shards
            .iter()
            .zip(&before.shards)
            .filter(|(a, b)| Arc::ptr_eq(a, b))
            .count();
        assert_eq!(shared, nodes.shards.len() - 1, "one shard copied");
        nodes.retain(|n| !n.owner().wire().eq_ignore_ascii_case(&key("n7.example.")));
        assert_eq!((nodes.len(), before.len()), (9_999, 10_000));
        assert!(before.contains_key(&key("n7.example.")));
        assert!(!nodes.contains_key(&key("n7.example.")));
        assert!(nodes.get_mut(&key("nope.example.")).is_none());
        assert_eq!(nodes.values().count(), 9_999);
    }

    /// Skipping by whole shards gives what skipping node by node gives, at every boundary.
    #[test]
    fn values_from_skips_as_values_does() {
        let mut nodes = Nodes::default();
        nodes.extend((0..3_000).map(|i| node(&format!("n{i}.example."))));
        nodes.reshard();
        assert!(nodes.shards.len() > 4);
        let all: Vec<*const Node> = nodes.values().map(|n| n as *const Node).collect();
        let mut boundaries: Vec<usize> = nodes
            .shards
            .iter()
            .scan(0, |end, shard| {
                *end += shard.len();
                Some(*end)
            })
            .collect();
        boundaries.extend([0, 1, 17, 2_999, 3_000, 3_001, 10_000]);
        for skip in boundaries
            .into_iter()
            .flat_map(|b| [b.saturating_sub(1), b])
        {
            let from: Vec<*const Node> =
                nodes.values_from(skip).map(|n| n as *const Node).collect();
            assert_eq!(from, all.get(skip..).unwrap_or_default(), "skip {skip}");
        }
    }

    /// A name is found in any case, and inserting it again in another case replaces it.
    #[test]
    fn names_match_in_any_case() {
        let mut nodes = Nodes::default();
        nodes.insert(node("WWW.Example.COM."));
        let upper = "WWW.EXAMPLE.COM.".parse::<Name>().unwrap();
        assert!(nodes.get(&key("www.example.com.")).is_some());
        assert!(nodes.get(upper.wire()).is_some());
        assert!(nodes.get(&key("ww.example.com.")).is_none());
        nodes.insert(node("www.example.com."));
        assert_eq!(nodes.len(), 1);
        let held = nodes.get(upper.wire()).unwrap();
        assert_eq!(held.owner().to_string(), "www.example.com.");
        nodes.get_or_insert_with(upper.wire(), || unreachable!("held"));
        assert_eq!(nodes.len(), 1);
    }
}
