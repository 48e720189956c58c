//! Tiering: interpret a contract until it is hot, then compile it once with the JIT and
//! reuse the native code.
//!
//! A [`CodeCache`] maps a contract (its fingerprint, computed once per [`Verified`] with
//! process-random keys so that no two contracts can be made to collide, plus the limits it was
//! verified against, which the native code embeds) to its run count, the gas its interpreted
//! runs used, and, once hot, its compiled code. The map is sharded, and each thread remembers
//! the entries it used: a run of a contract the thread has seen takes no lock and writes no
//! shared memory (no reference count either), so runs on many threads scale. Interpreted runs
//! are counted per thread and folded into the shared counts every [`FOLD_RUNS`] runs (or a
//! sixteenth of [`Policy::gas`]); a thread decides heat from the shared counts plus its own
//! unfolded ones, so on one thread tiering decides exactly as if every run were counted at
//! once, and with more threads a contract turns hot at most a few batches later. Under
//! [`Policy::background`] (the default) the run that makes a contract hot hands it to a
//! background compiler thread and runs on the interpreter, as do the runs until the code is
//! ready; the outcome is the same on both tiers, so this stays deterministic. A contract is *hot*
//! after [`Policy::runs`] runs or [`Policy::gas`] gas of interpreted execution, whichever
//! comes first; a contract whose compile estimate is large must also have used
//! [`Policy::gas_per_compile_unit`] gas per unit of it (compile cost is about linear in the
//! estimate), so compiling a big contract waits until interpreting it has cost as much. The
//! defaults implement the classic rule "compile once interpretation has cost about as much as
//! compiling": interpreted code costs an order of magnitude more per unit of gas than JIT
//! code, and [`Policy::gas`] is about as much interpretation as compiling a typical contract
//! takes. A contract whose runs use little gas (under [`Policy::min_gas_per_run`] on
//! average) is never compiled: the run protocol dominates it on either engine, and native
//! code's per-run set-up costs more than it saves, so it runs faster interpreted. Other
//! contracts are compiled after [`Policy::runs`] runs at the latest. The measurements behind
//! the defaults come from `cargo bench -p coopvm-bench --bench jit` and callgrind counts of
//! `peer_counts`; the README ("The JIT and tiering") keeps the figures.
//!
//! Entries are kept for at most [`Policy::capacity`] contracts; the least recently used is
//! dropped first, and its native code is freed when the last run and the last thread
//! remembering it let go of it (threads forget dropped entries at their next run). A contract
//! the JIT refuses (its compile budget, `coopvm_jit::budget`, bounds compile time and memory
//! by code length) stays on the interpreter.
//!
//! ```
//! use coopvm_core::{asm::assemble, verify, ExecutionContext, Limits, NoHost, RunParams};
//! use coopvm_engine::tier::{CodeCache, Policy, Tier};
//! let v = verify(assemble("t", "push 1\npush 2\nadd\n").unwrap(), &Limits::default()).unwrap();
//! let policy = Policy { runs: 2, background: false, min_gas_per_run: 0, ..Policy::default() };
//! let cache = CodeCache::new(policy);
//! let ctx = ExecutionContext::default();
//! let params = RunParams::new(&ctx, &v.contract().state, 100);
//! let (first, tier) = cache.run(&v, params, &mut NoHost);
//! assert_eq!(tier, Tier::Interp);
//! cache.run(&v, params, &mut NoHost);
//! let (third, tier) = cache.run(&v, params, &mut NoHost);
//! assert_eq!(tier, Tier::Jit);
//! assert_eq!(first, third);
//! ```

use coopvm_core::fingerprint::Fingerprint;
use coopvm_core::run::run;
use coopvm_core::{Host, Limits, Outcome, RunParams, Verified};
use coopvm_jit::NativeCode;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

/// [`Policy::min_gas_per_run`] by default: below about this much gas a run, the interpreter
/// runs a contract in fewer instructions than native code under the full run protocol
/// (measured with callgrind on the counter contract and on short loops: the break-even lies
/// between 250 and 450 gas; see the README).
pub const MIN_GAS_PER_RUN: u64 = 300;

/// When a contract counts as hot, and how many contracts the cache keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Compile after this many interpreted runs (0: compile before the first run).
    pub runs: u32,
    /// Compile once interpreted runs have used this much gas in total.
    pub gas: u64,
    /// Contracts remembered at most (compiled or not).
    pub capacity: usize,
    /// Contracts with more instructions stay on the interpreter. The JIT's own compile
    /// budget (`coopvm_jit::budget`) bounds compile time by code length anyway; this is a
    /// policy limit on top.
    pub max_code_len: usize,
    /// Compile on a background worker: the run that makes a contract hot, and those after
    /// it until the code is ready, run on the interpreter (same outcome) instead of waiting.
    /// A policy with `runs: 0` compiles before the first run regardless.
    pub background: bool,
    /// Interpreted gas a contract must also have used per unit of its compile estimate
    /// (`coopvm_jit::compile_estimate`, proportional to compile time) before it counts as hot
    /// by gas, so big contracts wait until interpreting them has cost about what compiling
    /// them will. 0: the estimate plays no part.
    pub gas_per_compile_unit: u64,
    /// Contracts whose interpreted runs used less gas than this on average stay on the
    /// interpreter, however often they run: for them the run protocol dominates, and native
    /// code's per-run set-up costs more than its faster instructions save (measured; see the
    /// README). 0: every hot contract is compiled.
    pub min_gas_per_run: u64,
}

impl Default for Policy {
    /// Hot after 1,000 runs or 200,000 gas of interpretation (see the module docs); at
    /// most 16,384 instructions compiled; compiled in the background.
    fn default() -> Self {
        Policy {
            runs: 1_000,
            gas: 200_000,
            capacity: 512,
            max_code_len: 16_384,
            background: true,
            gas_per_compile_unit: 4_000,
            min_gas_per_run: MIN_GAS_PER_RUN,
        }
    }
}

impl Policy {
    /// The policy of `--engine jit`: compile before the first run, whatever the size (up to
    /// the JIT's compile budget).
    pub const EAGER: Policy = Policy {
        runs: 0,
        gas: 0,
        capacity: 512,
        max_code_len: usize::MAX,
        background: false,
        gas_per_compile_unit: 0,
        min_gas_per_run: 0,
    };
}

/// Which engine ran a contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// The reference interpreter (the contract is not hot yet, or could not be compiled).
    Interp,
    /// Native code from the JIT.
    Jit,
}

/// A contract as the cache knows it: its fingerprint (computed once per [`Verified`]) and
/// the limits it was verified against, which the native code embeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    fingerprint: Fingerprint,
    limits: Limits,
}

/// A hasher for keys that are mostly a random fingerprint already.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
}

type KeyMap<V> = HashMap<Key, V, BuildHasherDefault<KeyHasher>>;

const COLD: u8 = 0;
const COMPILING: u8 = 1;
const READY: u8 = 2;
const FAILED: u8 = 3;

/// What the cache knows of one contract. Runs read it without a lock.
struct Entry {
    runs: AtomicU32,
    gas: AtomicU64,
    state: AtomicU8,
    /// Gas of interpretation after which the contract is hot (computed on its first run).
    gas_threshold: OnceLock<u64>,
    code: OnceLock<NativeCode>,
    last_used: AtomicU64,
}

impl Entry {
    fn new(now: u64) -> Entry {
        Entry {
            runs: AtomicU32::new(0),
            gas: AtomicU64::new(0),
            state: AtomicU8::new(COLD),
            gas_threshold: OnceLock::new(),
            code: OnceLock::new(),
            last_used: AtomicU64::new(now),
        }
    }

    /// Takes the job of compiling (cold to compiling); false if another run took it.
    fn claim(&self) -> bool {
        self.state
            .compare_exchange(COLD, COMPILING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    fn settle(&self, code: Result<NativeCode, coopvm_jit::JitError>) {
        match code {
            Ok(code) => {
                let _ = self.code.set(code);
                self.state.store(READY, Ordering::Release);
            }
            Err(_) => self.state.store(FAILED, Ordering::Release),
        }
    }
}

/// Shards of the cache's map (a run locks one only when its thread has not seen the
/// contract yet).
const SHARDS: usize = 16;

/// A thread-safe cache of compiled contracts with tiering (see the module docs).
pub struct CodeCache {
    policy: Policy,
    /// Tells this cache's entries apart from other caches' in the per-thread maps.
    id: u64,
    shards: [Mutex<KeyMap<Arc<Entry>>>; SHARDS],
    /// Bumped whenever an entry is dropped: threads then forget what they remembered.
    generation: AtomicU64,
    clock: AtomicU64,
    /// Interpreted gas a thread counts before it adds it to the shared entry.
    fold_gas: u64,
}

impl std::fmt::Debug for CodeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeCache")
            .field("policy", &self.policy)
            .field("entries", &self.len())
            .finish()
    }
}

/// Interpreted runs a thread counts before it adds them to the shared entry.
pub const FOLD_RUNS: u32 = 64;

/// What one thread keeps of an entry: the entry, the cache's generation when it was
/// remembered, and the interpreted runs and gas this thread counted but has not yet added to
/// the entry's shared counts (added every [`FOLD_RUNS`] runs, and when forgotten).
struct Seen {
    generation: u64,
    entry: Arc<Entry>,
    runs: Cell<u32>,
    gas: Cell<u64>,
}

impl Seen {
    /// Adds this thread's unfolded counts to the shared entry.
    fn fold(&self) {
        let runs = self.runs.replace(0);
        if runs > 0 {
            self.entry.runs.fetch_add(runs, Ordering::Relaxed);
        }
        let gas = self.gas.replace(0);
        if gas > 0 {
            self.entry.gas.fetch_add(gas, Ordering::Relaxed);
        }
    }

    /// Runs counted so far: the shared count and this thread's.
    fn runs(&self) -> u32 {
        self.entry
            .runs
            .load(Ordering::Relaxed)
            .saturating_add(self.runs.get())
    }

    /// Interpreted gas so far: the shared total and this thread's.
    fn gas(&self) -> u64 {
        self.entry
            .gas
            .load(Ordering::Relaxed)
            .saturating_add(self.gas.get())
    }
}

impl Drop for Seen {
    fn drop(&mut self) {
        self.fold();
    }
}

/// A contract in one cache: the cache's id and the contract's key.
type LocalKey = (u64, Key);

/// Per (cache, contract): what this thread keeps of the entry.
type LocalMap = HashMap<LocalKey, Rc<Seen>, BuildHasherDefault<KeyHasher>>;

/// Compiles queued, and how many are being compiled.
type Queue = (VecDeque<(Arc<Entry>, Verified)>, usize);

thread_local! {
    /// What this thread remembers of the caches' entries, so that a run of a contract it has
    /// seen takes no lock and writes no shared memory (see [`CodeCache::entry`]).
    static LOCAL: RefCell<LocalMap> = RefCell::new(LocalMap::default());
    /// Runs in progress on this thread (nested contract calls): entries are only forgotten
    /// when none is.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// The entry this thread found last, looked at before the map (a comparison instead of
    /// hashing the key, for the common case of one contract run over and over).
    static LAST: RefCell<Option<(LocalKey, Rc<Seen>)>> = const { RefCell::new(None) };
}

/// Most entries a thread remembers before starting over.
const LOCAL_CAPACITY: usize = 1_024;

impl CodeCache {
    /// An empty cache with `policy`.
    pub fn new(policy: Policy) -> Self {
        static IDS: AtomicU64 = AtomicU64::new(1);
        CodeCache {
            policy,
            id: IDS.fetch_add(1, Ordering::Relaxed),
            shards: std::array::from_fn(|_| Mutex::new(KeyMap::default())),
            generation: AtomicU64::new(0),
            clock: AtomicU64::new(0),
            fold_gas: (policy.gas / 16).max(1),
        }
    }

    /// The process-wide cache used by [`crate::Engine::Auto`], with the default policy.
    pub fn global() -> &'static CodeCache {
        static CACHE: OnceLock<CodeCache> = OnceLock::new();
        CACHE.get_or_init(|| CodeCache::new(Policy::default()))
    }

    /// The process-wide cache used by [`crate::Engine::Jit`] (compiles on first use).
    pub fn global_eager() -> &'static CodeCache {
        static CACHE: OnceLock<CodeCache> = OnceLock::new();
        CACHE.get_or_init(|| CodeCache::new(Policy::EAGER))
    }

    /// Its policy.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    fn shard(&self, key: &Key) -> MutexGuard<'_, KeyMap<Arc<Entry>>> {
        let i = (key.fingerprint.0 as usize) % SHARDS;
        // A panic while holding the lock leaves consistent data (every update is a single
        // insertion or removal), so a poisoned lock is still usable.
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of contracts remembered.
    pub fn len(&self) -> usize {
        (0..SHARDS)
            .map(|i| {
                self.shards[i]
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .len()
            })
            .sum()
    }

    /// Whether no contract is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of contracts with native code.
    pub fn compiled(&self) -> usize {
        (0..SHARDS)
            .map(|i| {
                self.shards[i]
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .values()
                    .filter(|e| e.state.load(Ordering::Acquire) == READY)
                    .count()
            })
            .sum()
    }

    /// Whether this cache holds native code for `verified` (its fingerprint and limits). A
    /// compile in the background counts only once it is done (see
    /// [`CodeCache::wait_for_compiles`]).
    pub fn is_compiled(&self, verified: &Verified) -> bool {
        let key = Key {
            fingerprint: verified.fingerprint(),
            limits: *verified.limits(),
        };
        self.shard(&key)
            .get(&key)
            .is_some_and(|e| e.state.load(Ordering::Acquire) == READY)
    }

    /// Drops every entry (native code is freed once no run and no thread's memory of it
    /// uses it).
    pub fn clear(&self) {
        for shard in &self.shards {
            shard.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The entry of `key`, from this thread's memory when it has one (no lock, no shared
    /// write), else from its shard (created, evicting the least recently used entry of a
    /// full shard).
    fn entry(&self, key: Key) -> Rc<Seen> {
        let generation = self.generation.load(Ordering::Acquire);
        let last = LAST.with(|last| match &*last.borrow() {
            Some((k, seen)) if *k == (self.id, key) && seen.generation == generation => {
                Some(seen.clone())
            }
            _ => None,
        });
        if let Some(seen) = last {
            return seen;
        }
        let found = LOCAL.with(|local| {
            let mut local = local.borrow_mut();
            let seen = local.get(&(self.id, key))?;
            if seen.generation == generation {
                Some(seen.clone())
            } else {
                if DEPTH.get() == 0 {
                    local.remove(&(self.id, key));
                }
                None
            }
        });
        if let Some(seen) = found {
            remember_last(self.id, key, &seen);
            return seen;
        }
        let now = self.clock.fetch_add(1, Ordering::Relaxed);
        let known = self.shard(&key).get(&key).cloned();
        let entry = match known {
            Some(e) => e,
            None => {
                if self.len() >= self.policy.capacity.max(1) {
                    self.evict_oldest();
                }
                self.shard(&key)
                    .entry(key)
                    .or_insert_with(|| Arc::new(Entry::new(now)))
                    .clone()
            }
        };
        entry.last_used.store(now, Ordering::Relaxed);
        let seen = Rc::new(Seen {
            generation: self.generation.load(Ordering::Acquire),
            entry,
            runs: Cell::new(0),
            gas: Cell::new(0),
        });
        LOCAL.with(|local| {
            let mut local = local.borrow_mut();
            if DEPTH.get() == 0 && local.len() >= LOCAL_CAPACITY {
                local.clear();
            }
            local.insert((self.id, key), seen.clone());
        });
        remember_last(self.id, key, &seen);
        seen
    }

    /// Runs `verified` on the tier its heat calls for, compiling it when it becomes hot.
    /// Returns the outcome (identical on both tiers) and the tier that produced it.
    pub fn run<H: Host + ?Sized>(
        &self,
        verified: &Verified,
        params: RunParams<'_>,
        host: &mut H,
    ) -> (Outcome, Tier) {
        if verified.contract().program.code.len() > self.policy.max_code_len {
            return (on_interpreter(verified, params, host), Tier::Interp);
        }
        let key = Key {
            fingerprint: verified.fingerprint(),
            limits: *verified.limits(),
        };
        let seen = self.entry(key);
        let entry = &*seen.entry;
        DEPTH.set(DEPTH.get() + 1);
        struct Depth;
        impl Drop for Depth {
            fn drop(&mut self) {
                DEPTH.set(DEPTH.get() - 1);
            }
        }
        let _depth = Depth;
        match entry.state.load(Ordering::Acquire) {
            READY => {
                if let Some(code) = entry.code.get() {
                    return (run(code, verified, params, host), Tier::Jit);
                }
            }
            COLD if self.is_hot(&seen, verified) && entry.claim() => {
                // What this thread counted goes to the entry with the compile.
                seen.fold();
                if self.policy.background && self.policy.runs > 0 {
                    worker().submit(seen.entry.clone(), verified.clone());
                } else {
                    entry.settle(coopvm_jit::compile(verified));
                    if let Some(code) = entry.code.get() {
                        return (run(code, verified, params, host), Tier::Jit);
                    }
                }
            }
            COLD => {
                seen.runs.set(seen.runs.get() + 1);
            }
            _ => {}
        }
        let out = on_interpreter(verified, params, host);
        if entry.state.load(Ordering::Relaxed) == COLD {
            seen.gas.set(seen.gas.get().saturating_add(out.gas_used));
            if seen.runs.get() >= FOLD_RUNS || seen.gas.get() >= self.fold_gas {
                seen.fold();
            }
        }
        (out, Tier::Interp)
    }

    /// Drops the least recently used entry (only when a new contract arrives at a full
    /// cache; scans the shards one at a time).
    fn evict_oldest(&self) {
        let mut oldest: Option<(u64, usize, Key)> = None;
        for (i, shard) in self.shards.iter().enumerate() {
            let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            for (k, e) in shard.iter() {
                let t = e.last_used.load(Ordering::Relaxed);
                if oldest.is_none_or(|(o, _, _)| t < o) {
                    oldest = Some((t, i, *k));
                }
            }
        }
        if let Some((_, i, k)) = oldest {
            self.shards[i]
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&k);
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Whether `seen`'s entry (of `verified`) is hot under the policy, counting this
    /// thread's unfolded runs and gas.
    fn is_hot(&self, seen: &Seen, verified: &Verified) -> bool {
        let entry = &*seen.entry;
        let runs = seen.runs();
        let gas = seen.gas();
        if runs > 0 && gas < u64::from(runs).saturating_mul(self.policy.min_gas_per_run) {
            // Too little work per run for native code to pay off.
            return false;
        }
        if runs >= self.policy.runs {
            return true;
        }
        let threshold = *entry.gas_threshold.get_or_init(|| {
            let per_unit = self.policy.gas_per_compile_unit;
            if per_unit == 0 {
                return self.policy.gas;
            }
            let estimate = coopvm_jit::compile_estimate(verified);
            self.policy.gas.max(estimate.saturating_mul(per_unit))
        });
        gas >= threshold
    }

    /// Waits until no background compile is queued or running (for tests and benchmarks
    /// that want the compiled tier).
    pub fn wait_for_compiles(&self) {
        worker().idle();
    }
}

/// Makes `seen` (the entry of `key` in cache `id`) the one this thread looks at first.
fn remember_last(id: u64, key: Key, seen: &Rc<Seen>) {
    LAST.with(|last| {
        // Nested runs (a contract calling another) may find it borrowed: then it stays.
        if let Ok(mut last) = last.try_borrow_mut() {
            *last = Some(((id, key), seen.clone()));
        }
    });
}

/// Runs `verified` on the interpreter (lowered once per contract: `coopvm_interp::lowered`).
fn on_interpreter<H: Host + ?Sized>(
    verified: &Verified,
    params: RunParams<'_>,
    host: &mut H,
) -> Outcome {
    run(&*coopvm_interp::lowered(verified), verified, params, host)
}

/// The background compiler: one thread, started on first use, compiling queued contracts
/// in order.
struct Worker {
    queue: Mutex<Queue>,
    wake: Condvar,
    done: Condvar,
}

fn worker() -> &'static Worker {
    static WORKER: OnceLock<&'static Worker> = OnceLock::new();
    WORKER.get_or_init(|| {
        let w: &'static Worker = Box::leak(Box::new(Worker {
            queue: Mutex::new((VecDeque::new(), 0)),
            wake: Condvar::new(),
            done: Condvar::new(),
        }));
        let spawned = std::thread::Builder::new()
            .name("coopvm-jit".into())
            .spawn(move || w.serve());
        if spawned.is_err() {
            tracing::warn!("no background JIT thread: contracts stay on the interpreter");
        }
        w
    })
}

impl Worker {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn submit(&self, entry: Arc<Entry>, verified: Verified) {
        self.lock().0.push_back((entry, verified));
        self.wake.notify_one();
    }

    fn serve(&self) {
        loop {
            let (entry, verified) = {
                let mut q = self.lock();
                loop {
                    if let Some(job) = q.0.pop_front() {
                        q.1 += 1;
                        break job;
                    }
                    q = self.wake.wait(q).unwrap_or_else(|e| e.into_inner());
                }
            };
            // The job owns its `Verified`, dropped right after; a panic cannot leave anything
            // other threads see half-updated (its artefact slots are `OnceLock`s).
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                coopvm_jit::compile(&verified)
            }));
            entry.settle(code.unwrap_or_else(|_| {
                Err(coopvm_jit::JitError::Internal(
                    "the compiler panicked".into(),
                ))
            }));
            self.lock().1 -= 1;
            self.done.notify_all();
        }
    }

    fn idle(&self) {
        let mut q = self.lock();
        while !q.0.is_empty() || q.1 > 0 {
            q = self.done.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coopvm_core::{asm::assemble, verify, ExecutionContext, NoHost};

    fn contract(n: i64) -> Verified {
        let src = format!("push {n}\npush 1\nadd\n");
        verify(assemble("t", &src).unwrap(), &Limits::default()).unwrap()
    }

    fn go(cache: &CodeCache, v: &Verified) -> Tier {
        let ctx = ExecutionContext::default();
        let params = RunParams::new(&ctx, &v.contract().state, 1_000);
        let (out, tier) = cache.run(v, params, &mut NoHost);
        assert_eq!(out, on_interpreter(v, params, &mut NoHost));
        tier
    }

    #[test]
    fn hot_after_the_run_count() {
        let cache = CodeCache::new(Policy {
            runs: 3,
            gas: u64::MAX,
            background: false,
            min_gas_per_run: 0,
            ..Policy::default()
        });
        let v = contract(1);
        let tiers: Vec<Tier> = (0..5).map(|_| go(&cache, &v)).collect();
        use Tier::*;
        assert_eq!(tiers, [Interp, Interp, Interp, Jit, Jit]);
        assert_eq!(cache.compiled(), 1);
    }

    #[test]
    fn hot_after_the_gas_total() {
        let cache = CodeCache::new(Policy {
            runs: u32::MAX,
            gas: 7,
            background: false,
            gas_per_compile_unit: 0,
            min_gas_per_run: 0,
            ..Policy::default()
        });
        let v = contract(1); // 3 gas a run
        let tiers: Vec<Tier> = (0..5).map(|_| go(&cache, &v)).collect();
        use Tier::*;
        assert_eq!(tiers, [Interp, Interp, Interp, Jit, Jit]);
    }

    #[test]
    fn contracts_doing_little_per_run_stay_on_the_interpreter() {
        let policy = Policy {
            runs: 3,
            gas: u64::MAX,
            background: false,
            ..Policy::default()
        };
        let tiny = contract(1); // 3 gas a run
        let cache = CodeCache::new(policy);
        assert!((0..10).all(|_| go(&cache, &tiny) == Tier::Interp));
        assert_eq!(cache.compiled(), 0);
        // A countdown from 100: 506 gas a run, over the default minimum.
        let src = "push 100\nl: dup\njumpif b\npop\nhalt\nb: push 1\nsub\njump l\n";
        let busy = verify(assemble("t", src).unwrap(), &Limits::default()).unwrap();
        const { assert!(MIN_GAS_PER_RUN > 3 && MIN_GAS_PER_RUN <= 500) };
        let tiers: Vec<Tier> = (0..5).map(|_| go(&cache, &busy)).collect();
        use Tier::*;
        assert_eq!(tiers, [Interp, Interp, Interp, Jit, Jit]);
    }

    #[test]
    fn eager_compiles_first_and_limits_are_part_of_the_key() {
        let cache = CodeCache::new(Policy::EAGER);
        let v = contract(2);
        assert_eq!(go(&cache, &v), Tier::Jit);
        let other = verify(
            v.contract().clone(),
            &Limits {
                stack: 8,
                ..Limits::default()
            },
        )
        .unwrap();
        assert_eq!(go(&cache, &other), Tier::Jit);
        assert_eq!(cache.len(), 2);
        cache.clear();
        assert!(cache.is_empty());
    }

    #[test]
    fn least_recently_used_is_evicted() {
        let cache = CodeCache::new(Policy {
            capacity: 2,
            ..Policy::EAGER
        });
        let (a, b, c) = (contract(1), contract(2), contract(3));
        go(&cache, &a);
        go(&cache, &b);
        go(&cache, &a);
        go(&cache, &c); // evicts b
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.compiled(), 2);
    }

    #[test]
    fn large_contracts_stay_on_the_interpreter() {
        let cache = CodeCache::new(Policy {
            max_code_len: 2,
            ..Policy::EAGER
        });
        assert_eq!(go(&cache, &contract(1)), Tier::Interp); // 3 instructions
        assert!(cache.is_empty());
        let small = verify(assemble("t", "push 1\n").unwrap(), &Limits::default()).unwrap();
        assert_eq!(go(&cache, &small), Tier::Jit);
    }

    #[test]
    fn background_compiles_do_not_block_and_agree() {
        let cache = CodeCache::new(Policy {
            runs: 2,
            gas: u64::MAX,
            min_gas_per_run: 0,
            ..Policy::default()
        });
        let v = contract(5);
        let tiers: Vec<Tier> = (0..3).map(|_| go(&cache, &v)).collect();
        assert_eq!(tiers, [Tier::Interp; 3]);
        cache.wait_for_compiles();
        assert_eq!(go(&cache, &v), Tier::Jit);
        assert_eq!(cache.compiled(), 1);
    }

    /// The shared run count of `v`'s entry in `cache`.
    fn shared_runs(cache: &CodeCache, v: &Verified) -> u32 {
        let key = Key {
            fingerprint: v.fingerprint(),
            limits: *v.limits(),
        };
        cache
            .shard(&key)
            .get(&key)
            .map_or(0, |e| e.runs.load(Ordering::Relaxed))
    }

    #[test]
    fn threads_fold_their_counts_into_the_entry() {
        let cache = CodeCache::new(Policy {
            runs: FOLD_RUNS + 2,
            gas: u64::MAX,
            background: false,
            min_gas_per_run: 0,
            ..Policy::default()
        });
        let v = contract(7);
        std::thread::scope(|s| {
            let t = s.spawn(|| {
                for _ in 0..FOLD_RUNS - 1 {
                    assert_eq!(go(&cache, &v), Tier::Interp);
                }
                // Counted on this thread only, until the batch is full.
                assert_eq!(shared_runs(&cache, &v), 0);
                assert_eq!(go(&cache, &v), Tier::Interp);
                assert_eq!(shared_runs(&cache, &v), FOLD_RUNS);
                // One more, kept on this thread until it forgets the entry (here: when the
                // thread ends).
                assert_eq!(go(&cache, &v), Tier::Interp);
                assert_eq!(shared_runs(&cache, &v), FOLD_RUNS);
            });
            t.join().expect("the counting thread");
        });
        assert_eq!(shared_runs(&cache, &v), FOLD_RUNS + 1);
        // This thread sees the other's runs: one more run of its own makes the contract hot.
        assert_eq!(go(&cache, &v), Tier::Interp);
        assert_eq!(go(&cache, &v), Tier::Jit);
    }

    #[test]
    fn many_threads_share_the_cache() {
        let cache = CodeCache::new(Policy {
            runs: 3,
            background: false,
            min_gas_per_run: 0,
            ..Policy::default()
        });
        let contracts: Vec<Verified> = (0..8).map(contract).collect();
        std::thread::scope(|s| {
            for t in 0..4 {
                let (cache, contracts) = (&cache, &contracts);
                s.spawn(move || {
                    for i in 0..40 {
                        go(cache, &contracts[(i + t) % contracts.len()]);
                    }
                });
            }
        });
        assert_eq!(cache.compiled(), 8);
    }
}
