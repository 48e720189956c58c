//! A STARK backend for coopvm's provable VM: succinct proofs that a relation
//! `f(public, private)` holds within some gas, checkable without the private input and
//! without re-running the relation.
//!
//! A verified relation is translated to a [Miden VM](https://docs.rs/miden-vm) program
//! ([`translate`]: coopvm's control flow as a dispatch loop over numbered segments, `i64`
//! checked arithmetic on 32-bit limbs, memory in Miden memory), and Miden proves the
//! execution of that program with the public input as its stack input and the private input
//! on its advice stack. The program's outputs are the relation's result and the gas it used
//! (coopvm's own gas, block by block), and it fails unless the result is non-zero, so a false
//! claim has no proof. The proof binds:
//!
//! - the relation: the Miden program's hash is a hash of the translation of its canonical
//!   encoding (and the proof also carries the SHA-256 of that encoding, checked first);
//! - the public input (Miden's public stack inputs);
//! - the result and the gas used (Miden's public stack outputs).
//!
//! Soundness rests on Miden's STARK (96-bit conjectured security, BLAKE3 commitments) and on
//! the translation being faithful to coopvm's semantics, which the tests check against the
//! interpreter on examples and generated relations.
//!
//! ## What it proves (the supported subset)
//!
//! Pure relations: `.params 2`, no `.permission`, `.depends` or `.reputation`, integer
//! inputs; every pure instruction (arithmetic and comparisons with coopvm's exact overflow
//! and division semantics, stack operations with `pick N` up to N = 7, jumps, calls and
//! recursion with coopvm's call-depth and stack-room checks, static, dynamic and transient
//! memory with their key limits). Refused, with an error naming the instruction: host and
//! system operations (`log`, `emitevent`, `getcaller`, cooperative operations, ...), string
//! constants (`push "..."`), `pick N` for N > 7. Dynamic memory is an association table
//! searched linearly: an access costs time proportional to the keys stored.
//!
//! ## Not zero-knowledge
//!
//! The proof does not contain the private input as such, but Miden 0.23's proofs are **not
//! zero-knowledge**: the trace commitments are unsalted (the non-hiding commitment
//! configuration), no random rows blind the trace, and the proof opens trace rows at the
//! queried points. The prover is deterministic as well (the same inputs give the same proof
//! bytes), so whoever holds a proof can test a guess of the private input by proving with it
//! and comparing. Treat the private input as *not hidden*.
//!
//! ## Features
//!
//! Proving and verifying (`Compiled`, `prove`, `verify`, ...) need feature `miden`, which
//! builds the Miden VM. Without it the crate still checks what it supports ([`check`]),
//! translates ([`translate`]) and parses proofs ([`StarkProof::from_bytes`]).
//!
//! ```
//! # #[cfg(feature = "miden")] {
//! use coopvm_core::{asm::assemble, Limits};
//! let f = assemble("sq.casm", ".params 2\ndup\nmul\neq\n").unwrap();
//! let limits = Limits::default();
//! let proof = coopvm_stark::prove(&f, &limits, 49, 7, 1_000).unwrap();
//! assert_eq!((proof.result, proof.gas), (1, 4));
//! let proof = coopvm_stark::StarkProof::from_bytes(&proof.to_bytes()).unwrap();
//! assert!(coopvm_stark::verify(&f, &limits, 49, &proof).is_ok());
//! assert!(coopvm_stark::verify(&f, &limits, 48, &proof).is_err());
//! assert!(coopvm_stark::prove(&f, &limits, 48, 7, 1_000).is_err());
//! # }
//! ```

pub mod translate;

#[cfg(feature = "miden")]
mod prover;

#[cfg(feature = "miden")]
pub use prover::{
    execute, prove, prove_compiled, trace_size, verify, verify_compiled, Compiled, TraceSize,
    CACHED_RELATIONS,
};
pub use translate::Unsupported;

use coopvm_core::{codec, Contract, Limits, VerifyError};
use sha2::{Digest, Sha256};

/// The label that starts every STARK proof's bytes (it names the translation's version: a
/// change to the translation changes the label).
pub const LABEL: &[u8] = b"coopvm-stark-miden-v1";

/// Why a relation cannot be proved (or a proof cannot be checked) by this backend.
#[derive(Debug, thiserror::Error)]
pub enum StarkError {
    /// The relation does not verify.
    #[error("the relation does not verify: {0}")]
    Verify(#[from] VerifyError),
    /// The relation uses something this backend does not prove.
    #[error("{0}")]
    Unsupported(#[from] Unsupported),
    /// The generated Miden program did not assemble (a bug in the translation).
    #[error("internal error: the translated program does not assemble: {0}")]
    Assemble(String),
    /// The relation has no successful execution ending with a true result on these inputs
    /// within the gas limit (it fails, is false, or runs out of gas).
    #[error("the relation does not hold on these inputs: {0}")]
    NoExecution(String),
    /// The relation holds, but it used more gas than the limit.
    #[error("the relation used {gas} gas, over the limit of {limit}")]
    OverGas {
        /// Gas used.
        gas: u64,
        /// The limit.
        limit: u64,
    },
    /// The proof is malformed or does not verify.
    #[error("invalid proof: {0}")]
    Invalid(String),
}

/// Checks that the backend can prove `contract` under `limits` (it verifies and uses only
/// what the translation supports) without proving anything; needs no prover, so a build
/// without feature `miden` can refuse a relation with the same error.
pub fn check(contract: &Contract, limits: &Limits) -> Result<(), StarkError> {
    let verified = coopvm_core::verify(contract.clone(), limits)?;
    translate::translate(&verified)?;
    Ok(())
}

/// SHA-256 of the contract's canonical encoding.
pub fn relation_hash(contract: &Contract) -> [u8; 32] {
    Sha256::digest(codec::encode(contract)).into()
}

/// A STARK proof that a relation holds on a public input, with the result and gas it claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StarkProof {
    /// SHA-256 of the relation's canonical encoding.
    pub relation: [u8; 32],
    /// The relation's result (the top of its final stack; never 0 in a valid proof).
    pub result: i64,
    /// The gas the relation used (coopvm's gas, as the interpreter reports it).
    pub gas: u64,
    /// Miden's execution proof, serialized.
    pub stark: Vec<u8>,
}

impl StarkProof {
    /// The proof's bytes: [`LABEL`], the relation hash, result and gas (big-endian), then
    /// Miden's proof.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(LABEL.len() + 48 + self.stark.len());
        out.extend_from_slice(LABEL);
        out.extend_from_slice(&self.relation);
        out.extend_from_slice(&self.result.to_be_bytes());
        out.extend_from_slice(&self.gas.to_be_bytes());
        out.extend_from_slice(&self.stark);
        out
    }

    /// Parses [`StarkProof::to_bytes`]'s format (the STARK part is checked by `verify`, with
    /// feature `miden`).
    pub fn from_bytes(bytes: &[u8]) -> Result<StarkProof, StarkError> {
        let bad = || StarkError::Invalid("not a coopvm STARK proof".into());
        let rest = bytes.strip_prefix(LABEL).ok_or_else(bad)?;
        if rest.len() < 48 {
            return Err(bad());
        }
        let (relation, rest) = rest.split_at(32);
        let (result, rest) = rest.split_at(8);
        let (gas, stark) = rest.split_at(8);
        Ok(StarkProof {
            relation: relation.try_into().map_err(|_| bad())?,
            result: i64::from_be_bytes(result.try_into().map_err(|_| bad())?),
            gas: u64::from_be_bytes(gas.try_into().map_err(|_| bad())?),
            stark: stark.to_vec(),
        })
    }
}
