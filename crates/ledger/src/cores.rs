//! Work split across the machine's cores: checking signatures, decoding stored blocks, building
//! a group of writes.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Threads to split work across: one per core, at most eight.
pub fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 8))
}

/// Maps `f` over `items` on every core, keeping their order. An item whose work panicked
/// (with the rest of its share) comes back as `None`, in its place, so what follows stays
/// aligned with `items`; the caller decides what a lost result means.
pub fn map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<Option<R>> {
    let workers = workers();
    if workers == 1 || items.len() < 2 {
        return items
            .into_iter()
            .map(|item| catch_unwind(AssertUnwindSafe(|| f(item))).ok())
            .collect();
    }
    let share = items.len().div_ceil(workers);
    let mut items = items.into_iter();
    let shares: Vec<Vec<T>> = std::iter::from_fn(|| {
        let share: Vec<T> = items.by_ref().take(share).collect();
        (!share.is_empty()).then_some(share)
    })
    .collect();
    let f = &f;
    std::thread::scope(|scope| {
        let running: Vec<_> = shares
            .into_iter()
            .map(|share| {
                let len = share.len();
                let work = scope.spawn(move || share.into_iter().map(f).collect::<Vec<R>>());
                (len, work)
            })
            .collect();
        running
            .into_iter()
            .flat_map(|(len, work)| match work.join() {
                Ok(done) => done.into_iter().map(Some).collect::<Vec<_>>(),
                Err(_) => std::iter::repeat_with(|| None).take(len).collect(),
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_their_places_and_a_panic_loses_only_its_share() {
        let items: Vec<u32> = (0..100).collect();
        let doubled = map(items.clone(), |i| i * 2);
        assert_eq!(
            doubled,
            items.iter().map(|i| Some(i * 2)).collect::<Vec<_>>()
        );

        let hurt = map(items, |i| {
            assert_ne!(i, 0, "the first share fails");
            i
        });
        assert_eq!(hurt.len(), 100);
        assert_eq!(hurt[0], None);
        assert_eq!(hurt[99], Some(99), "later shares keep their places");
        assert!(
            hurt.iter()
                .enumerate()
                .all(|(i, r)| r.is_none_or(|v| v == i as u32))
        );
    }
}
