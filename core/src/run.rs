//! One run of a contract, engine-independent: the checks before it, the transaction around
//! it, and the [`Outcome`] both engines report in the same shape.

use crate::context::{preflight, ExecutionContext};
use crate::error::VmError;
use crate::host::{Env, Event, EventValue, Host};
use crate::memory::Memory;
use crate::program::State;
use crate::stats::{Stop, Tally};
use crate::verify::{Analysis, Verified};
use smallvec::SmallVec;

/// What an engine reports about executing a contract's code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exec {
    /// Success, or the error that stopped the run.
    pub result: Result<(), VmError>,
    /// The value stack at the end (bottom first); engines may leave it empty on error.
    pub stack: Values,
    /// Gas consumed (equal to the limit after `out_of_gas`).
    pub gas_used: u64,
}

/// The result of a run, identical in shape (and, for the same input, in content) for both
/// engines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Success, or the error that stopped the run.
    pub result: Result<(), VmError>,
    /// The value stack at the end, bottom first; empty after an error.
    pub stack: Values,
    /// Gas consumed.
    pub gas_used: u64,
    /// The contract's state after the run: the new state on success, the old one on error.
    pub state: State,
    /// Events of the run; after an error only the error event.
    pub events: Vec<Event>,
    /// Values logged by `log`, in order (kept after an error, for debugging).
    pub logs: Vec<i64>,
    /// Number of host operations executed.
    pub host_calls: u64,
}

/// The values a run leaves on its stack, bottom first: a slice of `i64` (it derefs to one,
/// and compares equal to a `Vec`, an array or a slice of the same values) that holds up to
/// two values in place, without an allocation (a run's result is rarely more), and more on
/// the heap.
///
/// ```
/// use coopvm_core::run::Values;
/// let v = Values::from(&[1, 2][..]);
/// assert_eq!(v, [1, 2]);
/// assert_eq!(v, vec![1, 2]);
/// assert_eq!((v.len(), v[1], format!("{v:?}")), (2, 2, "[1, 2]".to_string()));
/// let many: Values = (0..5).collect();
/// assert_eq!(Vec::from(many), vec![0, 1, 2, 3, 4]);
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Values(SmallVec<[i64; 2]>);

impl Values {
    /// No values (allocates nothing).
    #[inline]
    pub fn new() -> Values {
        Values(SmallVec::new())
    }

    /// The values as a slice, bottom first.
    #[inline]
    pub fn as_slice(&self) -> &[i64] {
        &self.0
    }
}

impl std::ops::Deref for Values {
    type Target = [i64];
    #[inline]
    fn deref(&self) -> &[i64] {
        &self.0
    }
}

impl std::ops::DerefMut for Values {
    #[inline]
    fn deref_mut(&mut self) -> &mut [i64] {
        &mut self.0
    }
}

impl std::fmt::Debug for Values {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self[..].fmt(f)
    }
}

impl From<&[i64]> for Values {
    #[inline]
    fn from(values: &[i64]) -> Values {
        Values(SmallVec::from_slice(values))
    }
}

impl From<Vec<i64>> for Values {
    fn from(values: Vec<i64>) -> Values {
        Values(SmallVec::from_vec(values))
    }
}

impl From<Values> for Vec<i64> {
    fn from(values: Values) -> Vec<i64> {
        values.0.into_vec()
    }
}

impl FromIterator<i64> for Values {
    fn from_iter<I: IntoIterator<Item = i64>>(values: I) -> Values {
        Values(SmallVec::from_iter(values))
    }
}

impl<'a> IntoIterator for &'a Values {
    type Item = &'a i64;
    type IntoIter = std::slice::Iter<'a, i64>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl IntoIterator for Values {
    type Item = i64;
    type IntoIter = smallvec::IntoIter<[i64; 2]>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl PartialEq<[i64]> for Values {
    fn eq(&self, other: &[i64]) -> bool {
        self[..] == *other
    }
}

impl PartialEq<&[i64]> for Values {
    fn eq(&self, other: &&[i64]) -> bool {
        self[..] == **other
    }
}

impl<const N: usize> PartialEq<[i64; N]> for Values {
    fn eq(&self, other: &[i64; N]) -> bool {
        self[..] == other[..]
    }
}

impl PartialEq<Vec<i64>> for Values {
    fn eq(&self, other: &Vec<i64>) -> bool {
        self[..] == other[..]
    }
}

impl PartialEq<Values> for Vec<i64> {
    fn eq(&self, other: &Values) -> bool {
        self[..] == other[..]
    }
}

impl Outcome {
    /// Whether the run succeeded.
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }
}

/// An input of a run, for a contract that declares `.params N`: an integer, or a string,
/// which the run adds to its strings before the first instruction and passes as its handle
/// (see `docs/strings.md`).
///
/// ```
/// use coopvm_core::run::Arg;
/// assert_eq!(Arg::ints(&[40, 2]), vec![Arg::Int(40), Arg::Int(2)]);
/// assert_eq!(Arg::from("did:key:alice"), Arg::Str("did:key:alice".into()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Arg {
    /// An integer, pushed as it is.
    Int(i64),
    /// A string, pushed as its handle.
    Str(String),
}

impl Arg {
    /// Integer inputs.
    pub fn ints(values: &[i64]) -> Vec<Arg> {
        values.iter().copied().map(Arg::Int).collect()
    }
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

impl From<&str> for Arg {
    fn from(s: &str) -> Self {
        Arg::Str(s.to_owned())
    }
}

/// What a run needs besides the code and the host.
#[derive(Clone, Copy)]
pub struct RunParams<'a> {
    /// Who, where, when.
    pub ctx: &'a ExecutionContext,
    /// The contract state at the start (usually the contract's declared `.state`, or what a
    /// persistent store holds).
    pub state: &'a State,
    /// Gas available.
    pub gas_limit: u64,
    /// What executes the contracts this run calls (`callcontract`): the engine layer hands
    /// itself here, so a host never needs to know which engine runs. [`NoCalls`] refuses.
    pub calls: &'a dyn Executor,
    /// The inputs, deepest first: exactly as many as the contract's `.params` (empty by
    /// default), else the run is refused with `invalid_argument` before it starts.
    pub args: &'a [Arg],
}

impl<'a> RunParams<'a> {
    /// Parameters for a run that may not call other contracts (`calls` is [`NoCalls`]).
    pub fn new(ctx: &'a ExecutionContext, state: &'a State, gas_limit: u64) -> Self {
        RunParams {
            ctx,
            state,
            gas_limit,
            calls: &NoCalls,
            args: &[],
        }
    }

    /// The same parameters, with nested contract calls executed by `calls`.
    pub fn with_calls(self, calls: &'a dyn Executor) -> Self {
        RunParams { calls, ..self }
    }

    /// The same parameters, with the inputs `args` (for a contract with `.params N`, exactly
    /// N of them, deepest first).
    ///
    /// ```
    /// use coopvm_core::{asm::assemble, verify, ExecutionContext, Limits, NoHost, RunParams};
    /// use coopvm_core::run::{run, Arg, Session};
    /// let v = verify(assemble("t", ".params 2\nsub\n").unwrap(), &Limits::default()).unwrap();
    /// let ctx = ExecutionContext::default();
    /// let args = Arg::ints(&[40, 2]);
    /// let params = RunParams::new(&ctx, &v.contract().state, 100).with_args(&args);
    /// let session = Session::begin(&v, params, &mut NoHost).ok().unwrap();
    /// assert_eq!(session.env.inputs(), &[40, 2]);
    /// // A wrong number of inputs is refused before the run starts.
    /// let short = RunParams::new(&ctx, &v.contract().state, 100).with_args(&args[..1]);
    /// let refused = Session::begin(&v, short, &mut NoHost).err().unwrap();
    /// assert_eq!(refused.result.unwrap_err().kind.name(), "invalid_argument");
    /// ```
    pub fn with_args(self, args: &'a [Arg]) -> Self {
        RunParams { args, ..self }
    }
}

impl std::fmt::Debug for RunParams<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunParams")
            .field("ctx", self.ctx)
            .field("state", self.state)
            .field("gas_limit", &self.gas_limit)
            .field("args", &self.args)
            .finish_non_exhaustive()
    }
}

/// Executes a verified contract under the full run protocol: what a host uses to run the
/// contracts a running contract calls (`callcontract`). The engine layer implements it; a
/// host receives it with each run ([`RunParams::calls`], [`crate::HostCx::calls`]), so the
/// world a contract acts on never names an engine.
///
/// ```
/// use coopvm_core::{asm::assemble, verify, ExecutionContext, Limits, NoHost, RunParams};
/// use coopvm_core::run::{Executor, NoCalls};
/// let v = verify(assemble("t", "push 1").unwrap(), &Limits::default()).unwrap();
/// let ctx = ExecutionContext::default();
/// let out = NoCalls.execute(&v, RunParams::new(&ctx, &v.contract().state, 10), &mut NoHost);
/// assert_eq!(out.result.unwrap_err().kind, coopvm_core::ErrorKind::HostUnavailable);
/// ```
pub trait Executor: Send + Sync {
    /// Runs `verified` with `params` against `host` and reports the outcome (the run's
    /// transaction on `host` is begun and finished inside).
    fn execute(&self, verified: &Verified, params: RunParams<'_>, host: &mut dyn Host) -> Outcome;
}

/// The executor of runs that may not call other contracts: every call is refused with
/// `host_unavailable`, before anything runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoCalls;

impl Executor for NoCalls {
    fn execute(&self, verified: &Verified, params: RunParams<'_>, _: &mut dyn Host) -> Outcome {
        let e = VmError::new(
            crate::ErrorKind::HostUnavailable,
            "this run has no executor for nested contract calls".to_owned(),
        );
        refused(verified.contract(), &params, e)
    }
}

/// Code an engine prepared for one verified contract (the interpreter's lowered stream, the
/// JIT's native code), ready to execute any number of times. Both engines implement it, and
/// the run protocol ([`run`], [`crate::stats::run_with_stats`]) takes any implementer.
///
/// Not to be confused with [`Executor`], which runs a whole contract (checks and transaction
/// included) for a host's nested calls; an `Executor` is typically built from `Execute`
/// implementers and [`run`].
///
/// ```
/// use coopvm_core::{asm::assemble, verify, ExecutionContext, Env, Exec, Host, Limits, NoHost, RunParams};
/// use coopvm_core::{memory::Memory, run::{run, Execute}, stats::{run_with_stats, Stop, Tally}, verify::Analysis};
/// /// A toy engine: "runs" block 0 and leaves 1 on the stack for 2 gas.
/// struct Toy;
/// impl Execute for Toy {
///     fn execute<H: Host + ?Sized>(&self, _: &mut Env<'_>, _: &mut H, _: &mut Memory, _: u64) -> Exec {
///         Exec { result: Ok(()), stack: vec![1].into(), gas_used: 2 }
///     }
///     fn execute_counted<H: Host + ?Sized>(
///         &self, _: &Analysis, env: &mut Env<'_>, host: &mut H, memory: &mut Memory, gas: u64,
///         tally: &mut Tally,
///     ) -> (Exec, Stop) {
///         tally.enter(0, 0, 0);
///         (self.execute(env, host, memory, gas), Stop::Done)
///     }
/// }
/// let v = verify(assemble("t", "push 1").unwrap(), &Limits::default()).unwrap();
/// let ctx = ExecutionContext::default();
/// let params = RunParams::new(&ctx, &v.contract().state, 10);
/// assert_eq!(run(&Toy, &v, params, &mut NoHost).stack, vec![1]);
/// let (out, stats) = run_with_stats(&Toy, &v, params, &mut NoHost);
/// assert_eq!((out.gas_used, stats.instructions, stats.peak_stack), (2, 1, 1));
/// ```
pub trait Execute {
    /// Executes the code against `env` and `host`, with `memory` (the contract's state at the
    /// start; the new state afterwards, which the caller discards on error) and `gas_limit`
    /// gas. Reports the result, the final stack (empty on error) and the gas used.
    fn execute<H: Host + ?Sized>(
        &self,
        env: &mut Env<'_>,
        host: &mut H,
        memory: &mut Memory,
        gas_limit: u64,
    ) -> Exec;

    /// Executes like [`Execute::execute`] (same result, stack and gas) and also reports every
    /// basic block entry to `tally`, which starts empty for code with `analysis` (that of the
    /// contract the code was made from), and how the run stopped.
    fn execute_counted<H: Host + ?Sized>(
        &self,
        analysis: &Analysis,
        env: &mut Env<'_>,
        host: &mut H,
        memory: &mut Memory,
        gas_limit: u64,
        tally: &mut Tally,
    ) -> (Exec, Stop);
}

/// Runs `verified` by executing `code` (prepared from it by an engine), enforcing the seed's
/// order: permission and reputation checks (no gas), `host.begin()`, execution, then commit
/// of state, events and host effects on success, or rollback of all of them and a single
/// error event on failure. See [`Execute`] for an example.
#[inline]
pub fn run<C, H>(code: &C, verified: &Verified, params: RunParams<'_>, host: &mut H) -> Outcome
where
    C: Execute,
    H: Host + ?Sized,
{
    // `Session::begin`, the engine and `Session::finish`, with the environment and the
    // memory built where they stay: nothing large is moved between frames.
    let contract = verified.contract();
    if let Err(e) = admit(contract, &params) {
        return refused(contract, &params, e);
    }
    let mut env = RunEnv(std::mem::ManuallyDrop::new(environment(contract, &params)));
    // The thread's memory, given back when the run ends (see `Pooled`).
    let limits = verified.limits();
    let mut memory = Pooled(Some(Memory::pooled(
        &contract.program,
        params.state,
        limits.memory_keys,
        limits.transient_keys,
    )));
    host.begin();
    let exec = code.execute(&mut env, host, memory.get(), params.gas_limit);
    conclude(verified, &params, &mut env, memory.get(), exec, host)
}

/// The environment of a run, dropped at its end only if it owns something on the heap
/// ([`Env::owns_nothing`]): most runs' environments are forgotten, not dropped list by list.
struct RunEnv<'a>(std::mem::ManuallyDrop<Env<'a>>);

impl<'a> std::ops::Deref for RunEnv<'a> {
    type Target = Env<'a>;
    #[inline(always)]
    fn deref(&self) -> &Env<'a> {
        &self.0
    }
}

impl std::ops::DerefMut for RunEnv<'_> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for RunEnv<'_> {
    #[inline]
    fn drop(&mut self) {
        if !self.0.owns_nothing() {
            // SAFETY: the environment is dropped once, here, and never used after.
            unsafe { std::mem::ManuallyDrop::drop(&mut self.0) }
        }
    }
}

/// The memory of a run, kept for the thread's next run when it is dropped ([`Memory::recycle`]),
/// after the outcome was built in place. A memory a panic unwinds past (out of the engine or
/// the host) is dropped instead; the next run then makes another, which starts empty like
/// every memory.
struct Pooled(Option<Box<Memory>>);

impl Pooled {
    #[inline(always)]
    fn get(&mut self) -> &mut Memory {
        match &mut self.0 {
            Some(memory) => memory,
            None => unreachable!("a run's memory is given back only when it ends"),
        }
    }
}

impl Drop for Pooled {
    #[inline]
    fn drop(&mut self) {
        if let Some(memory) = self.0.take() {
            if !std::thread::panicking() {
                Memory::recycle(memory);
            }
        }
    }
}

/// The checks before a run: the number of inputs, then permissions and reputation.
#[inline]
fn admit(contract: &crate::Contract, params: &RunParams<'_>) -> Result<(), VmError> {
    check_inputs(contract, params.args)?;
    preflight(contract, params.ctx)
}

/// The outcome of a run refused before it started.
#[cold]
#[inline(never)]
fn refused(contract: &crate::Contract, params: &RunParams<'_>, e: VmError) -> Outcome {
    Outcome {
        events: vec![error_event(contract.id.as_str(), params.ctx, &e)],
        result: Err(e),
        stack: Values::new(),
        gas_used: 0,
        state: params.state.clone(),
        logs: Vec::new(),
        host_calls: 0,
    }
}

/// The run's environment.
#[inline]
fn environment<'a>(contract: &'a crate::Contract, params: &RunParams<'a>) -> Env<'a> {
    Env::new(params.ctx, &contract.id, &contract.program.strings)
        .with_calls(params.calls)
        .with_inputs(params.args)
}

/// The run's memory, holding its initial state.
#[inline]
fn memory(verified: &Verified, params: &RunParams<'_>) -> Memory {
    let limits = verified.limits();
    let mut memory = Memory::new(
        &verified.contract().program,
        params.state,
        limits.memory_keys,
    );
    memory.set_transient_limit(limits.transient_keys);
    memory
}

/// Everything after execution ([`Session::finish`]): commits state, events and host effects
/// on success, or rolls all of them back and reports a single error event on failure. Takes
/// what it keeps out of `env` and `memory`, which the caller drops where they are.
#[inline(always)]
fn conclude<H: Host + ?Sized>(
    verified: &Verified,
    params: &RunParams<'_>,
    env: &mut Env<'_>,
    memory: &mut Memory,
    exec: Exec,
    host: &mut H,
) -> Outcome {
    let contract = verified.contract();
    // A host operation that failed after charging dynamic gas ended the run: its charge
    // is spent like any other, and one the gas left does not cover ends the run with
    // `out_of_gas` there (using all of it), as it would have had the operation succeeded.
    let (result, gas_used) = match exec.result {
        Err(e) if env.failed_charge > 0 => {
            let spent = exec.gas_used.saturating_add(env.failed_charge);
            if spent > params.gas_limit {
                let mut out_of_gas = VmError::out_of_gas(params.gas_limit);
                out_of_gas.pc = e.pc;
                (Err(out_of_gas), params.gas_limit)
            } else {
                (Err(e), spent)
            }
        }
        result => (result, exec.gas_used.min(params.gas_limit)),
    };
    match result {
        Ok(()) => {
            host.commit();
            Outcome {
                result: Ok(()),
                stack: exec.stack,
                gas_used,
                state: memory.take_state_from(&contract.program, params.state),
                events: std::mem::take(&mut env.events),
                logs: std::mem::take(&mut env.logs),
                host_calls: env.host_calls,
            }
        }
        Err(e) => {
            host.rollback();
            Outcome {
                events: vec![error_event(&contract.id, params.ctx, &e)],
                result: Err(e),
                stack: Values::new(),
                gas_used,
                state: params.state.clone(),
                logs: std::mem::take(&mut env.logs),
                host_calls: env.host_calls,
            }
        }
    }
}

/// A run in progress: [`run`] split in two for engines that execute piecemeal (the
/// interpreter's step API). [`Session::begin`] does everything before execution,
/// [`Session::finish`] everything after; [`run`] is exactly `begin`, the engine, `finish`.
///
/// ```
/// use coopvm_core::{asm::assemble, verify::verify, host::NoHost, run::{Exec, RunParams, Session}, Limits, ExecutionContext};
/// let v = verify(assemble("t", "push 1").unwrap(), &Limits::default()).unwrap();
/// let ctx = ExecutionContext::default();
/// let params = RunParams::new(&ctx, &v.contract().state, 10);
/// let session = Session::begin(&v, params, &mut NoHost).unwrap();
/// assert_eq!(session.memory.len(), 0);
/// let out = session.finish(Exec { result: Ok(()), stack: vec![1].into(), gas_used: 2 }, &mut NoHost);
/// assert_eq!((out.stack.to_vec(), out.gas_used), (vec![1], 2));
/// ```
pub struct Session<'a> {
    verified: &'a Verified,
    params: RunParams<'a>,
    /// The run's environment (context, events, logs, strings), for the engine.
    pub env: Env<'a>,
    /// The contract's memory, starting as the run's initial state, for the engine.
    pub memory: Memory,
}

impl<'a> Session<'a> {
    /// Checks the number of inputs, then permissions and reputation (no gas), then starts
    /// the host's transaction. A refused run comes back as its final outcome (`host.begin`
    /// was not called).
    pub fn begin<H: Host + ?Sized>(
        verified: &'a Verified,
        params: RunParams<'a>,
        host: &mut H,
    ) -> Result<Session<'a>, Box<Outcome>> {
        let contract = verified.contract();
        if let Err(e) = admit(contract, &params) {
            return Err(Box::new(refused(contract, &params, e)));
        }
        let env = environment(contract, &params);
        let memory = memory(verified, &params);
        host.begin();
        Ok(Session {
            verified,
            params,
            env,
            memory,
        })
    }

    /// The gas limit of the run.
    pub fn gas_limit(&self) -> u64 {
        self.params.gas_limit
    }

    /// Ends the run with the engine's report: commits state, events and host effects on
    /// success, or rolls all of them back and reports a single error event on failure.
    pub fn finish<H: Host + ?Sized>(mut self, exec: Exec, host: &mut H) -> Outcome {
        conclude(
            self.verified,
            &self.params,
            &mut self.env,
            &mut self.memory,
            exec,
            host,
        )
    }
}

/// `Ok` if `args` are as many as `contract`'s `.params`, else `invalid_argument`.
#[inline]
pub fn check_inputs(contract: &crate::Contract, args: &[Arg]) -> Result<(), VmError> {
    if args.len() == contract.params as usize {
        return Ok(());
    }
    wrong_inputs(contract, args)
}

#[cold]
#[inline(never)]
fn wrong_inputs(contract: &crate::Contract, args: &[Arg]) -> Result<(), VmError> {
    let want = contract.params as usize;
    Err(VmError::new(
        crate::ErrorKind::InvalidArgument,
        format!(
            "contract `{}` takes {want} input(s) (`.params {want}`), but the run was given {}",
            contract.id,
            args.len()
        ),
    ))
}

/// The event reported instead of a failed run's events.
pub fn error_event(contract: &str, ctx: &ExecutionContext, e: &VmError) -> Event {
    let mut fields = std::collections::BTreeMap::new();
    fields.insert("kind".to_owned(), EventValue::from(e.kind.name()));
    fields.insert("message".to_owned(), EventValue::from(e.message.as_str()));
    if let Some(pc) = e.pc {
        fields.insert("pc".to_owned(), EventValue::Int(i64::from(pc)));
    }
    Event {
        name: "Error".to_owned(),
        source: crate::host::EventSource::Host,
        contract: contract.to_owned(),
        caller: ctx.caller_did.clone(),
        block: ctx.block_number,
        fields,
    }
}

#[cfg(test)]
mod tests {
    use super::Values;
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};

    fn hash(v: &impl Hash) -> u64 {
        let mut h = DefaultHasher::new();
        v.hash(&mut h);
        h.finish()
    }

    #[test]
    fn values_read_as_the_slice_they_hold_in_place_or_on_the_heap() {
        for n in 0..6 {
            let want: Vec<i64> = (0..n).map(|i| i * 7 - 3).collect();
            let (from_slice, from_vec) = (Values::from(&want[..]), Values::from(want.clone()));
            let collected: Values = want.iter().copied().collect();
            for v in [&from_slice, &from_vec, &collected] {
                assert_eq!(*v, want);
                assert_eq!(want, *v);
                assert_eq!(v.as_slice(), &want[..]);
                assert_eq!(v.len(), want.len());
                assert_eq!(format!("{v:?}"), format!("{want:?}"));
                // Equal values hash alike, wherever they are kept.
                assert_eq!(hash(v), hash(&from_slice));
                assert_eq!(v.iter().sum::<i64>(), want.iter().sum::<i64>());
            }
            assert_eq!(from_slice, from_vec);
            assert_eq!(Vec::from(from_vec), want);
            assert_eq!(from_slice.into_iter().collect::<Vec<_>>(), want);
        }
        assert_eq!(Values::new(), Values::default());
        assert!(Values::new().is_empty());
        assert_ne!(Values::from(&[1][..]), Values::from(&[1, 0][..]));
    }
}
