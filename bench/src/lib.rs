//! Benchmark kernels shared by the criterion benches: each is a coopvm
//! contract, parameterised by a size, with an equivalent native Rust function as baseline
//! (and, in `benches/peers.rs`, a Wasm twin run on wasmi and wasmtime).
//!
//! The kernels issues 11 (interpreter) and 12 (JIT) are judged by are `loop` (static memory
//! slots), `fib` (calls), `collatz` (branchy arithmetic), `sieve` (dynamic memory), `host`
//! (host calls) and `tiny` (per-run overhead of the whole run protocol).

use coopvm::{load, Limits, Verified};

#[cfg(feature = "wasmi")]
pub mod peers;
pub mod report;

/// The gas limit of the peer comparison's runs (never reached).
pub const GAS: u64 = u64::MAX / 4;

/// The timestamp the peer comparison runs with (the block number is 0); the host kernels
/// sum them.
pub const TIMESTAMP: i64 = 1;

/// A benchmark scenario.
#[derive(Clone, Copy, Debug)]
pub struct Kernel {
    /// Short name.
    pub name: &'static str,
    /// What it exercises.
    pub about: &'static str,
    /// The contract source for size `n`.
    pub source: fn(n: i64) -> String,
    /// The same computation in native Rust (the value the contract leaves on the stack).
    pub native: fn(n: i64) -> i64,
    /// A size giving a run of roughly a millisecond on the interpreter (for `tiny`, whose
    /// size is only the counter's initial value, a run takes about a microsecond).
    pub default_n: i64,
    /// Memory keys holding a value at the end of a run at size `n` (the benches verify
    /// against [`Kernel::limits`], which allows them).
    pub keys: fn(n: i64) -> u32,
}

impl Kernel {
    /// The limits the benches verify this kernel against at size `n`: the defaults, with
    /// room for the keys a run stores (only `sieve` needs more than the default 4,096, from
    /// n = 4,095 on).
    pub fn limits(&self, n: i64) -> Limits {
        let default = Limits::default();
        Limits {
            memory_keys: default.memory_keys.max((self.keys)(n)),
            ..default
        }
    }

    /// The contract at size `n`, assembled and verified against [`Kernel::limits`].
    ///
    /// ```
    /// let k = coopvm_bench::kernel("sieve").unwrap();
    /// let v = k.verified(10_000);
    /// assert_eq!(v.limits().memory_keys, 10_001);
    /// ```
    pub fn verified(&self, n: i64) -> Verified {
        load::from_source(self.name, &(self.source)(n))
            .expect("a kernel assembles")
            .verify(&self.limits(n))
            .expect("a kernel verifies")
    }
}

/// Every kernel.
///
/// ```
/// let k = coopvm_bench::kernels()[0];
/// assert_eq!((k.native)(10), 55);
/// assert!((k.source)(10).contains("push 10"));
/// ```
pub fn kernels() -> &'static [Kernel] {
    &KERNELS
}

/// The kernel named `name`.
pub fn kernel(name: &str) -> Option<&'static Kernel> {
    KERNELS.iter().find(|k| k.name == name)
}

static KERNELS: [Kernel; 9] = [
    Kernel {
        name: "loop",
        about: "sum 1..=n in a loop with a static memory slot",
        source: loop_source,
        native: loop_native,
        default_n: 20_000,
        keys: one_key,
    },
    Kernel {
        name: "fib",
        about: "recursive Fibonacci: calls and returns",
        source: fib_source,
        native: fib_native,
        default_n: 20,
        keys: no_keys,
    },
    Kernel {
        name: "arith",
        about: "a mix of mul, div, mod, comparisons on the stack",
        source: arith_source,
        native: arith_native,
        default_n: 20_000,
        keys: one_key,
    },
    Kernel {
        name: "sum",
        about: "sum 1..=n in a loop that keeps everything on the stack",
        source: sum_source,
        native: loop_native,
        default_n: 10_000,
        keys: sum_keys,
    },
    Kernel {
        name: "host2",
        about: "a stack-only loop making two host calls (gettimestamp, getblock) per iteration",
        source: host2_source,
        native: host_native,
        default_n: 1_000,
        keys: no_keys,
    },
    Kernel {
        name: "host",
        about: "a loop calling the host (gettimestamp) every iteration",
        source: host_source,
        native: host_native,
        default_n: 20_000,
        keys: one_key,
    },
    Kernel {
        name: "collatz",
        about: "branchy arithmetic: total Collatz steps of every start 1..=n \
                (gt, mod, div, mul, jumpif; counters in static slots)",
        source: collatz_source,
        native: collatz_native,
        default_n: 150,
        keys: two_keys,
    },
    Kernel {
        name: "sieve",
        about: "dynamic memory: a sieve of Eratosthenes over the integer keys 2..=n \
                (store and load with the key on the stack), counting the primes",
        source: sieve_source,
        native: sieve_native,
        default_n: 1_500,
        keys: sieve_keys,
    },
    Kernel {
        name: "tiny",
        about: "per-run overhead: the counter contract (load, add, store, halt) whose state \
                starts at n; measured as whole runs under the run protocol",
        source: tiny_source,
        native: tiny_native,
        default_n: 0,
        keys: one_key,
    },
];

fn no_keys(_: i64) -> u32 {
    0
}

fn one_key(_: i64) -> u32 {
    1
}

fn two_keys(_: i64) -> u32 {
    2
}

fn sum_keys(n: i64) -> u32 {
    u32::from(n != 0)
}

fn sieve_keys(n: i64) -> u32 {
    // i, p and one flag for each of 2..=n.
    u32::try_from(n.saturating_sub(1).max(0)).map_or(u32::MAX, |flags| flags.saturating_add(2))
}

fn loop_source(n: i64) -> String {
    format!(
        ".contract bench_loop\n\
         push 0\npush {n}\nstore i\n\
         loop: load i\njumpif body\nhalt\n\
         body: load i\nadd\nload i\npush 1\nsub\nstore i\njump loop\n"
    )
}

fn sum_source(n: i64) -> String {
    format!(
        ".contract bench_sum\n\
         push 0\npush {n}\nloop: dup\njumpif body\npop\nhalt\n\
         body: dup\nstore i\nadd\nload i\npush 1\nsub\njump loop\n"
    )
}

fn host2_source(n: i64) -> String {
    format!(
        ".contract bench_host2\n\
         push 0\npush {n}\nloop: dup\njumpif body\npop\nhalt\n\
         body: swap\ngettimestamp\nadd\ngetblock\nadd\nswap\npush 1\nsub\njump loop\n"
    )
}

fn loop_native(n: i64) -> i64 {
    let mut sum: i64 = 0;
    let mut i = std::hint::black_box(n);
    while i != 0 {
        sum = sum.checked_add(i).expect("no overflow");
        i -= 1;
    }
    sum
}

fn fib_source(n: i64) -> String {
    format!(
        ".contract bench_fib\npush {n}\ncall fib\nhalt\n\
         fib: dup\npush 2\nlt\njumpif done\n\
         dup\npush 1\nsub\ncall fib\nswap\npush 2\nsub\ncall fib\nadd\n\
         done: return\n"
    )
}

fn fib_native(n: i64) -> i64 {
    fn fib(n: i64) -> i64 {
        if n < 2 {
            n
        } else {
            fib(n - 1) + fib(n - 2)
        }
    }
    fib(std::hint::black_box(n))
}

fn arith_source(n: i64) -> String {
    // acc = (acc * 31 + i) mod 1_000_003, i from n down to 1.
    format!(
        ".contract bench_arith\n\
         push 7\npush {n}\nstore i\n\
         loop: load i\npush 0\ngt\njumpif body\nhalt\n\
         body: push 31\nmul\nload i\nadd\npush 1_000_003\nmod\n\
         load i\npush 1\nsub\nstore i\njump loop\n"
    )
}

fn arith_native(n: i64) -> i64 {
    let mut acc: i64 = 7;
    let mut i = std::hint::black_box(n);
    while i > 0 {
        acc = (acc * 31 + i) % 1_000_003;
        i -= 1;
    }
    acc
}

fn host_source(n: i64) -> String {
    format!(
        ".contract bench_host\n\
         push 0\npush {n}\nstore i\n\
         loop: load i\njumpif body\nhalt\n\
         body: gettimestamp\nadd\nload i\npush 1\nsub\nstore i\njump loop\n"
    )
}

fn host_native(n: i64) -> i64 {
    // The benches run with timestamp 1 and block 0: the sum of n ones.
    std::hint::black_box(n)
}

fn collatz_source(n: i64) -> String {
    // steps := 0; for i in n down to 1 { x := i; while x > 1 { x := x odd ? 3x + 1 : x / 2;
    // steps += 1 } }. x lives on the stack, i and steps in static slots.
    format!(
        ".contract bench_collatz\n\
         push 0\nstore steps\npush {n}\nstore i\n\
         outer: load i\njumpif start\nload steps\nhalt\n\
         start: load i\n\
         inner: dup\npush 1\ngt\njumpif step\n\
         pop\nload i\npush 1\nsub\nstore i\njump outer\n\
         step: dup\npush 2\nmod\njumpif odd\n\
         push 2\ndiv\njump count\n\
         odd: push 3\nmul\npush 1\nadd\n\
         count: load steps\npush 1\nadd\nstore steps\njump inner\n"
    )
}

fn collatz_native(n: i64) -> i64 {
    // Checked where the contract's `mul` and `add` are (the sizes used never overflow).
    let mut steps: i64 = 0;
    let mut i = std::hint::black_box(n);
    while i != 0 {
        let mut x = i;
        while x > 1 {
            x = if x % 2 != 0 {
                x.checked_mul(3)
                    .and_then(|x| x.checked_add(1))
                    .expect("no overflow")
            } else {
                x / 2
            };
            steps += 1;
        }
        i -= 1;
    }
    steps
}

fn sieve_source(n: i64) -> String {
    // Key k (2 <= k <= n) holds 1 while k may be prime; multiples of each prime p with
    // p * p <= n are set to 0 from p * p on; the result is the sum of the flags. `store`
    // without operand pops the key, then the value.
    format!(
        ".contract bench_sieve\n\
         push {n}\nstore i\n\
         init: load i\npush 2\nlt\njumpif sieve\n\
         push 1\nload i\nstore\n\
         load i\npush 1\nsub\nstore i\njump init\n\
         sieve: push 2\nstore p\n\
         outer: load p\ndup\nmul\npush {n}\ngt\njumpif count\n\
         load p\nload\njumpif mark\n\
         next: load p\npush 1\nadd\nstore p\njump outer\n\
         mark: load p\ndup\nmul\n\
         inner: dup\npush {n}\ngt\njumpif marked\n\
         dup\npush 0\nswap\nstore\n\
         load p\nadd\njump inner\n\
         marked: pop\njump next\n\
         count: push 0\npush {n}\nstore i\n\
         cloop: load i\npush 2\nlt\njumpif done\n\
         load i\nload\nadd\n\
         load i\npush 1\nsub\nstore i\njump cloop\n\
         done: halt\n"
    )
}

fn sieve_native(n: i64) -> i64 {
    let n = usize::try_from(std::hint::black_box(n)).unwrap_or(0);
    let mut prime = vec![true; n + 1];
    let mut p = 2;
    while p * p <= n {
        if prime[p] {
            let mut m = p * p;
            while m <= n {
                prime[m] = false;
                m += p;
            }
        }
        p += 1;
    }
    (2..=n).filter(|&k| prime[k]).count() as i64
}

fn tiny_source(n: i64) -> String {
    // examples/counter.casm, its state starting at n.
    format!(
        ".contract bench_tiny\n.state count {n}\n\
         load count\npush 1\nadd\ndup\nstore count\nhalt\n"
    )
}

fn tiny_native(n: i64) -> i64 {
    std::hint::black_box(n) + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use coopvm::{Engine, ExecutionContext, NoHost};

    fn ctx() -> ExecutionContext {
        ExecutionContext {
            timestamp: 1,
            ..Default::default()
        }
    }

    #[test]
    fn kernels_compute_what_their_native_twins_compute() {
        let ctx = ctx();
        for k in kernels() {
            for n in [0, 1, 2, 10, 17, k.default_n] {
                let v = k.verified(n);
                let out =
                    Engine::Interp.run(&v, &ctx, &v.contract().state, u64::MAX / 2, &mut NoHost);
                assert!(out.is_ok(), "{} {n}: {:?}", k.name, out.result);
                assert_eq!(
                    out.stack.last().copied(),
                    Some((k.native)(n)),
                    "{} {n}",
                    k.name
                );
                assert_eq!(out.state.len(), (k.keys)(n) as usize, "{} {n} keys", k.name);
            }
        }
        assert!(kernel("fib").is_some());
        assert!(kernel("nope").is_none());
    }

    #[test]
    fn new_native_twins_give_known_values() {
        // Steps of 1..=10: 0 1 7 2 5 8 16 3 19 6.
        assert_eq!(collatz_native(10), 67);
        assert_eq!(collatz_native(0), 0);
        // pi(100) and pi(4000).
        assert_eq!(sieve_native(100), 25);
        assert_eq!(sieve_native(4_000), 550);
        assert_eq!(sieve_native(1), 0);
        assert_eq!(tiny_native(41), 42);
    }

    #[test]
    fn sieve_runs_beyond_the_default_memory_limit() {
        let k = kernel("sieve").unwrap();
        let n = 5_000;
        assert!((k.keys)(n) > Limits::default().memory_keys);
        let v = k.verified(n);
        let out = Engine::Interp.run(&v, &ctx(), &v.contract().state, u64::MAX / 2, &mut NoHost);
        assert_eq!(out.stack, vec![sieve_native(n)]);
        assert_eq!(out.stack, vec![669]);
    }

    #[test]
    fn tiny_runs_the_same_on_every_engine_under_the_run_protocol() {
        let k = kernel("tiny").unwrap();
        let v = k.verified(41);
        let state = v.contract().state.clone();
        for engine in Engine::ALL {
            // Enough runs for `auto` to move to native code.
            for _ in 0..1_100 {
                let out = engine.run(&v, &ctx(), &state, 1_000, &mut NoHost);
                assert_eq!(out.stack, vec![42], "{}", engine.name());
                assert_eq!(out.state["count"], 42, "{}", engine.name());
                assert_eq!(out.gas_used, 10, "{}", engine.name());
            }
        }
    }
}
