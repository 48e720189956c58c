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
pub mod shapes;

use coopvm_core::host::{Env, Host};
use coopvm_core::memory::Memory;
use coopvm_core::run::{Exec, Execute, Values};
use coopvm_core::stats::{Stop, Tally};
use coopvm_core::verify::Analysis;
use coopvm_core::{ErrorKind, Limits, Verified, VmError};
use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::{Function, UserFuncName};
use cranelift_codegen::isa::{OwnedTargetIsa, TargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::FunctionBuilderContext;
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, Module};
use std::cell::RefCell;
use std::sync::{Arc, Mutex, OnceLock};

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
    /// Compiling the contract would cost more than its compile budget ([`budget`]): it
    /// stays on the interpreter.
    #[error(
        "compiling this contract would take {estimate} units of work, over its budget of {budget}"
    )]
    OverBudget {
        /// What the lowering would build ([`compile_estimate`]).
        estimate: u64,
        /// What the contract's size allows ([`budget`]).
        budget: u64,
    },
}

/// Compile work allowed per instruction of a contract: about 4 times what the lowering builds
/// for ordinary code (8 to 15 units per instruction on the examples and benchmark kernels;
/// see [`compile_estimate`]).
pub const BUDGET_PER_INSN: u64 = 64;

/// Compile work every contract may use whatever its size.
pub const BUDGET_BASE: u64 = 4_096;

/// Compile work no contract may exceed, whatever its size. Measured under callgrind, a unit
/// costs 5,000 to 7,500 instructions of compiling with [`OptLevel::Fast`] (which contracts
/// this large get) and about 1 KiB of peak memory, so this is about 50 ms and 25 MB
/// (figures in the README). Larger contracts stay on the
/// interpreter, so one compile cannot stall a validator.
pub const BUDGET_MAX: u64 = 25_000;

/// The compile budget of a contract of `code_len` instructions, in the units of
/// [`compile_estimate`]: [`BUDGET_BASE`] plus [`BUDGET_PER_INSN`] a instruction, at most
/// [`BUDGET_MAX`]. Compile time and memory are about linear in these units, so the budget
/// bounds both.
///
/// ```
/// assert_eq!(coopvm_jit::budget(100), 4_096 + 6_400);
/// assert_eq!(coopvm_jit::budget(16_001), coopvm_jit::BUDGET_MAX);
/// ```
pub fn budget(code_len: usize) -> u64 {
    BUDGET_BASE
        .saturating_add(BUDGET_PER_INSN.saturating_mul(code_len as u64))
        .min(BUDGET_MAX)
}

/// An upper bound on the work of compiling `verified` (Cranelift instructions and block
/// parameters the lowering builds); computed in time linear in the contract without
/// building anything. [`compile`] refuses contracts whose estimate exceeds their
/// [`budget`].
pub fn compile_estimate(verified: &Verified) -> u64 {
    lower::Plan::new(verified).estimate
}

/// How much Cranelift optimizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OptLevel {
    /// No optimization and Cranelift's single-pass register allocator: the fastest compile,
    /// slower code.
    Fast,
    /// No optimization, Cranelift's backtracking register allocator.
    None,
    /// Cranelift's `speed`: slower to compile, faster code.
    Speed,
}

/// Options of [`compile_with_options`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Options {
    /// Cranelift's optimization level; `None` picks by size (see [`compile`]).
    pub opt: Option<OptLevel>,
    /// Keep run statistics ([`compile_counted`]).
    pub stats: bool,
}

/// Contracts whose [`compile_estimate`] is at most this compile with [`OptLevel::Speed`],
/// larger ones with [`OptLevel::Fast`] (see [`compile`]). Cranelift's backtracking register
/// allocator grows faster than linearly with a function's blocks (measured under callgrind:
/// 11,000 to 35,000 instructions of compiling per unit of estimate at 1,000 instructions of
/// code, rising with size), the single-pass one linearly (5,000 to 7,500 per unit); this
/// limit keeps an optimized compile under about 100 M instructions.
pub const SPEED_ESTIMATE_LIMIT: u64 = 4_000;

type Entry = unsafe extern "C" fn(*mut rt::Ctx) -> u32;

/// A JIT module holding the code of a batch of contracts. Its memory is freed when the last
/// [`NativeCode`] in it is dropped and no new code goes into it (cranelift-jit frees a
/// module's memory only as a whole, never one function).
struct Batch {
    module: Mutex<ModuleCell>,
}

/// A [`JITModule`], which is not `Send` (its memory provider is a plain box): used only under
/// [`Batch::module`]'s lock.
struct ModuleCell(std::mem::ManuallyDrop<JITModule>);

// SAFETY: the module has no thread affinity (its memory regions and symbol tables are plain
// data); it is only ever used by one thread at a time, under the batch's mutex.
unsafe impl Send for ModuleCell {}

impl Drop for Batch {
    fn drop(&mut self) {
        let cell = self.module.get_mut().unwrap_or_else(|e| e.into_inner());
        // SAFETY: the batch is dropped when no `NativeCode` refers to it any more (each holds
        // an `Arc`) and it is not the open batch, so no function pointer into it can be
        // called afterwards.
        unsafe { std::mem::ManuallyDrop::take(&mut cell.0).free_memory() }
    }
}

/// Contracts per batch: a live contract keeps its whole batch's memory (at least a page per
/// contract, since each is made executable on its own) alive.
const BATCH: usize = 64;

/// The batch new code goes into, and how many contracts it received.
static OPEN: Mutex<Option<(Arc<Batch>, usize)>> = Mutex::new(None);

/// Copies finalized machine code into executable memory: the open batch, or a new one.
fn install(bytes: &[u8], isa: &OwnedTargetIsa) -> Result<(Entry, Arc<Batch>), JitError> {
    let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
    if open.as_ref().is_none_or(|(_, n)| *n >= BATCH) {
        let module = JITModule::new(JITBuilder::with_isa(isa.clone(), default_libcall_names()));
        *open = Some((
            Arc::new(Batch {
                module: Mutex::new(ModuleCell(std::mem::ManuallyDrop::new(module))),
            }),
            0,
        ));
    }
    let (batch, n) = open.as_mut().expect("an open batch");
    *n += 1;
    let mut cell = batch.module.lock().unwrap_or_else(|e| e.into_inner());
    let module = &mut *cell.0;
    let sig = lower::signature(isa.default_call_conv(), isa.pointer_type());
    let id = module
        .declare_anonymous_function(&sig)
        .map_err(module_error)?;
    let align = u64::from(isa.function_alignment().preferred);
    module
        .define_function_bytes(id, align, bytes, &[])
        .map_err(module_error)?;
    module.finalize_definitions().map_err(module_error)?;
    let ptr = module.get_finalized_function(id);
    drop(cell);
    // SAFETY: `ptr` is the finalized code of a function with `lower::signature`, which is
    // `extern "C" fn(*mut Ctx) -> u32` under the host's default calling convention.
    let entry = unsafe { std::mem::transmute::<*const u8, Entry>(ptr) };
    Ok((entry, batch.clone()))
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
    /// Whether the code has subroutines (without, a run needs no return stack).
    calls: bool,
    /// Whether the code keeps run statistics ([`compile_counted`]).
    counted: bool,
    /// Basic blocks counted (0 unless compiled with statistics).
    blocks: usize,
    code_size: usize,
    /// Constant operands the overflow exits do not carry.
    operands: lower::Operands,
    /// The executable memory the code is in.
    _batch: Arc<Batch>,
}

// SAFETY: the code is finalized and immutable; its batch is only touched under its mutex
// (`Batch` is `Send + Sync` through it); the native code itself is reentrant and keeps its
// state in the per-run context block.
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

/// The Cranelift settings for coopvm code at `opt`.
fn flags(opt: OptLevel) -> Result<settings::Flags, JitError> {
    let mut b = settings::builder();
    let set = |b: &mut settings::Builder, k: &str, v: &str| {
        b.set(k, v)
            .map_err(|e| JitError::Isa(format!("setting {k}={v}: {e}")))
    };
    let (level, regalloc) = match opt {
        OptLevel::Fast => ("none", "single_pass"),
        OptLevel::None => ("none", "backtracking"),
        OptLevel::Speed => ("speed", "backtracking"),
    };
    set(&mut b, "opt_level", level)?;
    set(&mut b, "regalloc_algorithm", regalloc)?;
    // Frames larger than a page are probed inline (no call to a probestack symbol).
    set(&mut b, "enable_probestack", "true")?;
    set(&mut b, "probestack_strategy", "inline")?;
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

/// The ISA of the machine this runs on (built once per process and optimization level).
pub fn host_isa() -> Result<OwnedTargetIsa, JitError> {
    host_isa_at(OptLevel::Speed).cloned()
}

fn host_isa_at(opt: OptLevel) -> Result<&'static OwnedTargetIsa, JitError> {
    static ISAS: [OnceLock<Result<OwnedTargetIsa, String>>; 3] =
        [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let cell = &ISAS[opt as usize];
    cell.get_or_init(|| {
        let builder = cranelift_native::builder().map_err(|e| e.to_string())?;
        let flags = flags(opt).map_err(|e| e.to_string())?;
        builder.finish(flags).map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| JitError::Isa(e.clone()))
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
        .finish(flags(OptLevel::Speed)?)
        .map_err(|e| JitError::Isa(e.to_string()))
}

/// Builds the Cranelift IR of `verified` for `isa` into `func` (with statistics
/// instrumentation if `stats`), refusing it if it is over its compile budget.
fn build_into(
    verified: &Verified,
    isa: &dyn TargetIsa,
    func: &mut Function,
    fctx: &mut FunctionBuilderContext,
    stats: bool,
) -> Result<lower::Operands, JitError> {
    let plan = lower::Plan::new(verified);
    let budget = budget(verified.contract().program.code.len());
    if plan.estimate > budget {
        return Err(JitError::OverBudget {
            estimate: plan.estimate,
            budget,
        });
    }
    let sig = lower::signature(isa.default_call_conv(), isa.pointer_type());
    func.clear();
    func.signature = sig;
    func.name = UserFuncName::user(0, 0);
    lower::lower(verified, &plan, func, fctx, stats)
}

/// Builds the Cranelift IR of `verified` for `isa`.
fn build(verified: &Verified, isa: &dyn TargetIsa) -> Result<Function, JitError> {
    let mut func = Function::new();
    build_into(
        verified,
        isa,
        &mut func,
        &mut FunctionBuilderContext::new(),
        false,
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
    let isa = host_isa_at(OptLevel::Speed)?;
    let mut func = build(verified, &**isa)?;
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

/// The machine code [`compile_with_options`] would make of `verified` for this machine, as
/// Cranelift prints it after register allocation (one instruction a line, block labels,
/// the cold blocks last), for reading the code of hot loops beside a native twin's.
///
/// ```
/// use coopvm_core::{asm::assemble, verify, Limits};
/// let v = verify(assemble("t", "push 1\npush 2\nadd\n").unwrap(), &Limits::default()).unwrap();
/// let text = coopvm_jit::machine_code(&v, coopvm_jit::Options::default()).unwrap();
/// assert!(text.lines().count() > 3);
/// ```
pub fn machine_code(verified: &Verified, options: Options) -> Result<String, JitError> {
    let isa = host_isa_at(choose_opt(verified, options))?;
    let mut ctx = cranelift_codegen::Context::new();
    build_into(
        verified,
        &**isa,
        &mut ctx.func,
        &mut FunctionBuilderContext::new(),
        options.stats,
    )?;
    ctx.set_disasm(true);
    let code = ctx
        .compile(&**isa, &mut ControlPlane::default())
        .map_err(|e| JitError::Codegen(format!("{:?}", e.inner)))?;
    code.vcode
        .clone()
        .ok_or_else(|| JitError::Internal("Cranelift returned no disassembly".into()))
}

/// The optimization level `options` asks for, or the JIT's choice by size (see [`compile`]).
fn choose_opt(verified: &Verified, options: Options) -> OptLevel {
    match options.opt {
        Some(opt) => opt,
        None if compile_estimate(verified) <= SPEED_ESTIMATE_LIMIT => OptLevel::Speed,
        None => OptLevel::Fast,
    }
}

fn module_error(e: cranelift_module::ModuleError) -> JitError {
    JitError::Module(e.to_string())
}

/// Compiles `verified` to native code for this machine. Small contracts (a compile
/// estimate up to [`SPEED_ESTIMATE_LIMIT`]) are optimized ([`OptLevel::Speed`]), larger ones
/// compiled for compile speed ([`OptLevel::Fast`], linear in the size; its code runs 1.6 to
/// 2 times slower). A contract over its compile [`budget`] is refused
/// ([`JitError::OverBudget`]).
pub fn compile(verified: &Verified) -> Result<NativeCode, JitError> {
    compile_with_options(verified, Options::default())
}

/// Compiles `verified` to native code that also keeps run statistics: per basic block an
/// entry counter, plus the figures [`coopvm_core::stats::Tally::from_parts`] takes, so its
/// [`coopvm_core::Stats`] are exactly the interpreter's. Plain [`compile`]d code has none of
/// this (and cannot run with statistics; see [`NativeCode::is_counted`]).
pub fn compile_counted(verified: &Verified) -> Result<NativeCode, JitError> {
    compile_with_options(
        verified,
        Options {
            stats: true,
            ..Options::default()
        },
    )
}

/// What each thread reuses from one compile to the next.
struct Tools {
    fctx: FunctionBuilderContext,
    ctx: cranelift_codegen::Context,
}

thread_local! {
    static TOOLS: RefCell<Option<Tools>> = const { RefCell::new(None) };
}

/// Compiles `verified` with `options` (see [`compile`]).
pub fn compile_with_options(verified: &Verified, options: Options) -> Result<NativeCode, JitError> {
    let isa = host_isa_at(choose_opt(verified, options))?;
    let (bytes, code_size, operands) = TOOLS.with(|tools| {
        // A reentrant compile (none today) gets fresh tools rather than a borrow error.
        let mut slot = tools.try_borrow_mut().ok();
        let mut fresh = None;
        let t = match slot.as_deref_mut() {
            Some(t) => t.get_or_insert_with(|| Tools {
                fctx: FunctionBuilderContext::new(),
                ctx: cranelift_codegen::Context::new(),
            }),
            None => fresh.insert(Tools {
                fctx: FunctionBuilderContext::new(),
                ctx: cranelift_codegen::Context::new(),
            }),
        };
        t.ctx.clear();
        let r = build_into(
            verified,
            &**isa,
            &mut t.ctx.func,
            &mut t.fctx,
            options.stats,
        )
        .and_then(|operands| {
            let code = t
                .ctx
                .compile(&**isa, &mut ControlPlane::default())
                .map_err(|e| JitError::Codegen(format!("{:?}", e.inner)))?;
            if !code.buffer.relocs().is_empty() {
                return Err(JitError::Internal("native code needs relocations".into()));
            }
            let bytes = code.code_buffer().to_vec();
            Ok((bytes, code.code_info().total_size as usize, operands))
        });
        t.ctx.clear();
        r
    })?;
    let (entry, batch) = install(&bytes, isa)?;
    Ok(NativeCode {
        entry,
        limits: *verified.limits(),
        keys: verified.contract().program.keys.len(),
        calls: verified.analysis().funcs.len() > 1,
        counted: options.stats,
        blocks: if options.stats {
            verified.analysis().blocks.len()
        } else {
            0
        },
        code_size,
        operands,
        _batch: batch,
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

    /// [`Execute::execute`], also filling `counts` (if given) with the statistics the code
    /// kept (meaningful only for code compiled with them). A panic in the host is caught at
    /// the trampoline, the native code returns cleanly, and the panic is resumed here.
    /// Inlined into both callers, so a plain run builds no statistics at all.
    #[inline(always)]
    fn execute_inner<H: Host + ?Sized>(
        &self,
        env: &mut Env<'_>,
        host: &mut H,
        memory: &mut Memory,
        gas_limit: u64,
        counts: Option<&mut Counts>,
    ) -> Exec {
        // Native code works on the memory's static cells in place: there must be one for each
        // static key of the code (there always is under the run protocol, whose memory is
        // made for the same program).
        if memory.static_len() < self.keys {
            return few_cells(memory.static_len(), self.keys);
        }
        // The value stack, the return stack and the block counters come from buffers kept
        // per thread (see `rt::Scratch`): no allocation per run.
        let mut scratch = rt::Scratch::take();
        let rt::Scratch {
            stack,
            rets,
            counts: entries,
        } = &mut *scratch;
        let need = self.limits.stack as usize;
        if stack.len() < need {
            stack.resize(need, 0);
        }
        // The inputs (`.params`): main's entry block loads them from here.
        let inputs = env.inputs();
        if !inputs.is_empty() {
            let n = inputs.len().min(stack.len());
            stack[..n].copy_from_slice(&inputs[..n]);
        }
        // Counted code writes its block counters whether or not the caller reads them.
        if self.counted {
            entries.clear();
            entries.resize(self.blocks, 0);
        }
        let mut frame = rt::Frame::new(
            env,
            host,
            memory,
            gas_limit,
            self.limits.call_depth,
            self.calls,
            rets,
            entries,
        );
        let mut ctx = frame.ctx(stack, gas_limit);
        // SAFETY: `entry` is this module's code (alive as long as `self`); `ctx` and everything
        // it points to (stack, frame vectors, frame) outlive the call and are not touched by
        // Rust until it returns.
        let status = unsafe { (self.entry)(&mut ctx) };
        // Keys the native code created in the dense cells count from now on.
        frame.sync_dense(&ctx);
        if let Some(payload) = frame.panic.take() {
            std::panic::resume_unwind(payload);
        }
        if let Some(counts) = counts {
            let clamp = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
            *counts = Counts {
                entries: std::mem::take(&mut *frame.counts),
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
        }
        let exec = if status == rt::STATUS_OK {
            let sp = (ctx.sp as usize).min(stack.len());
            Exec {
                result: Ok(()),
                stack: Values::from(&stack[..sp]),
                gas_used: gas_limit - ctx.gas_left.min(gas_limit),
            }
        } else {
            let e = frame.error(&ctx, self.limits.stack, &self.operands);
            let gas_left = if e.kind == coopvm_core::ErrorKind::OutOfGas {
                0
            } else {
                ctx.gas_left.min(gas_limit)
            };
            Exec {
                result: Err(e),
                stack: Values::new(),
                gas_used: gas_limit - gas_left,
            }
        };
        drop(frame);
        scratch.give_back();
        exec
    }
}

/// The failure of a run given a memory with fewer static cells than the code has keys (a
/// memory made for another program).
#[cold]
#[inline(never)]
fn few_cells(cells: usize, keys: usize) -> Exec {
    let e = VmError::new(
        ErrorKind::EngineFailure,
        format!(
            "the JIT engine failed: the memory has {cells} static slots, the code names {keys}"
        ),
    );
    Exec {
        result: Err(e),
        stack: Values::new(),
        gas_used: 0,
    }
}

/// The statistics native code kept during one run.
#[derive(Default)]
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
        self.execute_inner(env, host, memory, gas_limit, None)
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
                stack: Values::new(),
                gas_used: 0,
            };
            return (exec, Stop::ChargeFailed);
        }
        let mut counts = Counts::default();
        let exec = self.execute_inner(env, host, memory, gas_limit, Some(&mut counts));
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
