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
//! The proof does not contain the private input, but Miden's proofs are **not
//! zero-knowledge**: the execution trace is committed without blinding and the proof opens it
//! at random points, so a proof can leak partial information about the private input and the
//! path the relation took. Treat the private input as *not hidden*.
//!
//! ```
//! use coopvm_core::{asm::assemble, Limits};
//! let f = assemble("sq.casm", ".params 2\ndup\nmul\neq\n").unwrap();
//! let limits = Limits::default();
//! let proof = coopvm_stark::prove(&f, &limits, 49, 7, 1_000).unwrap();
//! assert_eq!((proof.result, proof.gas), (1, 4));
//! let proof = coopvm_stark::StarkProof::from_bytes(&proof.to_bytes()).unwrap();
//! assert!(coopvm_stark::verify(&f, &limits, 49, &proof).is_ok());
//! assert!(coopvm_stark::verify(&f, &limits, 48, &proof).is_err());
//! assert!(coopvm_stark::prove(&f, &limits, 48, 7, 1_000).is_err());
//! ```

pub mod translate;

pub use translate::Unsupported;

use coopvm_core::{codec, Contract, Limits, VerifyError};
use miden_core::Felt;
use miden_core_lib::CoreLibrary;
use miden_vm::advice::AdviceInputs;
use miden_vm::serde::Deserializable;
use miden_vm::{
    Assembler, DefaultHost, ExecutionOptions, ExecutionProof, HashFunction, Program, ProgramInfo,
    ProvingOptions, StackInputs, StackOutputs,
};
use sha2::{Digest, Sha256};

/// The label that starts every STARK proof's bytes (it names the translation's version: a
/// change to the translation changes the label).
pub const LABEL: &[u8] = b"coopvm-stark-miden-v1";

/// The hash function of the proofs this backend makes and accepts.
const HASH: HashFunction = HashFunction::Blake3_256;

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

/// A relation translated and assembled, ready to prove or verify.
#[derive(Clone, Debug)]
pub struct Compiled {
    program: Program,
    relation: [u8; 32],
}

impl Compiled {
    /// Verifies `contract` against `limits` and translates it.
    pub fn new(contract: &Contract, limits: &Limits) -> Result<Compiled, StarkError> {
        let verified = coopvm_core::verify(contract.clone(), limits)?;
        let source = translate::translate(&verified)?;
        let program = Assembler::default()
            .with_dynamic_library(CoreLibrary::default())
            .map_err(|e| StarkError::Assemble(e.to_string()))?
            .assemble_program(source.as_str())
            .map_err(|e| StarkError::Assemble(e.to_string()))?;
        Ok(Compiled {
            program,
            relation: relation_hash(contract),
        })
    }

    /// The Miden program's hash (what a proof is bound to).
    pub fn program_hash(&self) -> [u8; 32] {
        let mut out = [0; 32];
        for (i, e) in self.program.hash().iter().enumerate() {
            out[8 * i..8 * i + 8].copy_from_slice(&e.as_canonical_u64().to_le_bytes());
        }
        out
    }
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

    /// Parses [`StarkProof::to_bytes`]'s format (the STARK part is checked by [`verify`]).
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

fn felt(v: u32) -> Felt {
    Felt::from(v)
}

fn stack_inputs(public: i64) -> StackInputs {
    let (lo, hi) = translate::limbs(public);
    StackInputs::new(&[felt(lo), felt(hi)]).expect("two stack inputs fit")
}

/// The outputs `[result_lo, result_hi, gas]`; `None` for a gas figure that is no field
/// element (at or above the modulus), which no execution outputs.
fn stack_outputs(result: i64, gas: u64) -> Option<StackOutputs> {
    let (lo, hi) = translate::limbs(result);
    StackOutputs::new(&[felt(lo), felt(hi), Felt::new(gas).ok()?]).ok()
}

/// Proves that `contract(public, private)` holds within `gas_limit` gas.
///
/// The relation is executed by Miden (not by a coopvm engine); the result and gas in the
/// proof are the ones that execution computes, which the tests check against the
/// interpreter.
pub fn prove(
    contract: &Contract,
    limits: &Limits,
    public: i64,
    private: i64,
    gas_limit: u64,
) -> Result<StarkProof, StarkError> {
    let compiled = Compiled::new(contract, limits)?;
    prove_compiled(&compiled, public, private, gas_limit)
}

/// [`prove`] with a relation compiled once ([`Compiled::new`]).
pub fn prove_compiled(
    compiled: &Compiled,
    public: i64,
    private: i64,
    gas_limit: u64,
) -> Result<StarkProof, StarkError> {
    let mut host = host()?;
    let (out, proof) = miden_vm::prove_sync(
        &compiled.program,
        stack_inputs(public),
        advice(private),
        &mut host,
        ExecutionOptions::default(),
        ProvingOptions::new(HASH),
    )
    .map_err(|e| StarkError::NoExecution(e.to_string()))?;
    let (result, gas) = outputs(out.get_num_elements(3))?;
    if gas > gas_limit {
        return Err(StarkError::OverGas {
            gas,
            limit: gas_limit,
        });
    }
    Ok(StarkProof {
        relation: compiled.relation,
        result,
        gas,
        stark: proof.to_bytes(),
    })
}

/// Runs the translated relation on Miden without proving it: the result and gas a proof
/// would state, or why there is no proof (the relation fails or is false). For tests and
/// diagnostics; [`prove_compiled`] runs the same execution.
pub fn execute(compiled: &Compiled, public: i64, private: i64) -> Result<(i64, u64), StarkError> {
    let mut host = host()?;
    let out = miden_vm::execute_sync(
        &compiled.program,
        stack_inputs(public),
        advice(private),
        &mut host,
        ExecutionOptions::default(),
    )
    .map_err(|e| StarkError::NoExecution(e.to_string()))?;
    outputs(out.stack.get_num_elements(3))
}

fn host() -> Result<DefaultHost, StarkError> {
    DefaultHost::default()
        .with_library(&CoreLibrary::default())
        .map_err(|e| StarkError::Assemble(e.to_string()))
}

fn advice(private: i64) -> AdviceInputs {
    let (lo, hi) = translate::limbs(private);
    // The first element is the top of the advice stack; the program pushes it first, so the
    // low limb, pushed second, ends on top of the operand stack.
    AdviceInputs::default().with_stack([felt(hi), felt(lo)])
}

/// The result and gas from the program's outputs `[lo, hi, gas]`.
fn outputs(out: &[Felt]) -> Result<(i64, u64), StarkError> {
    let limb = |i: usize| {
        out.get(i)
            .and_then(|e| u32::try_from(e.as_canonical_u64()).ok())
    };
    let (Some(lo), Some(hi), Some(gas)) = (limb(0), limb(1), out.get(2)) else {
        return Err(StarkError::Assemble(
            "the outputs are not a result and gas".into(),
        ));
    };
    Ok((
        ((u64::from(hi) << 32) | u64::from(lo)) as i64,
        gas.as_canonical_u64(),
    ))
}

/// Checks that `proof` shows `contract(public, private)` holds for some private input with
/// the result and gas it states. (The caller compares the gas with its own limit.)
pub fn verify(
    contract: &Contract,
    limits: &Limits,
    public: i64,
    proof: &StarkProof,
) -> Result<(), StarkError> {
    if proof.relation != relation_hash(contract) {
        return Err(StarkError::Invalid(
            "the proof is for another relation".into(),
        ));
    }
    let compiled = Compiled::new(contract, limits)?;
    verify_compiled(&compiled, public, proof)
}

/// [`verify`] with a relation compiled once ([`Compiled::new`]).
pub fn verify_compiled(
    compiled: &Compiled,
    public: i64,
    proof: &StarkProof,
) -> Result<(), StarkError> {
    let invalid = |m: &str| StarkError::Invalid(m.to_string());
    if proof.relation != compiled.relation {
        return Err(invalid("the proof is for another relation"));
    }
    if proof.result == 0 {
        return Err(invalid("a false result"));
    }
    let outputs = stack_outputs(proof.result, proof.gas).ok_or_else(|| invalid("bad outputs"))?;
    // A budget of the input's length bounds what a hostile length prefix can allocate.
    let stark = ExecutionProof::read_from_bytes_with_budget(&proof.stark, proof.stark.len())
        .map_err(|e| StarkError::Invalid(format!("malformed STARK proof: {e}")))?;
    if stark.hash_fn() != HASH {
        return Err(invalid("the proof uses another hash function"));
    }
    if !stark.precompile_requests().is_empty() {
        return Err(invalid("the proof carries precompile requests"));
    }
    let info = ProgramInfo::from(compiled.program.clone());
    // Miden's verifier returns errors for invalid proofs; a panic on some malformed proof
    // would be a bug there, and is an invalid proof here, not an abort.
    let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        miden_vm::verify(info, stack_inputs(public), outputs, stark)
    }));
    match checked {
        Ok(Ok(_security)) => Ok(()),
        Ok(Err(e)) => Err(StarkError::Invalid(e.to_string())),
        Err(_) => Err(invalid(
            "the STARK verifier rejected the proof (it panicked)",
        )),
    }
}
