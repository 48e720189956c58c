//! A contract's key-value memory during a run, shared by both engines.
//!
//! Static keys (`store votes`) were resolved by the assembler to slot indices, so they cost an
//! array access, never a hash. Dynamic keys (`push 7 store`) are integers held in a hash map
//! with a fast, deterministic hasher; an access allocates nothing (an insert of a new key may
//! grow the table). The memory starts from the contract's state and is turned back into a
//! [`State`] only when a run succeeds.
//!
//! Beside it lives the run's *transient* memory (`tstore`/`tload`): the same two kinds of
//! keys (static slots and integer keys), in namespaces of their own, starting empty, with
//! their own key limit ([`crate::Limits::transient_keys`]), and never part of the state: it
//! is dropped with the run, whatever its result.

use crate::error::{ErrorKind, VmError, VmResult};
use crate::program::{int_key, Program, State, StateKey};
use rustc_hash::FxHashMap;
use std::cell::Cell;

/// The run-time memory of one contract.
///
/// ```
/// use coopvm_core::{memory::Memory, program::{Program, State}};
/// let program = Program { keys: vec!["votes".into()], ..Default::default() };
/// let state = State::from([("votes".to_string(), 2)]);
/// let mut m = Memory::new(&program, &state, 10);
/// m.store(0, m.load(0).unwrap() + 1).unwrap();
/// assert_eq!(m.into_state(&program)["votes"], 3);
/// ```
#[derive(Clone, Debug)]
pub struct Memory {
    slots: Vec<Option<i64>>,
    dynamic: FxHashMap<i64, i64>,
    /// Named keys of the initial state that no static key of the program refers to; they are
    /// kept as they are.
    other: State,
    count: u32,
    limit: u32,
    transient: Transient,
}

/// The run's transient memory (see the module docs).
#[derive(Clone, Debug)]
struct Transient {
    /// The static slots, allocated by the first `tstore K` (a run that never stores a
    /// transient static key allocates nothing for them).
    slots: Vec<Option<i64>>,
    /// The program's number of static keys (the length `slots` takes).
    keys: usize,
    dynamic: FxHashMap<i64, i64>,
    count: u32,
    limit: u32,
}

impl Memory {
    /// Memory for `program` holding `state`, allowing at most `limit` keys, with an empty
    /// transient memory of the default limit ([`crate::Limits::transient_keys`]; see
    /// [`Memory::with_transient_limit`]).
    pub fn new(program: &Program, state: &State, limit: u32) -> Memory {
        let mut slots = spare_slots(program.keys.len());
        let mut dynamic = spare_dynamic();
        let mut other = State::new();
        for (key, &value) in state {
            // Only a key starting with a digit or `-` can be an integer key; any other is
            // looked up among the static keys' names as [`StateKey::parse`] would have it,
            // without scanning it first.
            let int = key
                .as_bytes()
                .first()
                .is_some_and(|c| c.is_ascii_digit() || *c == b'-');
            match int.then(|| StateKey::parse(key)).flatten() {
                Some(StateKey::Int(k)) => {
                    dynamic.insert(k, value);
                }
                _ => match program.keys.iter().position(|k| k == key) {
                    Some(slot) => slots[slot] = Some(value),
                    None => {
                        other.insert(key.clone(), value);
                    }
                },
            }
        }
        let count = u32::try_from(state.len()).unwrap_or(u32::MAX);
        let transient = Transient {
            slots: Vec::new(),
            keys: program.keys.len(),
            dynamic: FxHashMap::default(),
            count: 0,
            limit: crate::Limits::default().transient_keys,
        };
        Memory {
            slots,
            dynamic,
            other,
            count,
            limit,
            transient,
        }
    }

    /// The same memory, allowing at most `limit` keys in its transient memory.
    #[inline]
    pub fn with_transient_limit(mut self, limit: u32) -> Memory {
        self.transient.limit = limit;
        self
    }

    /// Number of keys holding a value in the transient memory.
    pub fn transient_len(&self) -> u32 {
        self.transient.count
    }

    /// The value in transient static slot `slot` (`tload K`).
    pub fn tload(&self, slot: u32) -> VmResult<i64> {
        match self.transient.slots.get(slot as usize) {
            Some(Some(v)) => Ok(*v),
            _ => Err(VmError::new(
                ErrorKind::InvalidMemoryAccess,
                format!("tload of transient static key #{slot}, which holds no value"),
            )),
        }
    }

    /// Stores `value` in transient static slot `slot` (`tstore K`).
    pub fn tstore(&mut self, slot: u32, value: i64) -> VmResult<()> {
        let t = &mut self.transient;
        if t.slots.is_empty() && (slot as usize) < t.keys {
            t.slots = vec![None; t.keys];
        }
        match t.slots.get_mut(slot as usize) {
            Some(cell @ None) => {
                grow_transient(&mut t.count, t.limit)?;
                *cell = Some(value);
                Ok(())
            }
            Some(Some(cell)) => {
                *cell = value;
                Ok(())
            }
            None => Err(VmError::new(
                ErrorKind::InvalidMemoryAccess,
                format!("transient static key #{slot} does not exist"),
            )),
        }
    }

    /// The value under the integer key `key` in the transient memory (dynamic `tload`).
    pub fn tload_dyn(&self, key: i64) -> VmResult<i64> {
        self.transient.dynamic.get(&key).copied().ok_or_else(|| {
            VmError::new(
                ErrorKind::InvalidMemoryAccess,
                format!("tload of transient key {key}, which holds no value"),
            )
        })
    }

    /// Stores `value` under the integer key `key` in the transient memory (dynamic `tstore`).
    pub fn tstore_dyn(&mut self, key: i64, value: i64) -> VmResult<()> {
        let t = &mut self.transient;
        if let Some(cell) = t.dynamic.get_mut(&key) {
            *cell = value;
            return Ok(());
        }
        grow_transient(&mut t.count, t.limit)?;
        t.dynamic.insert(key, value);
        Ok(())
    }

    /// Number of keys holding a value.
    pub fn len(&self) -> u32 {
        self.count
    }

    /// Whether no key holds a value.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The value in static slot `slot` (`load K`).
    // The accessors are `#[inline]` with their errors made out of line, so an engine's loop
    // compiles them to a few instructions.
    #[inline]
    pub fn load(&self, slot: u32) -> VmResult<i64> {
        match self.slots.get(slot as usize) {
            Some(Some(v)) => Ok(*v),
            _ => Err(no_static_value(slot)),
        }
    }

    /// Stores `value` in static slot `slot` (`store K`).
    #[inline]
    pub fn store(&mut self, slot: u32, value: i64) -> VmResult<()> {
        match self.slots.get_mut(slot as usize) {
            Some(Some(cell)) => {
                *cell = value;
                Ok(())
            }
            _ => self.store_new(slot, value),
        }
    }

    /// [`Memory::store`] to a slot holding no value (a new key) or to no slot.
    #[cold]
    #[inline(never)]
    fn store_new(&mut self, slot: u32, value: i64) -> VmResult<()> {
        let limit = self.limit;
        let count = &mut self.count;
        match self.slots.get_mut(slot as usize) {
            Some(cell) => {
                grow(count, limit)?;
                *cell = Some(value);
                Ok(())
            }
            None => Err(VmError::new(
                ErrorKind::InvalidMemoryAccess,
                format!("static key #{slot} does not exist"),
            )),
        }
    }

    /// Number of static slots (the program's static keys).
    pub fn static_len(&self) -> usize {
        self.slots.len()
    }

    /// The static slots as raw cells, for an engine's inner loop: a pointer to
    /// [`Memory::static_len`] cells, cell `k` holding static key `k`'s value if it has one.
    ///
    /// Through it an engine may read any cell, and overwrite a cell that holds a value: what
    /// [`Memory::load`] and [`Memory::store`] do in those cases. A store to an empty cell
    /// must go through [`Memory::store`], which counts the new key against the limit. The
    /// pointer is valid while the memory is neither moved nor dropped, until the next call of
    /// another `&mut self` method (then ask again).
    ///
    /// ```
    /// use coopvm_core::{memory::Memory, program::{Program, State}};
    /// let program = Program { keys: vec!["n".into()], ..Default::default() };
    /// let mut m = Memory::new(&program, &State::from([("n".to_string(), 4)]), 10);
    /// let cells = m.static_cells();
    /// // SAFETY: cell 0 exists (`static_len() == 1`) and holds a value; nothing else runs.
    /// unsafe {
    ///     assert_eq!(*cells, Some(4));
    ///     *cells = Some(5);
    /// }
    /// assert_eq!(m.load(0).unwrap(), 5);
    /// ```
    #[inline]
    pub fn static_cells(&mut self) -> *mut Option<i64> {
        self.slots.as_mut_ptr()
    }

    /// The value under the integer key `key` (dynamic `load`).
    #[inline]
    pub fn load_dyn(&self, key: i64) -> VmResult<i64> {
        match self.dynamic.get(&key) {
            Some(v) => Ok(*v),
            None => Err(no_dynamic_value(key)),
        }
    }

    /// Stores `value` under the integer key `key` (dynamic `store`).
    #[inline]
    pub fn store_dyn(&mut self, key: i64, value: i64) -> VmResult<()> {
        if let Some(cell) = self.dynamic.get_mut(&key) {
            *cell = value;
            return Ok(());
        }
        self.insert_dyn(key, value)
    }

    /// [`Memory::store_dyn`] of a new key.
    #[inline(never)]
    fn insert_dyn(&mut self, key: i64, value: i64) -> VmResult<()> {
        grow(&mut self.count, self.limit)?;
        self.dynamic.insert(key, value);
        Ok(())
    }

    /// The state this memory holds, keys named as in [`State`] (the transient memory is
    /// not part of it).
    pub fn into_state(mut self, program: &Program) -> State {
        let mut state = std::mem::take(&mut self.other);
        for (name, value) in program.keys.iter().zip(&self.slots) {
            if let Some(v) = *value {
                state.insert(name.clone(), v);
            }
        }
        for (k, v) in self.dynamic.drain() {
            state.insert(int_key(k), v);
        }
        state
    }
}

impl Drop for Memory {
    /// Keeps the static slots and the integer-key table for the thread's next memory.
    fn drop(&mut self) {
        recycle_slots(std::mem::take(&mut self.slots));
        recycle_dynamic(std::mem::take(&mut self.dynamic));
    }
}

thread_local! {
    /// The static slots of the last memory turned into a state on this thread, reused by
    /// the next memory made here (a run's memory then allocates nothing for them).
    static SPARE_SLOTS: Cell<Vec<Option<i64>>> = const { Cell::new(Vec::new()) };
}

/// Spare slot vectors larger than this are freed, not kept.
const SPARE_SLOTS_MAX: usize = 1 << 12;

thread_local! {
    /// The (emptied) integer-key table of the last memory turned into a state on this
    /// thread, reused by the next memory made here: a run that stores many integer keys
    /// finds the table already grown instead of growing it again, key after key.
    static SPARE_DYNAMIC: Cell<FxHashMap<i64, i64>> =
        const { Cell::new(FxHashMap::with_hasher(rustc_hash::FxBuildHasher)) };
}

/// Spare integer-key tables with room for more than this many keys are freed, not kept.
const SPARE_DYNAMIC_MAX: usize = 1 << 16;

/// An empty integer-key table.
fn spare_dynamic() -> FxHashMap<i64, i64> {
    let mut map = SPARE_DYNAMIC.try_with(Cell::take).unwrap_or_default();
    map.clear();
    map
}

fn recycle_dynamic(map: FxHashMap<i64, i64>) {
    if map.capacity() <= SPARE_DYNAMIC_MAX {
        let _ = SPARE_DYNAMIC.try_with(|spare| spare.set(map));
    }
}

/// `n` empty static slots.
fn spare_slots(n: usize) -> Vec<Option<i64>> {
    let mut slots = SPARE_SLOTS.try_with(Cell::take).unwrap_or_default();
    slots.clear();
    slots.resize(n, None);
    slots
}

fn recycle_slots(slots: Vec<Option<i64>>) {
    if slots.capacity() <= SPARE_SLOTS_MAX {
        let _ = SPARE_SLOTS.try_with(|spare| spare.set(slots));
    }
}

#[cold]
#[inline(never)]
fn no_static_value(slot: u32) -> VmError {
    VmError::new(
        ErrorKind::InvalidMemoryAccess,
        format!("load of static key #{slot}, which holds no value"),
    )
}

#[cold]
#[inline(never)]
fn no_dynamic_value(key: i64) -> VmError {
    VmError::new(
        ErrorKind::InvalidMemoryAccess,
        format!("load of key {key}, which holds no value"),
    )
}

fn grow(count: &mut u32, limit: u32) -> VmResult<()> {
    if *count >= limit {
        return Err(VmError::new(
            ErrorKind::MemoryLimitExceeded,
            format!("memory is limited to {limit} keys"),
        ));
    }
    *count += 1;
    Ok(())
}

fn grow_transient(count: &mut u32, limit: u32) -> VmResult<()> {
    if *count >= limit {
        return Err(VmError::new(
            ErrorKind::MemoryLimitExceeded,
            format!("transient memory is limited to {limit} keys"),
        ));
    }
    *count += 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program() -> Program {
        Program {
            keys: vec!["a".into(), "b".into()],
            ..Default::default()
        }
    }

    #[test]
    fn loads_and_stores() {
        let p = program();
        let s = State::from([("a".into(), 1), ("5".into(), 50), ("zz".into(), 9)]);
        let mut m = Memory::new(&p, &s, 5);
        assert_eq!(m.len(), 3);
        assert_eq!(m.load(0).unwrap(), 1);
        assert_eq!(m.load(1).unwrap_err().kind, ErrorKind::InvalidMemoryAccess);
        assert_eq!(m.load(9).unwrap_err().kind, ErrorKind::InvalidMemoryAccess);
        assert_eq!(
            m.store(9, 1).unwrap_err().kind,
            ErrorKind::InvalidMemoryAccess
        );
        assert_eq!(m.load_dyn(5).unwrap(), 50);
        assert_eq!(
            m.load_dyn(6).unwrap_err().kind,
            ErrorKind::InvalidMemoryAccess
        );
        m.store(1, 2).unwrap();
        m.store_dyn(-6, 60).unwrap();
        m.store_dyn(-6, 61).unwrap();
        assert_eq!(m.len(), 5);
        let out = m.into_state(&p);
        let want = State::from([
            ("a".into(), 1),
            ("b".into(), 2),
            ("5".into(), 50),
            ("-6".into(), 61),
            ("zz".into(), 9),
        ]);
        assert_eq!(out, want);
    }

    #[test]
    fn limit_counts_new_keys_only() {
        let p = program();
        let mut m = Memory::new(&p, &State::new(), 2);
        m.store(0, 1).unwrap();
        m.store_dyn(1, 1).unwrap();
        m.store(0, 2).unwrap();
        m.store_dyn(1, 2).unwrap();
        assert_eq!(
            m.store(1, 1).unwrap_err().kind,
            ErrorKind::MemoryLimitExceeded
        );
        assert_eq!(
            m.store_dyn(2, 1).unwrap_err().kind,
            ErrorKind::MemoryLimitExceeded
        );
    }

    #[test]
    fn transient_memory_is_separate_and_never_state() {
        let p = program();
        let s = State::from([("a".into(), 1), ("5".into(), 50)]);
        let mut m = Memory::new(&p, &s, 3).with_transient_limit(2);
        // Its own namespaces: the persistent `a` and `5` are not transient keys.
        assert_eq!(m.tload(0).unwrap_err().kind, ErrorKind::InvalidMemoryAccess);
        assert_eq!(
            m.tload_dyn(5).unwrap_err().kind,
            ErrorKind::InvalidMemoryAccess
        );
        assert_eq!(m.tload(9).unwrap_err().kind, ErrorKind::InvalidMemoryAccess);
        assert_eq!(
            m.tstore(9, 1).unwrap_err().kind,
            ErrorKind::InvalidMemoryAccess
        );
        m.tstore(0, 10).unwrap();
        m.tstore_dyn(5, 55).unwrap();
        m.tstore(0, 11).unwrap();
        m.tstore_dyn(5, 56).unwrap();
        assert_eq!((m.tload(0).unwrap(), m.tload_dyn(5).unwrap()), (11, 56));
        assert_eq!((m.len(), m.transient_len()), (2, 2));
        // Its own limit: a third transient key fails, persistent keys are unaffected.
        let e = m.tstore(1, 1).unwrap_err();
        assert_eq!(e.kind, ErrorKind::MemoryLimitExceeded);
        assert_eq!(e.message, "transient memory is limited to 2 keys");
        assert_eq!(
            m.tstore_dyn(6, 1).unwrap_err().kind,
            ErrorKind::MemoryLimitExceeded
        );
        m.store(1, 2).unwrap();
        // The persistent values are untouched and the state has no transient key.
        assert_eq!((m.load(0).unwrap(), m.load_dyn(5).unwrap()), (1, 50));
        let state = m.into_state(&p);
        assert_eq!(
            state,
            State::from([("a".into(), 1), ("b".into(), 2), ("5".into(), 50)])
        );
        // The default limit is the default Limits'.
        let m = Memory::new(&p, &State::new(), 0);
        assert_eq!(m.transient.limit, crate::Limits::default().transient_keys);
    }
}
