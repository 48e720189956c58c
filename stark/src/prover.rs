//! Proving and verifying with the Miden VM (feature `miden`).

use crate::{relation_hash, translate, StarkError, StarkProof};
use coopvm_core::{Contract, Limits};
use miden_core::Felt;
use miden_core_lib::CoreLibrary;
use miden_vm::advice::AdviceInputs;
use miden_vm::serde::Deserializable;
use miden_vm::trace::build_trace;
use miden_vm::{
    Assembler, DefaultHost, ExecutionOptions, ExecutionProof, FastProcessor, HashFunction, Program,
    ProgramInfo, ProvingOptions, StackInputs, StackOutputs,
};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

/// The hash function of the proofs this backend makes and accepts.
const HASH: HashFunction = HashFunction::Blake3_256;

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

    /// [`Compiled::new`], remembered for the process: a verifier that checks many proofs of one
    /// relation (or a prover that proves it many times) translates and assembles it once.
    ///
    /// The cache is keyed by the relation's SHA-256 ([`relation_hash`], the hash every proof
    /// is bound to) and the limits, holds at most [`CACHED_RELATIONS`] relations (the oldest
    /// is dropped first), and keeps no failure: a relation that does not translate is refused
    /// again, with the same error, on every call.
    ///
    /// ```
    /// use coopvm_core::{asm::assemble, Limits};
    /// let relation = assemble("r.casm", ".params 2\nadd\nhalt\n").unwrap();
    /// let a = coopvm_stark::Compiled::cached(&relation, &Limits::default()).unwrap();
    /// let b = coopvm_stark::Compiled::cached(&relation, &Limits::default()).unwrap();
    /// assert!(std::sync::Arc::ptr_eq(&a, &b));
    /// ```
    pub fn cached(contract: &Contract, limits: &Limits) -> Result<Arc<Compiled>, StarkError> {
        Compiled::cached_as(relation_hash(contract), contract, limits)
    }

    /// [`Compiled::cached`] for a contract whose [`relation_hash`] is `relation`.
    fn cached_as(
        relation: [u8; 32],
        contract: &Contract,
        limits: &Limits,
    ) -> Result<Arc<Compiled>, StarkError> {
        let key = (relation, *limits);
        if let Some(hit) = cache().lock().map_or(None, |c| c.map.get(&key).cloned()) {
            return Ok(hit);
        }
        // Compiled outside the lock: two threads may both compile a new relation, and both
        // results are the same program.
        let compiled = Arc::new(Compiled::new(contract, limits)?);
        if let Ok(mut c) = cache().lock() {
            c.insert(key, Arc::clone(&compiled));
        }
        Ok(compiled)
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

/// Relations [`Compiled::cached`] keeps at most.
pub const CACHED_RELATIONS: usize = 64;

type CacheKey = ([u8; 32], Limits);

/// The process's compiled relations (`V` = `Arc<Compiled>`), oldest first in `order`.
struct Cache<V> {
    map: HashMap<CacheKey, V>,
    order: VecDeque<CacheKey>,
    capacity: usize,
}

impl<V> Cache<V> {
    fn new(capacity: usize) -> Cache<V> {
        Cache {
            map: HashMap::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    fn insert(&mut self, key: CacheKey, value: V) {
        if self.map.insert(key, value).is_some() {
            return;
        }
        self.order.push_back(key);
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }
}

fn cache() -> &'static Mutex<Cache<Arc<Compiled>>> {
    static CACHE: OnceLock<Mutex<Cache<Arc<Compiled>>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(Cache::new(CACHED_RELATIONS)))
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
/// The relation is executed once without proving first, so a false claim, a failing
/// relation or one over `gas_limit` is refused at the cost of an execution, not a proof.
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
    let compiled = Compiled::cached(contract, limits)?;
    prove_compiled(&compiled, public, private, gas_limit)
}

/// [`prove`] with a relation compiled once ([`Compiled::new`]; [`prove`] itself uses
/// [`Compiled::cached`]).
pub fn prove_compiled(
    compiled: &Compiled,
    public: i64,
    private: i64,
    gas_limit: u64,
) -> Result<StarkProof, StarkError> {
    // Executing is a small part of proving: find a false claim, a failing relation or a gas
    // figure over the limit before building a proof that would be thrown away.
    let (_, gas) = execute(compiled, public, private)?;
    if gas > gas_limit {
        return Err(StarkError::OverGas {
            gas,
            limit: gas_limit,
        });
    }
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
    let (result, proved_gas) = outputs(out.get_num_elements(3))?;
    if proved_gas != gas {
        return Err(StarkError::NoExecution(format!(
            "the proved execution used {proved_gas} gas, the executed one {gas}"
        )));
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

/// The size of the execution trace Miden would prove for these inputs: the rows the
/// execution takes (the longest of Miden's trace segments: its cycles, range checks and
/// chiplets) and the padded power of two that is proved. For measurements; it runs the
/// relation and builds the trace, without proving.
pub fn trace_size(compiled: &Compiled, public: i64, private: i64) -> Result<TraceSize, StarkError> {
    let mut host = host()?;
    let processor = FastProcessor::new_with_options(
        stack_inputs(public),
        advice(private),
        ExecutionOptions::default(),
    )
    .map_err(|e| StarkError::NoExecution(e.to_string()))?;
    let inputs = processor
        .execute_trace_inputs_sync(&compiled.program, &mut host)
        .map_err(|e| StarkError::NoExecution(e.to_string()))?;
    let trace = build_trace(inputs).map_err(|e| StarkError::NoExecution(e.to_string()))?;
    let summary = trace.trace_len_summary();
    Ok(TraceSize {
        cycles: summary.main_trace_len(),
        rows: summary.trace_len(),
        padded: summary.padded_trace_len(),
    })
}

/// Trace sizes of one execution ([`trace_size`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceSize {
    /// Miden VM cycles (rows of the main trace).
    pub cycles: usize,
    /// The longest trace segment (main, range checker or chiplets).
    pub rows: usize,
    /// `rows` rounded up to a power of two: the trace length the STARK proves.
    pub padded: usize,
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
    let relation = relation_hash(contract);
    if proof.relation != relation {
        return Err(StarkError::Invalid(
            "the proof is for another relation".into(),
        ));
    }
    let compiled = Compiled::cached_as(relation, contract, limits)?;
    verify_compiled(&compiled, public, proof)
}

/// [`verify`] with a relation compiled once ([`Compiled::new`]; [`verify`] itself uses
/// [`Compiled::cached`]).
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
    // One encoding per proof: trailing or otherwise non-canonical bytes are refused.
    if stark.to_bytes() != proof.stark {
        return Err(invalid("the STARK proof's bytes are not canonical"));
    }
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

#[cfg(test)]
mod tests {
    use super::{Cache, CacheKey};
    use coopvm_core::Limits;

    fn key(i: u8, stack: u32) -> CacheKey {
        (
            [i; 32],
            Limits {
                stack,
                ..Limits::default()
            },
        )
    }

    #[test]
    fn the_cache_keeps_the_newest_relations_up_to_its_capacity() {
        let mut c = Cache::new(3);
        for i in 0..5 {
            c.insert(key(i, 8), i);
        }
        assert_eq!(c.map.len(), 3);
        assert!(!c.map.contains_key(&key(1, 8)), "the oldest went first");
        assert_eq!(c.map.get(&key(4, 8)), Some(&4));
        // Inserting a key again keeps one entry and its place.
        c.insert(key(4, 8), 40);
        assert_eq!((c.map.len(), c.order.len()), (3, 3));
        // The limits are part of the key: the same relation under other limits is another
        // entry.
        c.insert(key(4, 9), 41);
        assert_eq!(c.map.get(&key(4, 8)), Some(&40));
        assert_eq!(c.map.get(&key(4, 9)), Some(&41));
        assert!(!c.map.contains_key(&key(2, 8)));
    }
}
