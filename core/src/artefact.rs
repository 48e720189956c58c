//! Engine artefacts kept with a verified contract: what an engine prepares from a
//! [`Verified`](crate::Verified) (the interpreter's lowered code, say) is made once per
//! contract and reused by every run, instead of once per run.
//!
//! A [`Verified`](crate::Verified) holds a few slots, each filled at most once with a value
//! of one type (the type is the key: an engine uses its own type). Clones of the contract
//! share the artefacts; comparisons ignore them (they follow from the contract and limits).
//!
//! ```
//! use coopvm_core::{asm::assemble, verify, Limits};
//! let v = verify(assemble("t", "push 1").unwrap(), &Limits::default()).unwrap();
//! struct Prepared(usize);
//! let mut made = 0;
//! for _ in 0..3 {
//!     let p = v.artefact(|v| { made += 1; Prepared(v.contract().program.code.len()) });
//!     assert_eq!(p.map(|p| p.0), Some(1));
//! }
//! assert_eq!(made, 1);
//! ```

use std::any::{Any, TypeId};
use std::sync::{Arc, OnceLock};

/// How many artefact types one contract can keep (one per engine that caches).
pub const ARTEFACT_SLOTS: usize = 4;

/// An artefact and its type's id, kept beside it so that finding it compares two ids
/// rather than asking the value for its type through its vtable (a run looks its engine's
/// artefact up every time).
type Slot = OnceLock<(TypeId, Arc<dyn Any + Send + Sync>)>;

/// The artefact slots of a verified contract (see the [module docs](self)).
#[derive(Clone, Default)]
pub struct Artefacts {
    slots: [Slot; ARTEFACT_SLOTS],
}

impl Artefacts {
    /// The artefact of type `T`, made by `make` if no slot holds one yet. `None` when every
    /// slot holds an artefact of another type (more than [`ARTEFACT_SLOTS`] types were
    /// kept): the caller then makes its own, uncached.
    ///
    /// Slots are filled in order, so a type is found in the first slot that holds it; when
    /// two threads race on the same empty slot, one `make` runs and the other waits for it.
    pub fn get_or_make<T: Any + Send + Sync>(&self, make: impl FnOnce() -> T) -> Option<&T> {
        let want = TypeId::of::<T>();
        // The value in `slot` if it is a `T`.
        let typed = |slot: &(TypeId, Arc<dyn Any + Send + Sync>)| -> Option<&T> {
            let (id, value) = slot;
            if *id != want {
                return None;
            }
            debug_assert!(value.is::<T>());
            // SAFETY: a slot's id is its value's type's (`get_or_make` stores the pair only
            // as `(TypeId::of::<T>(), Arc<T>)`), and it is `T`'s: the value is a `T`, which
            // the `Arc` keeps alive as long as the slot, borrowed here with `self`.
            Some(unsafe { &*Arc::as_ptr(value).cast::<T>() })
        };
        // The common case first: already made, in one of the filled slots.
        for slot in &self.slots {
            match slot.get() {
                Some(pair) => {
                    if let Some(value) = typed(pair) {
                        return Some(value);
                    }
                }
                None => break,
            }
        }
        let mut make = Some(make);
        for slot in &self.slots {
            let pair = slot.get_or_init(|| match make.take() {
                Some(make) => (want, Arc::new(make()) as Arc<dyn Any + Send + Sync>),
                None => unreachable!("a slot is initialised by at most one closure"),
            });
            if let Some(value) = typed(pair) {
                return Some(value);
            }
        }
        None
    }

    /// Number of artefacts held.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.get().is_some()).count()
    }

    /// Whether no artefact is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Debug for Artefacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Artefacts({})", self.len())
    }
}

/// Artefacts follow from what they were made from: they never make two contracts differ.
impl PartialEq for Artefacts {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Artefacts {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_slot_per_type_and_none_when_full() {
        let a = Artefacts::default();
        assert!(a.is_empty());
        assert_eq!(a.get_or_make(|| 1u8), Some(&1));
        assert_eq!(a.get_or_make(|| 2u8), Some(&1));
        assert_eq!(a.get_or_make(|| 3u16), Some(&3));
        assert_eq!(a.get_or_make(|| 4u32), Some(&4));
        assert_eq!(a.get_or_make(|| 5u64), Some(&5));
        assert_eq!(a.len(), 4);
        assert_eq!(a.get_or_make(|| 6i8), None);
        assert_eq!(a.get_or_make(|| 7u16), Some(&3));
        let b = a.clone();
        assert_eq!(b.get_or_make(|| 0u32), Some(&4));
        assert_eq!(a, Artefacts::default());
        assert_eq!(format!("{b:?}"), "Artefacts(4)");
    }
}
