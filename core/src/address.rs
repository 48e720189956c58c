//! Contract identity: code hashes and the addresses of contracts without a `.contract` id.
//!
//! - The **code hash** of a contract is the SHA-256 of its canonical bytes
//!   ([`crate::codec::encode`], what `coopvm assemble` writes): it covers the id, the
//!   directives, the initial state and the code, so two contracts with the same hash are the
//!   same contract. A state database records it for every deployment.
//! - A contract written without `.contract` gets an **address** derived from its code:
//!   [`ADDRESS_PREFIX`] followed by the first [`ADDRESS_HEX_DIGITS`] hexadecimal digits
//!   (128 bits) of the code hash of the contract *with an empty id*. Two anonymous files with
//!   different code therefore never share state, and the same file always has the same
//!   address. [`crate::load`] gives every anonymous contract its address.
//! - Ids of the address form are reserved: a contract may carry one only if it is its own
//!   address (as in a `.cvm` assembled from an anonymous file), so no one can declare another
//!   contract's address as their id ([`check_reserved`]).
//!
//! ```
//! use coopvm_core::{address, asm::assemble};
//! let c = assemble("anon.casm", "push 1\n").unwrap();
//! let a = address::address(&c);
//! assert!(a.starts_with("c_") && a.len() == 2 + 32);
//! assert!(address::is_address(&a));
//! let mut named = c.clone();
//! named.id = a.clone();
//! assert!(address::check_reserved(&named).is_ok()); // its own address
//! named.program.code.push(named.program.code[0]);
//! assert!(address::check_reserved(&named).is_err()); // another contract's address
//! ```

use crate::codec;
use crate::program::Contract;
use sha2::{Digest, Sha256};

/// The prefix of a derived address.
pub const ADDRESS_PREFIX: &str = "c_";
/// How many hexadecimal digits of the code hash follow the prefix (128 bits: a collision with
/// a given address costs 2^128 hashes, out of reach).
pub const ADDRESS_HEX_DIGITS: usize = 32;

/// The SHA-256 of `contract`'s canonical bytes.
pub fn code_hash(contract: &Contract) -> [u8; 32] {
    Sha256::digest(codec::encode(contract)).into()
}

/// [`code_hash`] as 64 lowercase hexadecimal digits (what `sha256sum` prints for the `.cvm`).
pub fn code_hash_hex(contract: &Contract) -> String {
    hex(&code_hash(contract))
}

/// The address of `contract`'s code: [`ADDRESS_PREFIX`] and the first
/// [`ADDRESS_HEX_DIGITS`] hexadecimal digits of the code hash of the contract with an empty
/// id (so a contract that carries its own address has that same address).
pub fn address(contract: &Contract) -> String {
    let hash = if contract.id.is_empty() {
        code_hash(contract)
    } else {
        let anonymous = Contract {
            id: String::new(),
            ..contract.clone()
        };
        code_hash(&anonymous)
    };
    let mut out = String::from(ADDRESS_PREFIX);
    out.push_str(&hex(&hash)[..ADDRESS_HEX_DIGITS]);
    out
}

/// Whether `id` has the form of a derived address (`c_` and 32 lowercase hexadecimal digits).
pub fn is_address(id: &str) -> bool {
    id.strip_prefix(ADDRESS_PREFIX).is_some_and(|h| {
        h.len() == ADDRESS_HEX_DIGITS && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// `Ok` unless `contract`'s id has the form of an address ([`is_address`]) that is not the
/// contract's own address; the error explains.
pub fn check_reserved(contract: &Contract) -> Result<(), String> {
    if !is_address(&contract.id) {
        return Ok(());
    }
    let own = address(contract);
    if own == contract.id {
        Ok(())
    } else {
        Err(format!(
            "the id `{}` has the form of a code address, which is reserved for the contract whose code hashes to it (this contract's address is `{own}`): remove `.contract` to use the address, or choose another id",
            contract.id
        ))
    }
}

/// Lowercase hexadecimal text of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asm::assemble;

    #[test]
    fn addresses_depend_on_the_code_only() {
        let a = assemble("a", "push 1\n").unwrap();
        let b = assemble("b", "push 2\n").unwrap();
        assert_ne!(address(&a), address(&b));
        assert_eq!(
            address(&a),
            address(&assemble("other name", "push 1\n").unwrap())
        );
        // Carrying its own address does not change it.
        let mut named = a.clone();
        named.id = address(&a);
        assert_eq!(address(&named), address(&a));
        assert_ne!(code_hash(&named), code_hash(&a));
        assert_eq!(code_hash_hex(&a).len(), 64);
    }

    #[test]
    fn reserved_ids() {
        let mut c = assemble(
            "a",
            ".contract c_00000000000000000000000000000000\npush 1\n",
        )
        .unwrap();
        let e = check_reserved(&c).unwrap_err();
        assert!(e.contains("reserved"), "{e}");
        c.id = "c_0000".into(); // not the address form: an ordinary id
        assert!(check_reserved(&c).is_ok());
        assert!(!is_address("c_0000000000000000000000000000000A"));
        assert!(!is_address("d_00000000000000000000000000000000"));
        assert!(is_address("c_0123456789abcdef0123456789abcdef"));
    }
}
