//! Costs of the VM interface: evaluating a small function (verification and
//! run), proving and verifying a witness proof, and DataValue bytes of a function.
//!
//! `cargo bench -p coopvm-bench --bench vmi`

use coopvm::vmi::{CoopValue, CoopVm, DataValue, Function, ProvableVm, Vm};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

fn relation() -> CoopValue {
    let src = include_str!("../../examples/relation_square.casm");
    CoopValue::Function(Function::assemble("relation_square.casm", src).unwrap())
}

fn fib() -> CoopValue {
    let src = include_str!("../../examples/fib.casm");
    CoopValue::Function(Function::assemble("fib.casm", src).unwrap())
}

fn benches(c: &mut Criterion) {
    let vm = CoopVm::default();
    let f = relation();
    let args = [CoopValue::Int(49), CoopValue::Int(7)];
    c.bench_function("vmi/evaluate relation_square", |b| {
        b.iter(|| vm.evaluate(black_box(&f), black_box(&args), 1_000))
    });
    let fib = fib();
    c.bench_function("vmi/evaluate fib(20)", |b| {
        b.iter(|| vm.evaluate(black_box(&fib), &[], 10_000_000))
    });
    c.bench_function("vmi/prove relation_square", |b| {
        b.iter(|| vm.prove(black_box(&f), &args[0], &args[1]).unwrap())
    });
    let proof = vm.prove(&f, &args[0], &args[1]).unwrap();
    c.bench_function("vmi/verify relation_square", |b| {
        b.iter(|| assert!(vm.verify(black_box(&f), &args[0], black_box(&proof))))
    });
    let bytes = vm.encode(&fib).to_bytes();
    c.bench_function("vmi/decode fib DataValue", |b| {
        b.iter(|| vm.decode(&DataValue::from_bytes(black_box(&bytes)).unwrap()))
    });
}

criterion_group!(vmi, benches);
criterion_main!(vmi);
