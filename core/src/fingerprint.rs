//! A contract's identity for caches: a 128-bit fingerprint of its canonical encoding,
//! computed once per [`crate::Verified`] ([`crate::Verified::fingerprint`]).
//!
//! The hash is keyed with random keys drawn once per process (two independent SipHash
//! instances), so nobody can craft two contracts with the same fingerprint in advance: a
//! cache may take equal fingerprints (plus the limits) to mean the same contract without
//! comparing the bytes. Fingerprints are not stable across processes; never store them.

use crate::program::Contract;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::OnceLock;

/// A contract's fingerprint (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub u128);

impl Fingerprint {
    /// The fingerprint of `contract` (encodes it: use [`crate::Verified::fingerprint`], which
    /// does this once).
    pub fn of(contract: &Contract) -> Fingerprint {
        static KEYS: OnceLock<[RandomState; 2]> = OnceLock::new();
        let keys = KEYS.get_or_init(|| [RandomState::new(), RandomState::new()]);
        let bytes = crate::codec::encode(contract);
        let half = |k: &RandomState| {
            let mut h = k.build_hasher();
            h.write(&bytes);
            h.finish()
        };
        Fingerprint(u128::from(half(&keys[0])) << 64 | u128::from(half(&keys[1])))
    }
}

/// A lazily computed fingerprint kept with a verified contract. It takes no part in the
/// contract's equality (two equal contracts are equal whether or not either computed it).
#[derive(Clone, Default)]
pub(crate) struct FingerprintCell(OnceLock<Fingerprint>);

impl FingerprintCell {
    pub(crate) fn get(&self, contract: &Contract) -> Fingerprint {
        *self.0.get_or_init(|| Fingerprint::of(contract))
    }
}

impl PartialEq for FingerprintCell {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for FingerprintCell {}

impl std::fmt::Debug for FingerprintCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FingerprintCell")
    }
}

#[cfg(test)]
mod tests {
    use crate::{asm::assemble, verify, Limits};

    #[test]
    fn equal_contracts_have_equal_fingerprints() {
        let a = verify(assemble("t", "push 1").unwrap(), &Limits::default()).unwrap();
        let b = verify(assemble("t", "push 1").unwrap(), &Limits::default()).unwrap();
        let c = verify(assemble("t", "push 2").unwrap(), &Limits::default()).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
        // Computing it does not change equality.
        let d = b.clone();
        assert_eq!(a, d);
        assert_eq!(a.fingerprint(), a.clone().fingerprint());
    }
}
