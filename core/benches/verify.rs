//! Verification time per instruction, on three shapes of contract at several sizes:
//!
//! - `subroutines`: `call F0; call F1; ...; halt` with every `Fi: return` (the shape that made
//!   the old fixed point quadratic);
//! - `straight`: one straight line of arithmetic (`push 1`, then `push 1; add` pairs);
//! - `jumpifs`: a chain of two-instruction blocks `push 1; jumpif next`.
//!
//! Run: `cargo bench -p coopvm-core --bench verify -- --warm-up-time 1 --measurement-time 2`
//! (add a filter such as `subroutines` to pick a shape). Throughput is in instructions, so
//! criterion prints instructions per second; the time per instruction is its inverse.

use coopvm_core::isa::Op;
use coopvm_core::program::{Contract, Insn, Program};
use coopvm_core::{verify, Limits};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};

const SIZES: [usize; 5] = [100, 1_000, 4_096, 16_384, 65_536];

fn contract(code: Vec<Insn>) -> Contract {
    Contract {
        program: Program {
            code,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// `call F0 .. call Fk-1; halt; F0: return; ...`, padded with a trailing `halt` to `n`.
fn subroutines(n: usize) -> Vec<Insn> {
    let k = (n - 1) / 2;
    let mut code: Vec<Insn> = (0..k)
        .map(|i| Insn::with(Op::Call, (k + 1 + i) as i64))
        .collect();
    code.push(Insn::new(Op::Halt));
    code.extend((0..k).map(|_| Insn::new(Op::Return)));
    code.resize(n, Insn::new(Op::Halt));
    code
}

/// `push 1`, then `push 1; add` pairs, padded with `halt` to `n`.
fn straight(n: usize) -> Vec<Insn> {
    let mut code = vec![Insn::with(Op::Push, 1)];
    while code.len() + 2 <= n {
        code.push(Insn::with(Op::Push, 1));
        code.push(Insn::new(Op::Add));
    }
    code.resize(n, Insn::new(Op::Halt));
    code
}

/// Blocks of `push 1; jumpif next`, padded with `halt` to `n`.
fn jumpifs(n: usize) -> Vec<Insn> {
    let mut code = Vec::with_capacity(n);
    while code.len() + 2 <= n {
        code.push(Insn::with(Op::Push, 1));
        code.push(Insn::with(Op::JumpIf, code.len() as i64 + 1));
    }
    code.resize(n, Insn::new(Op::Halt));
    code
}

fn bench(c: &mut Criterion) {
    let limits = Limits::default();
    type Shape = fn(usize) -> Vec<Insn>;
    let shapes: [(&str, Shape); 3] = [
        ("subroutines", subroutines),
        ("straight", straight),
        ("jumpifs", jumpifs),
    ];
    for (name, shape) in shapes {
        let mut group = c.benchmark_group(format!("verify/{name}"));
        for n in SIZES {
            let contract = contract(shape(n));
            assert_eq!(contract.program.code.len(), n);
            group.throughput(Throughput::Elements(n as u64));
            group.bench_function(BenchmarkId::from_parameter(n), |b| {
                b.iter_batched(
                    || contract.clone(),
                    |c| verify(c, &limits).expect("the shapes are valid"),
                    BatchSize::LargeInput,
                )
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
