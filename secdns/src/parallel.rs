//! Work spread over the machine's cores: big compiles, and zone files at start.

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

/// Runs `work` on consecutive shares of `items` (at least `min_share` each, one per core),
/// each on its own thread, and returns the results in order. `work` gets the share's number
/// and the index of its first item. A panic in a share is raised again here.
pub fn in_shares<T: Sync, R: Send>(
    items: &[T],
    min_share: usize,
    work: impl Fn(usize, usize, &[T]) -> R + Sync,
) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let share = items.len().div_ceil(threads).max(min_share).max(1);
    if !items.is_empty() && items.len() <= share {
        // One share: no thread to start (a small zone, of thousands).
        return vec![work(0, 0, items)];
    }
    let shares: Vec<(usize, &[T])> = items.chunks(share).enumerate().collect();
    each_owned(shares, |(number, part)| work(number, number * share, part))
}

/// Runs `work` on each of `items`, taken by value, each on its own thread (a handful of
/// items, one per core), and returns the results in order. A panic is raised again here.
pub fn each_owned<T: Send, R: Send>(items: Vec<T>, work: impl Fn(T) -> R + Sync) -> Vec<R> {
    if items.len() <= 1 {
        return items.into_iter().map(work).collect();
    }
    let work = &work;
    std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .into_iter()
            .map(|item| scope.spawn(move || work(item)))
            .collect();
        workers
            .into_iter()
            .map(|worker| match worker.join() {
                Ok(result) => result,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// Runs `work` on every item, each core taking the next item when it is done with one (items
/// of very different sizes, such as zone files, balance out), and returns the results in
/// order. A panic is raised again here.
pub fn each<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let mut done: Vec<Option<R>> = items.iter().map(|_| None).collect();
    each_as_done(items, work, |at, result| {
        if let Some(slot) = done.get_mut(at) {
            *slot = Some(result);
        }
    });
    done.into_iter().flatten().collect()
}

/// As [`each`], handing each result with its item's index to `take`, on the calling thread,
/// as soon as it is done (in the order they finish) while the cores go on. A core waits
/// when `take` is a result behind: what `take` does not keep is all the results ever hold
/// at once.
pub fn each_as_done<T: Sync, R: Send>(
    items: &[T],
    work: impl Fn(&T) -> R + Sync,
    mut take: impl FnMut(usize, R),
) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (next, work) = (&next, &work);
    let (sender, results) = std::sync::mpsc::sync_channel(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.min(items.len()))
            .map(|_| {
                let sender = sender.clone();
                scope.spawn(move || {
                    loop {
                        let at = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(at) else {
                            return;
                        };
                        if sender.send((at, work(item))).is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        // The workers' senders alone keep the channel open: it ends when they all have.
        drop(sender);
        for (at, result) in results {
            take(at, result);
        }
        for worker in workers {
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
}

/// Work that takes every core and that someone waits for (a zone's publication into the
/// kernel's maps), while it lasts: background work ([`wait_for_busy_cores`]) starts after.
pub struct BusyCores(());

static BUSY: AtomicUsize = AtomicUsize::new(0);

impl BusyCores {
    pub fn begin() -> Self {
        BUSY.fetch_add(1, Ordering::Relaxed);
        Self(())
    }
}

impl Drop for BusyCores {
    fn drop(&mut self) {
        BUSY.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Waits until no [`BusyCores`] is held, for at most `most`: a background job (saving a
/// zone's copy) would take a core from work someone waits for, and never waits forever.
pub fn wait_for_busy_cores(most: Duration) {
    let started = Instant::now();
    while BUSY.load(Ordering::Relaxed) > 0 && started.elapsed() < most {
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_every_item_once_in_order() {
        let items: Vec<usize> = (0..10_000).collect();
        let shares = in_shares(&items, 1000, |number, first, part| {
            assert_eq!(part.first(), Some(&first));
            (number, part.to_vec())
        });
        let numbers: Vec<usize> = shares.iter().map(|s| s.0).collect();
        assert_eq!(numbers, (0..shares.len()).collect::<Vec<_>>());
        let all: Vec<usize> = shares.into_iter().flat_map(|s| s.1).collect();
        assert_eq!(all, items);
        assert!(in_shares(&[] as &[u8], 10, |_, _, part| part.len()).is_empty());
    }

    #[test]
    fn each_item_is_worked_once_and_results_keep_their_order() {
        let items: Vec<u64> = (0..1000).collect();
        assert_eq!(
            each(&items, |n| n * 2),
            items.iter().map(|n| n * 2).collect::<Vec<_>>()
        );
        assert!(each(&[] as &[u8], |_| ()).is_empty());
    }

    #[test]
    fn results_are_taken_as_they_are_done_each_once() {
        let items: Vec<u64> = (0..1000).collect();
        let mut taken = vec![0; items.len()];
        each_as_done(
            &items,
            |n| n * 3,
            |at, result| {
                assert_eq!(result, items[at] * 3);
                taken[at] += 1;
            },
        );
        assert!(taken.iter().all(|&count| count == 1));
    }
}
