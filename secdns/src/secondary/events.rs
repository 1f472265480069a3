//! A secondary zone's work as Knot names it: REFRESH when its timer is due (and RETRY, with
//! backoff, after a failed one), EXPIRE when no refresh has succeeded for the expire
//! interval, NOTIFY, which only brings the next refresh forward, and a forced transfer. This
//! module decides, from the zone's timers and what a primary said, what happens next; the
//! zone (`zone/`) carries it out. Nothing here touches the network or the clock: each
//! decision takes the time it is made at, so that each is unit-tested.

use std::{
    cmp::Ordering,
    time::{Duration, SystemTime},
};

use tokio::time::Instant;

use crate::transfer::serial;

/// Retry interval before the first copy exists, when none is configured.
const BOOTSTRAP_RETRY: u32 = 10;
/// Least time between two checks that NOTIFY (or a forced transfer) asks for.
pub const NOTIFY_HOLD_DOWN: Duration = Duration::from_secs(1);
/// Refresh interval with neither a configured one nor an SOA to take it from.
const DEFAULT_REFRESH: u32 = 3600;

/// What wakes the zone's task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The refresh (or retry) timer is due.
    Refresh,
    /// A NOTIFY came, or a transfer was forced: a refresh now, within the hold-down.
    Notify,
    /// The expire interval passed since the last success.
    Expire,
}

/// REFRESH, RETRY and EXPIRE in seconds: as configured, else from the copy's SOA, else the
/// defaults (retry: a short one until a first copy exists; expire: never).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timers {
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
}

impl Timers {
    /// `configured` and `soa` as (refresh, retry, expire), each value `None` when unset.
    pub fn new(configured: [Option<u32>; 3], soa: Option<[u32; 3]>) -> Self {
        let pick = |i: usize| configured[i].or(soa.map(|t| t[i]));
        Self {
            refresh: pick(0).unwrap_or(DEFAULT_REFRESH).max(1),
            retry: pick(1).unwrap_or(BOOTSTRAP_RETRY).max(1),
            expire: pick(2).unwrap_or(u32::MAX),
        }
    }

    /// When a copy last refreshed at `last_success` stops being served.
    pub fn expires_at(&self, last_success: SystemTime) -> SystemTime {
        last_success + Duration::from_secs(self.expire.into())
    }

    /// Retry after `failures` failures in a row: the retry interval, doubled each time,
    /// never beyond the larger of retry and refresh.
    pub fn backoff(&self, failures: u32) -> Duration {
        let doubled =
            u64::from(self.retry).saturating_mul(1u64 << failures.saturating_sub(1).min(20));
        Duration::from_secs(doubled.min(self.retry.max(self.refresh).into()).max(1))
    }
}

/// When the zone's next REFRESH is due, and what NOTIFY's hold-down allows.
#[derive(Debug)]
pub struct Schedule {
    /// Refreshes failed in a row.
    pub failures: u32,
    pub next_refresh: Instant,
    last_notified_check: Option<Instant>,
}

impl Schedule {
    /// The first refresh at once.
    pub fn new(now: Instant) -> Self {
        Self {
            failures: 0,
            next_refresh: now,
            last_notified_check: None,
        }
    }

    /// A NOTIFY at `now`: when its check may start. The first at once; then at most one
    /// per hold-down, so that a burst of NOTIFYs is one check, which answers them all.
    pub fn notified(&mut self, now: Instant) -> Instant {
        let at = self
            .last_notified_check
            .map_or(now, |last| (last + NOTIFY_HOLD_DOWN).max(now));
        self.last_notified_check = Some(at);
        at
    }

    /// A refresh ended at `now`: the next one is due after REFRESH, or after a retry
    /// that backs off with each failure in a row. Returns the wait.
    pub fn refreshed(&mut self, succeeded: bool, timers: Timers, now: Instant) -> Duration {
        let wait = if succeeded {
            self.failures = 0;
            Duration::from_secs(timers.refresh.into())
        } else {
            self.failures += 1;
            timers.backoff(self.failures)
        };
        self.next_refresh = now + wait;
        wait
    }
}

/// What a primary's SOA serial means for a zone whose copy has `ours` (`None`: no copy, or
/// one that expired, so that whatever the primary has is taken, as NSD does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SoaVerdict {
    /// The same serial: nothing to transfer.
    UpToDate,
    /// Older, or not comparable (RFC 1982): this primary is behind; ask the next.
    Behind,
    Transfer,
}

pub fn judge_soa(ours: Option<u32>, theirs: u32, forced: bool) -> SoaVerdict {
    let Some(ours) = ours else {
        return SoaVerdict::Transfer;
    };
    match serial::compare(theirs, ours) {
        Some(Ordering::Equal) if !forced => SoaVerdict::UpToDate,
        Some(Ordering::Less) | None => SoaVerdict::Behind,
        _ => SoaVerdict::Transfer,
    }
}

/// What a transfer that brought serial `brought` means for a copy with `ours`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferVerdict {
    /// The SOA said newer, the transfer brought what we hold: up to date (Knot: "zone is
    /// up-to-date"), and nothing wrong with the primary.
    UpToDate,
    /// Never go back to an older serial, nor to one not comparable with ours, whatever the
    /// SOA said (a forced transfer may bring the same one).
    Older {
        comparable: bool,
    },
    Take,
}

pub fn judge_transfer(ours: Option<u32>, brought: u32, forced: bool) -> TransferVerdict {
    let Some(ours) = ours else {
        return TransferVerdict::Take;
    };
    if brought == ours {
        return match forced {
            true => TransferVerdict::Take,
            false => TransferVerdict::UpToDate,
        };
    }
    match serial::compare(brought, ours) {
        Some(Ordering::Greater) => TransferVerdict::Take,
        Some(_) => TransferVerdict::Older { comparable: true },
        None => TransferVerdict::Older { comparable: false },
    }
}

/// How a copy came: what the status, the saved copy and the events call it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferKind {
    /// Differences applied to our copy.
    Ixfr,
    /// An IXFR the primary answered with the whole zone.
    IxfrFullZone,
    Axfr,
}

impl TransferKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ixfr => "IXFR",
            Self::IxfrFullZone => "IXFR (full zone)",
            Self::Axfr => "AXFR",
        }
    }

    /// As events count a change: only differences applied are an IXFR; a whole zone, as it
    /// came, is an AXFR.
    pub fn counted_as(self) -> &'static str {
        match self {
            Self::Ixfr => "IXFR",
            Self::IxfrFullZone | Self::Axfr => "AXFR",
        }
    }
}

impl std::fmt::Display for TransferKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What asking one primary came to in a refresh, as the zone's status shows it per peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerOutcome {
    /// Its SOA serial is ours.
    UpToDate {
        serial: u32,
    },
    /// Its SOA said newer, but the transfer brought what we hold.
    UpToDateAfterTransfer {
        soa: u32,
        serial: u32,
        kind: TransferKind,
    },
    Transferred {
        serial: u32,
        kind: TransferKind,
    },
    /// Why it could not be used.
    Failed(String),
}

impl std::fmt::Display for PeerOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UpToDate { serial } => write!(f, "up to date (serial {serial})"),
            Self::UpToDateAfterTransfer { soa, serial, kind } => write!(
                f,
                "up to date (serial {serial}; its SOA said {soa}, the {kind} brought {serial})"
            ),
            Self::Transferred { serial, kind } => write!(f, "{kind} serial {serial}"),
            Self::Failed(why) => f.write_str(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timers(refresh: u32, retry: u32) -> Timers {
        Timers::new([Some(refresh), Some(retry), None], None)
    }

    #[test]
    fn timers_come_from_the_config_then_the_soa_then_the_defaults() {
        let soa = Some([7200, 600, 86400]);
        let both = Timers::new([Some(60), None, None], soa);
        assert_eq!((both.refresh, both.retry, both.expire), (60, 600, 86400));
        let none = Timers::new([None; 3], None);
        assert_eq!(
            (none.refresh, none.retry, none.expire),
            (3600, 10, u32::MAX)
        );
        // A zero from either would spin.
        let zero = Timers::new([Some(0), None, None], Some([0, 0, 5]));
        assert_eq!((zero.refresh, zero.retry, zero.expire), (1, 1, 5));
        let last = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        assert_eq!(both.expires_at(last), last + Duration::from_secs(86400));
    }

    #[test]
    fn backoff_doubles_up_to_the_refresh_interval() {
        let t = timers(300, 10);
        let waits: Vec<u64> = [1, 2, 5, 6, 60].map(|n| t.backoff(n).as_secs()).into();
        assert_eq!(waits, [10, 20, 160, 300, 300]);
        // A retry longer than refresh is kept.
        assert_eq!(timers(300, 600).backoff(3), Duration::from_secs(600));
    }

    #[test]
    fn a_success_waits_refresh_and_failures_back_off_until_one_succeeds() {
        let start = Instant::now();
        let mut schedule = Schedule::new(start);
        assert_eq!(schedule.next_refresh, start);
        let t = timers(300, 10);
        assert_eq!(schedule.refreshed(false, t, start).as_secs(), 10);
        assert_eq!(schedule.refreshed(false, t, start).as_secs(), 20);
        assert_eq!(schedule.refreshed(false, t, start).as_secs(), 40);
        assert_eq!(schedule.failures, 3);
        let later = start + Duration::from_secs(70);
        assert_eq!(schedule.refreshed(true, t, later).as_secs(), 300);
        assert_eq!(schedule.failures, 0);
        assert_eq!(schedule.next_refresh, later + Duration::from_secs(300));
        assert_eq!(schedule.refreshed(false, t, later).as_secs(), 10);
    }

    #[test]
    fn notifies_are_checked_at_once_then_once_per_hold_down() {
        let start = Instant::now();
        let mut schedule = Schedule::new(start);
        assert_eq!(schedule.notified(start), start);
        let soon = start + Duration::from_millis(200);
        assert_eq!(schedule.notified(soon), start + NOTIFY_HOLD_DOWN);
        let late = start + Duration::from_secs(5);
        assert_eq!(schedule.notified(late), late);
    }

    /// The serial in a primary's SOA decides whether to transfer; the serial a transfer
    /// brought, whether to take it. Never back to an older one.
    #[test]
    fn serials_decide_whether_to_transfer_and_whether_to_take_the_copy() {
        use {SoaVerdict::*, TransferVerdict::*};
        let older = Older { comparable: true };
        // (our serial, the primary's, forced): what the SOA says, what the transfer says.
        let cases = [
            ((None, 5, false), (Transfer, Take)),
            (
                (Some(5), 5, false),
                (SoaVerdict::UpToDate, TransferVerdict::UpToDate),
            ),
            ((Some(5), 5, true), (Transfer, Take)),
            ((Some(5), 6, false), (Transfer, Take)),
            ((Some(5), 4, false), (Behind, older)),
            ((Some(5), 4, true), (Behind, older)),
            // RFC 1982: across the wrap, and exactly half the space away (not comparable).
            ((Some(u32::MAX), 3, false), (Transfer, Take)),
            (
                (Some(0), 1 << 31, false),
                (Behind, Older { comparable: false }),
            ),
        ];
        for ((ours, theirs, forced), verdicts) in cases {
            let got = (
                judge_soa(ours, theirs, forced),
                judge_transfer(ours, theirs, forced),
            );
            assert_eq!(got, verdicts, "{ours:?} {theirs} {forced}");
        }
    }

    #[test]
    fn kinds_are_named_as_the_status_shows_them_and_counted_as_events_count_them() {
        let kinds = [
            TransferKind::Ixfr,
            TransferKind::IxfrFullZone,
            TransferKind::Axfr,
        ];
        assert_eq!(
            kinds.map(TransferKind::as_str),
            ["IXFR", "IXFR (full zone)", "AXFR"]
        );
        assert_eq!(
            kinds.map(TransferKind::counted_as),
            ["IXFR", "AXFR", "AXFR"]
        );
    }

    #[test]
    fn peer_outcomes_read_as_the_status_shows_them() {
        let kind = TransferKind::Ixfr;
        let texts = [
            PeerOutcome::UpToDate { serial: 7 },
            PeerOutcome::UpToDateAfterTransfer {
                soa: 8,
                serial: 7,
                kind,
            },
            PeerOutcome::Transferred { serial: 8, kind },
            PeerOutcome::Failed("SOA query: timed out".into()),
        ]
        .map(|outcome| outcome.to_string());
        assert_eq!(
            texts,
            [
                "up to date (serial 7)",
                "up to date (serial 7; its SOA said 8, the IXFR brought 7)",
                "IXFR serial 8",
                "SOA query: timed out",
            ]
        );
    }
}
