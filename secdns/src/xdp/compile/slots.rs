//! Which zone has which slot (the slot keys its answer counts, rate-limit buckets and
//! serial), kept across publications.

use super::*;

/// (slot, serial) of every zone with a slot.
pub fn serials(snapshot: &Snapshot, slots: &HashMap<Box<[u8]>, ZoneSlot>) -> Vec<(ZoneSlot, u32)> {
    snapshot
        .zones()
        .filter_map(|zone| Some((*slots.get(&zone.apex().lowercase_wire())?, zone.serial())))
        .collect()
}

/// A slot for each zone with data, as far as there are slots. A zone keeps the slot it had
/// in `before` (so its answers, which carry the slot, do not change, and its answer counts
/// stay its own); a new zone takes the lowest slot `before` did not use, so that a slot
/// freed now is taken again only once the maps that used it are gone.
pub fn zone_slots(
    snapshot: &Snapshot,
    before: &HashMap<Box<[u8]>, ZoneSlot>,
) -> HashMap<Box<[u8]>, ZoneSlot> {
    let mut apexes: Vec<Box<[u8]>> = snapshot
        .zones()
        .map(|zone| zone.apex().lowercase_wire())
        .collect();
    apexes.sort();
    let mut slots = HashMap::with_capacity(apexes.len());
    let mut new = Vec::new();
    for apex in apexes {
        match before.get(&apex) {
            Some(&slot) => {
                slots.insert(apex, slot);
            }
            None => new.push(apex),
        }
    }
    let used_before: HashSet<ZoneSlot> = before.values().copied().collect();
    let kept: HashSet<ZoneSlot> = slots.values().copied().collect();
    // Slots never used before first; only when they run out (over 260,000 zones), those
    // freed now, whose last answers may then count for the new zone.
    let mut free = (0..ZONE_SLOTS)
        .filter(|slot| !used_before.contains(slot))
        .chain((0..ZONE_SLOTS).filter(|slot| used_before.contains(slot) && !kept.contains(slot)));
    for apex in new {
        let Some(slot) = free.next() else {
            break;
        };
        slots.insert(apex, slot);
    }
    slots
}
