//! A zone's nodes by key, in shards shared between versions of the zone: the copy a change
//! starts from (an IXFR of a large zone) copies one pointer per shard, and the change then
//! copies only the shards it touches. A plain map would have to be copied whole — for a
//! million names, 80 ms of pointer chasing before the first record of a 100-record IXFR is
//! applied, and as long again to drop the old one.

use std::{hash::BuildHasher, sync::Arc};

use foldhash::{HashMap, HashMapExt};

use super::Node;

/// A node's key: its owner, lowercased wire form. Shared, so that copying a shard copies
/// pointers, not names.
pub type NodeKey = Arc<[u8]>;

type Shard = HashMap<NodeKey, Arc<Node>>;

/// About this many nodes to a shard once a zone is finished: a change copies a few hundred
/// pointers per name it touches, and a small zone has one shard.
const NODES_PER_SHARD: usize = 256;
/// At most this many shards: a change of a very large zone touching many names copies more
/// per name instead of holding ever more shards.
const MAX_SHARDS: usize = 1 << 14;
/// While a zone is built, its nodes are spread again once shards hold this many times
/// [`NODES_PER_SHARD`], into sixteen times the shards its size calls for: a million names are
/// moved once, at 16,384, not all at the end.
const OVERLOAD: usize = 64;

#[derive(Clone, Debug)]
pub struct Nodes {
    /// A power of two of them.
    shards: Vec<Arc<Shard>>,
    len: usize,
}

impl Default for Nodes {
    fn default() -> Self {
        Self::with_shards(1)
    }
}

/// Which shard holds `key`, of `count` (a power of two): from a fixed hash, so that every copy
/// of a zone agrees.
fn shard_of(key: &[u8], count: usize) -> usize {
    let hash = foldhash::fast::FixedState::with_seed(0x5ec_d25).hash_one(key);
    (hash >> 32) as usize & (count - 1)
}

impl Nodes {
    fn with_shards(count: usize) -> Self {
        Self {
            shards: (0..count).map(|_| Arc::new(Shard::new())).collect(),
            len: 0,
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    fn shard(&self, key: &[u8]) -> &Shard {
        &self.shards[shard_of(key, self.shards.len())]
    }

    /// The shard of `key`, to change: copied first if another version shares it.
    fn shard_mut(&mut self, key: &[u8]) -> &mut Shard {
        let index = shard_of(key, self.shards.len());
        Arc::make_mut(&mut self.shards[index])
    }

    pub fn get(&self, key: &[u8]) -> Option<&Arc<Node>> {
        self.shard(key).get(key)
    }

    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.shard(key).contains_key(key)
    }

    /// The node at `key`, to change; its shard is copied only when there is one.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Arc<Node>> {
        if !self.contains_key(key) {
            return None;
        }
        self.shard_mut(key).get_mut(key)
    }

    /// The node at `key`, made by `make` when there is none.
    pub fn get_or_insert_with(
        &mut self,
        key: &[u8],
        make: impl FnOnce() -> Arc<Node>,
    ) -> &mut Arc<Node> {
        self.grow();
        let index = shard_of(key, self.shards.len());
        let shard = Arc::make_mut(&mut self.shards[index]);
        let mut made = false;
        let node = shard.entry(NodeKey::from(key)).or_insert_with(|| {
            made = true;
            make()
        });
        self.len += made as usize;
        node
    }

    pub fn insert(&mut self, key: NodeKey, node: Arc<Node>) {
        self.grow();
        if self.shard_mut(&key).insert(key, node).is_none() {
            self.len += 1;
        }
    }

    /// Spreads the nodes over more shards when they have grown far past their number
    /// (checked before an insertion).
    fn grow(&mut self) {
        let count = self.shards.len();
        if count < MAX_SHARDS && self.len > count * NODES_PER_SHARD * OVERLOAD {
            self.reshard_to(ideal_shards(self.len) * 16);
        }
    }

    pub fn extend(&mut self, nodes: impl IntoIterator<Item = (NodeKey, Arc<Node>)>) {
        for (key, node) in nodes {
            self.insert(key, node);
        }
    }

    /// Keeps the nodes `keep` says yes to; shards where it says yes to all stay shared.
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8], &Node) -> bool) {
        for shard in &mut self.shards {
            if shard.iter().all(|(key, node)| keep(key, node)) {
                continue;
            }
            let shard = Arc::make_mut(shard);
            let before = shard.len();
            shard.retain(|key, node| keep(key, node));
            self.len -= before - shard.len();
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&NodeKey, &Arc<Node>)> {
        self.shards.iter().flat_map(|shard| shard.iter())
    }

    pub fn values(&self) -> impl Iterator<Item = &Arc<Node>> {
        self.shards.iter().flat_map(|shard| shard.values())
    }

    /// Every node, to change: every shard shared with another version is copied.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Arc<Node>> {
        self.shards
            .iter_mut()
            .flat_map(|shard| Arc::make_mut(shard).values_mut())
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
        for shard in std::mem::take(&mut self.shards) {
            let shard = Arc::try_unwrap(shard).unwrap_or_else(|shared| (*shared).clone());
            for (key, node) in shard {
                shards[shard_of(&key, count)].insert(key, node);
            }
        }
        self.shards = shards.into_iter().map(Arc::new).collect();
    }
}

/// The number of shards for `len` nodes: a power of two.
fn ideal_shards(len: usize) -> usize {
    (len / NODES_PER_SHARD)
        .next_power_of_two()
        .clamp(1, MAX_SHARDS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::Name;

    fn node(name: &str) -> (NodeKey, Arc<Node>) {
        let owner: Name = name.parse().unwrap();
        let key = NodeKey::from(&*owner.lowercase_wire());
        (
            key,
            Arc::new(Node {
                owner,
                rrsets: Vec::new(),
            }),
        )
    }

    #[test]
    fn a_copy_shares_what_it_does_not_change() {
        let mut nodes = Nodes::default();
        nodes.extend((0..10_000).map(|i| node(&format!("n{i}.example."))));
        nodes.reshard();
        assert_eq!(nodes.len(), 10_000);
        assert!(nodes.shards.len() > 1);
        let before = nodes.clone();
        let (key, _) = node("n42.example.");
        let changed = nodes.get_mut(&key).unwrap();
        Arc::make_mut(changed).rrsets.clear();
        let shared = nodes
            .shards
            .iter()
            .zip(&before.shards)
            .filter(|(a, b)| Arc::ptr_eq(a, b))
            .count();
        assert_eq!(shared, nodes.shards.len() - 1, "one shard copied");
        nodes.retain(|key, _| key != &*NodeKey::from(&*node("n7.example.").0));
        assert_eq!((nodes.len(), before.len()), (9_999, 10_000));
        assert!(before.contains_key(&node("n7.example.").0));
        assert!(!nodes.contains_key(&node("n7.example.").0));
        assert!(nodes.get_mut(&node("nope.example.").0).is_none());
        assert_eq!(nodes.iter().count(), 9_999);
    }
}
