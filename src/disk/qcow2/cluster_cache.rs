//! A bounded LRU cache of inflated compressed clusters, keyed by where their compressed data
//! is: (layer, host offset). It holds at most [`CLUSTER_CACHE_BYTES`] of cluster data (always
//! at least one cluster), whatever the image size.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

/// Most bytes of inflated clusters one open image keeps: 64 clusters of 64 KiB (QEMU keeps
/// one; a directory walk or a package database read touches a few dozen).
pub const CLUSTER_CACHE_BYTES: usize = 4 << 20;

/// A cached cluster's key: the layer's id and the host offset of its compressed data.
pub(super) type Key = (u64, u64);

/// The cache (see the module docs). Interior locking: shared by every reader of an image.
pub(super) struct ClusterCache {
    capacity: usize,
    lru: Mutex<Lru>,
}

#[derive(Default)]
struct Lru {
    /// Cluster data and the tick of its last use.
    entries: HashMap<Key, (u64, Box<[u8]>)>,
    /// Keys by last use, oldest first.
    order: BTreeMap<u64, Key>,
    /// Bytes of cluster data held.
    bytes: usize,
    /// Use counter.
    tick: u64,
}

impl ClusterCache {
    /// An empty cache holding at most `capacity` bytes of clusters (but always the last one).
    pub(super) fn new(capacity: usize) -> ClusterCache {
        ClusterCache { capacity, lru: Mutex::new(Lru::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.lru.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Copies the cluster `key`'s bytes from `at` into `out` and marks it used; false when the
    /// cluster is not cached (or shorter than asked, which a caller never asks).
    pub(super) fn read(&self, key: Key, at: usize, out: &mut [u8]) -> bool {
        let mut lru = self.lock();
        lru.tick += 1;
        let tick = lru.tick;
        let Some((last, data)) = lru.entries.get_mut(&key) else { return false };
        let Some(src) = at.checked_add(out.len()).and_then(|end| data.get(at..end)) else { return false };
        out.copy_from_slice(src);
        let old = std::mem::replace(last, tick);
        lru.order.remove(&old);
        lru.order.insert(tick, key);
        true
    }

    /// Keeps `data` as the cluster `key`, evicting the least recently used clusters to stay
    /// within the capacity.
    pub(super) fn insert(&self, key: Key, data: Box<[u8]>) {
        let mut lru = self.lock();
        lru.remove(key);
        while lru.bytes + data.len() > self.capacity {
            let Some((_, oldest)) = lru.order.pop_first() else { break };
            if let Some((_, d)) = lru.entries.remove(&oldest) {
                lru.bytes -= d.len();
            }
        }
        lru.tick += 1;
        let tick = lru.tick;
        lru.bytes += data.len();
        lru.order.insert(tick, key);
        lru.entries.insert(key, (tick, data));
    }

    /// Drops the cluster `key` (its guest cluster is being written).
    pub(super) fn remove(&self, key: Key) {
        self.lock().remove(key);
    }

    /// (clusters, bytes) held.
    #[cfg(test)]
    fn usage(&self) -> (usize, usize) {
        let lru = self.lock();
        (lru.entries.len(), lru.bytes)
    }
}

impl Lru {
    fn remove(&mut self, key: Key) {
        if let Some((tick, d)) = self.entries.remove(&key) {
            self.order.remove(&tick);
            self.bytes -= d.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(b: u8) -> Box<[u8]> {
        vec![b; 1024].into_boxed_slice()
    }

    #[test]
    fn keeps_recently_used_clusters_within_its_capacity() {
        let cache = ClusterCache::new(3 * 1024);
        for i in 0..3 {
            cache.insert((1, i), cluster(i as u8));
        }
        let mut out = [0u8; 4];
        assert!(cache.read((1, 0), 1020, &mut out));
        assert_eq!(out, [0; 4]);
        // cluster 1 is now the least recently used: it goes first
        cache.insert((1, 3), cluster(3));
        assert!(!cache.read((1, 1), 0, &mut out));
        assert!(cache.read((1, 0), 0, &mut out) && cache.read((1, 2), 0, &mut out) && cache.read((1, 3), 0, &mut out));
        assert_eq!(out, [3; 4]);
        assert_eq!(cache.usage(), (3, 3 * 1024));
        // many more clusters: the memory stays bounded
        for i in 10..1000 {
            cache.insert((2, i), cluster(7));
        }
        assert_eq!(cache.usage(), (3, 3 * 1024));
    }

    #[test]
    fn the_last_cluster_is_kept_even_past_the_capacity() {
        let cache = ClusterCache::new(100);
        cache.insert((1, 0), cluster(1));
        cache.insert((1, 1), cluster(2));
        assert_eq!(cache.usage(), (1, 1024));
        let mut out = [0u8; 1];
        assert!(cache.read((1, 1), 5, &mut out));
        assert_eq!(out, [2]);
    }

    #[test]
    fn removed_and_out_of_bounds_reads_miss() {
        let cache = ClusterCache::new(1 << 20);
        cache.insert((1, 0), cluster(1));
        let mut out = [0u8; 8];
        assert!(!cache.read((1, 0), 1020, &mut out));
        assert!(!cache.read((1, 0), usize::MAX, &mut out));
        cache.remove((1, 0));
        assert!(!cache.read((1, 0), 0, &mut out));
        assert_eq!(cache.usage(), (0, 0));
    }
}
