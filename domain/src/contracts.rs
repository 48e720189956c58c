//! Deployed contracts, runs, and `callcontract`.
//!
//! # Runs
//! [`CoopHost::execute`] runs a contract against the host: it checks that every contract
//! named in `.depends` is deployed (`missing_dependency` otherwise, before any gas is used),
//! starts from the contract's stored state (or its `.state` on its first run), runs it under
//! the full run protocol, and on success stores the new state and appends the run's events to
//! the event log.
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
//!   the same permission and reputation checks as a top-level run;
//! - it may use all the gas the caller has left; the gas it used is charged to the caller
//!   after it returns;
//! - on success the result is the top of its final stack (0 if empty), its state changes and
//!   domain effects become part of the caller's transaction, and its events join the
//!   caller's (stamped with the callee's id); its logs are discarded;
//! - on failure the caller fails with the callee's error kind (the message names the callee
//!   and the instruction), and everything either did is rolled back. `out_of_gas` in the
//!   callee ends the caller with `out_of_gas` and gas used = the caller's limit; for other
//!   errors the caller's gas used does not include the callee's.

use super::{fail, CoopHost};
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

/// A contract that is running: its id and its declared dependencies.
#[derive(Clone, Debug)]
pub(crate) struct Active {
    id: String,
    depends: Vec<String>,
}

impl CoopHost {
    /// Deploys `verified` under its id, replacing an earlier deployment of that id.
    pub fn deploy(&mut self, verified: Verified) -> Arc<Verified> {
        let v = Arc::new(verified);
        self.contracts
            .insert(v.contract().id.clone(), Arc::clone(&v));
        v
    }

    /// The deployed contract `id`.
    pub fn deployed(&self, id: &str) -> Option<&Arc<Verified>> {
        self.contracts.get(id)
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

    /// The state contract `contract` starts from: what is stored, or its `.state`.
    pub fn initial_state(&self, contract: &Contract) -> State {
        self.domain
            .contract_states
            .get(&contract.id)
            .cloned()
            .unwrap_or_else(|| contract.state.clone())
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
        self.execute_with(verified, ctx, |host, state| {
            let params = RunParams::new(ctx, state, gas_limit).with_calls(executor);
            (executor.execute(verified, params, host), ())
        })
        .0
    }

    /// Like [`CoopHost::execute`], with `runner` executing the contract: it gets the host and
    /// the state to start from, must run `verified` with `ctx` on that host (e.g. with
    /// `coopvm_engine::Engine::run_with_stats`) and may return extra data besides the outcome. The
    /// extra data is `None` when the run was refused before it started (missing dependency).
    pub fn execute_with<T>(
        &mut self,
        verified: &Verified,
        ctx: &ExecutionContext,
        runner: impl FnOnce(&mut CoopHost, &State) -> (Outcome, T),
    ) -> (Outcome, Option<T>) {
        let contract = verified.contract();
        let state = self.initial_state(contract);
        if let Err(e) = self.check_dependencies(contract) {
            let out = Outcome {
                events: vec![error_event(&contract.id, ctx, &e)],
                result: Err(e),
                stack: Vec::new(),
                gas_used: 0,
                state,
                logs: Vec::new(),
                host_calls: 0,
            };
            return (out, None);
        }
        self.active.push(Active {
            id: contract.id.clone(),
            depends: contract.dependencies.clone(),
        });
        let (out, extra) = runner(self, &state);
        self.active.pop();
        if self.in_transaction() {
            // A runner that did not finish its run's transaction: undo it rather than leave
            // the host half-way.
            while self.in_transaction() {
                coopvm_core::Host::rollback(self);
            }
        }
        if out.is_ok() {
            let stored = self.domain.contract_states.get(&contract.id);
            let unchanged = match stored {
                Some(s) => *s == out.state,
                None => out.state.is_empty(),
            };
            if !unchanged {
                self.domain
                    .contract_states
                    .put_committed(contract.id.clone(), out.state.clone());
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
            Some(a) if a.id == caller_id => a.depends.clone(),
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
        let saved_arg = state.insert(ARG_KEY.to_owned(), arg);
        let ctx: &ExecutionContext = cx.ctx;
        let calls = cx.calls;
        let gas = cx.gas_left();
        self.active.push(Active {
            id: contract.id.clone(),
            depends: contract.dependencies.clone(),
        });
        let params = RunParams::new(ctx, &state, gas).with_calls(calls);
        let out = calls.execute(&v, params, self);
        self.active.pop();
        cx.charge(out.gas_used);
        match out.result {
            Ok(()) => {
                let mut new_state = out.state;
                match saved_arg {
                    Some(old) => new_state.insert(ARG_KEY.to_owned(), old),
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
mod tests {
    use super::*;
    use coopvm_core::load;
    use coopvm_core::{EventValue, Limits};
    use coopvm_engine::Engine;

    fn verified(src: &str) -> Verified {
        load::from_source("t.casm", src)
            .unwrap()
            .verify(&Limits::default())
            .unwrap()
    }

    fn ctx() -> ExecutionContext {
        ExecutionContext {
            caller_did: "did:key:alice".into(),
            ..Default::default()
        }
    }

    const DOUBLER: &str = ".contract doubler\n.state calls 0\n\
        load calls\npush 1\nadd\nstore calls\n\
        push \"Doubled\"\nload arg\nemitevent\n\
        load arg\npush 2\nmul\nhalt\n";

    #[test]
    fn call_runs_the_dependency_with_its_argument() {
        let mut host = CoopHost::default();
        host.deploy(verified(DOUBLER));
        let main = verified(
            ".contract main\n.depends doubler\n\
             push \"doubler\"\npush 21\ncallcontract\nhalt\n",
        );
        let out = host.execute(&main, &ctx(), 10_000, &Engine::Interp);
        assert_eq!(out.result, Ok(()));
        assert_eq!(out.stack, vec![42]);
        // The callee's state persisted, without the argument.
        let s = host.contract_state("doubler").unwrap();
        assert_eq!(s.get("calls"), Some(&1));
        assert!(!s.contains_key(ARG_KEY));
        // Its event carries its own id.
        assert_eq!(out.events.len(), 1);
        assert_eq!(out.events[0].contract, "doubler");
        assert_eq!(out.events[0].fields["value"], EventValue::Int(21));
        // Gas: the caller's block (push 1 + push 1 + callcontract 50 + halt 1) plus the
        // callee's whole run (3+1+1+3 + 1+3+10 + 3+1+2+1).
        assert_eq!(out.gas_used, 53 + 29);
        host.execute(&main, &ctx(), 10_000, &Engine::Interp);
        assert_eq!(host.contract_state("doubler").unwrap()["calls"], 2);
    }

    #[test]
    fn callee_failure_rolls_back_everything() {
        let mut host = CoopHost::default();
        host.deploy(verified(
            ".contract failing\n.state n 0\n\
             push \"c\"\npush 5\ncreatecooperative\n\
             push 1\nstore n\npush 1\npush 0\ndiv\n",
        ));
        let main = verified(
            ".contract main\n.depends failing\n.state x 0\n\
             push 7\nstore x\n\
             push \"failing\"\npush 0\ncallcontract\n",
        );
        let out = host.execute(&main, &ctx(), 10_000, &Engine::Interp);
        let e = out.result.unwrap_err();
        assert_eq!(e.kind, ErrorKind::DivisionByZero);
        assert!(
            e.message.contains("in contract `failing` at instruction"),
            "{}",
            e.message
        );
        assert!(host.cooperative("c").is_none());
        assert!(host.contract_state("failing").is_none());
        assert!(host.contract_state("main").is_none());
        assert!(host.events().is_empty());
    }

    #[test]
    fn caller_failure_after_a_successful_call_rolls_back_the_callee() {
        let mut host = CoopHost::default();
        host.deploy(verified(DOUBLER));
        let main = verified(
            ".contract main\n.depends doubler\n\
             push \"doubler\"\npush 1\ncallcontract\npush 0\ndiv\n",
        );
        let out = host.execute(&main, &ctx(), 10_000, &Engine::Interp);
        assert_eq!(out.result.unwrap_err().kind, ErrorKind::DivisionByZero);
        assert!(host.contract_state("doubler").is_none());
    }

    #[test]
    fn callee_out_of_gas_uses_the_callers_limit() {
        let mut host = CoopHost::default();
        host.deploy(verified(".contract spin\nl:\njump l\n"));
        let main = verified(".contract main\n.depends spin\npush \"spin\"\npush 0\ncallcontract\n");
        let out = host.execute(&main, &ctx(), 500, &Engine::Interp);
        assert_eq!(out.result.unwrap_err().kind, ErrorKind::OutOfGas);
        assert_eq!(out.gas_used, 500);
    }

    #[test]
    fn refusals() {
        let mut host = CoopHost::default();
        // Not declared.
        host.deploy(verified(DOUBLER));
        let undeclared = verified(".contract m\npush \"doubler\"\npush 1\ncallcontract\n");
        let out = host.execute(&undeclared, &ctx(), 10_000, &Engine::Interp);
        assert_eq!(out.result.unwrap_err().kind, ErrorKind::PermissionDenied);
        // Declared but not deployed: refused before the run, no gas used.
        let missing = verified(".contract m\n.depends ghost\npush 1\n");
        let out = host.execute(&missing, &ctx(), 10_000, &Engine::Interp);
        let e = out.result.unwrap_err();
        assert_eq!(e.kind, ErrorKind::MissingDependency);
        assert!(e.message.contains("`ghost`"));
        assert_eq!(out.gas_used, 0);
        assert_eq!(out.events[0].name, "Error");
        // Re-entrancy: a -> b -> a.
        host.deploy(verified(
            ".contract a\n.depends b\npush \"b\"\npush 0\ncallcontract\n",
        ));
        host.deploy(verified(
            ".contract b\n.depends a\npush \"a\"\npush 0\ncallcontract\n",
        ));
        let a = host.deployed("a").unwrap().clone();
        let out = host.execute(&a, &ctx(), 10_000, &Engine::Interp);
        assert_eq!(out.result.unwrap_err().kind, ErrorKind::InvalidArgument);
        // Depth: c0 -> c1 -> ... -> c9.
        for i in 0..10 {
            host.deploy(verified(&format!(
                ".contract c{i}\n.depends c{}\npush \"c{}\"\npush 0\ncallcontract\n",
                i + 1,
                i + 1
            )));
        }
        host.deploy(verified(".contract c10\npush 1\n"));
        let c0 = host.deployed("c0").unwrap().clone();
        let out = host.execute(&c0, &ctx(), 100_000, &Engine::Interp);
        assert_eq!(out.result.unwrap_err().kind, ErrorKind::CallDepthExceeded);
        // The callee's own permission checks apply.
        host.deploy(verified(".contract guarded\n.permission admin\npush 1\n"));
        let g =
            verified(".contract m2\n.depends guarded\npush \"guarded\"\npush 0\ncallcontract\n");
        let out = host.execute(&g, &ctx(), 10_000, &Engine::Interp);
        assert_eq!(out.result.unwrap_err().kind, ErrorKind::PermissionDenied);
    }

    #[test]
    fn a_callee_with_inputs_is_refused() {
        let mut host = CoopHost::default();
        host.deploy(verified(".contract takes_one\n.params 1\npush 2\nmul\n"));
        let main = verified(
            ".contract main\n.depends takes_one\npush \"takes_one\"\npush 21\ncallcontract\n",
        );
        let out = host.execute(&main, &ctx(), 10_000, &Engine::Interp);
        let e = out.result.unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(e.message.contains("takes 1 input(s)"), "{}", e.message);
    }
}
