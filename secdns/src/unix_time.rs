//! Wall-clock time as seconds since 1970, as zone status, events, TSIG and cookies carry it.

use std::time::{SystemTime, UNIX_EPOCH};

/// `time` in seconds since 1970; 0 for a time before it.
pub fn seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// Now, in seconds since 1970.
pub fn now() -> u64 {
    seconds(SystemTime::now())
}
