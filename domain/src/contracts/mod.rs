//! Contract identity, deployment and upgrade, runs, and `callcontract`.
//!
//! # Identity
//! A contract is known by its id: the `.contract` id its author chose, or, for a contract
//! without one, its code address `c_<32 hex digits>` derived from its code
//! ([`coopvm_core::address`]; [`coopvm_core::load`] assigns it, and the host treats a
//! contract with an empty id, e.g. from `asm::assemble`, the same way: it runs, stores its
//! state and is deployed under its address, and its events carry it). The host keeps one
//! [`Deployment`] record per id, and an id names exactly one piece of code at a time:
//! - **Deployment.** The first [`CoopHost::deploy`] of an id, or the first successful run of
//!   a contract whose id is not deployed yet, deploys it: the caller's DID becomes its
//!   *owner*, and its code and code hash ([`coopvm_core::address::code_hash_hex`], SHA-256 of
//!   the canonical bytes) are recorded as revision 1.
//! - **Runs use the deployed code.** A run of a contract whose id is deployed with
//!   *different* code is refused before it starts (`already_exists`), so a file cannot take
//!   over another contract's stored state by declaring its id. Running the deployed code
//!   (the same file, or `.cvm`) is fine for anyone.
//! - **Only the owner changes the code, and only explicitly.** Deploying different code under
//!   a deployed id is refused ([`DeployError::NotOwner`] for anyone but the owner,
//!   [`DeployError::AlreadyDeployed`] for the owner, who must say [`CoopHost::upgrade`]).
//!   An upgrade keeps the contract's stored state, increments the revision and records the
//!   previous code hash. A code address cannot be upgraded: other code has another address.
//! - **Isolation.** A contract's `load`/`store` reach only its own state (stored under its
//!   id); a called contract runs on its own state, and `callcontract` and `.depends` resolve
//!   to the deployed code of the callee.
//!
//! The owner is the caller DID of the [`ExecutionContext`]: the node embedding coopvm must
//! authenticate callers (the command line takes `--caller` on trust).
//!
//! # Runs
//! [`CoopHost::execute`] runs a contract against the host: it checks the contract's identity
//! (above), that every contract named in `.depends` is deployed (`missing_dependency`
//! otherwise, before any gas is used), takes the caller's reputation from the reputation
//! table (the context's `reputation_score` is ignored: `.reputation` is checked against the
//! world's score), starts from the contract's stored state (or its `.state` on its first run),
//! runs it under the full run protocol, and on success stores the new state, appends the
//! run's events to the event log and deploys the contract if it was not deployed.
//!
//! # Contract calls
//! `callcontract [contract, arg] -> [result]` runs another contract inside the current run:
//! - the callee must be listed in the *calling* contract's `.depends` (`permission_denied`
//!   otherwise) and be deployed (`missing_dependency`); a contract already running in this
//!   call chain cannot be called again (`invalid_argument`: no re-entrancy), and at most
//!   [`MAX_CONTRACT_CALL_DEPTH`] contracts run nested (`call_depth_exceeded`);
//! - the callee starts with an empty stack, its stored state, and the argument under the
//!   reserved key [`ARG_KEY`] (`load arg`); after the call `arg` keeps the value it had before
//!   (or stays absent), so the argument never persists;
//! - it runs with the same execution context (caller DID, permissions, timestamp) and passes
//!   the same permission and reputation checks as a top-level run (reputation from the
//!   table);
//! - it may use all the gas the caller has left; the gas it used is charged to the caller
//!   after it returns;
//! - on success the result is the top of its final stack (0 if empty), its state changes and
//!   domain effects become part of the caller's transaction, and its events join the
//!   caller's (stamped with the callee's id); its logs are discarded;
//! - on failure the caller fails with the callee's error kind (the message names the callee
//!   and the instruction), and everything either did is rolled back. `out_of_gas` in the
//!   callee ends the caller with `out_of_gas` and gas used = the caller's limit; for other
//!   errors the caller's gas used does not include the callee's.

use super::{fail, CoopHost, Deployment};
use coopvm_core::address;
use coopvm_core::error::{ErrorKind, VmError, VmResult};
use coopvm_core::run::error_event;
use coopvm_core::{
    Contract, ExecutionContext, Executor, HostCx, Outcome, RunParams, State, Verified,
};
use std::sync::Arc;

/// Deepest nesting of contract runs (the outermost run counts as one).
pub const MAX_CONTRACT_CALL_DEPTH: usize = 8;
/// The state key through which a called contract receives its argument.
pub const ARG_KEY: &str = "arg";
/// Longest contract id, in bytes.
pub const MAX_CONTRACT_ID_LEN: usize = 256;

/// A contract that is running: its id, the id it declares (empty for a contract known by its
/// address that does not carry it: what the engine reports), and its declared dependencies.
#[derive(Clone, Debug)]
pub(crate) struct Active {
    id: String,
    declared: String,
    depends: Vec<String>,
}

/// The deployed form of a verified contract, kept with it (see `CoopHost::deployed_form`):
/// the host limits and id it was made for, and `CoopHost::as_deployed`'s result.
struct DeployedForm {
    limits: coopvm_core::Limits,
    id: String,
    form: Result<Arc<Verified>, String>,
}

/// What a successful [`CoopHost::deploy`] or [`CoopHost::upgrade`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeployOutcome {
    /// The id was not deployed: it is now, as revision 1.
    Deployed,
    /// The id was already deployed with exactly this code: nothing changed.
    Unchanged,
    /// The owner replaced the code: a new revision.
    Upgraded,
}

/// Why a contract cannot be deployed or upgraded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeployError {
    /// The id is empty, too long, holds control characters or is another contract's address.
    #[error("contract id `{id}` cannot be deployed: {reason}")]
    InvalidId {
        /// The id (at most 80 characters of it).
        id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The contract has no instructions.
    #[error("contract `{id}` has no instructions")]
    Empty {
        /// The contract id.
        id: String,
    },
    /// The contract does not verify with the default limits, which the store uses when it
    /// loads deployments.
    #[error("contract `{id}` cannot be deployed: {reason}")]
    Unverifiable {
        /// The contract id.
        id: String,
        /// The verifier's error.
        reason: String,
    },
    /// The owner is not a DID.
    #[error("contract `{id}` cannot be deployed by `{owner}`: the owner must be a DID (did:<method>:<id>)")]
    InvalidOwner {
        /// The contract id.
        id: String,
        /// The would-be owner.
        owner: String,
    },
    /// Someone other than the owner tried to replace a deployed contract.
    #[error("contract `{id}` is deployed by `{owner}`: only its owner can replace it, with an upgrade (`{caller}` is not the owner)")]
    NotOwner {
        /// The contract id.
        id: String,
        /// Its owner.
        owner: String,
        /// Who tried.
        caller: String,
    },
    /// The owner deployed different code under a deployed id without asking for an upgrade.
    #[error("contract `{id}` is already deployed with different code (revision {revision}, sha256 {code_hash}): replace it with an upgrade (`coopvm upgrade`)")]
    AlreadyDeployed {
        /// The contract id.
        id: String,
        /// Its current revision.
        revision: u64,
        /// The code hash of the deployed code.
        code_hash: String,
    },
    /// An upgrade of an id that is not deployed.
    #[error("contract `{id}` is not deployed, so it cannot be upgraded: deploy it first")]
    NotDeployed {
        /// The contract id.
        id: String,
    },
    /// An upgrade of a code address.
    #[error("`{id}` is a code address, derived from its code: its code cannot change (deploy the new code, which has its own address)")]
    CodeAddress {
        /// The address.
        id: String,
    },
}

/// The first 80 characters of `text`, for messages.
fn shown(text: &str) -> String {
    text.chars().take(80).collect()
}

/// The id `contract` is known by: its own, or its code address when it has none
/// ([`coopvm_core::address::address`]; [`coopvm_core::load`] assigns it, a contract built
/// otherwise gets it here). `Err` explains why its own id cannot name a deployment.
pub fn contract_id(contract: &Contract) -> Result<String, String> {
    if contract.id.is_empty() {
        return Ok(address::address(contract));
    }
    check_contract_id(contract)?;
    Ok(contract.id.clone())
}

/// `Ok` if `contract`'s id may name a deployment: 1 to [`MAX_CONTRACT_ID_LEN`] bytes, no
/// control characters, and not another contract's code address. (An empty id stands for the
/// contract's code address: see [`contract_id`].)
pub fn check_contract_id(contract: &Contract) -> Result<(), String> {
    let id = &contract.id;
    if id.is_empty() {
        return Ok(());
    }
    if id.len() > MAX_CONTRACT_ID_LEN {
        return Err(format!(
            "a contract id has at most {MAX_CONTRACT_ID_LEN} bytes, not {}",
            id.len()
        ));
    }
    if id.chars().any(char::is_control) {
        return Err("a contract id cannot hold control characters".into());
    }
    address::check_reserved(contract)
}

impl CoopHost {
    /// Deploys `verified` under its id with `owner` (a DID) as its owner; see the module docs
    /// ("Identity"). Deploying exactly the deployed code again changes nothing; different code
    /// under a deployed id is refused (the owner upgrades it with [`CoopHost::upgrade`]).
    pub fn deploy(
        &mut self,
        verified: Verified,
        owner: &str,
    ) -> Result<DeployOutcome, DeployError> {
        let verified = self.deployable(verified, owner)?;
        let contract = verified.contract();
        let id = contract.id.clone();
        match self.domain.deployments.get(&id) {
            None => {
                self.install_new(Arc::new(verified), owner);
                Ok(DeployOutcome::Deployed)
            }
            Some(d) => {
                if self.same_code(&id, contract) {
                    return Ok(DeployOutcome::Unchanged);
                }
                if d.owner != owner {
                    return Err(DeployError::NotOwner {
                        id,
                        owner: d.owner.clone(),
                        caller: owner.to_owned(),
                    });
                }
                Err(DeployError::AlreadyDeployed {
                    id,
                    revision: d.revision,
                    code_hash: d.code_hash.clone(),
                })
            }
        }
    }

    /// Replaces the code of the deployed contract with `verified`'s id: only its owner may,
    /// and never for a code address. The contract keeps its stored state; its revision grows
    /// by one and the previous code hash is recorded.
    pub fn upgrade(
        &mut self,
        verified: Verified,
        caller: &str,
    ) -> Result<DeployOutcome, DeployError> {
        let verified = self.deployable(verified, caller)?;
        let contract = verified.contract();
        let id = contract.id.clone();
        if address::is_address(&id) {
            return Err(DeployError::CodeAddress { id });
        }
        let Some(d) = self.domain.deployments.get(&id).cloned() else {
            return Err(DeployError::NotDeployed { id });
        };
        if d.owner != caller {
            return Err(DeployError::NotOwner {
                id,
                owner: d.owner,
                caller: caller.to_owned(),
            });
        }
        if self.same_code(&id, contract) {
            return Ok(DeployOutcome::Unchanged);
        }
        let mut previous = d.previous;
        previous.push(d.code_hash);
        let record = Deployment {
            owner: d.owner,
            code_hash: address::code_hash_hex(contract),
            revision: d.revision + 1,
            previous,
        };
        self.domain.deployments.put_committed(id.clone(), record);
        self.contracts.insert(id.clone(), Arc::new(verified));
        self.new_code.insert(id);
        Ok(DeployOutcome::Upgraded)
    }

    /// The checks every deployment and upgrade makes: a valid id and owner, code, and
    /// verification with the host's (default) limits. Returns the contract verified with them.
    fn deployable(&self, verified: Verified, owner: &str) -> Result<Verified, DeployError> {
        let contract = verified.contract();
        let id = contract_id(contract).map_err(|reason| DeployError::InvalidId {
            id: shown(&contract.id),
            reason,
        })?;
        if !crate::identity::is_did(owner) {
            return Err(DeployError::InvalidOwner {
                id: contract.id.clone(),
                owner: shown(owner),
            });
        }
        if contract.program.code.is_empty() {
            return Err(DeployError::Empty {
                id: contract.id.clone(),
            });
        }
        self.as_deployed(verified, &id)
            .map_err(|reason| DeployError::Unverifiable { id, reason })
    }

    /// `verified` as it is deployed: under `id` (its code address when it has no id), verified
    /// with the host's limits (which the store verifies deployments with when it loads them).
    fn as_deployed(&self, verified: Verified, id: &str) -> Result<Verified, String> {
        if verified.limits() == &self.limits && verified.contract().id == id {
            return Ok(verified);
        }
        let mut contract = verified.into_contract();
        contract.id = id.to_owned();
        coopvm_core::verify(contract, &self.limits).map_err(|e| e.to_string())
    }

    /// What a successful run of `verified`, whose id `id` is not deployed yet, deploys
    /// (`as_deployed`, shared), or why it cannot be deployed. Worked out once per
    /// verified contract and kept with it ([`Verified::artefact`], shared by its clones):
    /// every run of an undeployed contract needs it, and a contract verified with other
    /// limits than the host's (or known by its address) would otherwise be verified again on
    /// every run. What is kept is the verifier's own result for the host's limits; a host with
    /// other limits than the one that made it verifies for itself.
    fn deployed_form(&self, verified: &Verified, id: &str) -> Result<Arc<Verified>, String> {
        let deploy = |v: &Verified| self.as_deployed(v.clone(), id).map(Arc::new);
        let kept = verified.artefact(|v| DeployedForm {
            limits: self.limits,
            id: id.to_owned(),
            form: deploy(v),
        });
        match kept {
            Some(kept) if kept.limits == self.limits && kept.id == id => kept.form.clone(),
            _ => deploy(verified),
        }
    }

    /// Whether `id` is deployed with exactly `contract`.
    fn same_code(&self, id: &str, contract: &Contract) -> bool {
        self.contracts
            .get(id)
            .is_some_and(|v| v.contract() == contract)
    }

    /// Records a new deployment (revision 1) of `v` owned by `owner`.
    fn install_new(&mut self, v: Arc<Verified>, owner: &str) {
        let id = v.contract().id.clone();
        let record = Deployment {
            owner: owner.to_owned(),
            code_hash: address::code_hash_hex(v.contract()),
            revision: 1,
            previous: Vec::new(),
        };
        self.domain.deployments.put_committed(id.clone(), record);
        self.contracts.insert(id.clone(), v);
        self.new_code.insert(id);
    }

    /// Installs code read from a store (its deployment record is loaded with the tables).
    pub(crate) fn install_stored(&mut self, v: Verified) {
        self.contracts.insert(v.contract().id.clone(), Arc::new(v));
    }

    /// Takes the code deployed or upgraded since the last call, for the store to write.
    pub(crate) fn take_new_code(&mut self) -> Vec<Arc<Verified>> {
        std::mem::take(&mut self.new_code)
            .into_iter()
            .filter_map(|id| self.contracts.get(&id).cloned())
            .collect()
    }

    /// The deployed contract `id`.
    pub fn deployed(&self, id: &str) -> Option<&Arc<Verified>> {
        self.contracts.get(id)
    }

    /// The deployment record of `id`.
    pub fn deployment(&self, id: &str) -> Option<&Deployment> {
        self.domain.deployments.get(&id.to_owned())
    }

    /// Every deployed contract, by id.
    pub fn deployments(&self) -> impl Iterator<Item = (&String, &Arc<Verified>)> {
        self.contracts.iter()
    }

    /// `Ok` if every contract `contract` depends on is deployed, else `missing_dependency`
    /// naming the first one missing.
    pub fn check_dependencies(&self, contract: &Contract) -> VmResult<()> {
        match contract
            .dependencies
            .iter()
            .find(|d| !self.contracts.contains_key(d.as_str()))
        {
            None => Ok(()),
            Some(missing) => fail(
                ErrorKind::MissingDependency,
                format!(
                    "contract `{}` depends on `{missing}`, which is not deployed (deploy it first: `coopvm deploy FILE --state DB`)",
                    contract.id
                ),
            ),
        }
    }

    /// The id `contract` runs under ([`contract_id`]) if it may run under it: the id is valid
    /// and either not deployed or deployed with exactly this code (`already_exists`
    /// otherwise, naming the owner). A code address is always its own code's.
    pub fn check_identity(&self, contract: &Contract) -> VmResult<String> {
        let id = match contract_id(contract) {
            Ok(id) => id,
            Err(reason) => return fail(ErrorKind::InvalidArgument, reason),
        };
        let Some(d) = self.domain.deployments.get(&id) else {
            return Ok(id);
        };
        if address::is_address(&id) || self.same_code(&id, contract) {
            return Ok(id);
        }
        fail(
            ErrorKind::AlreadyExists,
            format!(
                "contract `{}` is deployed with different code (owner `{}`, revision {}, sha256 {}; this code's sha256 is {}): only the deployed code runs under its id. Give this contract another `.contract` id (or none, for an address of its own), or have the owner upgrade `{}`",
                contract.id,
                shown(&d.owner),
                d.revision,
                d.code_hash,
                address::code_hash_hex(contract),
                contract.id
            ),
        )
    }

    /// The state contract `contract` starts from: what is stored under its id
    /// ([`contract_id`]), or its `.state`.
    pub fn initial_state(&self, contract: &Contract) -> State {
        let stored = match contract_id(contract) {
            Ok(id) => self.domain.contract_states.get(&id),
            Err(_) => None,
        };
        stored.cloned().unwrap_or_else(|| contract.state.clone())
    }

    /// The context a run of the caller of `ctx` gets: `ctx` with the caller's reputation
    /// from the reputation table.
    pub fn run_context(&self, ctx: &ExecutionContext) -> ExecutionContext {
        ExecutionContext {
            reputation_score: self.reputation(&ctx.caller_did),
            ..ctx.clone()
        }
    }

    /// Runs `verified` against this host with `executor` (see the module docs), which also
    /// runs the contracts it calls. On success the contract's new state is stored and its
    /// events are appended to the event log.
    pub fn execute(
        &mut self,
        verified: &Verified,
        ctx: &ExecutionContext,
        gas_limit: u64,
        executor: &dyn Executor,
    ) -> Outcome {
        self.execute_with(verified, ctx, |host, ctx, state| {
            let params = RunParams::new(ctx, state, gas_limit).with_calls(executor);
            (executor.execute(verified, params, host), ())
        })
        .0
    }

    /// Like [`CoopHost::execute`], with `runner` executing the contract: it gets the host, the
    /// context to run with (`ctx` with the caller's reputation from the reputation table) and
    /// the state to start from, must run `verified` with that context on that host (e.g. with
    /// `coopvm_engine::Engine::run_with_stats`) and may return extra data besides the outcome.
    /// The extra data is `None` when the run was refused before it started (an id deployed
    /// with other code, a missing dependency, a contract that cannot be deployed).
    pub fn execute_with<T>(
        &mut self,
        verified: &Verified,
        ctx: &ExecutionContext,
        runner: impl FnOnce(&mut CoopHost, &ExecutionContext, &State) -> (Outcome, T),
    ) -> (Outcome, Option<T>) {
        let contract = verified.contract();
        let state = self.initial_state(contract);
        let refuse = |e: VmError, id: &str, state: State| Outcome {
            events: vec![error_event(id, ctx, &e)],
            result: Err(e),
            stack: Default::default(),
            gas_used: 0,
            state,
            logs: Vec::new(),
            host_calls: 0,
        };
        let id = match self.check_identity(contract) {
            Ok(id) => id,
            Err(e) => return (refuse(e, &contract.id, state), None),
        };
        // A contract that is not deployed yet is deployed by its first successful run, as
        // `deploy` would (under its id, with the limits deployments are verified with).
        let new_deployment = if self.contracts.contains_key(&id) {
            None
        } else {
            match self.deployed_form(verified, &id) {
                Ok(v) => Some(v),
                Err(reason) => {
                    let e = VmError::new(
                        ErrorKind::InvalidArgument,
                        format!(
                            "contract `{}` is not deployed and cannot be: with the default limits, {reason}",
                            shown(&id)
                        ),
                    );
                    return (refuse(e, &id, state), None);
                }
            }
        };
        if let Err(e) = self.check_dependencies(contract) {
            return (refuse(e, &id, state), None);
        }
        let run_ctx = self.run_context(ctx);
        self.active.push(Active {
            id: id.clone(),
            declared: contract.id.clone(),
            depends: contract.dependencies.clone(),
        });
        let (mut out, extra) = runner(self, &run_ctx, &state);
        self.active.pop();
        if self.in_transaction() {
            // A runner that did not finish its run's transaction: undo it rather than leave
            // the host half-way.
            while self.in_transaction() {
                coopvm_core::Host::rollback(self);
            }
        }
        if contract.id.is_empty() {
            // The engine stamped the events with the empty id: they are the address's.
            for e in out.events.iter_mut().filter(|e| e.contract.is_empty()) {
                e.contract.clone_from(&id);
            }
        }
        if out.is_ok() {
            if let Some(v) = new_deployment {
                self.install_new(v, &ctx.caller_did);
            }
            let stored = self.domain.contract_states.get(&id);
            let unchanged = match stored {
                Some(s) => *s == out.state,
                None => out.state.is_empty(),
            };
            if !unchanged {
                self.domain
                    .contract_states
                    .put_committed(id.clone(), out.state.clone());
            }
            let runs = self.runs() + 1;
            self.domain.meta.put_committed("runs".to_owned(), runs);
            self.events.extend(out.events.iter().cloned());
        }
        (out, Some(extra))
    }

    /// `callcontract`: see the module docs.
    pub(crate) fn call(&mut self, cx: &mut HostCx, callee: &str, arg: i64) -> VmResult<i64> {
        let caller_id = cx.contract_id;
        let depends = match self.active.last() {
            Some(a) if a.declared == caller_id => a.depends.clone(),
            _ => match self.contracts.get(caller_id) {
                Some(v) => v.contract().dependencies.clone(),
                None => {
                    return fail(
                        ErrorKind::NotFound,
                        format!("contract `{caller_id}` is unknown to the host; run it with CoopHost::execute"),
                    )
                }
            },
        };
        if !depends.iter().any(|d| d == callee) {
            return fail(
                ErrorKind::PermissionDenied,
                format!("contract `{caller_id}` may only call contracts listed in its `.depends`, and `{callee}` is not"),
            );
        }
        let Some(v) = self.contracts.get(callee).cloned() else {
            return fail(
                ErrorKind::MissingDependency,
                format!("contract `{callee}` is not deployed"),
            );
        };
        if self.active.iter().any(|a| a.id == callee) {
            return fail(
                ErrorKind::InvalidArgument,
                format!("contract `{callee}` is already running in this call chain (no re-entrant calls)"),
            );
        }
        if self.active.len() >= MAX_CONTRACT_CALL_DEPTH {
            return fail(
                ErrorKind::CallDepthExceeded,
                format!("contract calls nest at most {MAX_CONTRACT_CALL_DEPTH} deep"),
            );
        }
        let contract = v.contract();
        self.check_dependencies(contract)?;
        let mut state = self.initial_state(contract);
        let saved_arg = state.insert(ARG_KEY.into(), arg);
        // The callee's `.reputation` is checked against the caller's stored score too.
        let ctx = self.run_context(cx.ctx);
        let calls = cx.calls;
        let gas = cx.gas_left();
        self.active.push(Active {
            id: contract.id.clone(),
            declared: contract.id.clone(),
            depends: contract.dependencies.clone(),
        });
        let params = RunParams::new(&ctx, &state, gas).with_calls(calls);
        let out = calls.execute(&v, params, self);
        self.active.pop();
        cx.charge(out.gas_used);
        match out.result {
            Ok(()) => {
                let mut new_state = out.state;
                match saved_arg {
                    Some(old) => new_state.insert(ARG_KEY.into(), old),
                    None => new_state.remove(ARG_KEY),
                };
                if self.domain.contract_states.get(&contract.id) != Some(&new_state) {
                    self.domain
                        .contract_states
                        .insert(contract.id.clone(), new_state);
                }
                for e in out.events {
                    cx.forward(e);
                }
                Ok(out.stack.last().copied().unwrap_or(0))
            }
            Err(e) => {
                let at =
                    e.pc.map(|pc| format!(" at instruction {pc}"))
                        .unwrap_or_default();
                Err(VmError::new(
                    e.kind,
                    format!("in contract `{callee}`{at}: {}", e.message),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests;
