//! The compiler: every unit of a snapshot compiled on every core ([`Compiler::all`]), and
//! what one node compiles to (its own answers, its default, the answers for the names below
//! it).

use super::*;

/// Compiles units of one snapshot.
pub struct Compiler<'s> {
    pub(super) snapshot: &'s Snapshot,
    pub(super) slots: &'s HashMap<Box<[u8]>, ZoneSlot>,
    /// Whether units record what they read.
    pub(super) record: bool,
}

impl<'s> Compiler<'s> {
    pub fn new(
        snapshot: &'s Snapshot,
        slots: &'s HashMap<Box<[u8]>, ZoneSlot>,
        record: bool,
    ) -> Self {
        Self {
            snapshot,
            slots,
            record,
        }
    }

    /// Every unit of the snapshot, packed as it is compiled, and who read what (when
    /// recording).
    pub fn all(&self, stream: Option<&mut Stream<'_>>) -> All {
        let zones: Vec<(&Zone, ZoneFacts)> = self
            .snapshot
            .zones()
            .map(|zone| (zone.as_ref(), ZoneFacts::of(zone)))
            .collect();
        let overlapping = overlapping_zones(self.snapshot);
        let mut stops = Vec::new();
        // Units in order: every zone's nodes, zone after zone (names that own only NSEC3
        // records do not exist for queries and compile to nothing: the walk answers them).
        // Counted, not listed: a list of millions of units would be held through the whole
        // compile.
        let mut counts = Vec::with_capacity(zones.len());
        for (zone, facts) in &zones {
            stops.extend(self.zone_stop(zone, facts));
            counts.push(zone.node_count());
        }
        // Who read what is indexed by unit (see `readers`).
        let mut units = Units::new(&counts);
        let total: usize = counts.iter().sum();
        let overlaps: Vec<bool> = zones
            .iter()
            .map(|(zone, _)| overlapping.contains(zone.apex_key()))
            .collect();
        // Nothing to answer from: the zone's names stop every lookup and walk.
        stops.extend(
            self.snapshot
                .unavailable()
                .map(|name| self.stop_at(name.lowercase_wire())),
        );
        // Names compile independently, each share packing its values as it goes (only the
        // packed form is kept).
        let mut all = All {
            units: total + stops.len(),
            ..All::default()
        };
        all.overlapping = overlapping;
        // Shares taken by the cores in turn (zones of any size balance out), each kept in
        // order. A streamed share is held until it is staged, a kept one until they are put
        // together: small shares keep both small.
        let share_len = total.div_ceil(SHARES).max(MIN_SHARE);
        let shares = share_starts(&units, share_len);
        let count = shares.len();
        // Stores by index: the shares', the stop entries', then the other entries of
        // streamed shares (their own stores go with them).
        let mut stores: Vec<BodyStore> = (0..count + 2).map(|_| BodyStore::default()).collect();
        let mut others = Packer::new(count as u32 + 1);
        let mut collectors: Vec<Collector> = (0..count).map(|_| Collector::default()).collect();
        let mut kept: Vec<Option<Packed>> = (0..count).map(|_| None).collect();
        let mut stream = stream;
        let compile_share = |&(first, zone, skip): &(usize, usize, usize)| {
            let mut parents = ParentCache::default();
            let mut reads = Collector::default();
            let mut packed = Packed::new((first / share_len) as u32, share_len);
            let share = zones
                .iter()
                .enumerate()
                .skip(zone)
                .flat_map(|(index, (zone_of, facts))| {
                    let skip = if index == zone { skip } else { 0 };
                    zone_of
                        .nodes_from(skip)
                        .map(move |node| (index as u32, *zone_of, facts, node))
                })
                .take(share_len);
            let share = prefetched(share, |(_, _, _, node)| node);
            let mut seeded = None;
            for (at, (zone_index, zone, facts, node)) in share.enumerate() {
                if seeded != Some(zone_index) {
                    seeded = Some(zone_index);
                    if zone.node_count() > WIDE_MIN {
                        reads.seed_wide(zone_index, &facts.read_by_every_unit);
                    }
                }
                if node.is_nsec3_only() {
                    continue;
                }
                let overlaps = overlaps.get(zone_index as usize).copied().unwrap_or(true);
                let unit = self.node(zone, facts, node, !overlaps, &mut parents);
                reads.add((first + at) as u32, zone_index, &unit.reads, &units);
                packed.add(unit, overlaps);
            }
            // Sorted on this thread; merging the shares' runs is then one pass.
            reads.settle(&units);
            (packed, reads)
        };
        parallel::each_as_done(&shares, compile_share, |number, (packed, reads)| {
            if let Some(slot) = collectors.get_mut(number) {
                *slot = reads;
            }
            match stream.as_mut() {
                Some(to) => {
                    if !all.stream(number, packed, &mut others, &mut stores, to) {
                        stream = None;
                    }
                }
                None => {
                    if let Some(slot) = kept.get_mut(number) {
                        *slot = Some(packed);
                    }
                }
            }
        });
        for (number, packed) in kept.into_iter().enumerate() {
            if let Some(packed) = packed {
                all.take(number, packed, &mut stores);
            }
        }
        let mut packed = Packed::new(count as u32, 0);
        for unit in stops {
            packed.add(unit, true);
        }
        all.take(count, packed, &mut stores);
        if let Some(slot) = stores.get_mut(count + 1) {
            *slot = others.into_store();
        }
        all.bodies = Bodies::new(stores);
        let mut collected = Collector::default();
        for reads in collectors {
            collected.merge(reads);
        }
        if self.record {
            let listed = collected.listed_units(&units);
            name_units(&zones, &listed, &mut units);
            all.readers = Readers::new(
                zones
                    .iter()
                    .map(|(zone, _)| zone.apex().lowercase_wire())
                    .collect(),
                units,
                collected,
            );
        }
        all
    }

    /// The entries stopping every lookup at the apex of a zone without defaults.
    pub fn zone_stop(&self, zone: &Zone, facts: &ZoneFacts) -> Option<Unit> {
        (!facts.defaults).then(|| self.stop_at(zone.apex().lowercase_wire()))
    }

    /// Pass entries at `apex`, for the name and for names below it.
    pub(super) fn stop_at(&self, apex: Box<[u8]>) -> Unit {
        let mut builder = self.builder();
        builder.pass(&apex, DEFAULT_QTYPE, SCOPE_NAME, Group::Default);
        builder.pass(&apex, DEFAULT_QTYPE, SCOPE_BELOW, Group::Walk);
        builder.unit(Box::default(), Vec::new())
    }

    /// The unit of `node` in `zone`; `alone`: the zone lies neither above nor below another
    /// zone of the snapshot (with data or not), so every name in it is answered from it.
    pub fn node(
        &self,
        zone: &Zone,
        facts: &ZoneFacts,
        node: &Node,
        alone: bool,
        parents: &mut ParentCache,
    ) -> Unit {
        let qname = node.owner().lowercase_wire();
        let Some(host) = plain_host::host_key(zone, facts, node, &qname, alone) else {
            return self.full_node(zone, facts, node, qname, parents);
        };
        let Some(shared) = parents.hosts.get(&host) else {
            let unit = self.full_node(zone, facts, node, qname, parents);
            if let Some(shared) = plain_host::HostShared::learn(&unit) {
                parents.hosts.insert(host, shared);
            }
            return unit;
        };
        let unit = self.host_unit(zone, node, qname, shared);
        #[cfg(debug_assertions)]
        {
            // Prove the shortcut on everything the tests compile.
            let full = self.full_node(zone, facts, node, unit.name.clone(), parents);
            let entries = |unit: &Unit| -> Vec<(AnswerKey, Value, Group)> {
                let mut all: Vec<_> = unit
                    .entries
                    .iter()
                    .map(|e| (e.key, e.value.clone(), e.group))
                    .collect();
                all.sort_by_key(|(key, _, _)| (key.qtype, key.scope, key.dnssec_ok));
                all
            };
            assert!(
                entries(&unit) == entries(&full)
                    && unit.reads == full.reads
                    && unit.too_big == full.too_big,
                "{:?} was taken for a plain host: {:?} / {:?} read {:?} / {:?}",
                unit.name,
                entries(&unit),
                entries(&full),
                unit.reads,
                full.reads
            );
        }
        unit
    }

    /// The unit of `node` (named `qname`) in `zone`, every answer looked up.
    pub(super) fn full_node(
        &self,
        zone: &Zone,
        facts: &ZoneFacts,
        node: &Node,
        qname: Box<[u8]>,
        parents: &mut ParentCache,
    ) -> Unit {
        let own = AnswerKey::new(&qname, DEFAULT_QTYPE, SCOPE_NAME).name_hash;
        let mut builder = self.builder();
        let mut compile = |builder: &mut Builder<'_>| {
            let (types, chain) = answer_types(node, &facts.chain_types);
            for qtype in types {
                builder.add_name_answer(&qname, qtype, chain, Group::Typed, None);
            }
            if facts.defaults {
                self.add_default(builder, zone, facts, node, &qname, chain, parents);
                // Answers for names below that equal the parent's (plain NXDOMAIN, mostly)
                // are left out: the walk goes on to the parent and gives the same bytes.
                let Some(parent) = parent_in(zone, &qname) else {
                    builder.add_below(zone, &qname, &facts.chain_types);
                    return;
                };
                let theirs = self.parent_below(zone, facts, parent, parents);
                if self.below_as_parents(zone, facts, node, &qname, theirs) {
                    #[cfg(debug_assertions)]
                    {
                        // Prove the shortcut on everything the tests compile.
                        let mut check = self.builder();
                        let _ =
                            reads::recording(|| check.add_below(zone, &qname, &facts.chain_types));
                        assert!(
                            normalized_below(&check.entries, own) == *theirs
                                && check.entries.iter().all(|e| e.key.name_hash == own),
                            "names below {qname:?} were taken to answer as its parent's"
                        );
                    }
                    return;
                }
                let start = builder.entries.len();
                builder.add_below(zone, &qname, &facts.chain_types);
                if normalized_below(&builder.entries[start..], own) == *theirs {
                    builder
                        .entries
                        .retain(|e| !(e.key.scope == SCOPE_BELOW && e.key.name_hash == own));
                }
            }
        };
        let mut reads = Vec::new();
        if self.record {
            // A change at the name, or at a name one label below it, compiles the unit again
            // (see `xdp::published`): reads of the name, its probes and its wildcard are
            // not listed. Every name has them; listing them would double what is kept.
            reads = reads_but_own(reads::recording(|| compile(&mut builder)).1, &qname);
        } else {
            compile(&mut builder);
        }
        builder.unit(qname, reads)
    }

    /// Adds the default answer (NODATA, a referral) of `name` (of `node`, in `zone`). For
    /// a name one label below the apex of an unsigned zone, holding no cut, DNAME or CNAME,
    /// that no SOA name is at or below, it is the zone's NODATA, the same bytes for every
    /// such name with a first label as long (the SOA's names are compressed against the
    /// question's apex): compiled for the first, taken for the others, with what it read
    /// noted again. Debug builds compile it anyway and check.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn add_default(
        &self,
        builder: &mut Builder<'_>,
        zone: &Zone,
        facts: &ZoneFacts,
        node: &Node,
        name: &[u8],
        chain: bool,
        parents: &mut ParentCache,
    ) {
        let Some(label) = self.plain_default(zone, facts, node, name, chain) else {
            let prefix = self.zone_prefix(builder, zone, name, chain, parents);
            builder.add_name_answer(name, DEFAULT_QTYPE, chain, Group::Default, prefix);
            return;
        };
        let cache = (std::ptr::from_ref(zone) as usize, label);
        if let Some(known) = parents.defaults.get(&cache) {
            let value = Value {
                name: name.into(),
                ..known.value.clone()
            };
            reads::note_all(&known.reads);
            #[cfg(debug_assertions)]
            {
                let mut check = self.builder();
                let ((), read) = reads::recording(|| {
                    check.add_name_answer(name, DEFAULT_QTYPE, chain, Group::Default, None)
                });
                // `recording` gives its reads sorted, as it gave the known ones.
                assert!(
                    matches!(&check.entries[..], [entry] if entry.value == value)
                        && reads_but_own(read, name) == known.reads,
                    "the default answer of {name:?} was taken to be its zone's"
                );
            }
            builder.insert(
                key(name, DEFAULT_QTYPE, SCOPE_NAME),
                Group::Default,
                value,
                None,
            );
            return;
        }
        let start = builder.entries.len();
        let ((), read) = reads::recording(|| {
            builder.add_name_answer(name, DEFAULT_QTYPE, chain, Group::Default, None)
        });
        reads::note_all(&read);
        if let [entry] = &builder.entries[start..]
            && !entry.value.is_pass()
        {
            let reads = reads_but_own(read, name);
            let value = entry.value.clone();
            parents.defaults.insert(cache, ZoneDefault { value, reads });
        }
    }

    /// The prefix of the negative DO answers of `zone` (see `zone_prefix`), when `name` is in
    /// a signed zone and its default can use it; the apex's unit gets the prefix's entry.
    pub(super) fn zone_prefix<'c>(
        &self,
        builder: &mut Builder<'_>,
        zone: &Zone,
        name: &[u8],
        chain: bool,
        parents: &'c mut ParentCache,
    ) -> Option<&'c zone_prefix::Prefix> {
        if chain || !zone.is_signed() {
            return None;
        }
        let apex = zone.apex_key();
        let known = parents
            .prefixes
            .entry(std::ptr::from_ref(zone) as usize)
            .or_insert_with(|| {
                let slot = self.slots.get(apex).copied();
                let (prefix, reads) =
                    reads::recording(|| zone_prefix::of_zone(self.snapshot, zone, slot));
                ZonePrefix { prefix, reads }
            });
        reads::note_all(&known.reads);
        let prefix = known.prefix.as_ref()?;
        if name == apex {
            let key = AnswerKey {
                dnssec_ok: 1,
                ..key(apex, DEFAULT_QTYPE, SCOPE_ZONE_PREFIX)
            };
            builder.insert(key, Group::Default, prefix.value.clone(), None);
        }
        Some(prefix)
    }

    /// The length of the first label of `name` when its default answer is its zone's (see
    /// [`Compiler::add_default`]).
    pub(super) fn plain_default(
        &self,
        zone: &Zone,
        facts: &ZoneFacts,
        node: &Node,
        name: &[u8],
        chain: bool,
    ) -> Option<u8> {
        let plain = !chain
            && parent_in(zone, name) == Some(zone.apex_key())
            && plain_at(zone, facts, node, name, &[rtype::NS, rtype::DNAME])
            && self.served_from(name, zone);
        plain.then(|| name.first().copied()).flatten()
    }

    /// Whether what `name` asks for is answered from `zone` (no other zone is served at or
    /// above it, below the apex).
    pub(super) fn served_from(&self, name: &[u8], zone: &Zone) -> bool {
        matches!(self.snapshot.find_for(name, ABSENT_TYPE),
            Some(Served::Zone(found)) if std::ptr::eq(found.as_ref(), zone))
    }

    /// Whether the answers for names below `name` (of `node`, in `zone`) are its parent's
    /// for names below it (`theirs`, normalized) without compiling them: where the parent's
    /// are a plain NXDOMAIN in an unsigned zone, and `name` holds nothing that makes names
    /// below it answer otherwise (a cut, a DNAME, a CNAME, a wildcard child), the answer
    /// for a name below it is the same NXDOMAIN, the same bytes but for the question, if
    /// the SOA names nothing at or below it (compressed against the question, or poisoned:
    /// see `poison_names_below`). Most names of a zone are such leaves:
    /// compiling their names below took a third of the compile. Debug builds compile them
    /// anyway and check.
    pub(super) fn below_as_parents(
        &self,
        zone: &Zone,
        facts: &ZoneFacts,
        node: &Node,
        name: &[u8],
        theirs: &[Keyed],
    ) -> bool {
        let [(key, value)] = theirs else {
            return false;
        };
        let plain_nxdomain = key.qtype == DEFAULT_QTYPE
            && !value.is_pass()
            && value.flags & 0x000f == u16::from(rcode::NXDOMAIN)
            && value.options & (OPTION_TYPED_BELOW | OPTION_DO_PASS | OPTION_HAS_DO_VARIANT) == 0;
        if !plain_nxdomain
            || !plain_at(
                zone,
                facts,
                node,
                name,
                &[rtype::NS, rtype::DNAME, rtype::CNAME],
            )
        {
            return false;
        }
        let mut wildcard = vec![1, b'*'];
        wildcard.extend_from_slice(name);
        if zone.node(&wildcard).is_some() {
            return false;
        }
        probe_below(zone, name).is_some_and(|probe| self.served_from(&probe, zone))
    }

    /// The parent's entries for names below it, as [`normalized_below`] gives them; what
    /// computing them read is noted (again, on a cache hit) for the unit asking.
    pub(super) fn parent_below<'c>(
        &self,
        zone: &Zone,
        facts: &ZoneFacts,
        parent: &[u8],
        parents: &'c mut ParentCache,
    ) -> &'c [Keyed] {
        if !parents.below.contains_key(parent) {
            let mut theirs = self.builder();
            let ((), reads) =
                reads::recording(|| theirs.add_below(zone, parent, &facts.chain_types));
            // Never empty: `add_below` always gives the name an entry.
            let hash = AnswerKey::new(parent, DEFAULT_QTYPE, SCOPE_NAME).name_hash;
            let below = normalized_below(&theirs.entries, hash);
            parents
                .below
                .insert(parent.into(), ParentBelow { below, reads });
        }
        // Just inserted if it was not there.
        let Some(cached) = parents.below.get(parent) else {
            return &[];
        };
        reads::note_all(&cached.reads);
        &cached.below
    }

    pub(super) fn builder(&self) -> Builder<'s> {
        Builder {
            snapshot: self.snapshot,
            slots: self.slots,
            entries: Vec::new(),
            too_big: 0,
        }
    }
}
