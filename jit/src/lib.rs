//! coopvm-jit: a Cranelift JIT for coopvm that agrees with the interpreter to the last unit
//! of gas.
//!
//! [`compile`] lowers a [`Verified`] contract to one native function, its [`NativeCode`] (see
//! the `lower` module docs for the scheme: gas per basic block on entry, the value stack in
//! SSA variables, an explicit call stack, host calls through `extern "C"` trampolines).
//! [`NativeCode`] implements [`coopvm_core::Execute`], like the interpreter's lowered code, so
//! the shared run protocol ([`coopvm_core::run::run`]) runs it and both engines produce their
//! [`coopvm_core::Outcome`] the same way. [`compile_counted`] makes a second flavour of the
//! code that also keeps run statistics (block entry counters; see [`coopvm_core::stats`]),
//! equal to the interpreter's, for [`coopvm_core::stats::run_with_stats`].
//!
//! ```
//! use coopvm_core::{asm::assemble, run::run, stats::run_with_stats, verify, Limits, NoHost, ExecutionContext, RunParams};
//! let v = verify(assemble("t", "push 6\npush 7\nmul\n").unwrap(), &Limits::default()).unwrap();
//! let code = coopvm_jit::compile(&v).unwrap();
//! let ctx = ExecutionContext::default();
//! let params = RunParams::new(&ctx, &v.contract().state, 100);
//! let out = run(&code, &v, params, &mut NoHost);
//! assert_eq!(out.stack, vec![42]);
//! assert_eq!(out.gas_used, 4);
//! let counted = coopvm_jit::compile_counted(&v).unwrap();
//! let (out, stats) = run_with_stats(&counted, &v, params, &mut NoHost);
//! assert_eq!(out.stack, vec![42]);
//! assert_eq!((stats.instructions, stats.peak_stack), (3, 2));
//! ```

mod lower;
mod rt;

use coopvm_core::host::{Env, Host};
use coopvm_core::memory::Memory;
use coopvm_core::run::{Exec, Execute};
use coopvm_core::stats::{Stop, Tally};
use coopvm_core::verify::Analysis;
use coopvm_core::{ErrorKind, Limits, Verified, VmError};
use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::{Function, UserFuncName};
use cranelift_codegen::isa::{OwnedTargetIsa, TargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::FunctionBuilderContext;
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, Linkage, Module};
use std::mem::ManuallyDrop;

/// Why a contract could not be compiled. The facade falls back to the interpreter.
#[derive(Debug, thiserror::Error)]
pub enum JitError {
    /// The target ISA is unknown or unsupported.
    #[error("unsupported target: {0}")]
    Isa(String),
    /// The contract needs something the lowering does not support on this target.
    #[error("cannot compile this contract: {0}")]
    Unsupported(String),
    /// Cranelift rejected the generated code.
    #[error("code generation failed: {0}")]
    Codegen(String),
    /// The JIT module failed (memory, symbols).
    #[error("JIT module error: {0}")]
    Module(String),
    /// An inconsistency between the verifier's analysis and the lowering.
    #[error("internal JIT error: {0}")]
    Internal(String),
}

type Entry = unsafe extern "C" fn(*mut rt::Ctx) -> u32;

/// A JIT module whose code memory is freed when it is dropped.
struct CodeMemory(ManuallyDrop<JITModule>);

impl Drop for CodeMemory {
    fn drop(&mut self) {
        // SAFETY: the module is dropped only with the `NativeCode` that owns it (or on a failed
        // compile), so no function pointer into it can be called afterwards.
        unsafe { ManuallyDrop::take(&mut self.0).free_memory() }
    }
}

/// A contract compiled to native code ([`compile`], [`compile_counted`]). Dropping it frees
/// the code. It runs through [`Execute`].
///
/// It is `Send` and `Sync`: the code is immutable once finalized, and each run keeps all of
/// its state in its own context block, so one `NativeCode` may run on many threads at once.
pub struct NativeCode {
    entry: Entry,
    limits: Limits,
    keys: usize,
    /// Whether the code keeps run statistics ([`compile_counted`]).
    counted: bool,
    /// Basic blocks counted (0 unless compiled with statistics).
    blocks: usize,
    code_size: usize,
    _memory: CodeMemory,
}

// SAFETY: after `finalize_definitions` the module is never used again except to free it in
// `Drop` (which has exclusive access); the native code itself is reentrant and keeps its state
// in the per-run context block.
unsafe impl Send for NativeCode {}
// SAFETY: as above; `&NativeCode` only gives access to the entry pointer and plain data.
unsafe impl Sync for NativeCode {}

impl std::fmt::Debug for NativeCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeCode")
            .field("code_size", &self.code_size)
            .field("counted", &self.counted)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// The Cranelift settings for coopvm code.
fn flags() -> Result<settings::Flags, JitError> {
    let mut b = settings::builder();
    let set = |b: &mut settings::Builder, k: &str, v: &str| {
        b.set(k, v)
            .map_err(|e| JitError::Isa(format!("setting {k}={v}: {e}")))
    };
    set(&mut b, "opt_level", "speed")?;
    set(&mut b, "is_pic", "false")?;
    set(&mut b, "use_colocated_libcalls", "false")?;
    // The verifier checks our lowering; keep it in debug builds (tests), skip it in release.
    set(
        &mut b,
        "enable_verifier",
        if cfg!(debug_assertions) {
            "true"
        } else {
            "false"
        },
    )?;
    Ok(settings::Flags::new(b))
}

/// The ISA of the machine this runs on.
pub fn host_isa() -> Result<OwnedTargetIsa, JitError> {
    let builder = cranelift_native::builder().map_err(|e| JitError::Isa(e.to_string()))?;
    builder
        .finish(flags()?)
        .map_err(|e| JitError::Isa(e.to_string()))
}

/// The ISA for a target triple such as `"aarch64-unknown-linux-gnu"` (for cross-compiling;
/// this crate enables the x86-64 and aarch64 backends).
///
/// ```
/// let isa = coopvm_jit::isa_for("aarch64-unknown-linux-gnu").unwrap();
/// assert_eq!(isa.triple().architecture.to_string(), "aarch64");
/// assert!(coopvm_jit::isa_for("not-a-triple").is_err());
/// ```
pub fn isa_for(triple: &str) -> Result<OwnedTargetIsa, JitError> {
    let triple: target_lexicon::Triple = triple
        .parse()
        .map_err(|e| JitError::Isa(format!("{triple}: {e}")))?;
    cranelift_codegen::isa::lookup(triple)
        .map_err(|e| JitError::Isa(e.to_string()))?
        .finish(flags()?)
        .map_err(|e| JitError::Isa(e.to_string()))
}

/// Builds the Cranelift IR of `verified` for `isa`.
fn build(verified: &Verified, isa: &dyn TargetIsa) -> Result<Function, JitError> {
    build_with(verified, isa, false)
}

/// Builds the Cranelift IR of `verified` for `isa`, with statistics instrumentation if
/// `stats`.
fn build_with(verified: &Verified, isa: &dyn TargetIsa, stats: bool) -> Result<Function, JitError> {
    let sig = lower::signature(isa.default_call_conv(), isa.pointer_type());
    let mut func = Function::with_name_signature(UserFuncName::user(0, 0), sig);
    lower::lower(
        verified,
        &mut func,
        &mut FunctionBuilderContext::new(),
        stats,
    )?;
    Ok(func)
}

/// The Cranelift IR of `verified` for this machine, as text (`coopvm disasm --clif`). Source
/// locations (`@xxxx`) are instruction indices in hexadecimal.
///
/// ```
/// use coopvm_core::{asm::assemble, verify, Limits};
/// let v = verify(assemble("t", "push 1\npush 2\nadd\n").unwrap(), &Limits::default()).unwrap();
/// let text = coopvm_jit::clif(&v).unwrap();
/// assert!(text.contains("sadd_overflow"));
/// ```
pub fn clif(verified: &Verified) -> Result<String, JitError> {
    let isa = host_isa()?;
    let mut func = build(verified, &*isa)?;
    func.dfg.resolve_all_aliases();
    Ok(func.display().to_string())
}

/// Compiles `verified` for `isa` without running or loading it, returning the machine code's
/// size in bytes. This is how the aarch64 lowering is tested on an x86-64 machine.
///
/// ```
/// use coopvm_core::{asm::assemble, verify, Limits};
/// let v = verify(assemble("t", "push 1\npush 2\nadd\n").unwrap(), &Limits::default()).unwrap();
/// let isa = coopvm_jit::isa_for("aarch64-unknown-linux-gnu").unwrap();
/// assert!(coopvm_jit::compile_for_isa(&v, &*isa).unwrap() > 0);
/// ```
pub fn compile_for_isa(verified: &Verified, isa: &dyn TargetIsa) -> Result<usize, JitError> {
    let func = build(verified, isa)?;
    let mut ctx = cranelift_codegen::Context::for_function(func);
    let code = ctx
        .compile(isa, &mut ControlPlane::default())
        .map_err(|e| JitError::Codegen(format!("{:?}", e.inner)))?;
    Ok(code.code_info().total_size as usize)
}

fn module_error(e: cranelift_module::ModuleError) -> JitError {
    JitError::Module(e.to_string())
}

/// Compiles `verified` to native code for this machine.
pub fn compile(verified: &Verified) -> Result<NativeCode, JitError> {
    compile_with(verified, false)
}

/// Compiles `verified` to native code that also keeps run statistics: per basic block an
/// entry counter, plus the figures [`coopvm_core::stats::Tally::from_parts`] takes, so its
/// [`coopvm_core::Stats`] are exactly the interpreter's. Plain [`compile`]d code has none of
/// this (and cannot run with statistics; see [`NativeCode::is_counted`]).
pub fn compile_counted(verified: &Verified) -> Result<NativeCode, JitError> {
    compile_with(verified, true)
}

fn compile_with(verified: &Verified, stats: bool) -> Result<NativeCode, JitError> {
    let isa = host_isa()?;
    let func = build_with(verified, &*isa, stats)?;
    let mut memory = CodeMemory(ManuallyDrop::new(JITModule::new(JITBuilder::with_isa(
        isa,
        default_libcall_names(),
    ))));
    let module = &mut *memory.0;
    let id = module
        .declare_function("contract", Linkage::Local, &func.signature)
        .map_err(module_error)?;
    let mut ctx = cranelift_codegen::Context::for_function(func);
    module.define_function(id, &mut ctx).map_err(|e| match e {
        cranelift_module::ModuleError::Compilation(e) => JitError::Codegen(format!("{e:?}")),
        e => module_error(e),
    })?;
    let code_size = ctx
        .compiled_code()
        .map_or(0, |c| c.code_info().total_size as usize);
    module.finalize_definitions().map_err(module_error)?;
    let ptr = module.get_finalized_function(id);
    // SAFETY: `ptr` is the finalized code of a function with `lower::signature`, which is
    // `extern "C" fn(*mut Ctx) -> u32` under the host's default calling convention.
    let entry = unsafe { std::mem::transmute::<*const u8, Entry>(ptr) };
    Ok(NativeCode {
        entry,
        limits: *verified.limits(),
        keys: verified.contract().program.keys.len(),
        counted: stats,
        blocks: if stats {
            verified.analysis().blocks.len()
        } else {
            0
        },
        code_size,
        _memory: memory,
    })
}

impl NativeCode {
    /// Size of the machine code in bytes.
    pub fn code_size(&self) -> usize {
        self.code_size
    }

    /// The limits the code was compiled for (those of its [`Verified`] contract).
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether the code keeps run statistics ([`compile_counted`]): only such code runs
    /// with [`Execute::execute_counted`] (plain code fails the run with `engine_failure`).
    pub fn is_counted(&self) -> bool {
        self.counted
    }

    /// [`Execute::execute`], also returning the statistics the code kept (meaningful only
    /// for code compiled with them). A panic in the host is caught at the trampoline, the
    /// native code returns cleanly, and the panic is resumed here.
    fn execute_inner<H: Host + ?Sized>(
        &self,
        env: &mut Env<'_>,
        host: &mut H,
        memory: &mut Memory,
        gas_limit: u64,
    ) -> (Exec, Counts) {
        let mut stack = vec![0i64; self.limits.stack as usize];
        // The inputs (`.params`): main's entry block loads them from here.
        let inputs = env.inputs();
        let n = inputs.len().min(stack.len());
        stack[..n].copy_from_slice(&inputs[..n]);
        let mut frame = rt::Frame::new(
            env,
            host,
            memory,
            self.keys,
            gas_limit,
            self.limits.call_depth,
        );
        frame.counts = vec![0; self.blocks];
        let mut ctx = frame.ctx(&mut stack, gas_limit);
        // SAFETY: `entry` is this module's code (alive as long as `self`); `ctx` and everything
        // it points to (stack, frame vectors, frame) outlive the call and are not touched by
        // Rust until it returns.
        let status = unsafe { (self.entry)(&mut ctx) };
        if let Some(payload) = frame.panic.take() {
            std::panic::resume_unwind(payload);
        }
        let clamp = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        let counts = Counts {
            entries: std::mem::take(&mut frame.counts),
            completed_peak: clamp(ctx.st_peak),
            last: (ctx.st_last_block != u64::MAX).then(|| {
                (
                    clamp(ctx.st_last_block),
                    clamp(ctx.st_last_height),
                    clamp(ctx.st_last_depth),
                )
            }),
            peak_depth: clamp(ctx.st_peak_depth),
            at_charge: status != rt::STATUS_OK && ctx.err_code == rt::Exit::OutOfGas as u32,
        };
        let exec = if status == rt::STATUS_OK {
            frame.write_back();
            let sp = (ctx.sp as usize).min(stack.len());
            stack.truncate(sp);
            Exec {
                result: Ok(()),
                stack,
                gas_used: gas_limit - ctx.gas_left.min(gas_limit),
            }
        } else {
            let e = frame.error(&ctx, self.limits.stack);
            let gas_left = if e.kind == coopvm_core::ErrorKind::OutOfGas {
                0
            } else {
                ctx.gas_left.min(gas_limit)
            };
            Exec {
                result: Err(e),
                stack: Vec::new(),
                gas_used: gas_limit - gas_left,
            }
        };
        (exec, counts)
    }
}

/// The statistics native code kept during one run.
struct Counts {
    entries: Vec<u64>,
    completed_peak: u32,
    last: Option<(u32, u32, u32)>,
    peak_depth: u32,
    /// The run failed at a block's gas charge.
    at_charge: bool,
}

/// Native code runs with the interpreter's contract: the result, the final stack (empty on
/// error) and the gas used, identical to the interpreter's for every input.
impl Execute for NativeCode {
    fn execute<H: Host + ?Sized>(
        &self,
        env: &mut Env<'_>,
        host: &mut H,
        memory: &mut Memory,
        gas_limit: u64,
    ) -> Exec {
        self.execute_inner(env, host, memory, gas_limit).0
    }

    fn execute_counted<H: Host + ?Sized>(
        &self,
        analysis: &Analysis,
        env: &mut Env<'_>,
        host: &mut H,
        memory: &mut Memory,
        gas_limit: u64,
        tally: &mut Tally,
    ) -> (Exec, Stop) {
        if !self.counted {
            let e = VmError::new(
                ErrorKind::EngineFailure,
                "the JIT engine failed: statistics asked of native code compiled without them \
                 (use compile_counted)",
            );
            let exec = Exec {
                result: Err(e),
                stack: Vec::new(),
                gas_used: 0,
            };
            return (exec, Stop::ChargeFailed);
        }
        let (exec, counts) = self.execute_inner(env, host, memory, gas_limit);
        // The shapes match by construction (one counter per block of `analysis`); should
        // they not, the tally stays empty rather than wrong in part.
        if let Some(t) = Tally::from_parts(
            analysis,
            counts.entries,
            counts.completed_peak,
            counts.last,
            counts.peak_depth,
        ) {
            *tally = t;
        }
        let stop = Stop::from_result(&exec.result, counts.at_charge);
        (exec, stop)
    }
}

#[cfg(test)]
mod tests;
