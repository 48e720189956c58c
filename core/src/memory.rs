//! A contract's key-value memory during a run, shared by both engines.
//!
//! Static keys (`store votes`) were resolved by the assembler to slot indices, so they cost an
//! array access, never a hash. Dynamic keys (`push 7 store`) are integers: small
//! non-negative ones live in a dense array indexed by the key (an access is a bounds check and
//! a read), every other one in a hash map with a fast, deterministic hasher. The dense part
//! grows, by doubling, only while the small keys fill at least an eighth of it, so its size
//! stays within eight times the number of keys held, and which part holds a key is never
//! observable (the state a run ends with is a sorted map). The memory starts from the
//! contract's state and is turned back into a [`State`] only when a run succeeds.
//!
//! Beside it lives the run's *transient* memory (`tstore`/`tload`): the same two kinds of
//! keys (static slots and integer keys), in namespaces of their own, starting empty, with
//! their own key limit ([`crate::Limits::transient_keys`]), and never part of the state: it
//! is dropped with the run, whatever its result. It is allocated by the first transient
//! store (a run that never makes one allocates nothing for it).

use crate::error::{ErrorKind, VmError, VmResult};
use crate::program::{int_key, Program, State, StateKey};
use rustc_hash::FxHashMap;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::mem::MaybeUninit;

/// The run-time memory of one contract.
///
/// ```
/// use coopvm_core::{memory::Memory, program::{Program, State}};
/// let program = Program { keys: vec!["votes".into()], ..Default::default() };
/// let state = State::from([("votes".into(), 2)]);
/// let mut m = Memory::new(&program, &state, 10);
/// m.store(0, m.load(0).unwrap() + 1).unwrap();
/// assert_eq!(m.into_state(&program)["votes"], 3);
/// ```
#[derive(Clone, Debug)]
pub struct Memory {
    slots: Vec<Option<i64>>,
    dynamic: IntKeys,
    /// Named keys of the initial state that no static key of the program refers to; they are
    /// kept as they are.
    other: State,
    /// Where each key of the initial state lives, and its value there, in the state's
    /// (sorted) order: what [`Memory::take_state_from`] needs to refresh a copy of that
    /// state in place, and [`Memory::reset`] to hold that state again without reading it.
    origins: Vec<(Origin, i64)>,
    /// The initial state `origins` describe when [`Memory::reset`] made them (sharing its map,
    /// which therefore no one changes in place), or none.
    origins_from: State,
    /// The static keys of the program `origins` were found for.
    origins_keys: Vec<String>,
    count: u32,
    limit: u32,
    /// The key limit of the transient memory.
    transient_limit: u32,
    /// The transient memory, made by its first store.
    transient: Option<Box<Transient>>,
    /// The state [`Memory::take_state_from`] handed out last, which it refreshes in place
    /// instead of copying the initial state again once no other state shares its map.
    last: State,
    /// The initial state `last` was made from (sharing its map, which therefore no one
    /// changes in place).
    last_from: State,
}

/// Where a key of the initial state lives in a [`Memory`].
#[derive(Clone, Copy, Debug)]
enum Origin {
    /// In this static slot.
    Slot(u32),
    /// Under this integer key.
    Int(i64),
    /// In `other`: a named key no static key refers to, which a run cannot change.
    Other,
}

/// The run's transient memory (see the module docs).
#[derive(Clone, Debug)]
struct Transient {
    /// The static slots, allocated by the first `tstore K` (a run that never stores a
    /// transient static key allocates nothing for them).
    slots: Vec<Option<i64>>,
    dynamic: IntKeys,
    count: u32,
}

/// Keys at least this large (and negative keys) always live in the hash map of [`IntKeys`].
const DENSE_MAX: u64 = 1 << 20;
/// The dense part of [`IntKeys`] may always cover this many keys, however few are held.
const DENSE_MIN: usize = 64;

// The dense part's cells are `Option<i64>`, which compiled code reads and writes in place
// ([`Memory::dense_keys`]): these constants are its layout on this build, checked when the
// crate is compiled (below) and by a test. Rust does not promise this layout, so a
// compiler that changed it fails to build this crate rather than run wrong code.

/// Byte offset of the flag of a dense cell (`Option<i64>`): its low byte is 1 when the key
/// holds a value, 0 when it holds none.
pub const INT_CELL_PRESENT: i32 = 0;
/// Byte offset of the value of a dense cell that holds one.
pub const INT_CELL_VALUE: i32 = 8;
/// `log2` of the size of a dense cell: cell `k` starts `k << INT_CELL_SHIFT` bytes in.
pub const INT_CELL_SHIFT: u8 = 4;

const _: () = {
    assert!(std::mem::size_of::<Option<i64>>() == 1 << INT_CELL_SHIFT);
    let v: i64 = 0x0102_0304_0506_0708;
    // SAFETY: both are 16 bytes; only bytes that are initialized are read (a tag, a value).
    let some: [MaybeUninit<u8>; 16] = unsafe { std::mem::transmute(Some(v)) };
    let none: [MaybeUninit<u8>; 16] = unsafe { std::mem::transmute(None::<i64>) };
    // SAFETY: the tag is initialized in both.
    assert!(unsafe { some[INT_CELL_PRESENT as usize].assume_init() } == 1);
    assert!(unsafe { none[INT_CELL_PRESENT as usize].assume_init() } == 0);
    let bytes = v.to_ne_bytes();
    let mut i = 0;
    while i < 8 {
        // SAFETY: a `Some`'s value is initialized.
        assert!(unsafe { some[INT_CELL_VALUE as usize + i].assume_init() } == bytes[i]);
        i += 1;
    }
};

/// The dense integer keys of a [`Memory`] as raw cells, for an engine's compiled code
/// ([`Memory::dense_keys`]).
#[derive(Clone, Copy, Debug)]
pub struct DenseKeys {
    /// `len` cells: cell `k` is integer key `k` (see [`INT_CELL_PRESENT`] for its layout).
    pub cells: *mut Option<i64>,
    /// Number of cells (0, or a power of two of at most 2^20).
    pub len: u64,
    /// How many keys may still be created before the memory's key limit is reached.
    pub room: u32,
}

/// Integer keys and their values: a dense array for small non-negative keys, a hash map for
/// the others (see the module docs).
///
/// Invariant: every key below `dense.len()` (and non-negative) is held in `dense`, never in
/// `map`; `dense.len()` is 0 or a power of two of at least [`DENSE_MIN`], at most
/// [`DENSE_MAX`].
#[derive(Clone, Debug)]
struct IntKeys {
    dense: Vec<Option<i64>>,
    /// Keys held in `dense`.
    in_dense: usize,
    /// Keys held in `map` that are in `0..DENSE_MAX` (candidates for `dense` when it grows).
    small_in_map: usize,
    map: FxHashMap<i64, i64>,
}

impl IntKeys {
    const fn new() -> IntKeys {
        IntKeys {
            dense: Vec::new(),
            in_dense: 0,
            small_in_map: 0,
            map: FxHashMap::with_hasher(rustc_hash::FxBuildHasher),
        }
    }

    /// Empties it, keeping its allocations (O(1) for the dense part).
    fn clear(&mut self) {
        self.dense.clear();
        self.in_dense = 0;
        self.small_in_map = 0;
        self.map.clear();
    }

    // The dense part inline, the hash map out of line: an engine's loop that inlines the
    // memory's accessors gets a few instructions, not a hash lookup.
    #[inline]
    fn get(&self, key: i64) -> Option<i64> {
        if (key as u64) < self.dense.len() as u64 {
            return self.dense[key as usize];
        }
        self.get_hashed(key)
    }

    #[inline(never)]
    fn get_hashed(&self, key: i64) -> Option<i64> {
        self.map.get(&key).copied()
    }

    #[inline]
    fn get_mut(&mut self, key: i64) -> Option<&mut i64> {
        if (key as u64) < self.dense.len() as u64 {
            return self.dense[key as usize].as_mut();
        }
        self.get_mut_hashed(key)
    }

    #[inline(never)]
    fn get_mut_hashed(&mut self, key: i64) -> Option<&mut i64> {
        self.map.get_mut(&key)
    }

    /// Adds `key`, which holds no value yet.
    fn insert_new(&mut self, key: i64, value: i64) {
        let k = key as u64;
        if k < DENSE_MAX {
            let k = k as usize;
            if k >= self.dense.len() {
                let want = (k + 1).next_power_of_two().max(DENSE_MIN);
                // Small keys held once this one is: grow while they fill an eighth of it.
                let small = self.in_dense + self.small_in_map + 1;
                if want > DENSE_MIN && small.saturating_mul(8) < want {
                    self.small_in_map += 1;
                    self.map.insert(key, value);
                    return;
                }
                self.grow(want);
            }
            debug_assert!(self.dense[k].is_none());
            self.dense[k] = Some(value);
            self.in_dense += 1;
            return;
        }
        self.map.insert(key, value);
    }

    /// Extends the dense part to `len` keys, moving the keys it now covers out of the map.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, len: usize) {
        self.dense.resize(len, None);
        if self.small_in_map > 0 {
            let (dense, moved) = (&mut self.dense, &mut self.in_dense);
            let mut left = self.small_in_map;
            self.map.retain(|&k, &mut v| {
                if (k as u64) < len as u64 {
                    dense[k as usize] = Some(v);
                    *moved += 1;
                    left -= 1;
                    false
                } else {
                    true
                }
            });
            self.small_in_map = left;
        }
    }

    /// Every key and its value, in no particular order.
    fn for_each(&self, mut f: impl FnMut(i64, i64)) {
        for (k, v) in self.dense.iter().enumerate() {
            if let Some(v) = *v {
                f(k as i64, v);
            }
        }
        for (&k, &v) in &self.map {
            f(k, v);
        }
    }
}

impl Memory {
    /// Memory for `program` holding `state`, allowing at most `limit` keys, with an empty
    /// transient memory of the default limit ([`crate::Limits::transient_keys`]; see
    /// [`Memory::with_transient_limit`]).
    pub fn new(program: &Program, state: &State, limit: u32) -> Memory {
        let Spare {
            slots,
            dynamic,
            origins,
        } = SPARE.try_with(Cell::take).unwrap_or_default();
        let mut memory = Memory {
            slots,
            dynamic,
            other: State::new(),
            origins,
            origins_from: State::new(),
            origins_keys: Vec::new(),
            count: 0,
            limit,
            transient_limit: crate::Limits::default().transient_keys,
            transient: None,
            last: State::new(),
            last_from: State::new(),
        };
        memory.fill(program, state);
        memory
    }

    /// Empties this memory (keeping its allocations), then makes it hold `state` for
    /// `program` like [`Memory::new`], with `limit` keys and `transient_limit` transient
    /// keys: what the run protocol does with the memory it keeps per thread.
    pub(crate) fn reset(
        &mut self,
        program: &Program,
        state: &State,
        limit: u32,
        transient_limit: u32,
    ) {
        self.limit = limit;
        self.transient_limit = transient_limit;
        if self.transient.is_some() {
            self.transient = None;
        }
        // The state the memory last held, for the same static keys: where each of its keys
        // lives is known (`other` still holds its unnamed keys).
        if !state.is_empty()
            && state.shares_with(&self.origins_from)
            && program.keys == self.origins_keys
        {
            self.refill();
            return;
        }
        if !self.other.is_empty() {
            self.other.clear();
        }
        self.fill(program, state);
        self.remember(program, state);
    }

    /// Keeps what the next [`Memory::reset`] needs to tell that it is given the state this
    /// memory was just filled with, for the same static keys. Only for a memory the thread
    /// keeps (one made by [`Memory::new`] records nothing: it is mostly made for one run,
    /// and copying the keys would cost it an allocation each).
    fn remember(&mut self, program: &Program, state: &State) {
        self.origins_from = state.clone();
        self.origins_keys.clone_from(&program.keys);
    }

    /// Makes this memory hold again the state `origins` describe, for the program they were
    /// found for (`other` holds that state's unnamed keys).
    #[inline]
    fn refill(&mut self) {
        debug_assert!(self.transient.is_none());
        let n = self.origins_keys.len();
        self.slots.clear();
        self.slots.resize(n, None);
        self.dynamic.clear();
        for &(origin, value) in &self.origins {
            match origin {
                Origin::Slot(slot) => self.slots[slot as usize] = Some(value),
                Origin::Int(k) => match self.dynamic.get_mut(k) {
                    Some(cell) => *cell = value,
                    None => self.dynamic.insert_new(k, value),
                },
                Origin::Other => {}
            }
        }
        self.count = u32::try_from(self.origins.len()).unwrap_or(u32::MAX);
    }

    /// Makes this memory, whose `other` is empty, hold `state` (any value it held before is
    /// dropped).
    #[inline]
    fn fill(&mut self, program: &Program, state: &State) {
        debug_assert!(self.other.is_empty() && self.transient.is_none());
        self.slots.clear();
        self.slots.resize(program.keys.len(), None);
        self.dynamic.clear();
        self.origins.clear();
        for (key, &value) in state {
            // Only a key starting with a digit or `-` can be an integer key; any other is
            // looked up among the static keys' names as [`StateKey::parse`] would have it,
            // without scanning it first.
            let int = key
                .as_bytes()
                .first()
                .is_some_and(|c| c.is_ascii_digit() || *c == b'-');
            let origin = match int.then(|| StateKey::parse(key)).flatten() {
                Some(StateKey::Int(k)) => {
                    match self.dynamic.get_mut(k) {
                        Some(cell) => *cell = value,
                        None => self.dynamic.insert_new(k, value),
                    }
                    Origin::Int(k)
                }
                _ => match program.keys.iter().position(|k| k == key) {
                    Some(slot) => {
                        self.slots[slot] = Some(value);
                        Origin::Slot(slot as u32)
                    }
                    None => {
                        self.other.insert(key.clone(), value);
                        Origin::Other
                    }
                },
            };
            self.origins.push((origin, value));
        }
        self.count = u32::try_from(state.len()).unwrap_or(u32::MAX);
    }

    /// The same memory, allowing at most `limit` keys in its transient memory.
    #[inline]
    pub fn with_transient_limit(mut self, limit: u32) -> Memory {
        self.set_transient_limit(limit);
        self
    }

    /// Allows at most `limit` keys in the transient memory ([`Memory::with_transient_limit`]
    /// in place).
    #[inline]
    pub fn set_transient_limit(&mut self, limit: u32) {
        self.transient_limit = limit;
    }

    /// Number of keys holding a value in the transient memory.
    pub fn transient_len(&self) -> u32 {
        self.transient.as_ref().map_or(0, |t| t.count)
    }

    /// The transient memory, made empty if it was not yet.
    fn transient_mut(&mut self) -> &mut Transient {
        self.transient.get_or_insert_with(|| {
            Box::new(Transient {
                slots: Vec::new(),
                dynamic: IntKeys::new(),
                count: 0,
            })
        })
    }

    /// The value in transient static slot `slot` (`tload K`).
    pub fn tload(&self, slot: u32) -> VmResult<i64> {
        match self
            .transient
            .as_ref()
            .and_then(|t| t.slots.get(slot as usize))
        {
            Some(Some(v)) => Ok(*v),
            _ => Err(VmError::new(
                ErrorKind::InvalidMemoryAccess,
                format!("tload of transient static key #{slot}, which holds no value"),
            )),
        }
    }

    /// Stores `value` in transient static slot `slot` (`tstore K`).
    pub fn tstore(&mut self, slot: u32, value: i64) -> VmResult<()> {
        let (keys, limit) = (self.slots.len(), self.transient_limit);
        if slot as usize >= keys {
            return Err(VmError::new(
                ErrorKind::InvalidMemoryAccess,
                format!("transient static key #{slot} does not exist"),
            ));
        }
        let t = self.transient_mut();
        if t.slots.is_empty() {
            t.slots = vec![None; keys];
        }
        let cell = &mut t.slots[slot as usize];
        if cell.is_none() {
            grow_transient(&mut t.count, limit)?;
        }
        *cell = Some(value);
        Ok(())
    }

    /// The value under the integer key `key` in the transient memory (dynamic `tload`).
    pub fn tload_dyn(&self, key: i64) -> VmResult<i64> {
        self.transient
            .as_ref()
            .and_then(|t| t.dynamic.get(key))
            .ok_or_else(|| {
                VmError::new(
                    ErrorKind::InvalidMemoryAccess,
                    format!("tload of transient key {key}, which holds no value"),
                )
            })
    }

    /// Stores `value` under the integer key `key` in the transient memory (dynamic `tstore`).
    pub fn tstore_dyn(&mut self, key: i64, value: i64) -> VmResult<()> {
        let limit = self.transient_limit;
        let t = self.transient_mut();
        if let Some(cell) = t.dynamic.get_mut(key) {
            *cell = value;
            return Ok(());
        }
        grow_transient(&mut t.count, limit)?;
        t.dynamic.insert_new(key, value);
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
    /// let mut m = Memory::new(&program, &State::from([("n".into(), 4)]), 10);
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
        match self.dynamic.get(key) {
            Some(v) => Ok(v),
            None => Err(no_dynamic_value(key)),
        }
    }

    /// Stores `value` under the integer key `key` (dynamic `store`).
    #[inline]
    pub fn store_dyn(&mut self, key: i64, value: i64) -> VmResult<()> {
        if let Some(cell) = self.dynamic.get_mut(key) {
            *cell = value;
            return Ok(());
        }
        self.insert_dyn(key, value)
    }

    /// [`Memory::store_dyn`] of a new key.
    #[inline(never)]
    fn insert_dyn(&mut self, key: i64, value: i64) -> VmResult<()> {
        grow(&mut self.count, self.limit)?;
        self.dynamic.insert_new(key, value);
        Ok(())
    }

    /// The dense part of the integer keys as raw cells, for an engine's compiled code: what
    /// [`Memory::load_dyn`] and [`Memory::store_dyn`] find there, without a call.
    ///
    /// Through `cells` an engine may read any of the `len` cells, overwrite the value of a
    /// cell that holds one (what `store_dyn` does with such a key), and create a key by
    /// filling a cell that holds none (the flag 1 and the value), at most `room` of them
    /// (the memory's key limit), reporting them with [`Memory::note_dense_created`] before
    /// any other call on the memory. Any other key (absent from the cells, negative, beyond
    /// `len`) goes through `load_dyn`/`store_dyn`. The pointer, the length and the room are
    /// valid while the memory is neither moved nor dropped, until the next call of another
    /// `&mut self` method (a store may grow or move the cells: then ask again).
    ///
    /// ```
    /// use coopvm_core::{memory::Memory, program::{Program, State}};
    /// let program = Program::default();
    /// let mut m = Memory::new(&program, &State::from([("3".into(), 30)]), 10);
    /// let d = m.dense_keys();
    /// assert!(d.len > 3);
    /// // SAFETY: cells 3 and 4 are within `len`; nothing else touches the memory meanwhile.
    /// unsafe {
    ///     assert_eq!(*d.cells.add(3), Some(30));
    ///     *d.cells.add(3) = Some(31);
    ///     assert_eq!(*d.cells.add(4), None);
    ///     *d.cells.add(4) = Some(40);
    /// }
    /// m.note_dense_created(1);
    /// assert_eq!((m.load_dyn(3).unwrap(), m.load_dyn(4).unwrap(), m.len()), (31, 40, 2));
    /// ```
    #[inline]
    pub fn dense_keys(&mut self) -> DenseKeys {
        let dense = &mut self.dynamic.dense;
        DenseKeys {
            cells: dense.as_mut_ptr(),
            len: dense.len() as u64,
            room: self.limit.saturating_sub(self.count),
        }
    }

    /// Counts `n` keys created by filling empty cells of [`Memory::dense_keys`] (at most
    /// the `room` it gave).
    #[inline]
    pub fn note_dense_created(&mut self, n: u32) {
        debug_assert!(n <= self.limit.saturating_sub(self.count));
        self.count += n;
        self.dynamic.in_dense += n as usize;
    }

    /// The state this memory holds, keys named as in [`State`] (the transient memory is
    /// not part of it).
    pub fn into_state(mut self, program: &Program) -> State {
        self.take_state(program)
    }

    /// The state this memory holds, like [`Memory::into_state`], leaving the memory empty
    /// (for a caller that keeps the memory where it is and drops it later).
    ///
    /// ```
    /// use coopvm_core::{memory::Memory, program::{Program, State}};
    /// let program = Program { keys: vec!["n".into()], ..Default::default() };
    /// let mut m = Memory::new(&program, &State::from([("n".into(), 4)]), 10);
    /// m.store_dyn(7, 1).unwrap();
    /// let state = m.take_state(&program);
    /// assert_eq!(state, State::from([("n".into(), 4), ("7".into(), 1)]));
    /// assert!(m.is_empty());
    /// ```
    pub fn take_state(&mut self, program: &Program) -> State {
        self.origins.clear();
        self.origins_from = State::new();
        let mut state = std::mem::take(&mut self.other);
        for (name, value) in program.keys.iter().zip(&mut self.slots) {
            if let Some(v) = value.take() {
                state.insert(name.as_str().into(), v);
            }
        }
        self.dynamic.for_each(|k, v| {
            state.insert(int_key(k), v);
        });
        self.dynamic.clear();
        self.count = 0;
        state
    }
}

impl Memory {
    /// The state this memory holds, like [`Memory::take_state`], for a memory made from
    /// `initial` (by [`Memory::new`] or [`Memory::reset`]) with this `program`. When the run
    /// added no key (no key is ever removed), the state has exactly `initial`'s keys: it is a
    /// copy of `initial` whose values are refreshed in order, without looking a key up or
    /// building the map again. The memory keeps its values (this is the last thing a run
    /// does with it before [`Memory::reset`] or its drop, which empty it).
    pub(crate) fn take_state_from(&mut self, program: &Program, initial: &State) -> State {
        let same_keys = self.origins.len() == initial.len()
            && u32::try_from(initial.len()).is_ok_and(|n| n == self.count);
        if !same_keys {
            return self.take_state(program);
        }
        // The value key number `i` of `initial` holds now.
        let now = |i: usize, old: i64| {
            let now = match self.origins[i].0 {
                Origin::Slot(slot) => self.slots[slot as usize],
                Origin::Int(k) => self.dynamic.get(k),
                Origin::Other => Some(old),
            };
            // A key of the initial state still holds a value: nothing removes one.
            debug_assert!(now.is_some(), "a key of the initial state lost its value");
            now.unwrap_or(old)
        };
        // The state this memory handed out last, if it was made from this very `initial`
        // (the memory keeps `initial`'s map shared, so no one changed it since: the same
        // map means the same keys) and no other state shares its map any more (its outcome
        // was dropped): its values are overwritten in place, and no map is made.
        if !initial.is_empty() && initial.shares_with(&self.last_from) {
            if let Some(map) = self.last.unshared_mut() {
                for (i, value) in map.values_mut().enumerate() {
                    *value = now(i, *value);
                }
                return self.last.clone();
            }
        }
        // A run that changed no value ends with its initial state: the same map.
        if !initial
            .values()
            .enumerate()
            .any(|(i, &old)| now(i, old) != old)
        {
            return initial.clone();
        }
        let mut map = BTreeMap::clone(initial);
        for (i, value) in map.values_mut().enumerate() {
            *value = now(i, *value);
        }
        let state = State::from(map);
        if state.len() <= LAST_STATE_MAX {
            self.last = state.clone();
            self.last_from = initial.clone();
        } else {
            self.last = State::new();
            self.last_from = State::new();
        }
        state
    }

    /// A memory for a run: the one this thread keeps ([`Memory::recycle`] gave it back), or a
    /// new one, [`reset`](Memory::reset) to hold `state`. A nested run (a host's contract
    /// call on the same thread) finds none while the outer run holds it, and makes its own.
    pub(crate) fn pooled(
        program: &Program,
        state: &State,
        limit: u32,
        transient_limit: u32,
    ) -> Box<Memory> {
        match POOL.try_with(Cell::take).ok().flatten() {
            Some(mut memory) => {
                memory.reset(program, state, limit, transient_limit);
                memory
            }
            None => {
                let mut memory = Box::new(
                    Memory::new(program, state, limit).with_transient_limit(transient_limit),
                );
                memory.remember(program, state);
                memory
            }
        }
    }

    /// Keeps `memory` for the thread's next run ([`Memory::pooled`], which empties it
    /// first), unless it grew large. A memory dropped instead (a large one, one a panic
    /// unwound past, or one that finds another already kept) leaves its tables to the next
    /// [`Memory::new`] as any memory does.
    pub(crate) fn recycle(memory: Box<Memory>) {
        if memory.slots.capacity() <= SPARE_SLOTS_MAX
            && memory.dynamic.map.capacity() <= SPARE_DYNAMIC_MAX
            && memory.dynamic.dense.capacity() <= SPARE_DENSE_MAX
            && memory.origins.capacity() <= SPARE_SLOTS_MAX
        {
            let _ = POOL.try_with(|pool| pool.set(Some(memory)));
        }
    }
}

impl Drop for Memory {
    /// Keeps the static slots and the integer-key table for the thread's next memory.
    fn drop(&mut self) {
        let (slots, dynamic, origins) = (
            std::mem::take(&mut self.slots),
            std::mem::replace(&mut self.dynamic, IntKeys::new()),
            std::mem::take(&mut self.origins),
        );
        if slots.capacity() <= SPARE_SLOTS_MAX
            && dynamic.map.capacity() <= SPARE_DYNAMIC_MAX
            && dynamic.dense.capacity() <= SPARE_DENSE_MAX
            && origins.capacity() <= SPARE_SLOTS_MAX
        {
            let _ = SPARE.try_with(|spare| {
                spare.set(Spare {
                    slots,
                    dynamic,
                    origins,
                })
            });
        }
    }
}

/// What a memory leaves for the next one made on its thread.
struct Spare {
    slots: Vec<Option<i64>>,
    dynamic: IntKeys,
    origins: Vec<(Origin, i64)>,
}

impl Default for Spare {
    fn default() -> Spare {
        Spare {
            slots: Vec::new(),
            dynamic: IntKeys::new(),
            origins: Vec::new(),
        }
    }
}

thread_local! {
    /// The static slots and the (emptied) integer-key table of the last memory dropped on
    /// this thread, reused by the next memory made here: a run's memory then allocates
    /// nothing for them, and a run that stores many integer keys finds the table already
    /// grown instead of growing it again, key after key.
    static SPARE: Cell<Spare> = const {
        Cell::new(Spare {
            slots: Vec::new(),
            dynamic: IntKeys::new(),
            origins: Vec::new(),
        })
    };

    /// The memory of the last run on this thread, for the next ([`Memory::pooled`]).
    static POOL: Cell<Option<Box<Memory>>> = const { Cell::new(None) };
}

/// A state handed out with more keys than this is not kept for the next run
/// ([`Memory::take_state_from`]).
const LAST_STATE_MAX: usize = 1 << 12;

/// Spare slot vectors larger than this are freed, not kept.
const SPARE_SLOTS_MAX: usize = 1 << 12;
/// Spare integer-key tables with room for more than this many keys are freed, not kept.
const SPARE_DYNAMIC_MAX: usize = 1 << 16;
/// Spare dense parts longer than this are freed, not kept.
const SPARE_DENSE_MAX: usize = 1 << 16;

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
        assert_eq!(m.transient_limit, crate::Limits::default().transient_keys);
    }

    /// A small deterministic generator for the model test.
    fn next(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    #[test]
    fn integer_keys_behave_as_a_map_whatever_part_holds_them() {
        // Keys drawn from ranges that exercise the dense part (small, filled upwards and
        // downwards), its growth and the moves out of the hash map, and the hash map
        // (negative, large): every load and store agrees with a plain map, the limit counts
        // new keys only, and the state is the map's.
        let p = program();
        for (round, span) in [(0u64, 40i64), (1, 300), (2, 5_000), (3, 1 << 21)].into_iter() {
            let mut seed = 0x9E37_79B9_7F4A_7C15 ^ round;
            let initial = State::from([("3".into(), 30), ("-2".into(), 20), ("a".into(), 1)]);
            let limit = 2_000;
            let mut m = Memory::new(&p, &initial, limit);
            let mut model: std::collections::BTreeMap<i64, i64> =
                [(3, 30), (-2, 20)].into_iter().collect();
            let mut count = initial.len() as u32;
            for step in 0..6_000i64 {
                let r = next(&mut seed);
                let key = match r % 4 {
                    0 => span - 1 - step % span,
                    1 => (r >> 8) as i64 % span,
                    2 => -((r >> 8) as i64 % span),
                    _ => ((r >> 8) as i64 % span) * 1_000,
                };
                if r & 0x100 == 0 {
                    let got = m.load_dyn(key).ok();
                    assert_eq!(got, model.get(&key).copied(), "load {key}");
                } else {
                    let stored = m.store_dyn(key, step);
                    if model.contains_key(&key) || count < limit {
                        stored.unwrap();
                        if model.insert(key, step).is_none() {
                            count += 1;
                        }
                    } else {
                        assert_eq!(stored.unwrap_err().kind, ErrorKind::MemoryLimitExceeded);
                    }
                }
                assert_eq!(m.len(), count);
            }
            let mut want: State = model.iter().map(|(k, v)| (int_key(*k), *v)).collect();
            want.insert("a".into(), 1);
            assert_eq!(m.into_state(&p), want, "round {round}");
        }
    }

    #[test]
    fn the_dense_part_stays_within_eight_times_the_small_keys() {
        let p = program();
        let mut m = Memory::new(&p, &State::new(), 1 << 20);
        // One large key alone does not make the dense part cover it.
        m.store_dyn(100_000, 1).unwrap();
        assert!(m.dynamic.dense.len() <= DENSE_MIN);
        // Filling downwards moves the keys over once they are dense enough.
        for k in (0..100_000).rev() {
            m.store_dyn(k, k).unwrap();
            let d = &m.dynamic;
            assert!(d.dense.len() <= DENSE_MIN.max(8 * (d.in_dense + d.small_in_map)));
        }
        assert_eq!(m.dynamic.dense.len(), 1 << 17);
        assert_eq!((m.dynamic.small_in_map, m.dynamic.map.len()), (0, 0));
        assert_eq!(m.load_dyn(100_000).unwrap(), 1);
        assert_eq!(m.load_dyn(99_999).unwrap(), 99_999);
        assert_eq!(m.len(), 100_001);
        // Keys beyond the dense range's maximum and negative keys stay hashed.
        m.store_dyn(-1, 5).unwrap();
        m.store_dyn(DENSE_MAX as i64, 6).unwrap();
        assert_eq!(m.dynamic.map.len(), 2);
        assert_eq!(
            (m.load_dyn(-1).unwrap(), m.load_dyn(1 << 20).unwrap()),
            (5, 6)
        );
    }

    #[test]
    fn a_reset_memory_is_a_new_one_and_its_state_is_the_same_either_way() {
        let p = program();
        let initial = State::from([("a".into(), 1), ("5".into(), 50), ("zz".into(), 9)]);
        let mut m = Memory::new(&p, &State::from([("b".into(), 2), ("-1".into(), 3)]), 9);
        m.store_dyn(100_000, 1).unwrap();
        m.tstore(0, 1).unwrap();
        m.reset(&p, &initial, 4, 1);
        assert_eq!((m.len(), m.limit, m.transient_len()), (3, 4, 0));
        assert!(m.load(1).is_err() && m.load_dyn(-1).is_err() && m.load_dyn(100_000).is_err());
        assert!(m.tload(0).is_err());
        // No new key: the refreshed copy; a new key: the state built again.
        m.store(0, 10).unwrap();
        m.store_dyn(5, 51).unwrap();
        let want = State::from([("a".into(), 10), ("5".into(), 51), ("zz".into(), 9)]);
        assert_eq!(m.clone().take_state_from(&p, &initial), want);
        assert_eq!(m.clone().take_state(&p), want);
        m.store(1, 20).unwrap();
        let mut grown = want.clone();
        grown.insert("b".into(), 20);
        assert_eq!(m.clone().take_state_from(&p, &initial), grown);
        assert_eq!(m.take_state(&p), grown);
    }

    #[test]
    fn a_memory_reset_to_the_state_it_held_holds_it_again() {
        // Reset to the very state it was made from (so where each key lives is known), after
        // runs that changed, added and removed values of every kind: as a new memory.
        let p = program();
        let initial = State::from([
            ("a".into(), 1),
            ("5".into(), 50),
            ("-7".into(), 70),
            ("zz".into(), 9),
        ]);
        let fresh = |p: &Program, s: &State| {
            let m = Memory::new(p, s, 9);
            (m.len(), m.slots.clone(), m.clone().take_state(p))
        };
        let seen = |m: &Memory, p: &Program| (m.len(), m.slots.clone(), m.clone().take_state(p));
        let mut m = Memory::new(&p, &initial, 9);
        for round in 0..4 {
            m.store(0, 10 + round).unwrap();
            m.store(1, 20).unwrap();
            m.store_dyn(5, 51).unwrap();
            m.store_dyn(100_000, 1).unwrap();
            m.tstore(0, 1).unwrap();
            match round {
                // Handed out as a copy of the initial state refreshed in place.
                1 => drop(m.take_state_from(&p, &initial)),
                // Built again (new keys): the memory no longer knows the state.
                2 => drop(m.take_state(&p)),
                // A failed run: nothing taken.
                _ => {}
            }
            m.reset(&p, &initial, 9, 4);
            assert_eq!(seen(&m, &p), fresh(&p, &initial), "round {round}");
            assert!(m.tload(0).is_err() && m.load(1).is_err() && m.load_dyn(100_000).is_err());
        }
        // Another program (other static keys) or another state: found again.
        let q = Program {
            keys: vec!["zz".into(), "a".into()],
            ..Default::default()
        };
        m.reset(&q, &initial, 9, 4);
        assert_eq!(seen(&m, &q), fresh(&q, &initial));
        assert_eq!((m.load(0).unwrap(), m.load(1).unwrap()), (9, 1));
        let equal = initial.clone();
        let mut edited = initial.clone();
        edited.insert("b".into(), 2);
        m.reset(&p, &edited, 9, 4);
        assert_eq!(seen(&m, &p), fresh(&p, &edited));
        m.reset(&p, &equal, 9, 4);
        assert_eq!(seen(&m, &p), fresh(&p, &initial));
    }

    #[test]
    fn the_cell_layout_compiled_code_reads_is_fixed() {
        // Compiled code addresses cells by these constants: a change of the layout must
        // change them (and this test).
        assert_eq!(std::mem::size_of::<Option<i64>>(), 16);
        assert_eq!(std::mem::align_of::<Option<i64>>(), 8);
        assert_eq!(
            (INT_CELL_PRESENT, INT_CELL_VALUE, INT_CELL_SHIFT),
            (0, 8, 4)
        );
        // What compiled code writes for a new key (the flag as a whole word, then the
        // value) reads back as `Some` of the value; a zeroed cell as `None`.
        let mut cell = MaybeUninit::<Option<i64>>::zeroed();
        // SAFETY: all zeros is `None` (checked when the crate is compiled).
        assert_eq!(unsafe { cell.assume_init() }, None);
        let p = cell.as_mut_ptr() as *mut u8;
        // SAFETY: both writes are within the 16 bytes of `cell`, at the offsets the layout
        // check above and the compile-time check keep.
        unsafe {
            (p.add(INT_CELL_PRESENT as usize) as *mut u64).write(1);
            (p.add(INT_CELL_VALUE as usize) as *mut i64).write(-7);
            assert_eq!(cell.assume_init(), Some(-7));
        }
    }

    #[test]
    fn dense_keys_written_in_place_are_the_memory_s_keys() {
        let p = program();
        let mut m = Memory::new(&p, &State::from([("2".into(), 20)]), 3);
        let d = m.dense_keys();
        assert_eq!((d.len, d.room), (DENSE_MIN as u64, 2));
        // SAFETY: cells 2 and 5 are within `len`; nothing else touches the memory meanwhile.
        unsafe {
            assert_eq!(*d.cells.add(2), Some(20));
            *d.cells.add(2) = Some(21);
            assert_eq!(*d.cells.add(5), None);
            *d.cells.add(5) = Some(50);
        }
        m.note_dense_created(1);
        assert_eq!((m.len(), m.dense_keys().room), (2, 1));
        assert_eq!((m.load_dyn(2).unwrap(), m.load_dyn(5).unwrap()), (21, 50));
        // The count is the limit's: one more key, then the limit.
        m.store_dyn(-1, 1).unwrap();
        assert_eq!(m.dense_keys().room, 0);
        let e = m.store_dyn(6, 1).unwrap_err();
        assert_eq!(e.kind, ErrorKind::MemoryLimitExceeded);
        // A store growing the dense part moves the cells: ask again.
        let mut m = Memory::new(&p, &State::new(), 1 << 20);
        for k in 0..1_000 {
            m.store_dyn(k, k).unwrap();
        }
        let d = m.dense_keys();
        assert_eq!((d.len, d.room), (1024, (1 << 20) - 1_000));
        // SAFETY: as above.
        unsafe { assert_eq!(*d.cells.add(999), Some(999)) };
        let want: State = (0..1_000).map(|k| (int_key(k), k)).collect();
        assert_eq!(m.into_state(&p), want);
    }

    #[test]
    fn a_reused_memory_starts_empty() {
        let p = program();
        let mut m = Memory::new(&p, &State::new(), 100);
        for k in 0..80 {
            m.store_dyn(k, k).unwrap();
        }
        m.store(0, 1).unwrap();
        m.tstore_dyn(4, 4).unwrap();
        drop(m);
        let m = Memory::new(&p, &State::from([("70".into(), 7)]), 100);
        assert_eq!(m.len(), 1);
        assert_eq!(m.load_dyn(70).unwrap(), 7);
        assert!(m.load_dyn(5).is_err() && m.load(0).is_err() && m.tload_dyn(4).is_err());
        assert_eq!(m.into_state(&p), State::from([("70".into(), 7)]));
    }
}
