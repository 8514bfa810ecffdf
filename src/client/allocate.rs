//! AllocateMessageQueueAveragely (spec §7.1): how a group's consumers split a topic's
//! queues. Every consumer computes the same answer from the same sorted lists, so no one
//! coordinates: consumer `i` of `c` takes a contiguous run of `n / c` queues, the first
//! `n % c` consumers one more.

/// The share of consumer `me` among `ids` (both sorted by the caller: queues by topic,
/// broker, id; ids as strings). Empty when `me` is not in `ids` or there are more
/// consumers than queues and `me` comes late.
pub fn allocate_averagely<T: Clone>(queues: &[T], ids: &[String], me: &str) -> Vec<T> {
    let Some(i) = ids.iter().position(|c| c == me) else {
        return Vec::new();
    };
    let (n, c) = (queues.len(), ids.len());
    let m = n % c;
    let size = if n <= c {
        1
    } else if i < m {
        n / c + 1
    } else {
        n / c
    };
    let start = if i < m { i * size } else { i * size + m };
    let take = size.min(n.saturating_sub(start));
    queues[start.min(n)..start.min(n) + take].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averagely_like_rocketmq() {
        let q: Vec<i32> = (0..8).collect();
        let ids: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(allocate_averagely(&q, &ids, "a"), vec![0, 1, 2]);
        assert_eq!(allocate_averagely(&q, &ids, "b"), vec![3, 4, 5]);
        assert_eq!(allocate_averagely(&q, &ids, "c"), vec![6, 7]);
        assert!(allocate_averagely(&q, &ids, "z").is_empty());
        let two: Vec<i32> = (0..2).collect();
        assert_eq!(allocate_averagely(&two, &ids, "c"), Vec::<i32>::new());
        assert_eq!(allocate_averagely(&two, &ids, "b"), vec![1]);
    }

    #[test]
    fn every_queue_taken_exactly_once() {
        for n in 0..20usize {
            for c in 1..7usize {
                let q: Vec<usize> = (0..n).collect();
                let ids: Vec<String> = (0..c).map(|i| format!("c{i}")).collect();
                let mut all: Vec<usize> = ids
                    .iter()
                    .flat_map(|me| allocate_averagely(&q, &ids, me))
                    .collect();
                all.sort();
                assert_eq!(all, q, "n={n} c={c}");
            }
        }
    }
}
