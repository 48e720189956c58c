//! The boundary between the engines and the world: the [`Host`] trait, the per-run
//! environment ([`Env`]) and the one dispatch function both engines call for host opcodes.
//!
//! Both engines execute every host opcode (cooperative, federation, governance, reputation,
//! identity and system classes) by calling [`dispatch`] with the opcode and its popped
//! arguments; the interpreter calls it directly, the JIT through an `extern "C"` trampoline.
//! Nothing on this path boxes or allocates unless the operation itself creates output (an
//! event, a log line).
//!
//! # Strings
//! Strings (DIDs, names, payloads) travel on the stack as integer *handles*. Handles
//! `0..n` name the contract's string constants (`push "..."`) in pool order; handles from `n`
//! up name strings the run created (such as the caller's DID from `getcaller`), in order of
//! creation. Any other value used as a string is `invalid_string_handle`.
//!
//! Handles compare by identity (`eq`); contents compare with `streq`, which costs 1 gas per
//! 32 bytes of the shorter string on top of its static cost ([`streq_gas`]), and `strlen`
//! gives a string's length in bytes (static cost only: the length is stored).

use crate::context::ExecutionContext;
use crate::error::{ErrorKind, VmError, VmResult};
use crate::isa::{HostOp, SystemOp};
use crate::run::{Executor, NoCalls};
use std::collections::BTreeMap;

/// A value carried by an event field.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(untagged)]
pub enum EventValue {
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
}

impl From<i64> for EventValue {
    fn from(v: i64) -> Self {
        EventValue::Int(v)
    }
}

impl From<&str> for EventValue {
    fn from(v: &str) -> Self {
        EventValue::Str(v.to_owned())
    }
}

impl From<String> for EventValue {
    fn from(v: String) -> Self {
        EventValue::Str(v)
    }
}

/// Who emitted an event: the host (domain operations and the `Error` event of a failed run)
/// or the contract itself (`emitevent`). A contract chooses its event names freely, so only
/// this field tells a contract's `Error` or `ResourceAllocated` from the host's.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum EventSource {
    /// The host: a domain operation, or the run's `Error` event.
    #[default]
    Host,
    /// The contract, with `emitevent`: `name` is the topic the contract chose.
    Contract,
}

/// An event emitted by a run: a typed name plus who, where and when, and named fields.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Event {
    /// The event type, e.g. `CooperativeCreated`, or the topic of an `emitevent`.
    pub name: String,
    /// Who emitted it: `host` or `contract` (`emitevent`). Events stored before this field
    /// existed read as `host`.
    #[serde(default)]
    pub source: EventSource,
    /// The contract whose run emitted it.
    pub contract: String,
    /// The caller's DID.
    pub caller: String,
    /// The block number of the run.
    pub block: u64,
    /// Event-specific fields.
    pub fields: BTreeMap<String, EventValue>,
}

/// What a host operation sees of the run: the context, and where to put events.
pub struct HostCx<'e> {
    /// The execution context of the run.
    pub ctx: &'e ExecutionContext,
    /// The id of the running contract.
    pub contract_id: &'e str,
    /// What executes contracts this run calls (`callcontract`); see [`Executor`].
    pub calls: &'e dyn Executor,
    events: &'e mut Vec<Event>,
    extra_gas: u64,
    gas_left: u64,
}

impl HostCx<'_> {
    /// Emits the host event `name` with `fields`, stamped with the contract, caller and block.
    pub fn emit(
        &mut self,
        name: &str,
        fields: impl IntoIterator<Item = (&'static str, EventValue)>,
    ) {
        self.emit_from(EventSource::Host, name, fields);
    }

    fn emit_from(
        &mut self,
        source: EventSource,
        name: &str,
        fields: impl IntoIterator<Item = (&'static str, EventValue)>,
    ) {
        self.events.push(Event {
            name: name.to_owned(),
            source,
            contract: self.contract_id.to_owned(),
            caller: self.ctx.caller_did.clone(),
            block: self.ctx.block_number,
            fields: fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        });
    }

    /// Appends an event exactly as given (already stamped), e.g. one emitted by a nested
    /// contract call, which carries the callee's contract id.
    pub fn forward(&mut self, event: Event) {
        self.events.push(event);
    }

    /// Charges `gas` on top of the opcode's static cost (for work that grows with its input).
    /// If the total exceeds what is left the run ends with `out_of_gas` after the operation
    /// returns (and is rolled back).
    pub fn charge(&mut self, gas: u64) {
        self.extra_gas = self.extra_gas.saturating_add(gas);
    }

    /// Gas left for the run before this operation's dynamic charges (the most a nested
    /// contract call may use).
    pub fn gas_left(&self) -> u64 {
        self.gas_left.saturating_sub(self.extra_gas)
    }
}

/// Generates the [`Host`] trait and the host half of [`dispatch`] from the instruction table
/// ([`crate::isa`]'s `for_each_op!`): one trait method per row of the table's `host` section,
/// with the row's name, arguments and result, and one generic decoding of its arguments.
macro_rules! host_interface {
    (
        pure { $($pure:tt)* }
        host { $(
            $h:ident = $hcode:literal, $hmn:literal, gas $hgas:literal, $hclass:ident, $hext:literal,
            $hstack:literal, $hdoc:literal,
            fn $method:ident($($arg:ident: $aty:ident),*) -> $rty:ident $(else $default:block)?;
        )* }
        system { $(
            $s:ident = $scode:literal, $smn:literal, $spops:literal -> $spushes:literal,
            gas $sgas:literal, $sclass:ident, $sext:literal, $sstack:literal, $sdoc:literal;
        )* }
    ) => {
        /// The cooperative world a contract acts on. One implementation serves both engines.
        ///
        /// The host is transactional: [`Host::begin`] is called before a run, then exactly one
        /// of [`Host::commit`] (the run succeeded) or [`Host::rollback`] (it failed; every
        /// change since `begin` must be undone). Every method must be deterministic: a function
        /// of the host's state, the context and the arguments. String arguments arrive resolved
        /// from handles.
        ///
        /// There is one method per host opcode, generated from the instruction table (its
        /// name, arguments and result are the table row's). Each has a default body that fails
        /// with `host_unavailable`, so a host implements only the operations it serves:
        ///
        /// ```
        /// use coopvm_core::host::{dispatch, Env, Host, HostCx};
        /// use coopvm_core::{isa::HostOp, ErrorKind, ExecutionContext, VmResult};
        /// struct Scores;
        /// impl Host for Scores {
        ///     fn get_reputation(&mut self, _: &mut HostCx, did: &str) -> VmResult<i64> {
        ///         Ok(did.len() as i64)
        ///     }
        /// }
        /// let ctx = ExecutionContext::default();
        /// let strings = ["did:key:a".to_string()];
        /// let mut env = Env::new(&ctx, "t", &strings);
        /// let r = dispatch(&mut Scores, &mut env, HostOp::GetReputation, &[0], 100).unwrap();
        /// assert_eq!(r.value, 9);
        /// let e = dispatch(&mut Scores, &mut env, HostOp::CastVote, &[1, 1], 100).unwrap_err();
        /// assert_eq!(e.kind, ErrorKind::HostUnavailable);
        /// ```
        pub trait Host {
            /// Starts the run's transaction.
            fn begin(&mut self) {}
            /// Makes the run's changes permanent.
            fn commit(&mut self) {}
            /// Undoes every change since [`Host::begin`].
            fn rollback(&mut self) {}

            $(
                #[doc = concat!("`", $hmn, "`: ", $hdoc)]
                fn $method(
                    &mut self,
                    cx: &mut HostCx,
                    $($arg: host_type!($aty)),*
                ) -> VmResult<host_result!($rty)> {
                    let _ = (&cx, $(&$arg),*);
                    host_default!($hmn $(, $default)?)
                }
            )*
        }

        /// Executes `op`: a host operation through `host`, with its arguments decoded as its
        /// table row declares, or a system operation from `env`.
        fn serve<H: Host + ?Sized>(
            host: &mut H,
            env: &mut Env<'_>,
            op: HostOp,
            args: &[i64],
            gas_left: u64,
        ) -> VmResult<HostReturn> {
            match op {
                $(HostOp::$h => {
                    let (mut cx, strings) = env.split(gas_left);
                    let _ = &strings;
                    let raw = &mut args.iter().copied();
                    let result = host.$method(
                        &mut cx,
                        $(host_arg!($aty, raw.next().unwrap_or(0), strings)),*
                    );
                    let gas = cx.extra_gas;
                    // The run ends here on an error, but what the operation charged before
                    // failing (a nested call's gas, say) was spent: the run counts it.
                    let result = result.inspect_err(|_| env.failed_charge = gas)?;
                    Ok(HostReturn {
                        value: host_value!($rty, result, env),
                        gas,
                    })
                })*
                $(HostOp::$s => system(env, SystemOp::$s, args),)*
            }
        }
    };
}

/// The Rust type of a host operation's argument or result type in the table: `Str` (a
/// string handle, resolved), `Int`, `Bool` (pushed as 1 or 0), `Unit` (nothing pushed).
macro_rules! host_type {
    (Str) => {
        &str
    };
    (Int) => {
        i64
    };
    (Bool) => {
        bool
    };
    (Unit) => {
        ()
    };
}

/// The Rust type of a host operation's result type in the table: as `host_type!`, except
/// that a `Str` result is an owned `String` (the run interns it and pushes its handle).
macro_rules! host_result {
    (Str) => {
        String
    };
    ($ty:ident) => {
        host_type!($ty)
    };
}

/// The argument `$raw` (a value popped from the stack) decoded as a `$ty`.
macro_rules! host_arg {
    (Str, $raw:expr, $strings:ident) => {
        $strings.get($raw)?
    };
    (Int, $raw:expr, $strings:ident) => {
        $raw
    };
}

/// The value a host operation's result `$r` of type `$ty` pushes (0 when it pushes nothing);
/// a string is interned in the run's environment `$env` and pushed as its handle.
macro_rules! host_value {
    (Unit, $r:ident, $env:ident) => {{
        let () = $r;
        0
    }};
    (Int, $r:ident, $env:ident) => {
        $r
    };
    (Bool, $r:ident, $env:ident) => {
        i64::from($r)
    };
    (Str, $r:ident, $env:ident) => {
        $env.intern(&$r)
    };
}

/// The default body of a host method: the row's own, or `host_unavailable`.
macro_rules! host_default {
    ($mn:literal) => {
        unavailable($mn)
    };
    ($mn:literal, $default:block) => {
        $default
    };
}

crate::isa::for_each_op!(host_interface);

/// A host with no cooperative world: every domain operation fails with `host_unavailable`.
/// System operations (`log`, `emitevent`, `gettimestamp`, `getcaller`, `getblock`, `streq`,
/// `strlen`) still work, since [`dispatch`] serves them from the [`Env`].
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHost;

fn unavailable<T>(what: &str) -> VmResult<T> {
    Err(VmError::new(
        ErrorKind::HostUnavailable,
        format!("`{what}` needs a cooperative host, and this run has none"),
    ))
}

impl Host for NoHost {}

/// Everything a run produces besides its stack and state, plus what host operations read.
/// One `Env` per run; both engines hand it to [`dispatch`].
pub struct Env<'a> {
    /// The execution context.
    pub ctx: &'a ExecutionContext,
    /// The running contract's id.
    pub contract_id: &'a str,
    /// What executes contracts this run calls ([`NoCalls`] unless the run was given one).
    pub calls: &'a dyn Executor,
    constants: &'a [String],
    created: Vec<String>,
    /// Events emitted so far.
    pub events: Vec<Event>,
    /// Values logged so far (by `log`).
    pub logs: Vec<i64>,
    /// Number of host operations executed.
    pub host_calls: u64,
    /// Dynamic gas a host operation charged before it failed (the run ends there and counts
    /// it in its gas used; see [`crate::run::Session::finish`]).
    pub failed_charge: u64,
    inputs: Vec<i64>,
}

impl<'a> Env<'a> {
    /// A fresh environment for running a contract with string constants `constants`.
    #[inline]
    pub fn new(ctx: &'a ExecutionContext, contract_id: &'a str, constants: &'a [String]) -> Self {
        Env {
            ctx,
            contract_id,
            calls: &NoCalls,
            constants,
            created: Vec::new(),
            events: Vec::new(),
            logs: Vec::new(),
            host_calls: 0,
            failed_charge: 0,
            inputs: Vec::new(),
        }
    }

    /// The same environment, with the run's inputs `args` (`.params`): string inputs become
    /// strings of the run, in order (see the module docs), before anything else does.
    #[inline]
    pub fn with_inputs(mut self, args: &[crate::run::Arg]) -> Self {
        if args.is_empty() {
            return self;
        }
        self.inputs = args
            .iter()
            .map(|a| match a {
                crate::run::Arg::Int(v) => *v,
                crate::run::Arg::Str(s) => self.intern(s),
            })
            .collect();
        self
    }

    /// The values the contract starts with on its stack (its inputs), bottom first.
    pub fn inputs(&self) -> &[i64] {
        &self.inputs
    }

    /// The same environment, with nested contract calls executed by `calls`.
    #[inline]
    pub fn with_calls(self, calls: &'a dyn Executor) -> Self {
        Env { calls, ..self }
    }

    /// The string named by `handle` (see the module docs).
    pub fn string(&self, handle: i64) -> VmResult<&str> {
        resolve(self.constants, &self.created, handle)
    }

    /// Whether this environment owns nothing on the heap: no created string, event, log or
    /// input was kept in it (most runs, once the outcome took its events and logs). Such an
    /// environment may be forgotten instead of dropped: that leaks nothing.
    #[inline]
    pub(crate) fn owns_nothing(&self) -> bool {
        // Every field named, so that a new one must be judged here (a field owning heap
        // memory that this test missed would leak with every run that forgets it).
        let Env {
            ctx: _,
            contract_id: _,
            calls: _,
            constants: _,
            created,
            events,
            logs,
            host_calls: _,
            failed_charge: _,
            inputs,
        } = self;
        created.capacity() == 0
            && events.capacity() == 0
            && logs.capacity() == 0
            && inputs.capacity() == 0
    }

    /// The handle of `s` among the run's created strings, adding it if new.
    pub fn intern(&mut self, s: &str) -> i64 {
        let base = self.constants.len();
        let index = match self.created.iter().position(|c| c == s) {
            Some(i) => i,
            None => {
                self.created.push(s.to_owned());
                self.created.len() - 1
            }
        };
        (base + index) as i64
    }
}

impl<'a> Env<'a> {
    /// What a host operation sees of the environment (events go to the run's list) and the
    /// run's strings, borrowed apart.
    fn split(&mut self, gas_left: u64) -> (HostCx<'_>, Strings<'_>) {
        let cx = HostCx {
            ctx: self.ctx,
            contract_id: self.contract_id,
            calls: self.calls,
            events: &mut self.events,
            extra_gas: 0,
            gas_left,
        };
        let strings = Strings {
            constants: self.constants,
            created: &self.created,
        };
        (cx, strings)
    }
}

/// The strings of a run, by handle (see the module docs).
struct Strings<'s> {
    constants: &'s [String],
    created: &'s [String],
}

impl<'s> Strings<'s> {
    fn get(&self, handle: i64) -> VmResult<&'s str> {
        resolve(self.constants, self.created, handle)
    }
}

fn resolve<'s>(constants: &'s [String], created: &'s [String], handle: i64) -> VmResult<&'s str> {
    let bad = || {
        VmError::new(
            ErrorKind::InvalidStringHandle,
            format!("{handle} is not a string handle"),
        )
    };
    let index = usize::try_from(handle).map_err(|_| bad())?;
    match index.checked_sub(constants.len()) {
        None => Ok(&constants[index]),
        Some(i) => created.get(i).map(String::as_str).ok_or_else(bad),
    }
}

/// What a host opcode produced: the value it pushes (if its table row pushes one) and the
/// dynamic gas it charged beyond its static cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostReturn {
    /// The pushed value (0 when the opcode pushes nothing).
    pub value: i64,
    /// Gas to charge on top of the static cost.
    pub gas: u64,
}

/// Executes the host opcode `op` with `args` (the popped values, deepest first, as many as
/// the table's `pops`), with `gas_left` gas left in the run after the current block's charge.
/// Both engines call exactly this; the engine then charges [`HostReturn::gas`] and fails with
/// `out_of_gas` (gas used = the limit) if it exceeds what is left.
///
/// A system opcode ([`SystemOp`]) is served from `env`; any other calls the [`Host`] method
/// its table row names, with string handles resolved (the first bad handle, in argument
/// order, fails with `invalid_string_handle` before the host is called).
///
/// ```
/// use coopvm_core::{host::{dispatch, Env, NoHost}, isa::HostOp, ExecutionContext};
/// let ctx = ExecutionContext { timestamp: 42, ..Default::default() };
/// let mut env = Env::new(&ctx, "demo", &[]);
/// let r = dispatch(&mut NoHost, &mut env, HostOp::GetTimestamp, &[], 100).unwrap();
/// assert_eq!(r.value, 42);
/// ```
pub fn dispatch<H: Host + ?Sized>(
    host: &mut H,
    env: &mut Env<'_>,
    op: HostOp,
    args: &[i64],
    gas_left: u64,
) -> VmResult<HostReturn> {
    debug_assert_eq!(args.len(), op.info().pops as usize);
    env.host_calls += 1;
    serve(host, env, op, args, gas_left)
}

/// Executes the system opcode `op` (served from `env`, never the [`Host`]) with `args`: what
/// [`dispatch`] does for it, for an engine that tells system opcodes apart when it compiles
/// a contract. Inlined, so that a caller with a constant `op` gets only that operation's code.
/// Never panics.
///
/// ```
/// use coopvm_core::{host::{dispatch_system, Env}, isa::SystemOp, ExecutionContext};
/// let ctx = ExecutionContext { block_number: 7, ..Default::default() };
/// let mut env = Env::new(&ctx, "demo", &[]);
/// let r = dispatch_system(&mut env, SystemOp::GetBlock, &[]).unwrap();
/// assert_eq!((r.value, env.host_calls), (7, 1));
/// ```
#[inline(always)]
pub fn dispatch_system(env: &mut Env<'_>, op: SystemOp, args: &[i64]) -> VmResult<HostReturn> {
    debug_assert_eq!(args.len(), op.host().info().pops as usize);
    env.host_calls += 1;
    system(env, op, args)
}

/// A system operation, served from the environment.
#[inline(always)]
fn system(env: &mut Env<'_>, op: SystemOp, args: &[i64]) -> VmResult<HostReturn> {
    let arg = |i: usize| args.get(i).copied().unwrap_or(0);
    let value = match op {
        SystemOp::Log => {
            env.logs.push(arg(0));
            0
        }
        SystemOp::EmitEvent => {
            let (mut cx, strings) = env.split(0);
            // The contract's own event: marked as such, so it cannot pass for the host's.
            cx.emit_from(
                EventSource::Contract,
                strings.get(arg(0))?,
                [("value", EventValue::Int(arg(1)))],
            );
            0
        }
        SystemOp::GetTimestamp => clamp_u64(env.ctx.timestamp),
        SystemOp::GetCaller => {
            let caller = env.ctx.caller_did.as_str();
            env.intern(caller)
        }
        SystemOp::GetBlock => clamp_u64(env.ctx.block_number),
        SystemOp::StrEq => {
            let (a, b) = (env.string(arg(0))?, env.string(arg(1))?);
            return Ok(HostReturn {
                value: i64::from(a == b),
                gas: streq_gas(a, b),
            });
        }
        SystemOp::StrLen => i64::try_from(env.string(arg(0))?.len()).unwrap_or(i64::MAX),
    };
    Ok(ret(value))
}

/// The dynamic gas of `streq` on `a` and `b`: 1 per 32 bytes (rounded up) of the shorter
/// string, the most a comparison reads.
pub fn streq_gas(a: &str, b: &str) -> u64 {
    (a.len().min(b.len()) as u64).div_ceil(STREQ_BYTES_PER_GAS)
}

/// Bytes `streq` compares per unit of dynamic gas.
pub const STREQ_BYTES_PER_GAS: u64 = 32;

fn ret(value: i64) -> HostReturn {
    HostReturn { value, gas: 0 }
}

fn clamp_u64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ExecutionContext {
        ExecutionContext {
            caller_did: "did:key:alice".into(),
            timestamp: 7,
            block_number: 9,
            ..Default::default()
        }
    }

    #[test]
    fn system_ops_come_from_the_env() {
        let ctx = ctx();
        let consts = vec!["topic".to_string()];
        let mut env = Env::new(&ctx, "c", &consts);
        assert_eq!(
            dispatch(&mut NoHost, &mut env, HostOp::GetTimestamp, &[], 100)
                .unwrap()
                .value,
            7
        );
        assert_eq!(
            dispatch(&mut NoHost, &mut env, HostOp::GetBlock, &[], 100)
                .unwrap()
                .value,
            9
        );
        let h = dispatch(&mut NoHost, &mut env, HostOp::GetCaller, &[], 100)
            .unwrap()
            .value;
        assert_eq!(h, 1);
        assert_eq!(env.string(h).unwrap(), "did:key:alice");
        // Interning is stable: the same string gets the same handle.
        assert_eq!(
            dispatch(&mut NoHost, &mut env, HostOp::GetCaller, &[], 100)
                .unwrap()
                .value,
            1
        );
        dispatch(&mut NoHost, &mut env, HostOp::Log, &[5], 100).unwrap();
        dispatch(&mut NoHost, &mut env, HostOp::EmitEvent, &[0, 3], 100).unwrap();
        assert_eq!(env.logs, vec![5]);
        assert_eq!(env.events.len(), 1);
        assert_eq!(env.events[0].name, "topic");
        assert_eq!(env.events[0].caller, "did:key:alice");
        assert_eq!(env.events[0].block, 9);
        assert_eq!(env.events[0].fields["value"], EventValue::Int(3));
        assert_eq!(env.events[0].source, EventSource::Contract);
        assert_eq!(env.host_calls, 6);
    }

    #[test]
    fn string_equality_and_length() {
        let ctx = ctx();
        let long = "x".repeat(65);
        let consts = vec![
            "did:key:alice".to_string(),
            "did:key:bob".to_string(),
            long.clone(),
            long.clone(),
            String::new(),
        ];
        let mut env = Env::new(&ctx, "c", &consts);
        let caller = dispatch(&mut NoHost, &mut env, HostOp::GetCaller, &[], 100)
            .unwrap()
            .value;
        // The caller's DID is a created string: another handle, the same text.
        assert_eq!(caller, 5);
        let eq = |env: &mut Env, a, b| dispatch(&mut NoHost, env, HostOp::StrEq, &[a, b], 100);
        assert_eq!(
            eq(&mut env, caller, 0).unwrap(),
            HostReturn { value: 1, gas: 1 }
        );
        assert_eq!(eq(&mut env, 0, caller).unwrap().value, 1);
        assert_eq!(eq(&mut env, caller, 1).unwrap().value, 0);
        // Distinct constants with the same text are equal; the dynamic gas is per 32 bytes
        // of the shorter string, rounded up.
        assert_eq!(eq(&mut env, 2, 3).unwrap(), HostReturn { value: 1, gas: 3 });
        assert_eq!(eq(&mut env, 2, 0).unwrap(), HostReturn { value: 0, gas: 1 });
        assert_eq!(eq(&mut env, 4, 4).unwrap(), HostReturn { value: 1, gas: 0 });
        assert_eq!(eq(&mut env, 4, 2).unwrap(), HostReturn { value: 0, gas: 0 });
        for bad in [[-1, 0], [0, 6], [6, 6], [i64::MIN, i64::MAX]] {
            let e = eq(&mut env, bad[0], bad[1]).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidStringHandle);
        }
        let len = |env: &mut Env, s| dispatch(&mut NoHost, env, HostOp::StrLen, &[s], 100);
        assert_eq!(
            len(&mut env, caller).unwrap(),
            HostReturn { value: 13, gas: 0 }
        );
        assert_eq!(len(&mut env, 2).unwrap().value, 65);
        assert_eq!(len(&mut env, 4).unwrap().value, 0);
        assert_eq!(
            len(&mut env, 6).unwrap_err().kind,
            ErrorKind::InvalidStringHandle
        );
        // Multi-byte characters count in bytes.
        let consts = vec!["é€".to_string()];
        let mut env = Env::new(&ctx, "c", &consts);
        assert_eq!(len(&mut env, 0).unwrap().value, 5);
    }

    #[test]
    fn bad_handles_are_errors() {
        let ctx = ctx();
        let mut env = Env::new(&ctx, "c", &[]);
        for h in [-1, 0, 1, i64::MAX, i64::MIN] {
            let e = dispatch(&mut NoHost, &mut env, HostOp::EmitEvent, &[h, 0], 100).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidStringHandle);
        }
    }

    #[test]
    fn no_host_refuses_domain_ops() {
        let ctx = ctx();
        let consts = vec!["x".to_string(), "y".to_string(), "z".to_string()];
        let mut env = Env::new(&ctx, "c", &consts);
        for &op in HostOp::ALL {
            let args = vec![0i64; op.info().pops as usize];
            let r = dispatch(&mut NoHost, &mut env, op, &args, 100);
            let system = op.system().is_some();
            assert_eq!(r.is_ok(), system, "{op:?}");
            if !system {
                assert_eq!(r.unwrap_err().kind, ErrorKind::HostUnavailable);
            }
        }
    }

    /// Records the arguments of the two operations it serves.
    #[derive(Default)]
    struct Recorder(Vec<String>);

    impl Host for Recorder {
        fn create_proposal(
            &mut self,
            cx: &mut HostCx,
            coop: &str,
            title: &str,
            quorum: i64,
            deadline: i64,
        ) -> VmResult<i64> {
            cx.charge(5);
            self.0.push(format!("{coop} {title} {quorum} {deadline}"));
            Ok(77)
        }
        fn verify_did(
            &mut self,
            _: &mut HostCx,
            did: &str,
            payload: &str,
            signature: &str,
        ) -> VmResult<bool> {
            self.0.push(format!("{did} {payload} {signature}"));
            Ok(true)
        }
    }

    #[test]
    fn arguments_are_decoded_as_the_table_declares() {
        let ctx = ctx();
        let consts = vec!["x".to_string(), "y".to_string(), "z".to_string()];
        let mut env = Env::new(&ctx, "c", &consts);
        let mut host = Recorder::default();
        let r = dispatch(
            &mut host,
            &mut env,
            HostOp::CreateProposal,
            &[2, 0, 3, -4],
            100,
        );
        assert_eq!(r.unwrap(), HostReturn { value: 77, gas: 5 });
        let r = dispatch(&mut host, &mut env, HostOp::VerifyDid, &[1, 2, 0], 100);
        assert_eq!(r.unwrap(), HostReturn { value: 1, gas: 0 });
        assert_eq!(host.0, ["z x 3 -4", "y z x"]);
        // The first bad handle fails the operation before the host sees it.
        let e = dispatch(&mut host, &mut env, HostOp::VerifyDid, &[0, 9, -1], 100).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidStringHandle);
        assert!(e.message.starts_with("9 "), "{}", e.message);
        assert_eq!(host.0.len(), 2);
        // Operations the host does not implement are unavailable.
        let e = dispatch(&mut host, &mut env, HostOp::CastVote, &[1, 1], 100).unwrap_err();
        assert_eq!(e.kind, ErrorKind::HostUnavailable);
        assert_eq!(
            e.message,
            "`castvote` needs a cooperative host, and this run has none"
        );
        let e = dispatch(&mut host, &mut env, HostOp::CallContract, &[1, 1], 100).unwrap_err();
        assert_eq!(
            e.message,
            "`callcontract y` needs a cooperative host, and this run has none"
        );
        assert_eq!(env.host_calls, 5);
    }
}
