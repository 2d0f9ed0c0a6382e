//! A memo with a bound on the total weight it holds: hostile images can make many inodes
//! share huge cluster chains, so what is remembered about them must not grow without limit.
//! When an insert would exceed the bound, everything is forgotten (and read again on demand).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

/// Total weight (directory entries or cluster runs) kept before forgetting everything.
const MAX_WEIGHT: usize = 1 << 20;

/// A bounded map of shared values.
pub(super) struct Cache<K, V> {
    map: HashMap<K, Arc<V>>,
    weight: usize,
}

impl<K: Hash + Eq, V> Default for Cache<K, V> {
    fn default() -> Self {
        Cache { map: HashMap::new(), weight: 0 }
    }
}

impl<K: Hash + Eq, V> Cache<K, V> {
    /// The value remembered for `k`.
    pub(super) fn get(&self, k: &K) -> Option<Arc<V>> {
        self.map.get(k).cloned()
    }

    /// Forgets what is remembered for `k`.
    pub(super) fn remove(&mut self, k: &K) {
        self.map.remove(k);
    }

    /// Forgets everything.
    pub(super) fn clear(&mut self) {
        self.map.clear();
        self.weight = 0;
    }

    /// Remembers `v` (of `weight` units) for `k` and returns it shared.
    pub(super) fn insert(&mut self, k: K, v: V, weight: usize) -> Arc<V> {
        if self.weight.saturating_add(weight) > MAX_WEIGHT {
            self.map.clear();
            self.weight = 0;
        }
        self.weight += weight;
        let v = Arc::new(v);
        self.map.insert(k, v.clone());
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_everything_past_the_bound() {
        let mut c = Cache::default();
        c.insert(1, "a", MAX_WEIGHT - 1);
        c.insert(2, "b", 1);
        assert_eq!((c.get(&1).as_deref(), c.get(&2).as_deref()), (Some(&"a"), Some(&"b")));
        c.insert(3, "c", 1);
        assert_eq!((c.get(&1), c.get(&2), c.get(&3).as_deref()), (None, None, Some(&"c")));
    }
}
