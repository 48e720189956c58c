//! coopvm as a [`Vm`]: its internal value type [`CoopValue`], functions as contracts
//! ([`Function`]), and evaluation with the arguments as the contract's inputs.
//!
//! ## Evaluation
//!
//! A function takes as many arguments as its contract declares inputs (`.params N`; none
//! without the directive). `evaluate(f, [a_1, ..., a_n], gas_limit)` runs `f`'s contract
//! itself, unchanged, with the arguments as its inputs: its code starts with `a_1 ... a_n`
//! on its stack (`a_n` on top), exactly as `coopvm run FILE --args a_1,...,a_n` starts it.
//! So one contract (one canonical encoding, one verification, one compiled body in the JIT's
//! code cache) serves every argument list, and `Engine::Auto` warms up across calls. It runs
//! under the full run protocol on the configured [`Engine`], with the configured [`EvalHost`]
//! (by default a fresh, empty in-memory cooperative host for every call, as `coopvm run`
//! without `--state` uses), the configured [`ExecutionContext`] and `f`'s declared `.state`.
//! Inputs cost no gas: result and gas are exactly those of
//! `coopvm run FILE --args ... --gas-limit N` with the CLI's defaults. Nothing persists
//! between calls, so evaluation is a pure function.
//!
//! - An integer argument is an integer input.
//! - A byte-string argument must be UTF-8: it is a string input, added to the run's strings
//!   before the first instruction and passed as its handle (the first string argument gets
//!   the first handle after `f`'s constants; see `docs/strings.md`).
//! - Any other argument (a list, a function, non-UTF-8 bytes), or another number of arguments
//!   than `f`'s `.params`, makes the call fail: `(None, 0)`.
//!
//! The result is the top of the final stack as [`CoopValue::Int`] (string handles are
//! integers too). The call gives `None` if `f` is not a coopvm function, `f` fails
//! verification (gas 0), the run fails (out of gas, division by zero, a denied permission, a
//! host operation that needs a cooperative host, ...: gas used so far, the limit after
//! `out_of_gas`), or the run ends with an empty stack.

use super::data::{DataValue, MAX_DEPTH};
use super::vm::Vm;
use coopvm_core::codec;
use coopvm_core::{
    verify, Arg, Contract, ExecutionContext, Limits, NoHost, Outcome, RunParams, VerifyError,
};
use coopvm_domain::CoopHost;
use coopvm_engine::Engine;

/// coopvm's number in the VM registry: the ASCII bytes `coop` read as a big-endian integer
/// (`0x636f6f70`), chosen to be self-describing and far from the small numbers other VMs
/// are likely to take.
pub const COOPVM_NUMBER: u64 = 0x636f_6f70;

/// The caller DID that [`CoopVm::default`] runs functions as (the CLI's default caller).
pub const DEFAULT_CALLER: &str = "did:key:anonymous";

/// A coopvm function: a contract whose canonical encoding decodes back to itself.
///
/// Only such contracts can be functions, so that encoding and decoding are inverses. (The one
/// kind of contract that does not round-trip is one with a non-zero operand on an
/// instruction that takes none; the assembler never makes those.)
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Function {
    contract: Box<Contract>,
    bytes: Vec<u8>,
}

/// Why a contract cannot be a [`Function`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FunctionError {
    /// The contract does not survive an encode/decode round trip.
    #[error(
        "the contract has no canonical encoding (an operand on an instruction that takes none)"
    )]
    NotCanonical,
    /// The bytes are not a canonical contract encoding.
    #[error("{0}")]
    Decode(#[from] codec::DecodeError),
    /// The assembly text does not assemble.
    #[error("{0}")]
    Asm(String),
}

impl Function {
    /// Wraps `contract`, checking that it round-trips through [`codec`].
    pub fn new(contract: Contract) -> Result<Function, FunctionError> {
        let bytes = codec::encode(&contract);
        match codec::decode(&bytes) {
            Ok(back) if back == contract => Ok(Function {
                contract: Box::new(contract),
                bytes,
            }),
            _ => Err(FunctionError::NotCanonical),
        }
    }

    /// Decodes a function from its canonical contract encoding (`.cvm` bytes).
    pub fn from_bytes(bytes: &[u8]) -> Result<Function, FunctionError> {
        let contract = codec::decode(bytes)?;
        Ok(Function {
            contract: Box::new(contract),
            bytes: bytes.to_vec(),
        })
    }

    /// Assembles `source` (named `file` in errors) into a function.
    ///
    /// ```
    /// let f = coopvm_vmi::Function::assemble("sq.casm", "dup\nmul\n").unwrap();
    /// assert_eq!(f.contract().program.code.len(), 2);
    /// ```
    pub fn assemble(file: &str, source: &str) -> Result<Function, FunctionError> {
        let c = coopvm_core::asm::assemble(file, source)
            .map_err(|e| FunctionError::Asm(e.to_string()))?;
        Function::new(c)
    }

    /// The contract.
    pub fn contract(&self) -> &Contract {
        &self.contract
    }

    /// The canonical encoding of the contract.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// coopvm's internal values.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CoopValue {
    /// A machine integer.
    Int(i64),
    /// A byte string (passed to functions as a string handle when UTF-8).
    Bytes(Vec<u8>),
    /// A list of values.
    List(Vec<CoopValue>),
    /// A coopvm function.
    Function(Function),
    /// A function of another VM, held as data: it can be carried but not evaluated here.
    Foreign(Foreign),
}

/// A function of another VM (any number but [`COOPVM_NUMBER`]), held by coopvm as data.
///
/// ```
/// use coopvm_vmi::{coop::Foreign, COOPVM_NUMBER};
/// assert_eq!(Foreign::new(2, vec![7]).unwrap().vm(), 2);
/// assert!(Foreign::new(COOPVM_NUMBER, vec![7]).is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Foreign {
    vm: u64,
    code: Vec<u8>,
}

impl Foreign {
    /// A function of VM `vm`, or `None` if `vm` is coopvm's own number (whose functions are
    /// [`CoopValue::Function`]s).
    pub fn new(vm: u64, code: Vec<u8>) -> Option<Foreign> {
        (vm != COOPVM_NUMBER).then_some(Foreign { vm, code })
    }

    /// The other VM's number.
    pub fn vm(&self) -> u64 {
        self.vm
    }

    /// The function as the other VM serialises it.
    pub fn code(&self) -> &[u8] {
        &self.code
    }
}

impl CoopValue {
    /// Whether this value is "true" as a relation's result: a non-zero integer (the truth of
    /// `jumpif`).
    pub fn is_true(&self) -> bool {
        matches!(self, CoopValue::Int(n) if *n != 0)
    }
}

/// Why a function could not be run (before any gas is used).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The value called is not a coopvm function.
    #[error("not a coopvm function")]
    NotAFunction,
    /// Argument `index` cannot be passed to a coopvm function.
    #[error("argument {index} is not an integer or a UTF-8 byte string")]
    BadArgument {
        /// Its position (0-based).
        index: usize,
    },
    /// The function takes another number of arguments (its `.params`).
    #[error("the function takes {params} argument(s) (`.params {params}`), not {given}")]
    Arity {
        /// The function's `.params`.
        params: u32,
        /// The number of arguments given.
        given: usize,
    },
    /// The function's contract failed verification.
    #[error("verification failed: {0}")]
    Verify(#[from] VerifyError),
}

/// The host that host operations (cooperatives, governance, ...) of an evaluation run
/// against. Either way it is fresh for every call, so evaluation stays pure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EvalHost {
    /// A fresh, empty in-memory cooperative host ([`CoopHost`]), as `coopvm run` without
    /// `--state`: host operations work, and a function with `.depends` fails (nothing is
    /// deployed).
    #[default]
    Cooperative,
    /// No host ([`NoHost`]): every domain operation fails with `host_unavailable`.
    None,
}

/// coopvm as a [`Vm`], with the engine, limits, host and context that evaluation uses.
///
/// ```
/// use coopvm_vmi::{CoopVm, CoopValue, Function, Vm};
/// let vm = CoopVm::default();
/// let square = CoopValue::Function(Function::assemble("sq.casm", ".params 1\ndup\nmul\n").unwrap());
/// assert_eq!(vm.evaluate(&square, &[CoopValue::Int(7)], 100), (Some(CoopValue::Int(49)), 3));
/// // Out of gas: no result, gas used = the limit.
/// assert_eq!(vm.evaluate(&square, &[CoopValue::Int(7)], 2), (None, 2));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoopVm {
    /// The engine that runs functions.
    pub engine: Engine,
    /// The limits functions are verified and run under.
    pub limits: Limits,
    /// Who, where and when functions run.
    pub ctx: ExecutionContext,
    /// What host operations run against.
    pub host: EvalHost,
    /// The gas limit for running relations in [`super::ProvableVm::prove`] and `verify`.
    pub proof_gas_limit: u64,
}

impl Default for CoopVm {
    /// The interpreter, default limits, a fresh cooperative host per call, and the CLI's
    /// default context (caller [`DEFAULT_CALLER`], everything else zero or empty).
    fn default() -> Self {
        CoopVm::with_engine(Engine::Interp)
    }
}

impl CoopVm {
    /// The default configuration (see [`CoopVm::default`]) with another engine.
    pub fn with_engine(engine: Engine) -> Self {
        CoopVm {
            engine,
            limits: Limits::default(),
            ctx: ExecutionContext {
                caller_did: DEFAULT_CALLER.to_owned(),
                ..ExecutionContext::default()
            },
            host: EvalHost::default(),
            proof_gas_limit: coopvm_core::DEFAULT_GAS_LIMIT,
        }
    }

    /// The inputs that pass `args` to a function (see the module docs): integers as they
    /// are, UTF-8 byte strings as string inputs.
    pub fn inputs(args: &[CoopValue]) -> Result<Vec<Arg>, CallError> {
        args.iter()
            .enumerate()
            .map(|(index, a)| match a {
                CoopValue::Int(v) => Ok(Arg::Int(*v)),
                CoopValue::Bytes(b) => std::str::from_utf8(b)
                    .map(Arg::from)
                    .map_err(|_| CallError::BadArgument { index }),
                _ => Err(CallError::BadArgument { index }),
            })
            .collect()
    }

    /// Runs `f` on `args` and returns the full [`Outcome`] (stack, gas, events, logs).
    pub fn call(
        &self,
        f: &CoopValue,
        args: &[CoopValue],
        gas_limit: u64,
    ) -> Result<Outcome, CallError> {
        let CoopValue::Function(f) = f else {
            return Err(CallError::NotAFunction);
        };
        let inputs = CoopVm::inputs(args)?;
        let params = f.contract().params;
        if inputs.len() != params as usize {
            return Err(CallError::Arity {
                params,
                given: inputs.len(),
            });
        }
        let verified = verify(f.contract().clone(), &self.limits)?;
        let run = |host: &mut dyn coopvm_core::Host,
                   ctx: &ExecutionContext,
                   state: &coopvm_core::State| {
            let params = RunParams::new(ctx, state, gas_limit)
                .with_calls(&self.engine)
                .with_args(&inputs);
            self.engine.run_params(&verified, params, host)
        };
        Ok(match self.host {
            EvalHost::Cooperative => {
                CoopHost::new()
                    .execute_with(&verified, &self.ctx, |host, ctx, state| {
                        (run(host, ctx, state), ())
                    })
                    .0
            }
            EvalHost::None => run(&mut NoHost, &self.ctx, &verified.contract().state.clone()),
        })
    }
}

impl Vm for CoopVm {
    type Value = CoopValue;

    fn number(&self) -> u64 {
        COOPVM_NUMBER
    }

    fn name(&self) -> &'static str {
        "coopvm"
    }

    fn encode(&self, value: &CoopValue) -> DataValue {
        encode(value)
    }

    fn decode(&self, data: &DataValue) -> Option<CoopValue> {
        if data.depth() > MAX_DEPTH {
            return None;
        }
        decode(data)
    }

    fn evaluate(
        &self,
        f: &CoopValue,
        args: &[CoopValue],
        gas_limit: u64,
    ) -> (Option<CoopValue>, u64) {
        match self.call(f, args, gas_limit) {
            Err(_) => (None, 0),
            Ok(out) => {
                let result = match (&out.result, out.stack.last()) {
                    (Ok(()), Some(&top)) => Some(CoopValue::Int(top)),
                    _ => None,
                };
                (result, out.gas_used.min(gas_limit))
            }
        }
    }
}

/// Encodes a value (see [`Vm::encode`]).
pub fn encode(value: &CoopValue) -> DataValue {
    match value {
        CoopValue::Int(n) => DataValue::Int(*n),
        CoopValue::Bytes(b) => DataValue::Bytes(b.clone()),
        CoopValue::List(items) => DataValue::List(items.iter().map(encode).collect()),
        CoopValue::Function(f) => DataValue::FunctionV {
            vm: COOPVM_NUMBER,
            code: f.bytes().to_vec(),
        },
        CoopValue::Foreign(f) => DataValue::FunctionV {
            vm: f.vm,
            code: f.code.clone(),
        },
    }
}

fn decode(data: &DataValue) -> Option<CoopValue> {
    Some(match data {
        DataValue::Int(n) => CoopValue::Int(*n),
        DataValue::Bytes(b) => CoopValue::Bytes(b.clone()),
        DataValue::List(items) => {
            CoopValue::List(items.iter().map(decode).collect::<Option<Vec<_>>>()?)
        }
        DataValue::FunctionV { vm, code } if *vm == COOPVM_NUMBER => {
            CoopValue::Function(Function::from_bytes(code).ok()?)
        }
        DataValue::FunctionV { vm, code } => CoopValue::Foreign(Foreign {
            vm: *vm,
            code: code.clone(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn func(src: &str) -> CoopValue {
        CoopValue::Function(Function::assemble("t.casm", src).unwrap())
    }

    #[test]
    fn arguments_are_inputs() {
        assert_eq!(
            CoopVm::inputs(&[
                CoopValue::Int(5),
                CoopValue::Bytes(b"a".to_vec()),
                CoopValue::Int(-1)
            ]),
            Ok(vec![Arg::Int(5), Arg::from("a"), Arg::Int(-1)])
        );
        assert_eq!(
            CoopVm::inputs(&[CoopValue::Bytes(vec![0xff])]),
            Err(CallError::BadArgument { index: 0 })
        );
        // String arguments are handles of the run, after the constants; the function's
        // contract is not changed.
        let f = func(".params 2\npush \"a\"\npop\nstreq\n");
        let vm = CoopVm::default();
        let both = |a: &[u8], b: &[u8]| {
            vm.evaluate(
                &f,
                &[CoopValue::Bytes(a.to_vec()), CoopValue::Bytes(b.to_vec())],
                100,
            )
        };
        assert_eq!(both(b"a", b"a"), (Some(CoopValue::Int(1)), 1 + 1 + 3 + 1));
        assert_eq!(both(b"a", b"b").0, Some(CoopValue::Int(0)));
        let handles = func(".params 2\npush \"a\"\n");
        let out = vm
            .call(
                &handles,
                &[
                    CoopValue::Bytes(b"x".to_vec()),
                    CoopValue::Bytes(b"a".to_vec()),
                ],
                100,
            )
            .unwrap();
        assert_eq!(out.stack, vec![1, 2, 0]);
    }

    #[test]
    fn call_errors() {
        let f = func(".params 2\nadd\n");
        let vm = CoopVm::default();
        assert_eq!(
            vm.call(&CoopValue::Int(1), &[], 10),
            Err(CallError::NotAFunction)
        );
        assert_eq!(
            vm.call(&f, &[CoopValue::Int(1), CoopValue::List(vec![])], 10),
            Err(CallError::BadArgument { index: 1 })
        );
        // Another number of arguments than `.params`.
        for n in [0, 1, 3] {
            assert_eq!(
                vm.call(&f, &vec![CoopValue::Int(1); n], 10),
                Err(CallError::Arity {
                    params: 2,
                    given: n
                })
            );
            assert_eq!(vm.evaluate(&f, &vec![CoopValue::Int(1); n], 10), (None, 0));
        }
        assert_eq!(
            vm.call(&func("add\n"), &[CoopValue::Int(1), CoopValue::Int(2)], 10),
            Err(CallError::Arity {
                params: 0,
                given: 2
            })
        );
        // A function that does not verify.
        assert!(matches!(
            vm.call(&func(".params 1\nadd\n"), &[CoopValue::Int(1)], 10),
            Err(CallError::Verify(_))
        ));
    }

    #[test]
    fn results() {
        let vm = CoopVm::default();
        let two = |src: &str, a, b| {
            vm.evaluate(
                &func(&format!(".params 2\n{src}")),
                &[CoopValue::Int(a), CoopValue::Int(b)],
                100,
            )
        };
        // Inputs cost no gas.
        assert_eq!(two("sub\n", 1, 3), (Some(CoopValue::Int(-2)), 1));
        // Empty final stack: no result, but the gas is reported.
        assert_eq!(two("pop\npop\n", 1, 3), (None, 2));
        // Division by zero fails.
        assert_eq!(two("div\n", 1, 0), (None, 4));
        // A contract needing a permission fails its preflight check with no gas used.
        assert_eq!(
            vm.evaluate(&func(".permission admin\npush 1\n"), &[], 100),
            (None, 0)
        );
    }

    #[test]
    fn one_contract_serves_every_argument_list() {
        use coopvm_engine::tier::CodeCache;
        let f = func(".contract serves_all\n.params 1\ndup\nmul\n");
        let vm = CoopVm::with_engine(Engine::Jit);
        let before = CodeCache::global_eager().compiled();
        for x in 0..20 {
            assert_eq!(
                vm.evaluate(&f, &[CoopValue::Int(x)], 100),
                (Some(CoopValue::Int(x * x)), 3)
            );
        }
        // One compilation (others may compile concurrently in other tests: at most a few).
        let compiled = CodeCache::global_eager().compiled() - before;
        assert!((1..20).contains(&compiled), "{compiled} compilations");
    }

    #[test]
    fn non_canonical_contracts_are_not_functions() {
        let mut c = Function::assemble("t", "add\n").unwrap().contract().clone();
        c.program.code[0].arg = 3;
        assert_eq!(Function::new(c), Err(FunctionError::NotCanonical));
        assert!(matches!(
            Function::from_bytes(b"nope"),
            Err(FunctionError::Decode(_))
        ));
        assert!(matches!(
            Function::assemble("t", "bogus\n"),
            Err(FunctionError::Asm(_))
        ));
    }

    #[test]
    fn foreign_functions_are_data() {
        let vm = CoopVm::default();
        let d = DataValue::FunctionV {
            vm: 7,
            code: vec![1],
        };
        let v = vm.decode(&d).unwrap();
        assert_eq!(v, CoopValue::Foreign(Foreign::new(7, vec![1]).unwrap()));
        assert_eq!(vm.encode(&v), d);
        assert_eq!(vm.evaluate(&v, &[], 100), (None, 0));
        // A coopvm FunctionV whose bytes are not a contract does not decode.
        let bad = DataValue::FunctionV {
            vm: COOPVM_NUMBER,
            code: vec![1],
        };
        assert_eq!(vm.decode(&bad), None);
        assert_eq!(vm.decode(&DataValue::List(vec![bad])), None);
    }

    #[test]
    fn too_deep_values_do_not_decode() {
        let vm = CoopVm::default();
        let mut d = DataValue::Int(0);
        for _ in 0..=MAX_DEPTH {
            d = DataValue::List(vec![d]);
        }
        assert_eq!(vm.decode(&d), None);
    }
}
