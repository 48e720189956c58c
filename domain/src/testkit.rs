//! Helpers for the domain's unit tests: run one host op with a given caller.
use super::*;
use coopvm_core::host::{dispatch, Env};
use coopvm_core::{ExecutionContext, Op};

/// A test harness: a host plus the context of the next operation.
pub struct Harness {
    pub host: CoopHost,
    pub ctx: ExecutionContext,
    pub events: Vec<Event>,
    pub gas: u64,
    /// The string the last successful op pushed, if its result is a string handle of
    /// the run.
    pub text: Option<String>,
}

/// An argument of a host op: an integer, or a string (passed as a handle).
pub enum A<'a> {
    I(i64),
    S(&'a str),
}

impl Harness {
    pub fn new() -> Self {
        Harness {
            host: CoopHost::default(),
            ctx: ExecutionContext {
                caller_did: "did:key:alice".into(),
                timestamp: 100,
                block_number: 7,
                ..Default::default()
            },
            events: Vec::new(),
            gas: 0,
            text: None,
        }
    }

    pub fn caller(&mut self, did: &str) -> &mut Self {
        self.ctx.caller_did = did.to_owned();
        self
    }

    /// Runs `op` as one transaction (committed on success, rolled back on error).
    pub fn op(&mut self, op: Op, args: &[A]) -> VmResult<i64> {
        let strings: Vec<String> = args
            .iter()
            .filter_map(|a| match a {
                A::S(s) => Some((*s).to_owned()),
                A::I(_) => None,
            })
            .collect();
        let mut next = 0;
        let values: Vec<i64> = args
            .iter()
            .map(|a| match a {
                A::I(v) => *v,
                A::S(_) => {
                    next += 1;
                    next - 1
                }
            })
            .collect();
        let mut env = Env::new(&self.ctx, "test", &strings);
        self.host.begin();
        let op = op.as_host().expect("a host op");
        let r = dispatch(&mut self.host, &mut env, op, &values, 1_000_000);
        match r {
            Ok(r) => {
                self.host.commit();
                self.text = (op.info().pushes == 1)
                    .then(|| env.string(r.value).ok().map(str::to_owned))
                    .flatten();
                self.events = env.events;
                self.gas = r.gas;
                Ok(r.value)
            }
            Err(e) => {
                self.host.rollback();
                self.events.clear();
                Err(e)
            }
        }
    }

    /// Runs `op` and returns the error kind it fails with.
    pub fn refuse(&mut self, op: Op, args: &[A]) -> ErrorKind {
        match self.op(op, args) {
            Ok(v) => panic!("{op:?} succeeded with {v}, expected a refusal"),
            Err(e) => e.kind,
        }
    }

    /// The names of the events of the last successful op.
    pub fn event_names(&self) -> Vec<&str> {
        self.events.iter().map(|e| e.name.as_str()).collect()
    }
}
