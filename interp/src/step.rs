//! The step API for embedders and debuggers: a run executed one original instruction at a
//! time, with the stack, memory, gas and call stack inspectable between steps.
//!
//! A [`Stepper`] holds everything a run needs (the run protocol's session, the machine and
//! the host) and drives the same [`Machine`] that a full run does, so stepping to the end
//! gives exactly the [`Outcome`] of a full run: same result, stack, gas, state, events and
//! logs, with the same commit or rollback. A basic block's gas is charged as part of the step
//! into its first instruction; when that charge fails the step ends the run with
//! `out_of_gas` without executing anything.
//!
//! ```
//! use coopvm_core::{asm::assemble, verify, Limits, NoHost, ExecutionContext, RunParams};
//! use coopvm_interp::{lower, step::{Step, Stepper}};
//! let v = verify(assemble("t", "push 6\npush 7\nmul\n").unwrap(), &Limits::default()).unwrap();
//! let code = lower(&v);
//! let ctx = ExecutionContext::default();
//! let params = RunParams::new(&ctx, &v.contract().state, 100);
//! let mut host = NoHost;
//! let mut s = Stepper::new(&v, &code, params, &mut host);
//! assert_eq!(s.step(), Step::Ran(0));          // charges the block's 4 gas, pushes 6
//! assert_eq!((s.stack(), s.gas_left()), (&[6][..], 96));
//! assert_eq!(s.step(), Step::Ran(1));
//! assert_eq!(s.step(), Step::Ran(2));
//! assert_eq!(s.stack(), &[42]);
//! assert_eq!(s.step(), Step::Ended);           // the end of the code ends the run
//! assert_eq!(s.outcome().unwrap().stack, vec![42]);
//! assert_eq!(s.step(), Step::Finished);
//! ```

use crate::{Flow, IOp, Lowered, Machine};
use coopvm_core::host::Host;
use coopvm_core::run::{Outcome, RunParams, Session};
use coopvm_core::verify::Verified;
use coopvm_core::{Insn, State, VmError};

/// What one [`Stepper::step`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The instruction at this index ran; the run goes on.
    Ran(u32),
    /// The instruction at this index ran, or began and failed, and the run ended with it
    /// (`halt`, `return` from the main body, or an error). See [`Stepper::outcome`].
    RanAndEnded(u32),
    /// The run ended without executing an instruction: the gas left did not cover the next
    /// block's charge, or control reached the end of the code.
    Ended,
    /// Nothing happened: the run had already ended (or was refused before it started).
    Finished,
}

/// A run executed one instruction at a time. See the [module docs](self).
pub struct Stepper<'a, H: Host + ?Sized> {
    verified: &'a Verified,
    code: &'a Lowered,
    host: &'a mut H,
    machine: Machine<'a>,
    session: Option<Session<'a>>,
    outcome: Option<Outcome>,
    gas_limit: u64,
    executed: u64,
}

impl<'a, H: Host + ?Sized> Stepper<'a, H> {
    /// Starts a run of `verified`, whose interpreter code is `code` (from
    /// [`crate::lower`]`(verified)`): checks permissions and reputation and begins the
    /// host's transaction. A refused run is already finished, with its outcome.
    pub fn new(
        verified: &'a Verified,
        code: &'a Lowered,
        params: RunParams<'a>,
        host: &'a mut H,
    ) -> Self {
        let (session, outcome) = match Session::begin(verified, params, host) {
            Ok(session) => (Some(session), None),
            Err(refused) => (None, Some(*refused)),
        };
        let inputs = session.as_ref().map_or(&[][..], |s| s.env.inputs());
        let machine = Machine::new(code, params.gas_limit).with_inputs(inputs);
        Stepper {
            verified,
            code,
            host,
            machine,
            session,
            outcome,
            gas_limit: params.gas_limit,
            executed: 0,
        }
    }

    /// Executes the next instruction (charging its block's gas first if it starts a block).
    pub fn step(&mut self) -> Step {
        let Some(session) = self.session.as_mut() else {
            return Step::Finished;
        };
        let ops = self.code.ops();
        let mut ended = None;
        // Block entries: charge, then go on to the block's first instruction.
        while matches!(ops.get(self.machine.ip()), Some(IOp::Charge(_))) {
            match self
                .machine
                .step(&mut session.env, &mut *self.host, &mut session.memory)
            {
                Flow::Continue => {}
                Flow::Done => {
                    ended = Some(Ok(()));
                    break;
                }
                Flow::Error(e) => {
                    ended = Some(Err(*e));
                    break;
                }
            }
        }
        if let Some(result) = ended {
            self.end(result);
            return Step::Ended;
        }
        let pc = self.machine.pc();
        let original = (pc as usize) < self.verified.contract().program.code.len();
        let flow = self
            .machine
            .step(&mut session.env, &mut *self.host, &mut session.memory);
        if original {
            self.executed += 1;
        }
        let result = match flow {
            Flow::Continue if original => return Step::Ran(pc),
            // Only original instructions follow a charge; the end of the code halts.
            Flow::Continue | Flow::Done => Ok(()),
            Flow::Error(e) => Err(*e),
        };
        self.end(result);
        if original {
            Step::RanAndEnded(pc)
        } else {
            Step::Ended
        }
    }

    /// Steps until the run ends, then returns its outcome.
    pub fn run_to_end(&mut self) -> &Outcome {
        while self.session.is_some() {
            self.step();
        }
        self.outcome
            .as_ref()
            .expect("a run without a session has an outcome")
    }

    fn end(&mut self, result: Result<(), VmError>) {
        if let Some(session) = self.session.take() {
            let exec = self.machine.clone().finish(result);
            self.outcome = Some(session.finish(exec, &mut *self.host));
        }
    }

    /// Whether the run has ended.
    pub fn is_finished(&self) -> bool {
        self.session.is_none()
    }

    /// The final outcome, once the run has ended.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// The final outcome, if the run has ended.
    pub fn into_outcome(self) -> Option<Outcome> {
        self.outcome
    }

    /// The contract being run.
    pub fn verified(&self) -> &'a Verified {
        self.verified
    }

    /// Index of the instruction the next step executes (the code's length when the next
    /// step reaches its end), or `None` once the run has ended.
    pub fn pc(&self) -> Option<u32> {
        self.session.as_ref().map(|_| self.machine.pc())
    }

    /// The instruction the next step executes, if any.
    pub fn next_insn(&self) -> Option<Insn> {
        let pc = self.pc()?;
        self.verified
            .contract()
            .program
            .code
            .get(pc as usize)
            .copied()
    }

    /// The value stack, bottom first (after the end: the outcome's, empty after an error).
    pub fn stack(&self) -> &[i64] {
        match &self.outcome {
            Some(out) => &out.stack,
            None => self.machine.stack(),
        }
    }

    /// The machine's value stack, bottom first, even after the run ended: after an error it
    /// is the stack as the failing instruction found it (a failing instruction changes
    /// nothing), where [`Stepper::stack`] gives the outcome's empty one.
    pub fn machine_stack(&self) -> &[i64] {
        self.machine.stack()
    }

    /// The contract's memory now, as a state (after the end: the outcome's state, which is
    /// the initial one after an error).
    pub fn memory(&self) -> State {
        match (&self.session, &self.outcome) {
            (Some(session), _) => session
                .memory
                .clone()
                .into_state(&self.verified.contract().program),
            (None, Some(out)) => out.state.clone(),
            (None, None) => State::new(),
        }
    }

    /// Gas used so far.
    pub fn gas_used(&self) -> u64 {
        match &self.outcome {
            Some(out) => out.gas_used,
            None => self.machine.gas_used(),
        }
    }

    /// Gas left.
    pub fn gas_left(&self) -> u64 {
        self.gas_limit.saturating_sub(self.gas_used())
    }

    /// The gas limit of the run.
    pub fn gas_limit(&self) -> u64 {
        self.gas_limit
    }

    /// The `call` instructions in progress (their indices), outermost first. Empty after
    /// the end.
    pub fn call_stack(&self) -> Vec<u32> {
        if self.session.is_none() {
            return Vec::new();
        }
        self.machine
            .call_stack()
            .iter()
            .map(|&ret| self.code.pc_of((ret as usize).wrapping_sub(1)))
            .collect()
    }

    /// Number of calls in progress.
    pub fn call_depth(&self) -> usize {
        if self.session.is_none() {
            0
        } else {
            self.machine.call_stack().len()
        }
    }

    /// Instructions executed so far (counting one that failed).
    pub fn executed(&self) -> u64 {
        self.executed
    }

    /// Events emitted so far (after the end: the outcome's).
    pub fn events(&self) -> &[coopvm_core::Event] {
        match (&self.session, &self.outcome) {
            (Some(session), _) => &session.env.events,
            (None, Some(out)) => &out.events,
            (None, None) => &[],
        }
    }

    /// Values logged so far (after the end: the outcome's).
    pub fn logs(&self) -> &[i64] {
        match (&self.session, &self.outcome) {
            (Some(session), _) => &session.env.logs,
            (None, Some(out)) => &out.logs,
            (None, None) => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coopvm_core::asm::assemble;
    use coopvm_core::{verify, ErrorKind, ExecutionContext, Limits, NoHost};

    fn verified(src: &str) -> Verified {
        verify(assemble("t", src).unwrap(), &Limits::default()).unwrap()
    }

    fn stepped(v: &Verified, gas: u64) -> (Outcome, Vec<Step>) {
        let code = crate::lower(v);
        let ctx = ExecutionContext::default();
        let params = RunParams::new(&ctx, &v.contract().state, gas);
        let mut host = NoHost;
        let mut s = Stepper::new(v, &code, params, &mut host);
        let mut steps = Vec::new();
        loop {
            let step = s.step();
            if step == Step::Finished {
                break;
            }
            steps.push(step);
        }
        (s.into_outcome().unwrap(), steps)
    }

    #[test]
    fn a_call_shows_on_the_call_stack() {
        let v = verified("push 2\ncall f\nhalt\nf: dup\nmul\nreturn\n");
        let code = crate::lower(&v);
        let ctx = ExecutionContext::default();
        let params = RunParams::new(&ctx, &v.contract().state, 100);
        let mut host = NoHost;
        let mut s = Stepper::new(&v, &code, params, &mut host);
        assert_eq!(s.step(), Step::Ran(0));
        assert_eq!(s.pc(), Some(1));
        assert_eq!(s.step(), Step::Ran(1));
        assert_eq!(s.call_stack(), vec![1]);
        assert_eq!(s.call_depth(), 1);
        assert_eq!(s.next_insn().map(|i| i.op), Some(coopvm_core::Op::Dup));
        assert_eq!(s.step(), Step::Ran(3));
        assert_eq!(s.stack(), &[2, 2]);
        s.step();
        assert_eq!(s.step(), Step::Ran(5));
        assert!(s.call_stack().is_empty());
        assert_eq!(s.step(), Step::RanAndEnded(2));
        assert!(s.is_finished());
        assert_eq!(s.pc(), None);
        assert_eq!(s.stack(), &[4]);
        assert_eq!(s.executed(), 6);
    }

    #[test]
    fn out_of_gas_at_a_block_entry_ends_without_an_instruction() {
        let v = verified("push 1\njump l\nl: push 2\nhalt\n");
        // The first block costs 1 + 1 = 2... find its cost from the analysis.
        let first = v.analysis().blocks[0].gas;
        let (out, steps) = stepped(&v, first);
        assert_eq!(steps, vec![Step::Ran(0), Step::Ran(1), Step::Ended]);
        assert_eq!(out.result.unwrap_err().kind, ErrorKind::OutOfGas);
        assert_eq!(out.gas_used, first);
    }

    #[test]
    fn a_failing_instruction_ends_the_run_and_rolls_back() {
        let v = verified(".state x 1\npush 5\nstore x\npush 1\npush 0\ndiv\nhalt\n");
        let (out, steps) = stepped(&v, 100);
        assert_eq!(steps.last(), Some(&Step::RanAndEnded(4)));
        assert_eq!(out.result.unwrap_err().kind, ErrorKind::DivisionByZero);
        assert_eq!(out.state["x"], 1);
        assert!(out.stack.is_empty());
    }

    #[test]
    fn a_refused_run_is_finished_from_the_start() {
        let v = verified(".permission admin\npush 1\n");
        let (out, steps) = stepped(&v, 100);
        assert!(steps.is_empty());
        assert_eq!(out.result.unwrap_err().kind, ErrorKind::PermissionDenied);
    }

    #[test]
    fn memory_and_logs_are_visible_between_steps() {
        let v = verified(".state x 1\npush 7\nstore x\npush 3\nlog\nhalt\n");
        let code = crate::lower(&v);
        let ctx = ExecutionContext::default();
        let params = RunParams::new(&ctx, &v.contract().state, 100);
        let mut host = NoHost;
        let mut s = Stepper::new(&v, &code, params, &mut host);
        assert_eq!(s.memory()["x"], 1);
        s.step();
        s.step();
        assert_eq!(s.memory()["x"], 7);
        s.step();
        s.step();
        assert_eq!(s.logs(), &[3]);
        assert!(s.events().is_empty());
        let gas = s.gas_used();
        assert_eq!(s.gas_left(), 100 - gas);
        assert_eq!(s.run_to_end().state["x"], 7);
        assert_eq!(s.memory()["x"], 7);
        assert_eq!(s.logs(), &[3]);
        assert_eq!(s.gas_limit(), 100);
    }

    #[test]
    fn inputs_are_on_the_stack_before_the_first_step() {
        let v = verified(".params 2\nmul\n");
        let code = crate::lower(&v);
        let ctx = ExecutionContext::default();
        let args = coopvm_core::Arg::ints(&[6, 7]);
        let params = RunParams::new(&ctx, &v.contract().state, 10).with_args(&args);
        let mut host = NoHost;
        let mut s = Stepper::new(&v, &code, params, &mut host);
        assert_eq!(s.stack(), &[6, 7]);
        assert_eq!(s.step(), Step::Ran(0));
        assert_eq!(s.stack(), &[42]);
        assert_eq!(s.run_to_end().stack, vec![42]);
        // The wrong number of inputs: refused, finished from the start.
        let params = RunParams::new(&ctx, &v.contract().state, 10).with_args(&args[..1]);
        let mut s = Stepper::new(&v, &code, params, &mut host);
        assert!(s.is_finished());
        assert_eq!(s.step(), Step::Finished);
        let e = s.outcome().unwrap().result.clone().unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
    }
}
