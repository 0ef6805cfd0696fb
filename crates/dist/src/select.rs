//! Partial ordering helper shared by top-p, typical and the sampler: they only ever need the head of an order.

use std::cmp::Ordering;

/// Orders just enough of `items` to find the shortest head, in `cmp` order, whose running `weight` sum satisfies
/// `stop`; returns its length with `items[..len]` sorted. `None` means the whole slice (then fully sorted) never
/// satisfied `stop`.
///
/// The head grows by selection, 64 items, then 256, 1024, …, each round selecting only among the items not yet
/// in the head, so a peaked distribution over 49k tokens costs about one linear pass instead of a full sort.
pub(crate) fn head_reaching<T>(
    items: &mut [T],
    cmp: impl Fn(&T, &T) -> Ordering,
    weight: impl Fn(&T) -> f64,
    stop: impl Fn(f64) -> bool,
) -> Option<usize> {
    let len = items.len();
    let (mut done, mut cum) = (0, 0.0f64);
    let mut m = len.min(64);
    loop {
        // items[..done] is already the sorted head; bring the next m - done smallest behind it.
        if m < len {
            items[done..].select_nth_unstable_by(m - done, &cmp);
        }
        items[done..m].sort_unstable_by(&cmp);
        for (i, item) in items[done..m].iter().enumerate() {
            cum += weight(item);
            if stop(cum) {
                return Some(done + i + 1);
            }
        }
        if m == len {
            return None;
        }
        done = m;
        m = (m * 4).min(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_head_beyond_the_first_chunk() {
        // 1000 equal weights: reaching 0.5 needs 500 items, past the first selection of 64.
        let mut items: Vec<u32> = (0..1000).rev().collect();
        let n = head_reaching(&mut items, |a, b| a.cmp(b), |_| 0.001, |c| c >= 0.5 - 1e-9);
        assert_eq!(n, Some(500));
        assert!(items[..500].iter().enumerate().all(|(i, &v)| v == i as u32));
    }

    #[test]
    fn none_when_never_reached() {
        let mut items = vec![3u32, 1, 2];
        let n = head_reaching(&mut items, |a, b| a.cmp(b), |_| 0.1, |c| c >= 1.0);
        assert_eq!(n, None);
        assert_eq!(items, [1, 2, 3]);
        assert_eq!(
            head_reaching(&mut Vec::<u32>::new(), |a, b| a.cmp(b), |_| 1.0, |_| true),
            None
        );
    }
}
