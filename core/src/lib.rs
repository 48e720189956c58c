//! coopvm-core: everything both engines share.
//!
//! Data flows one way: text -> [`asm`] -> [`program`] (the IR) -> [`verify`](mod@verify) -> an engine.
//! The instruction table in [`isa`] is the single definition of every opcode; the [`host`]
//! module is the boundary to the cooperative world; [`run`] wraps an engine's execution in
//! the seed's checks and transaction; [`codec`] is the canonical binary form.
//!
//! ```
//! use coopvm_core::{asm::assemble, verify::verify, Limits};
//! let contract = assemble("add.casm", "push 2\npush 3\nadd\n").unwrap();
//! let verified = verify(contract, &Limits::default()).unwrap();
//! assert_eq!(verified.analysis().funcs[0].max_height, 2);
//! ```

pub mod address;
pub mod artefact;
pub mod asm;
pub mod codec;
pub mod context;
pub mod diagnostic;
pub mod disasm;
pub mod docs;
pub mod error;
pub mod fingerprint;
pub mod host;
pub mod isa;
pub mod limits;
pub mod load;
pub mod memory;
pub mod presence;
pub mod program;
pub mod run;
pub mod stats;
pub mod verify;
pub mod wire;

pub use context::ExecutionContext;
pub use error::{ErrorKind, VmError, VmResult};
pub use host::{Env, Event, EventSource, EventValue, Host, HostCx, NoHost};
pub use isa::{HostOp, Op, OpKind, PureOp};
pub use limits::{Limits, DEFAULT_GAS_LIMIT, MAX_STATIC_KEYS};
pub use program::{Contract, Insn, Key, Program, State};
pub use run::{Arg, Exec, Execute, Executor, NoCalls, Outcome, RunParams, Values};
pub use stats::Stats;
pub use verify::{verify, Verified, VerifyError};
