//! A journaled ordered map: the building block of the domain state.
//!
//! Every change records the key's previous value in an undo log, so a run (or a nested
//! contract call) can be rolled back to a savepoint in time proportional to what it changed,
//! never to the size of the state. When the outermost run commits, the log's keys move to a
//! *dirty* set: exactly what a persistent store has to write.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// How a table appears in `coopvm state --json` ([`crate::store::Store::dump`]): the same
/// shape whatever it holds, empty or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// An object from the (string) key to the value.
    Map,
    /// An array of objects, one per entry in key order: the key's parts under `key`'s names,
    /// then the value's fields (an object value), or the value under `value`'s name.
    List {
        /// The names of the key's parts (one for a plain key, one per tuple element).
        key: &'static [&'static str],
        /// The name of the value when it is not an object.
        value: Option<&'static str>,
    },
}

/// A map whose changes can be undone back to a mark and whose committed changes are tracked.
///
/// Two tables are equal when every field is: name, shape, entries, undo log (in order) and
/// dirty keys, exactly what their `Debug` text shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table<K, V> {
    name: &'static str,
    shape: Shape,
    map: BTreeMap<K, V>,
    log: Vec<(K, Option<V>)>,
    dirty: BTreeSet<K>,
}

impl<K: Ord + Clone, V: Clone> Table<K, V> {
    /// An empty table called `name` (its name in the store), shown as a [`Shape::Map`].
    pub fn new(name: &'static str) -> Self {
        Table::with_shape(name, Shape::Map)
    }

    /// An empty table called `name`, shown as `shape`.
    pub fn with_shape(name: &'static str, shape: Shape) -> Self {
        Table {
            name,
            shape,
            map: BTreeMap::new(),
            log: Vec::new(),
            dirty: BTreeSet::new(),
        }
    }

    /// The value under `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key)
    }

    /// Whether `key` holds a value.
    pub fn contains(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every entry, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.map.iter()
    }

    /// The entries with keys from `from` on, in key order.
    pub fn iter_from<'a>(&'a self, from: &K) -> impl Iterator<Item = (&'a K, &'a V)> + 'a {
        self.map.range(from.clone()..)
    }

    /// Sets `key` to `value` (journaled).
    pub fn insert(&mut self, key: K, value: V) {
        let old = self.map.insert(key.clone(), value);
        self.log.push((key, old));
    }

    /// Removes `key` (journaled); returns the old value.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let old = self.map.remove(key)?;
        self.log.push((key.clone(), Some(old.clone())));
        Some(old)
    }

    /// Changes the value under `key` in place (journaled); `false` if there is none.
    pub fn update(&mut self, key: &K, f: impl FnOnce(&mut V)) -> bool {
        match self.map.get_mut(key) {
            Some(v) => {
                self.log.push((key.clone(), Some(v.clone())));
                f(v);
                true
            }
            None => false,
        }
    }

    /// Sets `key` outside any transaction (the change is committed and dirty at once).
    pub fn put_committed(&mut self, key: K, value: V) {
        self.dirty.insert(key.clone());
        self.map.insert(key, value);
    }

    /// Loads an entry read from the store (neither journaled nor dirty).
    pub fn load(&mut self, key: K, value: V) {
        self.map.insert(key, value);
    }
}

impl<K: Ord + Clone, V: Clone + PartialEq> Table<K, V> {
    /// Makes this table equal to `base` (as `*self = base.clone()` would), copying only the
    /// entries and dirty keys that differ: a table a run changed in a few places is restored
    /// without rebuilding its maps. Name and shape are copied too.
    pub fn reset_to(&mut self, base: &Table<K, V>) {
        self.name = base.name;
        self.shape = base.shape;
        restore_map(&mut self.map, &base.map, V::eq);
        self.log.clone_from(&base.log);
        if self.dirty != base.dirty {
            self.dirty.retain(|k| base.dirty.contains(k));
            for k in &base.dirty {
                if !self.dirty.contains(k) {
                    self.dirty.insert(k.clone());
                }
            }
        }
    }

    /// Makes this table equal to `base` like [`Table::reset_to`], in time proportional to
    /// the keys its undo log and dirty set name rather than to the table's size, when `base`
    /// has no history (no undo log, no dirty keys: a world after
    /// [`crate::CoopHost::mark_written`]); else it is [`Table::reset_to`].
    ///
    /// Precondition: the table equalled `base` (a clone, or reset) and has changed since only
    /// through journaled changes ([`Table::insert`], [`Table::remove`], [`Table::update`],
    /// [`Table::put_committed`], undoing and settling), which name every key they touch;
    /// [`Table::load`], `clear` and `take_dirty` change or forget entries without a trace.
    /// Debug builds check the result against `base`.
    pub fn reset_changes_to(&mut self, base: &Table<K, V>) {
        if !base.log.is_empty() || !base.dirty.is_empty() {
            self.reset_to(base);
            return;
        }
        self.name = base.name;
        self.shape = base.shape;
        let restore = |map: &mut BTreeMap<K, V>, k: K| match base.map.get(&k) {
            Some(v) => match map.get_mut(&k) {
                Some(mine) => {
                    if mine != v {
                        mine.clone_from(v);
                    }
                }
                None => {
                    map.insert(k, v.clone());
                }
            },
            None => {
                map.remove(&k);
            }
        };
        for (k, _) in self.log.drain(..) {
            restore(&mut self.map, k);
        }
        while let Some(k) = self.dirty.pop_first() {
            restore(&mut self.map, k);
        }
        debug_assert!(
            self.map == base.map,
            "table {}: a change outside the journal (reset_changes_to's precondition)",
            self.name
        );
    }
}

/// Makes `map` equal to `base`, keeping (not reallocating) the entries they share.
pub(crate) fn restore_map<K: Ord + Clone, V: Clone>(
    map: &mut BTreeMap<K, V>,
    base: &BTreeMap<K, V>,
    same: impl Fn(&V, &V) -> bool,
) {
    if map.len() == base.len()
        && map
            .iter()
            .zip(base)
            .all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
    {
        return;
    }
    map.retain(|k, _| base.contains_key(k));
    for (k, v) in base {
        match map.get_mut(k) {
            Some(mine) => {
                if !same(mine, v) {
                    mine.clone_from(v);
                }
            }
            None => {
                map.insert(k.clone(), v.clone());
            }
        }
    }
}

/// The type-erased view of a [`Table`] that transactions and the store work with.
pub trait Journal: Send + Sync {
    /// The table's name in the store.
    fn name(&self) -> &'static str;
    /// How the table is shown.
    fn shape(&self) -> Shape;
    /// The current length of the undo log (a savepoint).
    fn mark(&self) -> usize;
    /// Undoes every change made after `mark`.
    fn undo_to(&mut self, mark: usize);
    /// Makes the logged changes permanent: their keys become dirty and the log empties.
    fn settle(&mut self);
    /// Takes the dirty entries, encoded: (key, new value or `None` for a deletion).
    fn take_dirty(&mut self) -> Vec<(String, Option<String>)>;
    /// Forgets the dirty set (after a failed write, before reloading).
    fn clear(&mut self);
    /// Loads one encoded entry from the store.
    fn load_encoded(&mut self, key: &str, value: &str) -> Result<(), serde_json::Error>;
    /// Every entry as JSON values, in key order.
    fn entries_json(&self) -> Vec<(serde_json::Value, serde_json::Value)>;
}

impl<K, V> Journal for Table<K, V>
where
    K: Ord + Clone + Serialize + DeserializeOwned + Send + Sync,
    V: Clone + Serialize + DeserializeOwned + Send + Sync,
{
    fn name(&self) -> &'static str {
        self.name
    }

    fn shape(&self) -> Shape {
        self.shape
    }

    fn mark(&self) -> usize {
        self.log.len()
    }

    fn undo_to(&mut self, mark: usize) {
        while self.log.len() > mark {
            let Some((key, old)) = self.log.pop() else {
                break;
            };
            match old {
                Some(v) => self.map.insert(key, v),
                None => self.map.remove(&key),
            };
        }
    }

    fn settle(&mut self) {
        for (key, _) in self.log.drain(..) {
            self.dirty.insert(key);
        }
    }

    fn take_dirty(&mut self) -> Vec<(String, Option<String>)> {
        let dirty = std::mem::take(&mut self.dirty);
        dirty
            .into_iter()
            .map(|k| {
                let value = self.map.get(&k).map(encode);
                (encode(&k), value)
            })
            .collect()
    }

    fn clear(&mut self) {
        self.map.clear();
        self.log.clear();
        self.dirty.clear();
    }

    fn load_encoded(&mut self, key: &str, value: &str) -> Result<(), serde_json::Error> {
        let k: K = serde_json::from_str(key)?;
        let v: V = serde_json::from_str(value)?;
        self.load(k, v);
        Ok(())
    }

    fn entries_json(&self) -> Vec<(serde_json::Value, serde_json::Value)> {
        self.map
            .iter()
            .map(|(k, v)| {
                (
                    serde_json::to_value(k).unwrap_or(serde_json::Value::Null),
                    serde_json::to_value(v).unwrap_or(serde_json::Value::Null),
                )
            })
            .collect()
    }
}

/// The canonical JSON text of a key or value (serialization of these plain types cannot
/// fail; an impossible failure yields `null`).
fn encode<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undo_restores_every_change_in_reverse() {
        let mut t: Table<String, i64> = Table::new("t");
        t.insert("a".into(), 1);
        t.settle();
        let m = t.mark();
        t.insert("a".into(), 2);
        t.insert("b".into(), 3);
        t.update(&"a".into(), |v| *v += 10);
        t.remove(&"b".into());
        assert_eq!(t.get(&"a".into()), Some(&12));
        t.undo_to(m);
        assert_eq!(t.get(&"a".into()), Some(&1));
        assert!(!t.contains(&"b".into()));
        assert_eq!(
            t.take_dirty(),
            vec![("\"a\"".to_string(), Some("1".into()))]
        );
        assert!(t.take_dirty().is_empty());
    }

    #[test]
    fn settle_marks_dirty_including_deletions() {
        let mut t: Table<(String, String), i64> = Table::new("t");
        t.insert(("c".into(), "x".into()), 1);
        t.insert(("c".into(), "y".into()), 2);
        t.settle();
        t.take_dirty();
        t.remove(&("c".into(), "x".into()));
        assert!(!t.update(&("c".into(), "z".into()), |v| *v = 0));
        t.settle();
        assert_eq!(
            t.take_dirty(),
            vec![("[\"c\",\"x\"]".to_string(), None::<String>)]
        );
        let mut u: Table<(String, String), i64> = Table::new("u");
        u.load_encoded("[\"c\",\"y\"]", "2").unwrap();
        assert_eq!(u.get(&("c".into(), "y".into())), Some(&2));
        assert!(u.load_encoded("nope", "2").is_err());
    }

    /// Equality compares every field the `Debug` text shows: a difference in any one of
    /// them (name, shape, entries, undo log and its order, dirty keys) makes two tables
    /// unequal, and equal tables have the same text.
    #[test]
    fn equality_compares_every_field_like_the_debug_text() {
        let mut base: Table<String, i64> = Table::new("t");
        base.insert("a".into(), 1);
        base.settle();
        base.insert("b".into(), 2);
        let text = |t: &Table<String, i64>| format!("{t:?}");
        let variants: Vec<(&str, Table<String, i64>)> = vec![
            ("name", {
                let mut t: Table<String, i64> = Table::new("u");
                t.insert("a".into(), 1);
                t.settle();
                t.insert("b".into(), 2);
                t
            }),
            ("shape", {
                let mut t: Table<String, i64> = Table::with_shape(
                    "t",
                    Shape::List {
                        key: &["k"],
                        value: None,
                    },
                );
                t.insert("a".into(), 1);
                t.settle();
                t.insert("b".into(), 2);
                t
            }),
            ("an entry's value", {
                let mut t = base.clone();
                t.load("a".into(), 5);
                t
            }),
            ("an entry more", {
                let mut t = base.clone();
                t.load("c".into(), 1);
                t
            }),
            ("the log only (a value set to itself)", {
                let mut t = base.clone();
                t.insert("a".into(), 1);
                t
            }),
            ("the log's order", {
                let mut t: Table<String, i64> = Table::new("t");
                t.insert("a".into(), 1);
                t.settle();
                t.insert("b".into(), 2);
                let mut u = t.clone();
                t.insert("c".into(), 3);
                t.insert("d".into(), 4);
                u.insert("d".into(), 4);
                u.insert("c".into(), 3);
                assert_eq!(t.map, u.map, "the same entries");
                assert_ne!(t, u, "the log in another order");
                assert_ne!(text(&t), text(&u));
                u
            }),
            ("the dirty keys only", {
                let mut t = base.clone();
                t.dirty.insert("z".into());
                t
            }),
        ];
        for (what, t) in &variants {
            assert_ne!(*t, base, "tables differing in {what} compare unequal");
            assert_ne!(text(t), text(&base), "{what}: the text differs too");
        }
        let mut same = base.clone();
        assert_eq!(same, base);
        assert_eq!(text(&same), text(&base));
        // A change undone leaves the table as it was, log included.
        let mark = same.mark();
        same.insert("a".into(), 9);
        same.remove(&"b".into());
        assert_ne!(same, base);
        same.undo_to(mark);
        assert_eq!(same, base);
        assert_eq!(text(&same), text(&base));
    }
}
