//! coopvm as a [`Vm`]: its internal value type [`CoopValue`], functions as contracts
//! ([`Function`]), and evaluation by a wrapper contract that pushes the arguments.
//!
//! ## Evaluation
//!
//! `evaluate(f, [a_1, ..., a_n], gas_limit)` builds a *wrapper contract*: `f`'s contract with
//! `push a_1 ... push a_n` put in front of its code and every jump and call target shifted by
//! `n`, so `f`'s code starts with the arguments on its stack (`a_n` on top). The wrapper is
//! verified and run under the full run protocol on the configured [`Engine`], with the
//! configured [`EvalHost`] (by default a fresh, empty in-memory cooperative host for every
//! call, as `coopvm run` without `--state` uses), the configured [`ExecutionContext`] and
//! `f`'s declared `.state`. Each argument push costs 1 gas like any `push`, so a call uses `n`
//! gas more than running `f`'s code alone; with no arguments the wrapper *is* `f`'s contract
//! and result and gas are exactly those of `coopvm run FILE --gas-limit N` with the CLI's
//! defaults. Nothing persists between calls, so evaluation is a pure function.
//!
//! - An integer argument is pushed with `push n`.
//! - A byte-string argument must be UTF-8: it becomes a string constant of the wrapper (an
//!   existing constant with the same text is reused, else it is appended to the pool) and is
//!   pushed as its handle (`push "..."`). Appending a constant moves the first handle of
//!   strings created during the run up by one.
//! - Any other argument (a list, a function, non-UTF-8 bytes) makes the call fail: `(None, 0)`.
//!
//! The result is the top of the final stack as [`CoopValue::Int`] (string handles are
//! integers too). The call gives `None` if `f` is not a coopvm function, the wrapper fails
//! verification (gas 0), the run fails (out of gas, division by zero, a denied permission, a
//! host operation that needs a cooperative host, ...: gas used so far, the limit after
//! `out_of_gas`), or the run ends with an empty stack.

use super::data::{DataValue, MAX_DEPTH};
use super::vm::Vm;
use coopvm_core::codec;
use coopvm_core::isa::{Op, OperandKind};
use coopvm_core::{verify, Contract, ExecutionContext, Insn, Limits, NoHost, Outcome, VerifyError};
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
    /// A jump target overflows when shifted past the argument pushes.
    #[error("a jump target overflows when shifted by the {0} argument push(es)")]
    TargetOverflow(usize),
    /// The wrapper contract failed verification.
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
/// let square = CoopValue::Function(Function::assemble("sq.casm", "dup\nmul\n").unwrap());
/// assert_eq!(vm.evaluate(&square, &[CoopValue::Int(7)], 100), (Some(CoopValue::Int(49)), 4));
/// // Out of gas: no result, gas used = the limit.
/// assert_eq!(vm.evaluate(&square, &[CoopValue::Int(7)], 3), (None, 3));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoopVm {
    /// The engine that runs functions.
    pub engine: Engine,
    /// The limits the wrapper contract is verified and run under.
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

    /// The wrapper contract that calls `f` on `args` (see the module docs).
    pub fn wrapper(f: &CoopValue, args: &[CoopValue]) -> Result<Contract, CallError> {
        let CoopValue::Function(f) = f else {
            return Err(CallError::NotAFunction);
        };
        let mut c = f.contract().clone();
        let n = args.len();
        let shift = i64::try_from(n).map_err(|_| CallError::TargetOverflow(n))?;
        let mut code = Vec::with_capacity(n + c.program.code.len());
        for (index, a) in args.iter().enumerate() {
            let insn = match a {
                CoopValue::Int(v) => Insn::with(Op::Push, *v),
                CoopValue::Bytes(b) => {
                    let s = std::str::from_utf8(b).map_err(|_| CallError::BadArgument { index })?;
                    let strings = &mut c.program.strings;
                    let at = match strings.iter().position(|t| t == s) {
                        Some(at) => at,
                        None => {
                            strings.push(s.to_owned());
                            strings.len() - 1
                        }
                    };
                    Insn::with(Op::PushStr, at as i64)
                }
                _ => return Err(CallError::BadArgument { index }),
            };
            code.push(insn);
        }
        for insn in &c.program.code {
            let mut insn = *insn;
            if insn.op.info().operand == OperandKind::Target {
                insn.arg = insn
                    .arg
                    .checked_add(shift)
                    .ok_or(CallError::TargetOverflow(n))?;
            }
            code.push(insn);
        }
        c.program.code = code;
        Ok(c)
    }

    /// Runs `f` on `args` and returns the full [`Outcome`] (stack, gas, events, logs).
    pub fn call(
        &self,
        f: &CoopValue,
        args: &[CoopValue],
        gas_limit: u64,
    ) -> Result<Outcome, CallError> {
        let wrapper = CoopVm::wrapper(f, args)?;
        let verified = verify(wrapper, &self.limits)?;
        Ok(match self.host {
            EvalHost::Cooperative => {
                CoopHost::new().execute(&verified, &self.ctx, gas_limit, &self.engine)
            }
            EvalHost::None => {
                let state = verified.contract().state.clone();
                self.engine
                    .run(&verified, &self.ctx, &state, gas_limit, &mut NoHost)
            }
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
    fn wrapper_shifts_targets_and_pushes_args() {
        let f = func("top: dup\njumpif done\njump top\ndone: halt\n");
        let w = CoopVm::wrapper(&f, &[CoopValue::Int(5), CoopValue::Int(-1)]).unwrap();
        let code = &w.program.code;
        assert_eq!(code[0], Insn::with(Op::Push, 5));
        assert_eq!(code[1], Insn::with(Op::Push, -1));
        assert_eq!(code[3], Insn::with(Op::JumpIf, 5));
        assert_eq!(code[4], Insn::with(Op::Jump, 2));
    }

    #[test]
    fn string_arguments_become_constants() {
        let f = func("push \"a\"\npop\n");
        let w = CoopVm::wrapper(
            &f,
            &[
                CoopValue::Bytes(b"a".to_vec()),
                CoopValue::Bytes(b"b".to_vec()),
            ],
        )
        .unwrap();
        assert_eq!(w.program.strings, vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(w.program.code[0], Insn::with(Op::PushStr, 0));
        assert_eq!(w.program.code[1], Insn::with(Op::PushStr, 1));
        assert_eq!(
            CoopVm::wrapper(&f, &[CoopValue::Bytes(vec![0xff])]),
            Err(CallError::BadArgument { index: 0 })
        );
    }

    #[test]
    fn call_errors() {
        let f = func("add\n");
        assert_eq!(
            CoopVm::wrapper(&CoopValue::Int(1), &[]),
            Err(CallError::NotAFunction)
        );
        assert_eq!(
            CoopVm::wrapper(&f, &[CoopValue::Int(1), CoopValue::List(vec![])]),
            Err(CallError::BadArgument { index: 1 })
        );
        let vm = CoopVm::default();
        // `add` needs two values; one argument fails verification.
        assert!(matches!(
            vm.call(&f, &[CoopValue::Int(1)], 10),
            Err(CallError::Verify(_))
        ));
        assert_eq!(vm.evaluate(&f, &[CoopValue::Int(1)], 10), (None, 0));
        let mut c = Function::assemble("t", "jump end\nend:\n")
            .unwrap()
            .contract()
            .clone();
        c.program.code[0].arg = i64::MAX;
        let f = CoopValue::Function(Function::new(c).unwrap());
        assert_eq!(
            CoopVm::wrapper(&f, &[CoopValue::Int(1)]),
            Err(CallError::TargetOverflow(1))
        );
    }

    #[test]
    fn results() {
        let vm = CoopVm::default();
        assert_eq!(
            vm.evaluate(&func("sub\n"), &[CoopValue::Int(1), CoopValue::Int(3)], 100),
            (Some(CoopValue::Int(-2)), 3)
        );
        // Empty final stack: no result, but the gas is reported.
        assert_eq!(
            vm.evaluate(&func("pop\n"), &[CoopValue::Int(1)], 100),
            (None, 2)
        );
        // Division by zero fails.
        assert_eq!(
            vm.evaluate(&func("div\n"), &[CoopValue::Int(1), CoopValue::Int(0)], 100),
            (None, 6)
        );
        // A contract needing a permission fails its preflight check with no gas used.
        assert_eq!(
            vm.evaluate(&func(".permission admin\npush 1\n"), &[], 100),
            (None, 0)
        );
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
