//! Work spread over the machine's cores: big compiles, and zone files at start.

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
    let work = &work;
    std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks(share)
            .enumerate()
            .map(|(number, part)| scope.spawn(move || work(number, number * share, part)))
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
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (next, work) = (&next, &work);
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.min(items.len()))
            .map(|_| {
                scope.spawn(move || {
                    let mut done = Vec::new();
                    loop {
                        let at = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(at) else {
                            return done;
                        };
                        done.push((at, work(item)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| match worker.join() {
                Ok(done) => done,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    done.sort_unstable_by_key(|(at, _)| *at);
    done.into_iter().map(|(_, result)| result).collect()
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
}
