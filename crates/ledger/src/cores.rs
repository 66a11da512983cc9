//! Work split across the machine's cores: checking signatures, decoding stored blocks, building
//! a group of writes.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Threads to split work across: one per core, at most eight.
pub fn workers() -> usize {
    rayon::current_num_threads().clamp(1, 8)
}

/// Maps `f` over `items` on every core (rayon's pool), keeping their order. An item whose work
/// panicked comes back as `None`, in its place, so what follows stays aligned with `items`;
/// the caller decides what a lost result means.
pub fn map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<Option<R>> {
    use rayon::prelude::*;
    items
        .into_par_iter()
        .map(|item| catch_unwind(AssertUnwindSafe(|| f(item))).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_their_places_and_a_panic_loses_only_its_item() {
        let items: Vec<u32> = (0..100).collect();
        let doubled = map(items.clone(), |i| i * 2);
        assert_eq!(
            doubled,
            items.iter().map(|i| Some(i * 2)).collect::<Vec<_>>()
        );

        let hurt = map(items, |i| {
            assert_ne!(i, 0, "the first item fails");
            i
        });
        assert_eq!(hurt.len(), 100);
        assert_eq!(hurt[0], None);
        assert!(
            hurt.iter()
                .enumerate()
                .skip(1)
                .all(|(i, r)| *r == Some(i as u32)),
            "every other item keeps its result, in its place"
        );
    }
}
