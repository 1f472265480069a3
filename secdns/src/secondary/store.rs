//! Transferred zones on disk: one binary copy per zone (every record in wire form, see
//! [`wire_file`]) plus a small metadata file, each written crash-safely, so that a restart
//! serves the last complete copy at once, exactly as the primary sent it.

use std::{
    path::PathBuf,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::Context as _;
use data_encoding::HEXLOWER;
use serde::{Deserialize, Serialize};

use crate::{
    dns::Name,
    persist::{write_atomically, write_atomically_with},
    unix_time,
    zone::{RecordLimits, Zone, wire_file, zonefile},
};

/// Longest file name stem: leaves room for `.meta.json` and the temporary file's `.` and
/// `.tmp` within the 255 octets file systems allow.
const MAX_STEM: usize = 200;

#[derive(Clone, Debug)]
pub struct ZoneStore {
    dir: PathBuf,
}

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    serial: u32,
    /// Unix seconds of the last successful refresh: EXPIRE counts from here.
    last_success: u64,
    /// Unix seconds and kind of the transfer that brought this copy.
    #[serde(default)]
    transferred: Option<(u64, String)>,
}

/// The saved copy at `path`, mapped. Only this process writes copies, and it replaces
/// them whole (a rename), never in place: the mapped file does not change under the
/// reader.
fn map_copy(path: &std::path::Path) -> std::io::Result<memmap2::Mmap> {
    let file = std::fs::File::open(path)?;
    // SAFETY: see above; the map is dropped once the copy is decoded.
    unsafe { memmap2::MmapOptions::new().populate().map(&file) }
}

/// A saved copy and what is known about it.
pub struct Saved {
    pub zone: Zone,
    pub last_success: SystemTime,
    pub transferred: Option<(u64, String)>,
}

impl ZoneStore {
    pub fn new(state_dir: &std::path::Path) -> Self {
        Self {
            dir: state_dir.join("zones"),
        }
    }

    /// A file name for any zone name: plain when the name is plain, hex when it is short,
    /// a hash otherwise (a name of 255 octets is 510 hex digits, over any file name limit).
    /// The file itself says which zone it holds.
    fn stem(apex: &Name) -> String {
        use sha2::Digest as _;
        let text = apex.to_string().to_ascii_lowercase();
        let plain = text.trim_end_matches('.');
        let wire = apex.lowercase_wire();
        if !plain.is_empty()
            && plain.len() <= MAX_STEM
            && plain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            plain.to_owned()
        } else if 2 * wire.len() < MAX_STEM {
            format!("x{}", HEXLOWER.encode(&wire))
        } else {
            format!("h{}", HEXLOWER.encode(&sha2::Sha256::digest(&wire)))
        }
    }

    /// The saved copy.
    pub fn copy_path(&self, apex: &Name) -> PathBuf {
        self.dir.join(format!("{}.wire", Self::stem(apex)))
    }

    /// Where versions before the binary format saved a copy, as zone-file text; read when
    /// there is no binary copy yet, removed once one is written.
    fn text_path(&self, apex: &Name) -> PathBuf {
        self.dir.join(format!("{}.zone", Self::stem(apex)))
    }

    /// Written after the copy: once it exists, the copy it describes is complete.
    pub fn meta_path(&self, apex: &Name) -> PathBuf {
        self.dir.join(format!("{}.meta.json", Self::stem(apex)))
    }

    pub fn save(&self, zone: &Zone, last_success: SystemTime, kind: &str) -> anyhow::Result<()> {
        write_atomically_with(&self.copy_path(zone.apex()), |out| {
            wire_file::encode_to(zone, out)
        })
        .with_context(|| format!("saving zone {}", zone.apex()))?;
        let _ = std::fs::remove_file(self.text_path(zone.apex()));
        let transferred = Some((unix_time::seconds(last_success), kind.to_owned()));
        self.write_meta(zone, last_success, transferred)
    }

    /// Records a successful refresh that changed nothing.
    pub fn mark_success(&self, zone: &Zone, when: SystemTime) -> anyhow::Result<()> {
        let transferred = self.read_meta(zone.apex()).and_then(|m| m.transferred);
        self.write_meta(zone, when, transferred)
    }

    fn read_meta(&self, apex: &Name) -> Option<Meta> {
        let text = std::fs::read_to_string(self.meta_path(apex)).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn write_meta(
        &self,
        zone: &Zone,
        when: SystemTime,
        transferred: Option<(u64, String)>,
    ) -> anyhow::Result<()> {
        let meta = Meta {
            serial: zone.serial(),
            last_success: unix_time::seconds(when),
            transferred,
        };
        write_atomically(
            &self.meta_path(zone.apex()),
            serde_json::to_string(&meta)?.as_bytes(),
        )
        .with_context(|| format!("saving state of zone {}", zone.apex()))
    }

    /// The saved copy of `apex` and when it was last refreshed, if there is one.
    pub fn load(&self, apex: &Name) -> anyhow::Result<Option<Saved>> {
        let path = self.copy_path(apex);
        let zone = if path.exists() {
            let bytes = map_copy(&path)
                .with_context(|| format!("reading the saved copy of zone {apex}"))?;
            wire_file::decode(&bytes, apex)
                .with_context(|| format!("saved copy of zone {apex} ({})", path.display()))?
        } else if self.text_path(apex).exists() {
            zonefile::load_limited(&self.text_path(apex), apex, RecordLimits::NONE)
                .with_context(|| format!("saved copy of zone {apex}"))?
                .0
        } else {
            return Ok(None);
        };
        let meta = self
            .read_meta(apex)
            .filter(|meta| meta.serial == zone.serial());
        let transferred = meta.as_ref().and_then(|m| m.transferred.clone());
        let last_success = meta
            .map(|meta| UNIX_EPOCH + Duration::from_secs(meta.last_success))
            // Without usable metadata the file's age is the best evidence.
            .or_else(|| std::fs::metadata(&path).and_then(|m| m.modified()).ok())
            .unwrap_or(UNIX_EPOCH);
        Ok(Some(Saved {
            zone,
            last_success,
            transferred,
        }))
    }

    pub fn remove(&self, apex: &Name) {
        let _ = std::fs::remove_file(self.copy_path(apex));
        let _ = std::fs::remove_file(self.text_path(apex));
        let _ = std::fs::remove_file(self.meta_path(apex));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert_eq!(
            ZoneStore::stem(&"Example.COM.".parse().unwrap()),
            "example.com"
        );
        assert_eq!(ZoneStore::stem(&Name::root()), "x00");
        let odd: Name = "a/b.example.".parse().unwrap();
        assert!(ZoneStore::stem(&odd).starts_with('x'));
        let label = "a".repeat(63);
        let longest: Name = format!("{label}.{label}.{label}.{}.", "b".repeat(61))
            .parse()
            .unwrap();
        assert_eq!(longest.wire().len(), 255);
        let stem = ZoneStore::stem(&longest);
        assert!(stem.starts_with('h') && stem.len() == 65, "{stem}");
    }

    #[test]
    fn saves_a_zone_with_the_longest_name() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        let store = ZoneStore::new(dir);
        let label = "z".repeat(63);
        let apex: Name = format!("{label}.{label}.{label}.{}.", "y".repeat(61))
            .parse()
            .unwrap();
        let (zone, _) = zonefile::parse("@ 300 IN SOA ns. hm. 5 1 2 3 4\n", &apex, "t").unwrap();
        store.save(&zone, SystemTime::now(), "AXFR").unwrap();
        let saved = store.load(&apex).unwrap().unwrap();
        assert_eq!(saved.zone.serial(), 5);
    }

    #[test]
    fn saves_and_loads() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        let store = ZoneStore::new(dir);
        let apex: Name = "example.com.".parse().unwrap();
        let zone = zonefile::zone_of(
            "example.com.",
            "@ 300 IN SOA ns hm 42 1 2 3 4\nwww 300 IN A 192.0.2.1\n",
        );
        assert!(store.load(&apex).unwrap().is_none());
        let when = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        store.save(&zone, when, "AXFR").unwrap();
        let saved = store.load(&apex).unwrap().unwrap();
        let loaded = (
            saved.zone.serial(),
            saved.zone.record_count(),
            saved.last_success,
        );
        assert_eq!(loaded, (42, 2, when));
        assert_eq!(saved.transferred, Some((1_700_000_000, "AXFR".to_string())));
        store.remove(&apex);
        assert!(store.load(&apex).unwrap().is_none());
    }
}
