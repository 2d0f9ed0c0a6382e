//! A bounded LRU cache of inflated compressed clusters, keyed by where their compressed data
//! is: (layer, host offset). It holds at most [`CLUSTER_CACHE_BYTES`] of cluster data (always
//! at least one cluster), whatever the image size. An index from guest cluster to cached
//! cluster saves a hit the two table reads that find the key (at most [`MAX_GUESTS`] guest
//! clusters per cached cluster, so a hostile image whose entries all name the same data
//! cannot grow it); it goes with the cluster it names.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

/// Most bytes of inflated clusters one open image keeps: 64 clusters of 64 KiB (QEMU keeps
/// one; a directory walk or a package database read touches a few dozen).
pub const CLUSTER_CACHE_BYTES: usize = 4 << 20;

/// Most guest clusters indexed per cached cluster (one, unless snapshots share data).
const MAX_GUESTS: usize = 4;

/// A cached cluster's key: the layer's id and the host offset of its compressed data.
pub(super) type Key = (u64, u64);

/// A guest cluster: the layer's id and the cluster's index in that layer.
pub(super) type Guest = (u64, u64);

/// The cache (see the module docs). Interior locking: shared by every reader of an image.
pub(super) struct ClusterCache {
    capacity: usize,
    lru: Mutex<Lru>,
}

#[derive(Default)]
struct Lru {
    /// Cached clusters.
    entries: HashMap<Key, Entry>,
    /// Which cached cluster a guest cluster reads from.
    guests: HashMap<Guest, Key>,
    /// Keys by last use, oldest first.
    order: BTreeMap<u64, Key>,
    /// Bytes of cluster data held.
    bytes: usize,
    /// Use counter.
    tick: u64,
}

struct Entry {
    /// Tick of the last use.
    tick: u64,
    data: Box<[u8]>,
    /// The guest clusters indexed to it.
    guests: Vec<Guest>,
}

impl ClusterCache {
    /// An empty cache holding at most `capacity` bytes of clusters (but always the last one).
    pub(super) fn new(capacity: usize) -> ClusterCache {
        ClusterCache { capacity, lru: Mutex::new(Lru::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.lru.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Copies the bytes from `at` of the cluster guest cluster `guest` reads from into `out`
    /// and marks it used; false when it is not indexed (or shorter than asked, which a caller
    /// never asks).
    pub(super) fn read_guest(&self, guest: Guest, at: usize, out: &mut [u8]) -> bool {
        let mut lru = self.lock();
        match lru.guests.get(&guest) {
            Some(&key) => lru.read(key, at, out),
            None => false,
        }
    }

    /// Like [`ClusterCache::read_guest`] for the cluster `key`, indexing `guest` to it.
    pub(super) fn read(&self, key: Key, guest: Guest, at: usize, out: &mut [u8]) -> bool {
        let mut lru = self.lock();
        if !lru.read(key, at, out) {
            return false;
        }
        lru.index(key, guest);
        true
    }

    /// Keeps `data` as the cluster `key`, which guest cluster `guest` reads from, evicting the
    /// least recently used clusters to stay within the capacity.
    pub(super) fn insert(&self, key: Key, guest: Guest, data: Box<[u8]>) {
        let mut lru = self.lock();
        lru.remove(key);
        while lru.bytes + data.len() > self.capacity {
            let Some((_, oldest)) = lru.order.pop_first() else { break };
            lru.remove(oldest);
        }
        lru.tick += 1;
        let tick = lru.tick;
        lru.bytes += data.len();
        lru.order.insert(tick, key);
        lru.entries.insert(key, Entry { tick, data, guests: Vec::new() });
        lru.index(key, guest);
    }

    /// Drops the cluster `key` and its index entries (its guest cluster is being written).
    pub(super) fn remove(&self, key: Key) {
        self.lock().remove(key);
    }

    /// (clusters, bytes, indexed guest clusters) held.
    #[cfg(test)]
    fn usage(&self) -> (usize, usize, usize) {
        let lru = self.lock();
        (lru.entries.len(), lru.bytes, lru.guests.len())
    }
}

impl Lru {
    fn read(&mut self, key: Key, at: usize, out: &mut [u8]) -> bool {
        self.tick += 1;
        let tick = self.tick;
        let Some(e) = self.entries.get_mut(&key) else { return false };
        let Some(src) = at.checked_add(out.len()).and_then(|end| e.data.get(at..end)) else { return false };
        out.copy_from_slice(src);
        let old = std::mem::replace(&mut e.tick, tick);
        self.order.remove(&old);
        self.order.insert(tick, key);
        true
    }

    /// Indexes `guest` to the cached cluster `key` (up to [`MAX_GUESTS`] per cluster), and
    /// to no other.
    fn index(&mut self, key: Key, guest: Guest) {
        if let Some(old) = self.guests.get(&guest).copied() {
            if old == key {
                return;
            }
            self.guests.remove(&guest);
            if let Some(o) = self.entries.get_mut(&old) {
                o.guests.retain(|g| *g != guest);
            }
        }
        let Some(e) = self.entries.get_mut(&key) else { return };
        if e.guests.len() < MAX_GUESTS {
            e.guests.push(guest);
            self.guests.insert(guest, key);
        }
    }

    fn remove(&mut self, key: Key) {
        if let Some(e) = self.entries.remove(&key) {
            self.order.remove(&e.tick);
            self.bytes -= e.data.len();
            for g in e.guests {
                self.guests.remove(&g);
            }
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
            cache.insert((1, i), (1, 100 + i), cluster(i as u8));
        }
        let mut out = [0u8; 4];
        assert!(cache.read_guest((1, 100), 1020, &mut out));
        assert_eq!(out, [0; 4]);
        // cluster 1 is now the least recently used: it goes first, with its index entry
        cache.insert((1, 3), (1, 103), cluster(3));
        assert!(!cache.read((1, 1), (1, 101), 0, &mut out) && !cache.read_guest((1, 101), 0, &mut out));
        assert!(cache.read_guest((1, 100), 0, &mut out) && cache.read((1, 2), (1, 102), 0, &mut out) && cache.read_guest((1, 103), 0, &mut out));
        assert_eq!(out, [3; 4]);
        assert_eq!(cache.usage(), (3, 3 * 1024, 3));
        // many more clusters: the memory stays bounded
        for i in 10..1000 {
            cache.insert((2, i), (2, i), cluster(7));
        }
        assert_eq!(cache.usage(), (3, 3 * 1024, 3));
    }

    #[test]
    fn the_last_cluster_is_kept_even_past_the_capacity() {
        let cache = ClusterCache::new(100);
        cache.insert((1, 0), (1, 0), cluster(1));
        cache.insert((1, 1), (1, 1), cluster(2));
        assert_eq!(cache.usage(), (1, 1024, 1));
        let mut out = [0u8; 1];
        assert!(cache.read_guest((1, 1), 5, &mut out));
        assert_eq!(out, [2]);
    }

    #[test]
    fn removed_and_out_of_bounds_reads_miss() {
        let cache = ClusterCache::new(1 << 20);
        cache.insert((1, 0), (1, 9), cluster(1));
        let mut out = [0u8; 8];
        assert!(!cache.read_guest((1, 9), 1020, &mut out));
        assert!(!cache.read((1, 0), (1, 9), usize::MAX, &mut out));
        cache.remove((1, 0));
        assert!(!cache.read_guest((1, 9), 0, &mut out));
        assert_eq!(cache.usage(), (0, 0, 0));
    }

    #[test]
    fn shared_data_indexes_a_bounded_number_of_guest_clusters() {
        let cache = ClusterCache::new(1 << 20);
        cache.insert((1, 0), (1, 0), cluster(1));
        let mut out = [0u8; 8];
        // a hostile image: every guest cluster names the same data
        for g in 1..10_000 {
            assert!(cache.read((1, 0), (1, g), 0, &mut out));
        }
        assert_eq!(cache.usage(), (1, 1024, MAX_GUESTS));
        // a guest cluster indexed to other data moves there
        cache.insert((1, 5), (1, 1), cluster(5));
        assert!(cache.read_guest((1, 1), 0, &mut out));
        assert_eq!(out, [5; 8]);
        cache.remove((1, 0));
        assert_eq!(cache.usage(), (1, 1024, 1));
    }
}
