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

use crate::context::ExecutionContext;
use crate::error::{ErrorKind, VmError, VmResult};
use crate::isa::Op;
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

/// An event emitted by a run: a typed name plus who, where and when, and named fields.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Event {
    /// The event type, e.g. `CooperativeCreated`, or the topic of an `emitevent`.
    pub name: String,
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
    /// Emits the event `name` with `fields`, stamped with the contract, caller and block.
    pub fn emit(
        &mut self,
        name: &str,
        fields: impl IntoIterator<Item = (&'static str, EventValue)>,
    ) {
        self.events.push(Event {
            name: name.to_owned(),
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

/// The cooperative world a contract acts on. One implementation serves both engines.
///
/// The host is transactional: [`Host::begin`] is called before a run, then exactly one of
/// [`Host::commit`] (the run succeeded) or [`Host::rollback`] (it failed; every change since
/// `begin` must be undone). Every method must be deterministic: a function of the host's
/// state, the context and the arguments. String arguments arrive resolved from handles.
pub trait Host {
    /// Starts the run's transaction.
    fn begin(&mut self) {}
    /// Makes the run's changes permanent.
    fn commit(&mut self) {}
    /// Undoes every change since [`Host::begin`].
    fn rollback(&mut self) {}

    // --- cooperatives ---
    /// `createcooperative`: creates `name` with a resource pool of `pool` units.
    fn create_cooperative(&mut self, cx: &mut HostCx, name: &str, pool: i64) -> VmResult<()>;
    /// `joincooperative`: the caller joins `coop`.
    fn join_cooperative(&mut self, cx: &mut HostCx, coop: &str) -> VmResult<()>;
    /// `leavecooperative`: the caller leaves `coop`.
    fn leave_cooperative(&mut self, cx: &mut HostCx, coop: &str) -> VmResult<()>;
    /// `allocateresource`: moves `amount` from `coop`'s pool to `member`.
    fn allocate_resource(
        &mut self,
        cx: &mut HostCx,
        coop: &str,
        member: &str,
        amount: i64,
    ) -> VmResult<()>;
    /// `transferresource`: moves `amount` of `coop`'s resource from the caller to `to`.
    fn transfer_resource(
        &mut self,
        cx: &mut HostCx,
        coop: &str,
        to: &str,
        amount: i64,
    ) -> VmResult<()>;

    // --- federations ---
    /// `createfederation`: creates `name` with `coop` as founding member.
    fn create_federation(&mut self, cx: &mut HostCx, name: &str, coop: &str) -> VmResult<()>;
    /// `joinfederation`: adds `coop` to `federation`.
    fn join_federation(&mut self, cx: &mut HostCx, federation: &str, coop: &str) -> VmResult<()>;

    // --- governance ---
    /// `createproposal`: opens a proposal and returns its id.
    fn create_proposal(
        &mut self,
        cx: &mut HostCx,
        coop: &str,
        title: &str,
        quorum: i64,
        deadline: i64,
    ) -> VmResult<i64>;
    /// `castvote`: the caller votes on proposal `id`.
    fn cast_vote(&mut self, cx: &mut HostCx, id: i64, choice: i64) -> VmResult<()>;
    /// `delegatevotes`: the caller delegates their vote in `coop` to `delegate`.
    fn delegate_votes(&mut self, cx: &mut HostCx, coop: &str, delegate: &str) -> VmResult<()>;
    /// `executeproposal`: executes proposal `id`; returns whether it passed.
    fn execute_proposal(&mut self, cx: &mut HostCx, id: i64) -> VmResult<bool>;
    /// `updatequorum`: sets the quorum of proposal `id`.
    fn update_quorum(&mut self, cx: &mut HostCx, id: i64, quorum: i64) -> VmResult<()>;

    // --- reputation ---
    /// `updatereputation`: adds `delta` to the reputation of `did`.
    fn update_reputation(&mut self, cx: &mut HostCx, did: &str, delta: i64) -> VmResult<()>;
    /// `getreputation`: the reputation of `did`.
    fn get_reputation(&mut self, cx: &mut HostCx, did: &str) -> VmResult<i64>;

    // --- identity ---
    /// `verifydid`: whether `did` is registered and `signature` verifies over `payload`.
    fn verify_did(
        &mut self,
        cx: &mut HostCx,
        did: &str,
        payload: &str,
        signature: &str,
    ) -> VmResult<bool>;
    /// `updatediddocument`: replaces the document of `did`.
    fn update_did_document(&mut self, cx: &mut HostCx, did: &str, document: &str) -> VmResult<()>;

    // --- contract calls ---
    /// `callcontract`: runs the dependency `contract` with `arg` and returns the top of its
    /// final stack. The callee's gas must be charged with [`HostCx::charge`] and must not
    /// exceed [`HostCx::gas_left`].
    fn call_contract(&mut self, cx: &mut HostCx, contract: &str, arg: i64) -> VmResult<i64> {
        let _ = (cx, arg);
        unavailable(&format!("callcontract {contract}"))
    }
}

/// A host with no cooperative world: every domain operation fails with `host_unavailable`.
/// System operations (`log`, `emitevent`, `gettimestamp`, `getcaller`, `getblock`) still work,
/// since [`dispatch`] serves them from the [`Env`].
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHost;

fn unavailable<T>(what: &str) -> VmResult<T> {
    Err(VmError::new(
        ErrorKind::HostUnavailable,
        format!("`{what}` needs a cooperative host, and this run has none"),
    ))
}

impl Host for NoHost {
    fn create_cooperative(&mut self, _: &mut HostCx, _: &str, _: i64) -> VmResult<()> {
        unavailable("createcooperative")
    }
    fn join_cooperative(&mut self, _: &mut HostCx, _: &str) -> VmResult<()> {
        unavailable("joincooperative")
    }
    fn leave_cooperative(&mut self, _: &mut HostCx, _: &str) -> VmResult<()> {
        unavailable("leavecooperative")
    }
    fn allocate_resource(&mut self, _: &mut HostCx, _: &str, _: &str, _: i64) -> VmResult<()> {
        unavailable("allocateresource")
    }
    fn transfer_resource(&mut self, _: &mut HostCx, _: &str, _: &str, _: i64) -> VmResult<()> {
        unavailable("transferresource")
    }
    fn create_federation(&mut self, _: &mut HostCx, _: &str, _: &str) -> VmResult<()> {
        unavailable("createfederation")
    }
    fn join_federation(&mut self, _: &mut HostCx, _: &str, _: &str) -> VmResult<()> {
        unavailable("joinfederation")
    }
    fn create_proposal(
        &mut self,
        _: &mut HostCx,
        _: &str,
        _: &str,
        _: i64,
        _: i64,
    ) -> VmResult<i64> {
        unavailable("createproposal")
    }
    fn cast_vote(&mut self, _: &mut HostCx, _: i64, _: i64) -> VmResult<()> {
        unavailable("castvote")
    }
    fn delegate_votes(&mut self, _: &mut HostCx, _: &str, _: &str) -> VmResult<()> {
        unavailable("delegatevotes")
    }
    fn execute_proposal(&mut self, _: &mut HostCx, _: i64) -> VmResult<bool> {
        unavailable("executeproposal")
    }
    fn update_quorum(&mut self, _: &mut HostCx, _: i64, _: i64) -> VmResult<()> {
        unavailable("updatequorum")
    }
    fn update_reputation(&mut self, _: &mut HostCx, _: &str, _: i64) -> VmResult<()> {
        unavailable("updatereputation")
    }
    fn get_reputation(&mut self, _: &mut HostCx, _: &str) -> VmResult<i64> {
        unavailable("getreputation")
    }
    fn verify_did(&mut self, _: &mut HostCx, _: &str, _: &str, _: &str) -> VmResult<bool> {
        unavailable("verifydid")
    }
    fn update_did_document(&mut self, _: &mut HostCx, _: &str, _: &str) -> VmResult<()> {
        unavailable("updatediddocument")
    }
}

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
}

impl<'a> Env<'a> {
    /// A fresh environment for running a contract with string constants `constants`.
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
        }
    }

    /// The same environment, with nested contract calls executed by `calls`.
    pub fn with_calls(self, calls: &'a dyn Executor) -> Self {
        Env { calls, ..self }
    }

    /// The string named by `handle` (see the module docs).
    pub fn string(&self, handle: i64) -> VmResult<&str> {
        resolve(self.constants, &self.created, handle)
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
/// ```
/// use coopvm_core::{host::{dispatch, Env, NoHost}, isa::Op, ExecutionContext};
/// let ctx = ExecutionContext { timestamp: 42, ..Default::default() };
/// let mut env = Env::new(&ctx, "demo", &[]);
/// let r = dispatch(&mut NoHost, &mut env, Op::GetTimestamp, &[], 100).unwrap();
/// assert_eq!(r.value, 42);
/// ```
pub fn dispatch<H: Host + ?Sized>(
    host: &mut H,
    env: &mut Env<'_>,
    op: Op,
    args: &[i64],
    gas_left: u64,
) -> VmResult<HostReturn> {
    debug_assert_eq!(args.len(), op.info().pops as usize);
    env.host_calls += 1;
    let arg = |i: usize| args.get(i).copied().unwrap_or(0);
    // System operations are served from the environment.
    match op {
        Op::Log => {
            env.logs.push(arg(0));
            return Ok(HostReturn::default());
        }
        Op::GetTimestamp => return Ok(ret(clamp_u64(env.ctx.timestamp))),
        Op::GetBlock => return Ok(ret(clamp_u64(env.ctx.block_number))),
        Op::GetCaller => {
            let caller = env.ctx.caller_did.as_str();
            return Ok(ret(env.intern(caller)));
        }
        _ => {}
    }
    let Env {
        ctx,
        contract_id,
        calls,
        constants,
        created,
        events,
        ..
    } = env;
    let s = |i: usize| resolve(constants, created, arg(i));
    let mut cx = HostCx {
        ctx,
        contract_id,
        calls: *calls,
        events,
        extra_gas: 0,
        gas_left,
    };
    let value = match op {
        Op::EmitEvent => {
            let topic = s(0)?;
            cx.emit(topic, [("value", EventValue::Int(arg(1)))]);
            0
        }
        Op::CreateCooperative => unit(host.create_cooperative(&mut cx, s(0)?, arg(1))?),
        Op::JoinCooperative => unit(host.join_cooperative(&mut cx, s(0)?)?),
        Op::LeaveCooperative => unit(host.leave_cooperative(&mut cx, s(0)?)?),
        Op::AllocateResource => unit(host.allocate_resource(&mut cx, s(0)?, s(1)?, arg(2))?),
        Op::TransferResource => unit(host.transfer_resource(&mut cx, s(0)?, s(1)?, arg(2))?),
        Op::CreateFederation => unit(host.create_federation(&mut cx, s(0)?, s(1)?)?),
        Op::JoinFederation => unit(host.join_federation(&mut cx, s(0)?, s(1)?)?),
        Op::CreateProposal => host.create_proposal(&mut cx, s(0)?, s(1)?, arg(2), arg(3))?,
        Op::CastVote => unit(host.cast_vote(&mut cx, arg(0), arg(1))?),
        Op::DelegateVotes => unit(host.delegate_votes(&mut cx, s(0)?, s(1)?)?),
        Op::ExecuteProposal => i64::from(host.execute_proposal(&mut cx, arg(0))?),
        Op::UpdateQuorum => unit(host.update_quorum(&mut cx, arg(0), arg(1))?),
        Op::UpdateReputation => unit(host.update_reputation(&mut cx, s(0)?, arg(1))?),
        Op::GetReputation => host.get_reputation(&mut cx, s(0)?)?,
        Op::VerifyDid => i64::from(host.verify_did(&mut cx, s(0)?, s(1)?, s(2)?)?),
        Op::UpdateDidDocument => unit(host.update_did_document(&mut cx, s(0)?, s(1)?)?),
        Op::CallContract => host.call_contract(&mut cx, s(0)?, arg(1))?,
        other => {
            return Err(VmError::new(
                ErrorKind::InvalidOpcode,
                format!("`{other}` is not a host operation"),
            ))
        }
    };
    Ok(HostReturn {
        value,
        gas: cx.extra_gas,
    })
}

fn ret(value: i64) -> HostReturn {
    HostReturn { value, gas: 0 }
}

fn unit(_: ()) -> i64 {
    0
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
            dispatch(&mut NoHost, &mut env, Op::GetTimestamp, &[], 100)
                .unwrap()
                .value,
            7
        );
        assert_eq!(
            dispatch(&mut NoHost, &mut env, Op::GetBlock, &[], 100)
                .unwrap()
                .value,
            9
        );
        let h = dispatch(&mut NoHost, &mut env, Op::GetCaller, &[], 100)
            .unwrap()
            .value;
        assert_eq!(h, 1);
        assert_eq!(env.string(h).unwrap(), "did:key:alice");
        // Interning is stable: the same string gets the same handle.
        assert_eq!(
            dispatch(&mut NoHost, &mut env, Op::GetCaller, &[], 100)
                .unwrap()
                .value,
            1
        );
        dispatch(&mut NoHost, &mut env, Op::Log, &[5], 100).unwrap();
        dispatch(&mut NoHost, &mut env, Op::EmitEvent, &[0, 3], 100).unwrap();
        assert_eq!(env.logs, vec![5]);
        assert_eq!(env.events.len(), 1);
        assert_eq!(env.events[0].name, "topic");
        assert_eq!(env.events[0].caller, "did:key:alice");
        assert_eq!(env.events[0].block, 9);
        assert_eq!(env.events[0].fields["value"], EventValue::Int(3));
        assert_eq!(env.host_calls, 6);
    }

    #[test]
    fn bad_handles_are_errors() {
        let ctx = ctx();
        let mut env = Env::new(&ctx, "c", &[]);
        for h in [-1, 0, 1, i64::MAX, i64::MIN] {
            let e = dispatch(&mut NoHost, &mut env, Op::EmitEvent, &[h, 0], 100).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidStringHandle);
        }
    }

    #[test]
    fn no_host_refuses_domain_ops() {
        let ctx = ctx();
        let consts = vec!["x".to_string(), "y".to_string(), "z".to_string()];
        let mut env = Env::new(&ctx, "c", &consts);
        for &op in Op::ALL.iter().filter(|op| op.is_host()) {
            let args = vec![0i64; op.info().pops as usize];
            let r = dispatch(&mut NoHost, &mut env, op, &args, 100);
            let system = matches!(
                op,
                Op::Log | Op::EmitEvent | Op::GetTimestamp | Op::GetCaller | Op::GetBlock
            );
            assert_eq!(r.is_ok(), system, "{op:?}");
            if !system {
                assert_eq!(r.unwrap_err().kind, ErrorKind::HostUnavailable);
            }
        }
    }

    #[test]
    fn non_host_ops_are_refused() {
        let ctx = ctx();
        let mut env = Env::new(&ctx, "c", &[]);
        let e = dispatch(&mut NoHost, &mut env, Op::Add, &[1, 2], 100).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidOpcode);
    }
}
