//! A zone held in memory: its nodes, their RRsets, and the rules a zone must satisfy.
//! Built once by [`ZoneBuilder`], then immutable.

pub mod compare;
pub mod grouped;
mod nodes;
pub mod nsec3;
pub mod overrides;
pub mod reads;
pub mod render;
mod rrsets;
pub mod wire_file;
pub mod zonefile;

// Node maps are looked up for every name compiled and every query: a fast, seeded hash.
use foldhash::{HashMap, HashMapExt};

use crate::dns::{Dname, Name, codes::rtype, rdata};
use nodes::Nodes;

/// Record data in uncompressed wire form.
pub type Rdata = Box<[u8]>;

use rrsets::NodeData;
pub use rrsets::{Rdatas, Rrset, RrsetBuf};

/// All RRsets at one owner name. A node with no RRsets is an empty non-terminal.
#[derive(Clone, Debug)]
pub struct Node {
    /// The owner and the sets, in one allocation once packed.
    stored: NodeData,
}

impl Node {
    pub fn new(owner: &Name) -> Self {
        Self {
            stored: NodeData::empty(owner),
        }
    }

    /// A node holding what `sets` packed (sets in type order).
    fn packed(sets: rrsets::Packer) -> Self {
        Self {
            stored: sets.finish(),
        }
    }

    /// The owner, in the case it came in.
    pub fn owner(&self) -> &Dname {
        self.stored.owner()
    }

    /// The RRset of `rr_type`; for RRSIG, the first set of signatures.
    pub fn rrset(&self, rr_type: u16) -> Option<Rrset<'_>> {
        reads::note_at(self.owner(), reads::Kind::Type(rr_type));
        self.stored.iter().find(|r| r.rtype == rr_type)
    }

    /// The signatures over this node's `rr_type` RRset.
    pub fn signatures(&self, rr_type: u16) -> Option<Rrset<'_>> {
        reads::note_at(self.owner(), reads::Kind::Type(rtype::RRSIG));
        self.stored
            .iter()
            .find(|r| r.rtype == rtype::RRSIG && r.covers == rr_type)
    }

    /// The RRsets that answer for data at this name: everything but the signatures.
    pub fn data(&self) -> impl Iterator<Item = Rrset<'_>> {
        reads::note_at(self.owner(), reads::Kind::Whole);
        self.stored.iter().filter(|r| r.rtype != rtype::RRSIG)
    }

    /// Whether the node holds only NSEC3 records (and their signatures): such a name is not
    /// part of the zone's namespace (RFC 5155 §7.2.8) and answers as if it did not exist.
    pub fn is_nsec3_only(&self) -> bool {
        reads::note_at(self.owner(), reads::Kind::Whole);
        !self.stored.is_empty()
            && self.stored.iter().all(|r| {
                r.rtype == rtype::NSEC3 || r.rtype == rtype::RRSIG && r.covers == rtype::NSEC3
            })
    }

    pub fn is_empty_non_terminal(&self) -> bool {
        reads::note_at(self.owner(), reads::Kind::Whole);
        self.stored.is_empty()
    }

    /// How many records the node holds, and their size in uncompressed wire form (what a
    /// limit on zone size bounds).
    fn sizes(&self) -> (usize, usize) {
        self.stored
            .iter()
            .flat_map(|r| r.rdatas.iter())
            .fold((0, 0), |(n, size), d| {
                (n + 1, size + self.owner().wire().len() + 10 + d.len())
            })
    }

    /// Every RRset, signatures included, by type.
    pub fn all(&self) -> impl Iterator<Item = Rrset<'_>> + Clone {
        reads::note_at(self.owner(), reads::Kind::Whole);
        self.stored.iter()
    }

    /// Asks for its name and records to be brought into the cache (see [`crate::prefetch`]).
    pub fn prefetch_data(&self) {
        crate::prefetch::line(self.stored.as_ptr());
    }

    /// Every RRset, without noting the read (see [`reads`]): for comparing versions.
    pub fn rrsets_unrecorded(&self) -> impl Iterator<Item = Rrset<'_>> + Clone {
        self.stored.iter()
    }
}

#[derive(Debug)]
pub struct Zone {
    apex: Name,
    /// The apex, lowercased wire form: asked for per name compiled.
    apex_key: Box<[u8]>,
    /// Whether the apex has signatures (see [`Zone::is_signed`]).
    signed: bool,
    nodes: Nodes,
    record_count: usize,
    /// Records in uncompressed wire form, added up: what a limit on zone size bounds.
    wire_size: usize,
    serial: u32,
    /// Owners of NSEC records in canonical order (RFC 4034 §6.1), for denial proofs.
    nsec_owners: Vec<Name>,
    /// The NSEC3 chain, when the apex has NSEC3PARAM.
    nsec3: Option<nsec3::Nsec3Chain>,
    /// Every type the zone holds, sorted.
    types: Vec<u16>,
    /// Some name lies more than one label below the apex (or did: a change never clears it).
    deep: bool,
    /// Tells this zone from every other one built by this process.
    id: u64,
    /// This zone is the zone `id` with records changed at these owner names (lowercased):
    /// lets a reader find what changed without comparing every node.
    derived: Option<(u64, Vec<Box<[u8]>>)>,
}

impl Zone {
    /// The NSEC owner that covers `name`: the last one at or before it in canonical order.
    pub fn nsec_covering(&self, name: &Name) -> Option<&Node> {
        let index = match self
            .nsec_owners
            .binary_search_by(|owner| owner.canonical_cmp(name))
        {
            Ok(exact) => exact,
            Err(0) => self.nsec_owners.len().checked_sub(1)?,
            Err(after) => after - 1,
        };
        self.node(&self.nsec_owners.get(index)?.lowercase_wire())
    }

    pub fn nsec3(&self) -> Option<&nsec3::Nsec3Chain> {
        self.nsec3.as_ref()
    }

    /// True when the zone carries signatures: answers to DO queries then carry them too.
    pub fn is_signed(&self) -> bool {
        reads::note_at(&self.apex, reads::Kind::Type(rtype::RRSIG));
        self.signed
    }

    /// The apex, lowercased wire form.
    pub fn apex_key(&self) -> &[u8] {
        &self.apex_key
    }

    pub fn wire_size(&self) -> usize {
        self.wire_size
    }

    pub fn apex(&self) -> &Name {
        &self.apex
    }

    pub fn serial(&self) -> u32 {
        self.serial
    }

    /// Every type the zone holds, sorted.
    pub fn types(&self) -> &[u16] {
        &self.types
    }

    /// Whether a name may lie more than one label below the apex: when not, no name below
    /// the apex has names below it.
    pub fn has_deep_names(&self) -> bool {
        self.deep
    }

    /// Records that this zone is `base` with records changed at `owners` (lowercased).
    pub fn set_derived(&mut self, base: &Zone, owners: Vec<Box<[u8]>>) {
        self.derived = Some((base.id, owners));
    }

    /// The owner names whose records changed since `base`, when this zone was made from it
    /// by a known change; names above them (empty non-terminals) may have changed too.
    pub fn changed_since(&self, base: &Zone) -> Option<&[Box<[u8]>]> {
        match &self.derived {
            Some((id, owners)) if *id == base.id => Some(owners),
            _ => None,
        }
    }

    /// The node at `wire` (in any case), without noting the read (see [`reads`]).
    pub fn node_unrecorded(&self, wire: &[u8]) -> Option<&Node> {
        self.nodes.get(wire)
    }

    pub fn record_count(&self) -> usize {
        self.record_count
    }

    /// The node at `lowercase_wire` (other cases find it too), if the zone has one (empty
    /// non-terminals included).
    pub fn node(&self, lowercase_wire: &[u8]) -> Option<&Node> {
        reads::note(
            || secdns_common::name_hash(lowercase_wire),
            reads::Kind::Exists,
        );
        self.nodes.get(lowercase_wire)
    }

    /// The node at `lowercase_wire` when it is a name of the zone's namespace: not one that
    /// owns only NSEC3 records, which exist for denial proofs alone (RFC 5155 §7.2.8).
    pub fn name_node(&self, lowercase_wire: &[u8]) -> Option<&Node> {
        self.node(lowercase_wire)
            .filter(|node| !node.is_nsec3_only())
    }

    /// Every node of the zone's namespace (see [`Zone::name_node`]).
    pub fn name_nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes().filter(|node| !node.is_nsec3_only())
    }

    /// Every node, without noting reads.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.values()
    }

    /// [`Zone::nodes`] from the `skip`th on, found without visiting those before it.
    pub fn nodes_from(&self, skip: usize) -> impl Iterator<Item = &Node> {
        self.nodes.values_from(skip)
    }

    /// How many nodes [`Zone::nodes`] gives.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Every record: (owner, type, TTL, record data).
    pub fn records(&self) -> impl Iterator<Item = (&Dname, u16, u32, &[u8])> {
        self.nodes().flat_map(|node| {
            node.stored.iter().flat_map(move |rrset| {
                rrset
                    .rdatas
                    .iter()
                    .map(move |data| (node.owner(), rrset.rtype, rrset.ttl, data))
            })
        })
    }

    pub fn soa(&self) -> Rrset<'_> {
        reads::note_at(&self.apex, reads::Kind::Type(rtype::SOA));
        // `ZoneBuilder::finish` guarantees the apex node and its SOA exist.
        self.nodes
            .get(&self.apex_key)
            .and_then(|n| n.rrset(rtype::SOA))
            .unwrap_or_else(|| unreachable!("zone {} built without SOA", self.apex))
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ZoneError {
    #[error("{owner} is outside the zone {apex}")]
    OutOfZone { owner: String, apex: String },
    #[error("{owner}: class {class} records are not served (only IN)")]
    Class { owner: String, class: u16 },
    #[error("{owner}: {what} records cannot be served from a zone")]
    MetaType { owner: String, what: &'static str },
    #[error("zone {apex} has no SOA record at its apex")]
    NoSoa { apex: String },
    #[error("zone {apex} has {count} SOA records at its apex; exactly one is allowed")]
    ManySoa { apex: String, count: usize },
    #[error("{owner}: SOA record not at the zone apex {apex}")]
    SoaNotAtApex { owner: String, apex: String },
    #[error("{owner}: record data of type {rtype} is malformed")]
    BadRdata { owner: String, rtype: String },
    #[error("{owner}: more than {limit} records {what} ({setting})")]
    TooManyRecords {
        owner: String,
        what: String,
        limit: usize,
        setting: &'static str,
    },
}

/// The TTL an RRset keeps when its records arrive with different TTLs (RFC 2181 §5.2 says
/// they must not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TtlRule {
    /// The lowest: nothing is cached longer than one of its records allows.
    Lowest,
    /// The last one read: what knotd does with a zone file, so files read the same.
    Last,
}

/// Bounds on one RRset and one name, whatever brings the records (a transfer, a zone file):
/// a primary or a file with a huge RRset is refused rather than served (BIND has
/// `max-records-per-type` for the same reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordLimits {
    pub per_rrset: usize,
    pub per_name: usize,
}

impl RecordLimits {
    /// For data that was within the limits when it came in (a saved copy, overrides over
    /// a copy): the limits in force then are not known, and they held.
    pub const NONE: Self = Self {
        per_rrset: usize::MAX,
        per_name: usize::MAX,
    };
}

impl Default for RecordLimits {
    fn default() -> Self {
        // About the most records of one set that still fit a 64 KiB message.
        Self {
            per_rrset: 5_000,
            per_name: 10_000,
        }
    }
}

/// RRsets up to this size are searched for duplicates; larger ones get a hash index (and are
/// compared through one, in `compare`).
const INDEXED_RRSET: usize = 32;

/// An RRset's place in the builder: owner (lowercased), type, covered type.
type RrsetKey = (Box<[u8]>, u16, u16);

/// Nodes held open to change (see [`rrsets`]) before the builder packs them: a zone arrives
/// name by name, so each is packed about once, and a zone being built never holds more than
/// this many names in the open form.
const OPEN_NODES: usize = 4096;

pub struct ZoneBuilder {
    apex: Name,
    nodes: Nodes,
    /// The nodes open to change (lowercased names), to pack.
    open: Vec<Box<[u8]>>,
    pub limits: RecordLimits,
    /// The records of the large RRsets, so that adding one is not a search of the set.
    large: HashMap<RrsetKey, foldhash::HashSet<Rdata>>,
    /// Set when RRs of one RRset arrive with different TTLs (RFC 2181 §5.2).
    pub ttl_mismatches: Vec<String>,
    /// Which TTL an RRset keeps when its records disagree.
    pub ttl_rule: TtlRule,
    /// When changing an unsigned zone: what `finish` needs to look only at changed nodes.
    base: Option<Base>,
}

/// The zone a change starts from, and each changed node as it was there.
struct Base {
    record_count: usize,
    wire_size: usize,
    types: Vec<u16>,
    deep: bool,
    before: HashMap<Box<[u8]>, NodeSums>,
}

/// What one node adds to a zone's totals.
#[derive(Default)]
struct NodeSums {
    existed: bool,
    records: usize,
    wire_size: usize,
    types: Vec<u16>,
}

impl NodeSums {
    fn of(node: Option<&Node>) -> Self {
        let Some(node) = node else {
            return Self::default();
        };
        let (records, wire_size) = node.sizes();
        Self {
            existed: true,
            records,
            wire_size,
            types: node.stored.iter().map(|r| r.rtype).collect(),
        }
    }
}

/// Types whose presence changes how a zone is finished (denial chains): a change touching
/// them, or a signed zone, is finished by looking at every node.
const CHAIN_TYPES: [u16; 4] = [rtype::NSEC, rtype::NSEC3, rtype::NSEC3PARAM, rtype::RRSIG];

/// The name of `rr_type` when it is a meta type, which no zone holds.
fn meta_type(rr_type: u16) -> Option<&'static str> {
    match rr_type {
        rtype::OPT => Some("OPT"),
        rtype::TSIG => Some("TSIG"),
        rtype::IXFR => Some("IXFR"),
        rtype::AXFR => Some("AXFR"),
        rtype::ANY => Some("ANY"),
        _ => None,
    }
}

/// Whether SOA data holds what a zone needs of it (its serial, and its two names).
fn soa_readable(data: &[u8]) -> bool {
    rdata::soa_serial(data).is_some() && rdata::compressible_names(rtype::SOA, data).len() == 2
}

/// For RRSIG, the type the signature covers; zero for other types.
fn covers(rr_type: u16, rdata: &[u8]) -> u16 {
    rdata::rrsig_covers(rr_type, rdata).unwrap_or(0)
}

/// Whether the name `wire` (at or below an apex of `apex_len` octets) is below a child of
/// the apex: only then can a name between it and the apex be missing.
fn below_a_child(wire: &[u8], apex_len: usize) -> bool {
    let first = wire.first().map_or(0, |&len| 1 + len as usize);
    wire.len() > apex_len + first
}

/// The lowercased wire form of a name's parent, from the name's own bytes; `None` for the
/// root.
fn parent_key(key: &[u8]) -> Option<&[u8]> {
    let len = *key.first()? as usize;
    if len == 0 {
        return None;
    }
    key.get(1 + len..)
}

impl ZoneBuilder {
    pub fn new(apex: Name) -> Self {
        Self {
            apex,
            nodes: Nodes::default(),
            open: Vec::new(),
            limits: RecordLimits::default(),
            large: HashMap::new(),
            ttl_mismatches: Vec::new(),
            ttl_rule: TtlRule::Lowest,
            base: None,
        }
    }

    /// A builder holding `nodes` (packed, their sets in type order), to finish.
    fn from_nodes(apex: Name, nodes: Nodes) -> Self {
        Self {
            nodes,
            limits: RecordLimits::NONE,
            ..Self::new(apex)
        }
    }

    /// A builder holding `zone`'s records, to change them (an IXFR): the nodes are shared
    /// until changed.
    pub fn from_zone(zone: &Zone) -> Self {
        let unsigned = !zone.types.iter().any(|t| CHAIN_TYPES.contains(t));
        Self {
            apex: zone.apex.clone(),
            nodes: zone.nodes.clone(),
            open: Vec::new(),
            limits: RecordLimits::NONE,
            large: HashMap::new(),
            ttl_mismatches: Vec::new(),
            ttl_rule: TtlRule::Lowest,
            base: unsigned.then(|| Base {
                record_count: zone.record_count,
                wire_size: zone.wire_size,
                types: zone.types.clone(),
                deep: zone.deep,
                before: HashMap::new(),
            }),
        }
    }

    /// Notes how the node at `key` was before its first change.
    fn touch(&mut self, key: &[u8]) {
        if let Some(base) = &mut self.base
            && !base.before.contains_key(key)
        {
            let node = self.nodes.get(key);
            base.before.insert(key.into(), NodeSums::of(node));
        }
    }

    pub fn apex(&self) -> &Name {
        &self.apex
    }

    /// Removes every RRset at `owner` whose type `matches`, whole: a large set at once rather
    /// than record by record.
    pub fn remove_rrsets(&mut self, owner: &Name, matches: impl Fn(u16) -> bool) {
        let key = owner.lowercase_wire();
        let held = self
            .nodes
            .get(&key)
            .is_some_and(|n| n.stored.iter().any(|r| matches(r.rtype)));
        if !held {
            return;
        }
        self.pack_open(false);
        self.touch(&key);
        self.large
            .retain(|(k, t, _), _| !(*k == key && matches(*t)));
        if let Some(sets) = open_sets(&mut self.nodes, &mut self.open, &key) {
            sets.retain(|r| !matches(r.rtype));
        }
    }

    /// Packs the nodes open to change (their RRsets in type order) once there are many, or
    /// all of them (`all`).
    fn pack_open(&mut self, all: bool) {
        if !all && self.open.len() < OPEN_NODES {
            return;
        }
        for key in std::mem::take(&mut self.open) {
            if let Some(node) = self.nodes.get_mut(&key) {
                node.stored.open().sort_by_key(|r| (r.rtype, r.covers));
                node.stored.pack();
            }
        }
        // The indexes of large sets are made again when one is changed again.
        self.large.clear();
    }

    /// Removes one record; false when the builder does not hold it. Names in the data that
    /// are kept in the case they came in (an NSEC's next name) match in any case (RFC 4343).
    pub fn remove(&mut self, owner: &Name, rr_type: u16, rdata: &[u8]) -> bool {
        let key = owner.lowercase_wire();
        let covers = covers(rr_type, rdata);
        let held = self.nodes.get(&key).and_then(|node| {
            node.stored.iter().enumerate().find_map(|(index, r)| {
                if r.rtype != rr_type || r.covers != covers {
                    return None;
                }
                let exact = r.rdatas.iter().find(|d| *d == rdata);
                let stored = exact.or_else(|| {
                    r.rdatas
                        .iter()
                        .find(|d| crate::dns::rdata::same_ignoring_name_case(rr_type, d, rdata))
                })?;
                Some((index, Rdata::from(stored)))
            })
        });
        let Some((index, stored)) = held else {
            return false;
        };
        let rdata: &[u8] = &stored;
        self.pack_open(false);
        self.touch(&key);
        let Some(rrsets) = open_sets(&mut self.nodes, &mut self.open, &key) else {
            return false;
        };
        if let Some(rrset) = rrsets.get_mut(index) {
            rrset.rdatas.retain(|d| **d != *rdata);
            // An index is kept only while the set is large; a smaller set is searched.
            let indexed = (key.clone(), rr_type, covers);
            match self.large.get_mut(&indexed) {
                Some(_) if rrset.rdatas.len() < INDEXED_RRSET => {
                    self.large.remove(&indexed);
                }
                Some(records) => {
                    records.remove(rdata);
                }
                None => {}
            }
            if rrset.rdatas.is_empty() {
                rrsets.remove(index);
            }
        }
        // A node left empty goes (or stays as an empty non-terminal) in `finish`.
        true
    }

    /// The node at `owner` as built so far.
    pub fn node(&self, owner: &Name) -> Option<&Node> {
        self.nodes.get(&owner.lowercase_wire())
    }

    pub fn add(
        &mut self,
        owner: Name,
        rr_type: u16,
        class: u16,
        ttl: u32,
        rdata: Rdata,
    ) -> Result<(), ZoneError> {
        if !owner.is_at_or_below(&self.apex) {
            return Err(ZoneError::OutOfZone {
                owner: owner.to_string(),
                apex: self.apex.to_string(),
            });
        }
        if class != crate::dns::codes::class::IN {
            return Err(ZoneError::Class {
                owner: owner.to_string(),
                class,
            });
        }
        if let Some(what) = meta_type(rr_type) {
            return Err(ZoneError::MetaType {
                owner: owner.to_string(),
                what,
            });
        }
        if rr_type == rtype::SOA {
            if owner != self.apex {
                return Err(ZoneError::SoaNotAtApex {
                    owner: owner.to_string(),
                    apex: self.apex.to_string(),
                });
            }
            if !soa_readable(&rdata) {
                return Err(ZoneError::BadRdata {
                    owner: owner.to_string(),
                    rtype: "SOA".into(),
                });
            }
        }
        if rdata.len() > u16::MAX as usize {
            return Err(ZoneError::BadRdata {
                owner: owner.to_string(),
                rtype: crate::dns::codes::rtype_name(rr_type),
            });
        }
        let key = owner.lowercase_wire();
        self.pack_open(false);
        self.touch(&key);
        let limits = self.limits;
        let node = self.nodes.get_or_insert_with(&key, || Node::new(&owner));
        let sets = open_node(node, &mut self.open, &key);
        let covers = covers(rr_type, &rdata);
        let held: usize = sets.iter().map(|r| r.rdatas.len()).sum();
        let name_full = || ZoneError::TooManyRecords {
            owner: owner.to_string(),
            what: "at one name".into(),
            limit: limits.per_name,
            setting: "max_records_per_name",
        };
        match sets
            .iter_mut()
            .find(|r| r.rtype == rr_type && r.covers == covers)
        {
            Some(rrset) => {
                if rrset.ttl != ttl {
                    let (kept, rule) = match self.ttl_rule {
                        TtlRule::Lowest => (rrset.ttl.min(ttl), "the lower"),
                        TtlRule::Last => (ttl, "the last"),
                    };
                    self.ttl_mismatches.push(format!(
                        "{owner} {}: TTLs {} and {ttl} differ; using {rule}",
                        crate::dns::codes::rtype_name(rr_type),
                        rrset.ttl
                    ));
                    rrset.ttl = kept;
                }
                // An RRset is a set: identical records collapse (RFC 2181 §5).
                let index = (rrset.rdatas.len() >= INDEXED_RRSET).then(|| {
                    self.large
                        .entry((key, rr_type, covers))
                        .or_insert_with(|| rrset.rdatas.iter().cloned().collect())
                });
                let duplicate = match &index {
                    Some(index) => index.contains(&rdata),
                    None => rrset.rdatas.contains(&rdata),
                };
                if duplicate {
                    return Ok(());
                }
                if rrset.rdatas.len() >= limits.per_rrset {
                    return Err(ZoneError::TooManyRecords {
                        owner: owner.to_string(),
                        what: format!("in its {} RRset", crate::dns::codes::rtype_name(rr_type)),
                        limit: limits.per_rrset,
                        setting: "max_records_per_rrset",
                    });
                }
                if held >= limits.per_name {
                    return Err(name_full());
                }
                if let Some(index) = index {
                    index.insert(rdata.clone());
                }
                rrset.rdatas.push(rdata);
            }
            None if held >= limits.per_name => return Err(name_full()),
            None => sets.push(RrsetBuf {
                rtype: rr_type,
                covers,
                ttl,
                rdatas: vec![rdata],
            }),
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<Zone, ZoneError> {
        self.pack_open(true);
        match self.base.take() {
            Some(base) if self.changes_stay_local(&base) => self.finish_changed(base),
            _ => self.finish_all(),
        }
    }

    /// Whether a change can be finished from the nodes it touched: none left empty (empty
    /// non-terminals above it might have to go) and none with denial-chain types.
    fn changes_stay_local(&self, base: &Base) -> bool {
        base.before.keys().all(|key| {
            self.nodes.get(key).is_some_and(|node| {
                !node.stored.is_empty()
                    && !node.stored.iter().any(|r| CHAIN_TYPES.contains(&r.rtype))
            })
        })
    }

    /// The SOA serial, after checking the apex holds exactly one SOA.
    fn soa_serial(&self) -> Result<u32, ZoneError> {
        let apex_key = self.apex.lowercase_wire();
        let soa = self
            .nodes
            .get(&apex_key)
            .and_then(|n| n.rrset(rtype::SOA))
            .ok_or_else(|| ZoneError::NoSoa {
                apex: self.apex.to_string(),
            })?;
        if soa.rdatas.len() != 1 {
            return Err(ZoneError::ManySoa {
                apex: self.apex.to_string(),
                count: soa.rdatas.len(),
            });
        }
        Ok(soa
            .rdatas
            .first()
            .and_then(rdata::soa_serial)
            .unwrap_or_default())
    }

    /// Finishes a change of an unsigned zone from the nodes it touched: totals adjusted,
    /// empty non-terminals added above new names, RRsets sorted where touched.
    fn finish_changed(mut self, base: Base) -> Result<Zone, ZoneError> {
        let serial = self.soa_serial()?;
        let (mut record_count, mut wire_size, mut types) =
            (base.record_count, base.wire_size, base.types);
        let mut vanished = false;
        let mut new_names = Vec::new();
        for (key, before) in &base.before {
            let Some(node) = self.nodes.get(key) else {
                continue;
            };
            let after = NodeSums::of(Some(node));
            record_count = (record_count + after.records).saturating_sub(before.records);
            wire_size = (wire_size + after.wire_size).saturating_sub(before.wire_size);
            vanished |= before.types.iter().any(|t| !after.types.contains(t));
            types.extend(after.types);
            if !before.existed {
                new_names.push((key, node.owner().to_owned()));
            }
        }
        let apex_len = self.apex.wire().len();
        let deep = base.deep
            || new_names
                .iter()
                .any(|(key, _)| below_a_child(key, apex_len));
        let mut empty_non_terminals = Nodes::default();
        for (key, owner) in new_names {
            missing_parents(&self.nodes, &mut empty_non_terminals, key, &owner, apex_len);
        }
        self.nodes.extend(empty_non_terminals.into_values());
        // A type gone from a node may be gone from the zone: count them all again.
        let types = if vanished {
            all_types(&self.nodes)
        } else {
            sorted(types)
        };
        let totals = Totals {
            records: record_count,
            wire_size,
            types,
            deep,
        };
        Ok(self.into_zone(serial, totals, Vec::new(), None))
    }

    /// Finishes a zone by looking at every node.
    fn finish_all(mut self) -> Result<Zone, ZoneError> {
        // Empty non-terminals are found again below; a change may have emptied other nodes.
        self.nodes.retain(|node| !node.stored.is_empty());
        self.nodes.reshard();
        let apex_len = self.apex.wire().len();
        // One look at every node, on every core, in the order of their names' and records'
        // memory: in table order, each would wait for memory (an eighth of a zone file's
        // load).
        let mut order: Vec<&Node> = self.nodes.values().collect();
        order.sort_unstable_by_key(|node| node.stored.as_ptr() as usize);
        let surveys = crate::parallel::in_shares(&order, 4096, |_, _, share| {
            Survey::of(&self.nodes, &mut share.iter().copied(), apex_len)
        });
        drop(order);
        self.finish_surveyed(surveys)
    }

    /// The zone at `apex` of the nodes the shares of [`grouped::zone`] made (none empty,
    /// none open, their sets in type order); `None` when two nodes are of one name.
    fn finish_made(
        apex: Name,
        partition: &nodes::Partition,
        shares: Vec<grouped::Made>,
    ) -> Option<Result<Zone, ZoneError>> {
        let (mut parts, mut surveys, mut deeper) = (Vec::new(), Vec::new(), Vec::new());
        for made in shares {
            parts.push(made.parts);
            surveys.push(made.survey);
            deeper.extend(made.deeper);
        }
        let builder = Self::from_nodes(apex, Nodes::from_parts(partition, parts)?);
        let apex_len = builder.apex.wire().len();
        surveys.extend(crate::parallel::in_shares(&deeper, 4096, |_, _, share| {
            let mut survey = Survey::default();
            for owner in share {
                survey.parents(&builder.nodes, owner, apex_len);
            }
            survey
        }));
        drop(deeper);
        Some(builder.finish_surveyed(surveys))
    }

    /// Finishes a zone from what a look at each of its nodes found.
    fn finish_surveyed(mut self, surveys: Vec<Survey>) -> Result<Zone, ZoneError> {
        let serial = self.soa_serial()?;
        let apex_key = self.apex.lowercase_wire();
        let (mut record_count, mut wire_size, mut deep) = (0, 0, false);
        let (mut nsec_owners, mut types) = (Vec::new(), Vec::new());
        for survey in surveys {
            record_count += survey.records;
            wire_size += survey.wire_size;
            deep |= survey.deep;
            nsec_owners.extend(survey.nsec_owners);
            types.extend(survey.types);
            self.nodes.extend(survey.empty_non_terminals.into_values());
        }
        let totals = Totals {
            records: record_count,
            wire_size,
            types: sorted(types),
            deep,
        };
        nsec_owners.sort_by_cached_key(|name| name.canonical_key());
        let nsec3 = self
            .nodes
            .get(&apex_key)
            .and_then(|apex| apex.rrset(rtype::NSEC3PARAM))
            .and_then(|param| param.rdatas.first())
            .and_then(|param| {
                let nodes = self.nodes.values();
                nsec3::Nsec3Chain::build(param, &self.apex, nodes)
            });
        Ok(self.into_zone(serial, totals, nsec_owners, nsec3))
    }

    fn into_zone(
        self,
        serial: u32,
        totals: Totals,
        nsec_owners: Vec<Name>,
        nsec3: Option<nsec3::Nsec3Chain>,
    ) -> Zone {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let apex_key = self.apex.lowercase_wire();
        let signed = self
            .nodes
            .get(&apex_key)
            .is_some_and(|apex| apex.stored.iter().any(|r| r.rtype == rtype::RRSIG));
        Zone {
            apex: self.apex,
            apex_key,
            signed,
            nodes: self.nodes,
            record_count: totals.records,
            wire_size: totals.wire_size,
            serial,
            nsec_owners,
            nsec3,
            types: totals.types,
            deep: totals.deep,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            derived: None,
        }
    }
}

/// What a zone adds up to over its nodes.
struct Totals {
    records: usize,
    wire_size: usize,
    /// Sorted.
    types: Vec<u16>,
    /// Some name lies more than one label below the apex.
    deep: bool,
}

/// What a look at every node of a zone finds.
#[derive(Default)]
pub(crate) struct Survey {
    records: usize,
    wire_size: usize,
    types: Vec<u16>,
    /// A node lies more than one label below the apex.
    deep: bool,
    nsec_owners: Vec<Name>,
    /// Every name between a node and the apex exists, if only as an empty non-terminal
    /// (RFC 4592 §2.2.2): it answers NODATA, not NXDOMAIN.
    empty_non_terminals: Nodes,
}

impl Survey {
    fn of(all: &Nodes, nodes: &mut dyn Iterator<Item = &Node>, apex_len: usize) -> Self {
        let mut survey = Self::default();
        for node in nodes {
            survey.count(node);
            survey.parents(all, node.owner(), apex_len);
        }
        survey
    }

    /// Counts `node`'s records, size and types.
    fn count(&mut self, node: &Node) {
        let (records, wire_size) = node.sizes();
        self.records += records;
        self.wire_size += wire_size;
        for rrset in node.stored.iter() {
            if !self.types.contains(&rrset.rtype) {
                self.types.push(rrset.rtype);
            }
            if rrset.rtype == rtype::NSEC {
                self.nsec_owners.push(node.owner().to_owned());
            }
        }
    }

    /// Notes the names between `node` and the apex that `all` does not hold. (Only names
    /// below a child of the apex can lack one: a zone without its apex fails anyway, for
    /// want of an SOA.)
    fn parents(&mut self, all: &Nodes, owner: &Dname, apex_len: usize) {
        if !below_a_child(owner.wire(), apex_len) {
            return;
        }
        self.deep = true;
        missing_parents(
            all,
            &mut self.empty_non_terminals,
            owner.wire(),
            owner,
            apex_len,
        );
    }
}

/// Adds to `found` the names between the node at `key` (owned by `owner`; in any case) and
/// the apex that neither `nodes` nor `found` holds, as empty non-terminals. Looked up by the
/// key's own suffixes: names are made only for those missing.
fn missing_parents(nodes: &Nodes, found: &mut Nodes, key: &[u8], owner: &Dname, apex_len: usize) {
    let (mut child, mut name) = (key, None::<Name>);
    while let Some(parent) = parent_key(child).filter(|p| p.len() >= apex_len) {
        if nodes.contains_key(parent) || found.contains_key(parent) {
            break;
        }
        let Some(parent_name) = name.as_deref().unwrap_or(owner).parent() else {
            break;
        };
        found.insert(Node::new(&parent_name));
        (child, name) = (parent, Some(parent_name));
    }
}

/// The RRsets of the node at `key`, open to change (listed in `open` when opened here).
fn open_sets<'n>(
    nodes: &'n mut Nodes,
    open: &mut Vec<Box<[u8]>>,
    key: &[u8],
) -> Option<&'n mut Vec<RrsetBuf>> {
    Some(open_node(nodes.get_mut(key)?, open, key))
}

/// The RRsets of `node`, at `key`, open to change (listed in `open` when opened here).
fn open_node<'n>(
    node: &'n mut Node,
    open: &mut Vec<Box<[u8]>>,
    key: &[u8],
) -> &'n mut Vec<RrsetBuf> {
    if !node.stored.is_open() {
        open.push(key.into());
    }
    node.stored.open()
}

/// Every type the nodes hold, sorted.
fn all_types(nodes: &Nodes) -> Vec<u16> {
    sorted(
        nodes
            .values()
            .flat_map(|n| n.stored.iter().map(|r| r.rtype))
            .collect(),
    )
}

fn sorted(mut types: Vec<u16>) -> Vec<u16> {
    types.sort_unstable();
    types.dedup();
    types
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::codes::class;

    fn address(i: u8) -> Rdata {
        [10, 0, 0, i][..].into()
    }

    /// Whether a name lies below a child of the apex, on each way a zone is made: read from
    /// a file, built record by record, and changed (where a change only ever adds depth).
    #[test]
    fn zones_know_whether_names_lie_below_a_child_of_the_apex() {
        let apex: Name = "t.".parse().unwrap();
        let hosts = "$ORIGIN t.\n@ 60 IN SOA ns hm 1 2 3 4 5\nns 60 IN A 192.0.2.1\n\
                     h1 60 IN A 192.0.2.2\nh2 60 IN TXT x\n";
        let flat = zonefile::zone_of("t.", hosts);
        assert!(!flat.has_deep_names());
        let deep = format!("{hosts}a.h1 60 IN A 192.0.2.3\n");
        assert!(
            zonefile::parse(&deep, &apex, "deep")
                .unwrap()
                .0
                .has_deep_names()
        );
        let rebuilt = |zone: &Zone| {
            let mut builder = ZoneBuilder::new(apex.clone());
            for (owner, rr_type, ttl, data) in zone.records() {
                builder
                    .add(owner.to_owned(), rr_type, class::IN, ttl, data.into())
                    .unwrap();
            }
            builder.finish().unwrap()
        };
        assert!(!rebuilt(&flat).has_deep_names());
        let with_host = |zone: &Zone, owner: &str, last: u8| {
            let mut changed = ZoneBuilder::from_zone(zone);
            let owner: Name = owner.parse().unwrap();
            changed
                .add(owner, rtype::A, class::IN, 60, address(last))
                .unwrap();
            changed.finish().unwrap()
        };
        let still_flat = with_host(&flat, "h3.t.", 4);
        assert!(!still_flat.has_deep_names());
        let deeper = with_host(&still_flat, "b.h3.t.", 5);
        assert!(deeper.has_deep_names());
        assert!(rebuilt(&deeper).has_deep_names());
    }

    /// A large RRset's index follows removals: shrunk below the threshold and grown again,
    /// a record added twice is held once.
    #[test]
    fn large_rrsets_hold_each_record_once_through_removals() {
        let apex: Name = "example.com.".parse().unwrap();
        let owner: Name = "big.example.com.".parse().unwrap();
        let mut builder = ZoneBuilder::new(apex.clone());
        let soa = b"\x02ns\0\x02hm\0\0\0\0\x01\0\0\0\x01\0\0\0\x01\0\0\0\x01\0\0\0\x01";
        builder
            .add(apex, rtype::SOA, class::IN, 300, soa[..].into())
            .unwrap();
        let add = |b: &mut ZoneBuilder, i: u8| {
            b.add(owner.clone(), rtype::A, class::IN, 300, address(i))
                .unwrap()
        };
        for i in 0..40 {
            add(&mut builder, i);
        }
        for i in 10..40 {
            assert!(builder.remove(&owner, rtype::A, &address(i)));
        }
        for i in 10..40 {
            add(&mut builder, i);
        }
        for i in 0..40 {
            add(&mut builder, i);
        }
        let held = |b: &ZoneBuilder| {
            b.node(&owner)
                .unwrap()
                .rrset(rtype::A)
                .unwrap()
                .rdatas
                .len()
        };
        assert_eq!(held(&builder), 40);
        builder.limits.per_rrset = 40;
        let refused = builder.add(owner.clone(), rtype::A, class::IN, 300, address(200));
        assert!(matches!(refused, Err(ZoneError::TooManyRecords { .. })));
        // A refused record is not taken for held.
        builder.limits.per_rrset = 41;
        add(&mut builder, 200);
        assert_eq!(held(&builder), 41);
    }
}
