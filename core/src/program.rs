//! The IR: a contract and its code, as produced by the assembler and decoded from bytes.
//!
//! The code is a flat vector of [`Insn`]s (the seed's `Vec<(OpCode, Option<i64>)>`), with
//! side tables for the static memory keys and string constants that operands index. Both
//! engines consume this IR after the verifier has accepted it.

use crate::isa::{Op, OperandKind};
use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One instruction: an opcode and its operand (0 when the opcode takes none).
///
/// The meaning of `arg` depends on [`crate::isa::OpInfo::operand`]: an immediate, a
/// string-pool index, a key-table index or an instruction index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Insn {
    /// The opcode.
    pub op: Op,
    /// The operand.
    pub arg: i64,
}

impl Insn {
    /// An instruction without an operand.
    pub const fn new(op: Op) -> Self {
        Insn { op, arg: 0 }
    }

    /// An instruction with an operand.
    pub const fn with(op: Op, arg: i64) -> Self {
        Insn { op, arg }
    }

    /// How many values the instruction needs on the stack: its table row's `pops`, except
    /// `pick N`, which pops nothing but reads the value N places below the top, so it needs
    /// N + 1. The verifier checks this against the stack height before the instruction.
    ///
    /// ```
    /// use coopvm_core::{Insn, Op};
    /// assert_eq!(Insn::new(Op::Add).needs(), 2);
    /// assert_eq!(Insn::with(Op::Pick, 3).needs(), 4);
    /// ```
    pub fn needs(&self) -> i64 {
        match self.op {
            Op::Pick => self.arg.saturating_add(1),
            op => i64::from(op.info().pops),
        }
    }
}

/// The largest `N` of `pick N`: one less than the largest stack limit
/// ([`crate::Limits::MAX`]), so `N + 1` never overflows and always names a value a stack
/// may hold.
pub const MAX_PICK: i64 = crate::limits::Limits::MAX.stack as i64 - 1;

/// A contract's code: instructions plus the tables their operands index.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Program {
    /// The instructions.
    pub code: Vec<Insn>,
    /// Static memory keys, indexed by `store K` / `load K` operands (each a memory slot).
    pub keys: Vec<String>,
    /// String constants, indexed by `push "..."` operands; their handles are their indices.
    pub strings: Vec<String>,
}

/// The seed's `CooperativeMetadata`: free-form key/value text describing the cooperative.
pub type Metadata = BTreeMap<String, String>;

/// A contract's key-value state (the seed's `Contract.state`), ordered for determinism: a
/// map from [`Key`] to `i64` that reads as a `BTreeMap` (it derefs to one).
///
/// Keys are either identifiers (static keys, `store votes`) or canonical decimal integers
/// (dynamic keys, `push 7 store`), see [`StateKey`].
///
/// The map is shared by copies of the state and copied only when one of them is changed
/// (any `&mut` access, through [`std::ops::DerefMut`], first makes this state's map its
/// own): copying a state (as a run does with its initial one when it fails, or when it
/// changes nothing) copies one pointer, and the run protocol may hand out a map it refreshed
/// in place. A key's text is shared too ([`Key`]). An empty state holds no map at all.
///
/// ```
/// use coopvm_core::State;
/// let mut state = State::from([("count".into(), 0)]);
/// let copy = state.clone();
/// state.insert("7".into(), 1);
/// assert_eq!((state.get("count"), state["7"], state.len()), (Some(&0), 1, 2));
/// assert_eq!((copy.len(), format!("{copy:?}")), (1, r#"{"count": 0}"#.to_string()));
/// ```
#[derive(Clone, Default)]
pub struct State(Option<Arc<BTreeMap<Key, i64>>>);

/// What an empty [`State`] derefs to.
static EMPTY_STATE: BTreeMap<Key, i64> = BTreeMap::new();

impl State {
    /// An empty state (allocates nothing).
    #[inline]
    pub const fn new() -> State {
        State(None)
    }

    /// Whether `self` and `other` share one map (so they are equal without comparing them),
    /// or are both empty.
    #[inline]
    pub fn shares_with(&self, other: &State) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }

    /// The map, if no other state shares it (for changing it in place without copying it).
    #[inline]
    pub(crate) fn unshared_mut(&mut self) -> Option<&mut BTreeMap<Key, i64>> {
        self.0.as_mut().and_then(Arc::get_mut)
    }
}

impl std::ops::Deref for State {
    type Target = BTreeMap<Key, i64>;
    #[inline]
    fn deref(&self) -> &BTreeMap<Key, i64> {
        match &self.0 {
            Some(map) => map,
            None => &EMPTY_STATE,
        }
    }
}

/// A change through `&mut` first makes the map this state's own (copying it if another state
/// shares it).
impl std::ops::DerefMut for State {
    #[inline]
    fn deref_mut(&mut self) -> &mut BTreeMap<Key, i64> {
        Arc::make_mut(self.0.get_or_insert_with(Default::default))
    }
}

impl PartialEq for State {
    fn eq(&self, other: &State) -> bool {
        self.shares_with(other) || **self == **other
    }
}

impl Eq for State {}

impl PartialOrd for State {
    fn partial_cmp(&self, other: &State) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for State {
    fn cmp(&self, other: &State) -> std::cmp::Ordering {
        (**self).cmp(&**other)
    }
}

impl std::hash::Hash for State {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

impl<Q: ?Sized + Ord> std::ops::Index<&Q> for State
where
    Key: Borrow<Q>,
{
    type Output = i64;
    /// The value of `key`; panics if the state has none (as a `BTreeMap` does).
    fn index(&self, key: &Q) -> &i64 {
        &(**self)[key]
    }
}

impl From<BTreeMap<Key, i64>> for State {
    fn from(map: BTreeMap<Key, i64>) -> State {
        if map.is_empty() {
            State(None)
        } else {
            State(Some(Arc::new(map)))
        }
    }
}

impl<const N: usize> From<[(Key, i64); N]> for State {
    fn from(pairs: [(Key, i64); N]) -> State {
        State::from(BTreeMap::from(pairs))
    }
}

impl From<State> for BTreeMap<Key, i64> {
    fn from(state: State) -> BTreeMap<Key, i64> {
        state.0.map(Arc::unwrap_or_clone).unwrap_or_default()
    }
}

impl FromIterator<(Key, i64)> for State {
    fn from_iter<I: IntoIterator<Item = (Key, i64)>>(pairs: I) -> State {
        State::from(BTreeMap::from_iter(pairs))
    }
}

impl Extend<(Key, i64)> for State {
    fn extend<I: IntoIterator<Item = (Key, i64)>>(&mut self, pairs: I) {
        let mut pairs = pairs.into_iter().peekable();
        if pairs.peek().is_some() {
            (**self).extend(pairs);
        }
    }
}

impl IntoIterator for State {
    type Item = (Key, i64);
    type IntoIter = std::collections::btree_map::IntoIter<Key, i64>;
    fn into_iter(self) -> Self::IntoIter {
        BTreeMap::from(self).into_iter()
    }
}

impl<'a> IntoIterator for &'a State {
    type Item = (&'a Key, &'a i64);
    type IntoIter = std::collections::btree_map::Iter<'a, Key, i64>;
    fn into_iter(self) -> Self::IntoIter {
        (**self).iter()
    }
}

impl<'a> IntoIterator for &'a mut State {
    type Item = (&'a Key, &'a mut i64);
    type IntoIter = std::collections::btree_map::IterMut<'a, Key, i64>;
    fn into_iter(self) -> Self::IntoIter {
        (**self).iter_mut()
    }
}

impl serde::Serialize for State {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for State {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<State, D::Error> {
        BTreeMap::deserialize(deserializer).map(State::from)
    }
}

/// The name of a key of a [`State`]: its text, shared by every copy (cloning a key copies a
/// pointer, never the text). It reads as a `str` (it derefs to one, borrows as one, and
/// compares, orders, hashes, prints and serializes exactly as its text), so a state is
/// looked up by `&str`: `state.get("votes")`, `state["votes"]`.
///
/// ```
/// use coopvm_core::program::Key;
/// let k = Key::from("votes");
/// let copy = k.clone();
/// assert!(std::ptr::eq(k.as_str(), copy.as_str()));
/// assert_eq!((k.len(), &*k, format!("{k:?}")), (5, "votes", "\"votes\"".to_string()));
/// assert!(k == "votes" && Key::from("a") < Key::from("b"));
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(Arc<str>);

impl Key {
    /// The key's text.
    #[inline]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `self` and `other` share their text (then they are equal without comparing
    /// it; equal keys made apart share nothing).
    #[inline]
    pub fn shares_with(&self, other: &Key) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::ops::Deref for Key {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Key {
    #[inline]
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Key {
    #[inline]
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Key {
    fn from(text: &str) -> Key {
        Key(Arc::from(text))
    }
}

impl From<String> for Key {
    fn from(text: String) -> Key {
        Key(Arc::from(text))
    }
}

impl From<&String> for Key {
    fn from(text: &String) -> Key {
        Key(Arc::from(text.as_str()))
    }
}

impl From<Key> for String {
    fn from(key: Key) -> String {
        key.as_str().to_owned()
    }
}

impl PartialEq<str> for Key {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Key {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Key {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<Key> for str {
    fn eq(&self, other: &Key) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Key> for &str {
    fn eq(&self, other: &Key) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Key> for String {
    fn eq(&self, other: &Key) -> bool {
        self.as_str() == other.as_str()
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self.as_str(), f)
    }
}

impl serde::Serialize for Key {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Key, D::Error> {
        String::deserialize(deserializer).map(Key::from)
    }
}

/// A contract (the seed's `Contract` structure) with its code lowered to the IR.
///
/// ```
/// let c = coopvm_core::asm::assemble("demo.casm", ".contract demo\npush 1\nhalt\n").unwrap();
/// assert_eq!(c.id, "demo");
/// assert_eq!(c.program.code.len(), 2);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Contract {
    /// Unique identifier.
    pub id: String,
    /// Version string.
    pub version: String,
    /// Minimum caller reputation required to execute.
    pub required_reputation: i64,
    /// Permissions the caller must hold, every one of them.
    pub permissions: Vec<String>,
    /// Ids of contracts this one depends on.
    pub dependencies: Vec<String>,
    /// Cooperative metadata.
    pub metadata: Metadata,
    /// Initial key-value state.
    pub state: State,
    /// Inputs the contract starts with on its stack (`.params N`): a run supplies exactly
    /// this many values, deepest first, and the verifier takes N as main's entry height.
    pub params: u32,
    /// The code.
    pub program: Program,
}

/// A memory key, parsed from its textual form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StateKey<'a> {
    /// An identifier key (`votes`), usable as a static key.
    Name(&'a str),
    /// An integer key (`42`), the form dynamic `store`/`load` use.
    Int(i64),
}

impl<'a> StateKey<'a> {
    /// Parses a state key: an identifier or a canonical decimal `i64` (no `+`, no leading
    /// zeros, no `-0`). Returns `None` for anything else.
    ///
    /// ```
    /// use coopvm_core::program::StateKey;
    /// assert_eq!(StateKey::parse("votes"), Some(StateKey::Name("votes")));
    /// assert_eq!(StateKey::parse("-7"), Some(StateKey::Int(-7)));
    /// assert_eq!(StateKey::parse("007"), None);
    /// ```
    pub fn parse(text: &'a str) -> Option<StateKey<'a>> {
        if is_identifier(text) {
            return Some(StateKey::Name(text));
        }
        let n: i64 = text.parse().ok()?;
        (n.to_string() == text).then_some(StateKey::Int(n))
    }
}

/// Whether `text` is an identifier: `[A-Za-z_][A-Za-z0-9_.]*`.
pub fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// The textual state key of a dynamic integer key.
pub fn int_key(k: i64) -> Key {
    Key::from(k.to_string())
}

impl Program {
    /// Checks that every operand is in range for its kind (string and key indices exist,
    /// operand-less instructions carry 0). Jump targets are checked by the verifier.
    pub fn operand_error(&self, insn: &Insn) -> Option<String> {
        let len_ok = |n: usize| usize::try_from(insn.arg).is_ok_and(|i| i < n);
        match insn.op.info().operand {
            OperandKind::None if insn.arg != 0 => Some(format!("`{}` takes no operand", insn.op)),
            OperandKind::Str if !len_ok(self.strings.len()) => Some(format!(
                "string index {} is out of range ({} strings)",
                insn.arg,
                self.strings.len()
            )),
            OperandKind::Key if !len_ok(self.keys.len()) => Some(format!(
                "key index {} is out of range ({} keys)",
                insn.arg,
                self.keys.len()
            )),
            OperandKind::Imm if insn.op == Op::Pick && !(0..=MAX_PICK).contains(&insn.arg) => Some(
                format!("`pick {}`: the depth must be 0 to {MAX_PICK}", insn.arg),
            ),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_keys() {
        assert_eq!(StateKey::parse("a.b_c9"), Some(StateKey::Name("a.b_c9")));
        assert_eq!(StateKey::parse("0"), Some(StateKey::Int(0)));
        assert_eq!(StateKey::parse("-0"), None);
        assert_eq!(StateKey::parse("+1"), None);
        assert_eq!(StateKey::parse(""), None);
        assert_eq!(StateKey::parse("9a"), None);
        assert_eq!(StateKey::parse("a b"), None);
        assert_eq!(
            StateKey::parse("-9223372036854775808"),
            Some(StateKey::Int(i64::MIN))
        );
        assert_eq!(StateKey::parse("9223372036854775808"), None);
    }

    #[test]
    fn operand_checks() {
        let p = Program {
            code: vec![],
            keys: vec!["k".into()],
            strings: vec![],
        };
        assert!(p.operand_error(&Insn::with(Op::Load, 0)).is_none());
        assert!(p.operand_error(&Insn::with(Op::Load, 1)).is_some());
        assert!(p.operand_error(&Insn::with(Op::Load, -1)).is_some());
        assert!(p.operand_error(&Insn::with(Op::PushStr, 0)).is_some());
        assert!(p.operand_error(&Insn::with(Op::Add, 3)).is_some());
        assert!(p.operand_error(&Insn::with(Op::Push, -3)).is_none());
        assert!(p.operand_error(&Insn::with(Op::Pick, 0)).is_none());
        assert!(p.operand_error(&Insn::with(Op::Pick, MAX_PICK)).is_none());
        assert!(p.operand_error(&Insn::with(Op::Pick, -1)).is_some());
        assert!(p
            .operand_error(&Insn::with(Op::Pick, MAX_PICK + 1))
            .is_some());
        assert!(p.operand_error(&Insn::with(Op::Pick, i64::MAX)).is_some());
    }

    #[test]
    fn a_state_is_a_map_whose_copies_change_apart() {
        let mut a = State::from([("x".into(), 1), ("7".into(), 2)]);
        let b = a.clone();
        assert!(a.shares_with(&b) && a == b);
        a.insert("y".into(), 3);
        *a.get_mut("x").unwrap() = 10;
        assert!(!a.shares_with(&b));
        assert_eq!(b, State::from([("x".into(), 1), ("7".into(), 2)]));
        assert_eq!((a["x"], a["y"], a.len(), b.len()), (10, 3, 3, 2));
        // Keys of the copy share their text with the original's.
        let (ka, kb) = (a.keys().next().unwrap(), b.keys().next().unwrap());
        assert!(ka.shares_with(kb) && !ka.shares_with(&Key::from("7")));
        // An empty state holds no map and equals, hashes and prints as an emptied one.
        let mut emptied = State::from([("x".into(), 1)]);
        emptied.remove("x");
        assert_eq!(State::new(), emptied);
        assert_eq!(State::default(), State::from(BTreeMap::new()));
        let hash = |s: &State| {
            use std::hash::{BuildHasher, BuildHasherDefault};
            BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(s)
        };
        assert_eq!(hash(&State::new()), hash(&emptied));
        assert_eq!(
            format!("{emptied:?} {a:?}"),
            r#"{} {"7": 2, "x": 10, "y": 3}"#
        );
        // Owned and borrowed iteration, collecting, extending, converting.
        let pairs: Vec<(Key, i64)> = a.clone().into_iter().collect();
        assert_eq!(
            pairs
                .iter()
                .map(|(k, v)| (k.as_str(), *v))
                .collect::<Vec<_>>(),
            [("7", 2), ("x", 10), ("y", 3)]
        );
        assert_eq!(pairs.into_iter().collect::<State>(), a);
        for (_, v) in &mut a {
            *v += 1;
        }
        assert_eq!((&a).into_iter().map(|(_, v)| v).sum::<i64>(), 18);
        let mut e = State::new();
        e.extend(std::iter::empty());
        assert!(e.shares_with(&State::new()));
        e.extend([("k".into(), 1)]);
        assert_eq!(BTreeMap::from(e), BTreeMap::from([(Key::from("k"), 1)]));
        assert!(State::from([("b".into(), 1)]) > State::from([("a".into(), 9)]));
    }
}
