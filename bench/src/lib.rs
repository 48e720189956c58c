//! Benchmark kernels shared by the criterion benches: each is a coopvm
//! contract, parameterised by a size, with an equivalent native Rust function as baseline.

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
    /// A size giving a run of roughly a millisecond on the interpreter.
    pub default_n: i64,
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

static KERNELS: [Kernel; 6] = [
    Kernel {
        name: "loop",
        about: "sum 1..=n in a loop with a static memory slot",
        source: loop_source,
        native: loop_native,
        default_n: 20_000,
    },
    Kernel {
        name: "fib",
        about: "recursive Fibonacci: calls and returns",
        source: fib_source,
        native: fib_native,
        default_n: 20,
    },
    Kernel {
        name: "arith",
        about: "a mix of mul, div, mod, comparisons on the stack",
        source: arith_source,
        native: arith_native,
        default_n: 20_000,
    },
    Kernel {
        name: "sum",
        about: "sum 1..=n in a loop that keeps everything on the stack",
        source: sum_source,
        native: loop_native,
        default_n: 10_000,
    },
    Kernel {
        name: "host2",
        about: "a stack-only loop making two host calls (gettimestamp, getblock) per iteration",
        source: host2_source,
        native: host_native,
        default_n: 1_000,
    },
    Kernel {
        name: "host",
        about: "a loop calling the host (gettimestamp) every iteration",
        source: host_source,
        native: host_native,
        default_n: 20_000,
    },
];

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

#[cfg(test)]
mod tests {
    use super::*;
    use coopvm::{load, Engine};
    use coopvm::{ExecutionContext, Limits, NoHost};

    #[test]
    fn kernels_compute_what_their_native_twins_compute() {
        let ctx = ExecutionContext {
            timestamp: 1,
            ..Default::default()
        };
        for k in kernels() {
            for n in [0, 1, 2, 10, 17] {
                let src = (k.source)(n);
                let v = load::from_source(k.name, &src)
                    .unwrap()
                    .verify(&Limits::default())
                    .unwrap();
                let out =
                    Engine::Interp.run(&v, &ctx, &v.contract().state, u64::MAX / 2, &mut NoHost);
                assert!(out.is_ok(), "{} {n}: {:?}", k.name, out.result);
                assert_eq!(
                    out.stack.last().copied(),
                    Some((k.native)(n)),
                    "{} {n}",
                    k.name
                );
            }
        }
        assert!(kernel("fib").is_some());
        assert!(kernel("nope").is_none());
    }
}
