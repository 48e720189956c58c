//! Tiering: interpret a contract until it is hot, then compile it once with the JIT and
//! reuse the native code.
//!
//! A [`CodeCache`] maps a contract (its canonical encoding, [`coopvm_core::codec::encode`],
//! plus the limits it was verified against, which the native code embeds) to its run count,
//! the gas its interpreted runs used, and, once hot, its compiled code. A contract is *hot*
//! after [`Policy::runs`] runs or [`Policy::gas`] gas of interpreted execution, whichever
//! comes first. The defaults implement the classic rule "compile once interpretation has cost
//! about as much as compiling": interpreted code costs an order of magnitude more per unit
//! of gas than JIT code, and [`Policy::gas`] is about as much interpretation as compiling a
//! typical contract takes. Tiny contracts (tens of gas) are dominated by the run protocol on
//! either engine, so the JIT saves them little; [`Policy::runs`] bounds what they can spend
//! interpreted before being compiled anyway, at the cost of one compile. The measurements
//! behind the defaults come from `cargo bench -p coopvm-bench --bench jit`; the README
//! ("The JIT and tiering") keeps the figures.
//!
//! Entries are kept for at most [`Policy::capacity`] contracts; the least recently used is
//! dropped first, and its native code is freed when the last run using it ends.
//!
//! ```
//! use coopvm_core::{asm::assemble, verify, ExecutionContext, Limits, NoHost, RunParams};
//! use coopvm_engine::tier::{CodeCache, Policy, Tier};
//! let v = verify(assemble("t", "push 1\npush 2\nadd\n").unwrap(), &Limits::default()).unwrap();
//! let cache = CodeCache::new(Policy { runs: 2, ..Policy::default() });
//! let ctx = ExecutionContext::default();
//! let params = RunParams::new(&ctx, &v.contract().state, 100);
//! let (first, tier) = cache.run(&v, params, &mut NoHost);
//! assert_eq!(tier, Tier::Interp);
//! cache.run(&v, params, &mut NoHost);
//! let (third, tier) = cache.run(&v, params, &mut NoHost);
//! assert_eq!(tier, Tier::Jit);
//! assert_eq!(first, third);
//! ```

use coopvm_core::codec;
use coopvm_core::run::run;
use coopvm_core::{Host, Limits, Outcome, RunParams, Verified};
use coopvm_jit::NativeCode;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// When a contract counts as hot, and how many contracts the cache keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Compile after this many interpreted runs (0: compile before the first run).
    pub runs: u32,
    /// Compile once interpreted runs have used this much gas in total.
    pub gas: u64,
    /// Contracts remembered at most (compiled or not).
    pub capacity: usize,
    /// Contracts with more instructions stay on the interpreter (compile time grows faster
    /// than linearly with the code's length; figures in the README).
    pub max_code_len: usize,
}

impl Default for Policy {
    /// Hot after 1,000 runs or 200,000 gas of interpretation (see the module docs); at
    /// most 16,384 instructions compiled (which bounds the pause a compile can cause; see
    /// [`Policy::max_code_len`]).
    fn default() -> Self {
        Policy {
            runs: 1_000,
            gas: 200_000,
            capacity: 512,
            max_code_len: 16_384,
        }
    }
}

impl Policy {
    /// The policy of `--engine jit`: compile before the first run, whatever the size.
    pub const EAGER: Policy = Policy {
        runs: 0,
        gas: 0,
        capacity: 512,
        max_code_len: usize::MAX,
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

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    hash: u64,
    limits: Limits,
}

struct Slot {
    /// The canonical encoding, compared on lookup so a hash collision cannot run the wrong
    /// code.
    bytes: Vec<u8>,
    runs: u32,
    gas: u64,
    state: CodeState,
    last_used: u64,
}

enum CodeState {
    Cold,
    Compiling,
    Ready(Arc<NativeCode>),
    /// The JIT refused the contract; it stays on the interpreter.
    Failed,
}

/// A thread-safe cache of compiled contracts with tiering (see the module docs).
pub struct CodeCache {
    policy: Policy,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    slots: HashMap<Key, Slot>,
    clock: u64,
}

impl std::fmt::Debug for CodeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeCache")
            .field("policy", &self.policy)
            .field("entries", &self.len())
            .finish()
    }
}

/// The cache key of `verified` and its canonical bytes (compared on a hit).
fn key_of(verified: &Verified) -> (Key, Vec<u8>) {
    let bytes = codec::encode(verified.contract());
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    let key = Key {
        hash: hasher.finish(),
        limits: *verified.limits(),
    };
    (key, bytes)
}

enum Plan {
    Run(Arc<NativeCode>),
    Interpret,
    Compile,
}

impl CodeCache {
    /// An empty cache with `policy`.
    pub fn new(policy: Policy) -> Self {
        CodeCache {
            policy,
            inner: Mutex::new(Inner::default()),
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

    /// Number of contracts remembered.
    pub fn len(&self) -> usize {
        self.lock().slots.len()
    }

    /// Whether no contract is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of contracts with native code.
    pub fn compiled(&self) -> usize {
        self.lock()
            .slots
            .values()
            .filter(|s| matches!(s.state, CodeState::Ready(_)))
            .count()
    }

    /// Whether this cache holds native code for `verified` (its canonical bytes and limits).
    pub fn is_compiled(&self, verified: &Verified) -> bool {
        let (key, bytes) = key_of(verified);
        self.lock()
            .slots
            .get(&key)
            .is_some_and(|s| s.bytes == bytes && matches!(s.state, CodeState::Ready(_)))
    }

    /// Drops every entry (native code is freed once no run uses it).
    pub fn clear(&self) {
        self.lock().slots.clear();
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every update is a single
        // assignment), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `verified` on the tier its heat calls for, compiling it when it becomes hot.
    /// Returns the outcome (identical on both tiers) and the tier that produced it.
    pub fn run<H: Host + ?Sized>(
        &self,
        verified: &Verified,
        params: RunParams<'_>,
        host: &mut H,
    ) -> (Outcome, Tier) {
        let (key, bytes) = key_of(verified);
        if verified.contract().program.code.len() > self.policy.max_code_len {
            return (on_interpreter(verified, params, host), Tier::Interp);
        }
        let plan = self.plan(&key, &bytes);
        let code = match plan {
            Plan::Run(code) => code,
            Plan::Interpret => return self.interpret(&key, &bytes, verified, params, host),
            Plan::Compile => match coopvm_jit::compile(verified) {
                Ok(code) => {
                    let code = Arc::new(code);
                    self.settle(&key, &bytes, CodeState::Ready(code.clone()));
                    code
                }
                Err(_) => {
                    self.settle(&key, &bytes, CodeState::Failed);
                    return self.interpret(&key, &bytes, verified, params, host);
                }
            },
        };
        (run(&*code, verified, params, host), Tier::Jit)
    }

    fn interpret<H: Host + ?Sized>(
        &self,
        key: &Key,
        bytes: &[u8],
        verified: &Verified,
        params: RunParams<'_>,
        host: &mut H,
    ) -> (Outcome, Tier) {
        let out = on_interpreter(verified, params, host);
        let mut inner = self.lock();
        if let Some(slot) = inner.slots.get_mut(key).filter(|s| s.bytes == bytes) {
            slot.gas = slot.gas.saturating_add(out.gas_used);
        }
        (out, Tier::Interp)
    }

    /// Counts the run and decides which tier takes it.
    fn plan(&self, key: &Key, bytes: &[u8]) -> Plan {
        let policy = self.policy;
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        if !inner.slots.contains_key(key) && inner.slots.len() >= policy.capacity.max(1) {
            evict(&mut inner.slots);
        }
        let slot = inner.slots.entry(key.clone()).or_insert_with(|| Slot {
            bytes: bytes.to_vec(),
            runs: 0,
            gas: 0,
            state: CodeState::Cold,
            last_used: now,
        });
        if slot.bytes != bytes {
            // A hash collision with another contract: never share its code.
            return Plan::Interpret;
        }
        slot.last_used = now;
        match &slot.state {
            CodeState::Ready(code) => Plan::Run(code.clone()),
            CodeState::Compiling | CodeState::Failed => Plan::Interpret,
            CodeState::Cold if slot.runs >= policy.runs || slot.gas >= policy.gas => {
                slot.state = CodeState::Compiling;
                Plan::Compile
            }
            CodeState::Cold => {
                slot.runs = slot.runs.saturating_add(1);
                Plan::Interpret
            }
        }
    }

    fn settle(&self, key: &Key, bytes: &[u8], state: CodeState) {
        let mut inner = self.lock();
        if let Some(slot) = inner.slots.get_mut(key).filter(|s| s.bytes == bytes) {
            slot.state = state;
        }
    }
}

/// Runs `verified` on the interpreter (lowered once per contract: `coopvm_interp::lowered`).
fn on_interpreter<H: Host + ?Sized>(
    verified: &Verified,
    params: RunParams<'_>,
    host: &mut H,
) -> Outcome {
    run(&*coopvm_interp::lowered(verified), verified, params, host)
}

/// Drops the least recently used entry.
fn evict(slots: &mut HashMap<Key, Slot>) {
    if let Some(oldest) = slots
        .iter()
        .min_by_key(|(_, s)| s.last_used)
        .map(|(k, _)| k.clone())
    {
        slots.remove(&oldest);
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
            ..Policy::default()
        });
        let v = contract(1); // 3 gas a run
        let tiers: Vec<Tier> = (0..5).map(|_| go(&cache, &v)).collect();
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
    fn a_hash_collision_never_shares_code() {
        let cache = CodeCache::new(Policy::EAGER);
        let (a, b) = (contract(1), contract(2));
        let key = Key {
            hash: 42,
            limits: Limits::default(),
        };
        let bytes_a = codec::encode(a.contract());
        let bytes_b = codec::encode(b.contract());
        assert!(matches!(cache.plan(&key, &bytes_a), Plan::Compile));
        assert!(matches!(cache.plan(&key, &bytes_b), Plan::Interpret));
    }
}
