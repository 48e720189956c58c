//! The VM laws (encode/decode inverses, canonical bytes, pure and gas-bounded evaluation) as
//! property tests, and the soundness and completeness of the provable VM.

use crate::common;
use coopvm::domain::CoopHost;
use coopvm::isa::Op;
use coopvm::vmi::{
    CoopValue, CoopVm, DataValue, DynVm, EvalHost, Foreign, Function, Proof, ProvableVm,
    ProveError, Registry, RegistryError, Vm, COOPVM_NUMBER,
};
use coopvm::{load, Engine};
use coopvm::{Contract, ErrorKind, ExecutionContext, Insn, Limits, Program};
use proptest::prelude::*;

// ---------- generators ----------

/// Random code over a small instruction set with jumps anywhere in (and one past) the code.
/// Much of it fails verification or at run time; all of it must behave purely.
fn arb_code() -> impl Strategy<Value = Vec<Insn>> {
    (1usize..14).prop_flat_map(|len| {
        let insn = (0u8..18, -4i64..6, 0..=len as i64).prop_map(|(k, imm, target)| match k {
            0..=2 => Insn::with(Op::Push, imm),
            3 => Insn::new(Op::Add),
            4 => Insn::new(Op::Sub),
            5 => Insn::new(Op::Mul),
            6 => Insn::new(Op::Div),
            7 => Insn::new(Op::Mod),
            8 => Insn::new(Op::Dup),
            9 => Insn::new(Op::Swap),
            10 => Insn::new(Op::Pop),
            11 => Insn::new(Op::Lt),
            12 => Insn::new(Op::Not),
            13 => Insn::with(Op::Jump, target),
            14 => Insn::with(Op::JumpIf, target),
            15 => Insn::new(Op::Halt),
            16 => Insn::new(Op::Log),
            _ => Insn::new(Op::Eq),
        });
        proptest::collection::vec(insn, len)
    })
}

/// A function with `code` that takes `params` arguments.
fn function_of(code: Vec<Insn>, params: u32) -> Function {
    let c = Contract {
        id: "gen".into(),
        params,
        program: Program {
            code,
            keys: vec![],
            strings: vec!["s".into()],
        },
        ..Contract::default()
    };
    Function::new(c).expect("generated code is canonical")
}

fn arb_function() -> impl Strategy<Value = Function> {
    (arb_code(), 0u32..3).prop_map(|(code, params)| function_of(code, params))
}

fn arb_coop_value() -> impl Strategy<Value = CoopValue> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(CoopValue::Int),
        proptest::collection::vec(any::<u8>(), 0..8).prop_map(CoopValue::Bytes),
        arb_function().prop_map(CoopValue::Function),
        (any::<u64>(), proptest::collection::vec(any::<u8>(), 0..8))
            .prop_filter_map("not coopvm", |(vm, code)| Foreign::new(vm, code)
                .map(CoopValue::Foreign)),
    ];
    leaf.prop_recursive(4, 24, 5, |inner| {
        proptest::collection::vec(inner, 0..5).prop_map(CoopValue::List)
    })
}

/// Arbitrary DataValues, including coopvm FunctionVs whose bytes may or may not be a
/// contract.
fn arb_data() -> impl Strategy<Value = DataValue> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(DataValue::Int),
        proptest::collection::vec(any::<u8>(), 0..8).prop_map(DataValue::Bytes),
        (
            prop_oneof![Just(COOPVM_NUMBER), any::<u64>()],
            proptest::collection::vec(any::<u8>(), 0..8)
        )
            .prop_map(|(vm, code)| DataValue::FunctionV { vm, code }),
        arb_function().prop_map(|f| DataValue::FunctionV {
            vm: COOPVM_NUMBER,
            code: f.bytes().to_vec()
        }),
        // Contract bytes with one byte changed: some still decode, as other contracts.
        (arb_function(), any::<prop::sample::Index>(), any::<u8>()).prop_map(|(f, at, b)| {
            let mut code = f.bytes().to_vec();
            let i = at.index(code.len());
            code[i] = b;
            DataValue::FunctionV {
                vm: COOPVM_NUMBER,
                code,
            }
        }),
    ];
    leaf.prop_recursive(4, 24, 5, |inner| {
        proptest::collection::vec(inner, 0..5).prop_map(DataValue::List)
    })
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------- laws ----------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn decode_inverts_encode(x in arb_coop_value()) {
        let vm = CoopVm::default();
        prop_assert_eq!(vm.decode(&vm.encode(&x)), Some(x));
    }

    #[test]
    fn encode_inverts_decode(d in arb_data()) {
        let vm = CoopVm::default();
        if let Some(x) = vm.decode(&d) {
            prop_assert_eq!(vm.encode(&x), d);
        }
    }

    #[test]
    fn canonical_bytes_round_trip(d in arb_data()) {
        let b = d.to_bytes();
        prop_assert_eq!(DataValue::from_bytes(&b), Ok(d));
    }

    #[test]
    fn only_canonical_bytes_decode(d in arb_data(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        // Mutate one byte of a valid encoding: whatever still decodes must re-encode to
        // exactly the mutated bytes (no second encoding of any value), and nothing panics.
        let mut b = d.to_bytes();
        let i = at.index(b.len());
        b[i] = byte;
        if let Ok(v) = DataValue::from_bytes(&b) {
            prop_assert_eq!(v.to_bytes(), b);
        }
    }

    #[test]
    fn random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..40)) {
        let mut with_header = b"\0cdv\x01".to_vec();
        with_header.extend(&b);
        for bytes in [b, with_header] {
            if let Ok(v) = DataValue::from_bytes(&bytes) {
                prop_assert_eq!(v.to_bytes(), bytes);
            }
        }
    }

    #[test]
    fn evaluate_is_pure_and_gas_bounded(
        code in arb_code(),
        args in proptest::collection::vec(-5i64..5, 0..3),
        arity_off in prop_oneof![4 => Just(0u32), 1 => 1u32..3],
        gas_limit in 0u64..120,
    ) {
        // Mostly as many arguments as the function takes; sometimes not (no result, no gas).
        let f = CoopValue::Function(function_of(code, args.len() as u32 + arity_off));
        let args: Vec<CoopValue> = args.into_iter().map(CoopValue::Int).collect();
        let reference = CoopVm::default().evaluate(&f, &args, gas_limit);
        prop_assert!(reference.1 <= gas_limit);
        for &engine in Engine::ALL {
            let vm = CoopVm::with_engine(engine);
            // Same result and gas on every run and every engine.
            prop_assert_eq!(&vm.evaluate(&f, &args, gas_limit), &reference, "engine {}", engine.name());
            prop_assert_eq!(&vm.evaluate(&f, &args, gas_limit), &reference);
            // Out of gas gives no result and uses the whole limit.
            if let Ok(out) = vm.call(&f, &args, gas_limit) {
                if out.result.as_ref().is_err_and(|e| e.kind == ErrorKind::OutOfGas) {
                    prop_assert_eq!(&reference, &(None, gas_limit));
                }
                if out.is_ok() {
                    // A successful run's gas does not depend on the limit (given enough).
                    prop_assert_eq!(vm.evaluate(&f, &args, gas_limit + 1000), reference.clone());
                }
            }
        }
    }

    #[test]
    fn witness_proofs_are_complete_and_bound(x in -3_000_000_000i64..3_000_000_000, other in any::<i64>()) {
        let vm = CoopVm::default();
        let f = relation_square();
        let public = CoopValue::Int(x * x);
        let proof = vm.prove(&f, &public, &CoopValue::Int(x)).unwrap();
        prop_assert!(vm.verify(&f, &public, &proof));
        if other != x * x {
            prop_assert!(!vm.verify(&f, &CoopValue::Int(other), &proof));
        }
    }
}

// ---------- evaluation against the CLI's run ----------

fn example(name: &str) -> CoopValue {
    let path = format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"));
    let loaded = load::from_path(std::path::Path::new(&path)).unwrap();
    CoopValue::Function(Function::new(loaded.contract).unwrap())
}

/// Every `.casm` file under examples/ (one level of subdirectories too).
fn example_files() -> Vec<std::path::PathBuf> {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut dirs = vec![root.clone()];
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            dirs.push(p);
        }
    }
    for d in dirs {
        for entry in std::fs::read_dir(d).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "casm") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn gas_matches_a_plain_run_of_every_example() {
    let mut checked = 0;
    for path in example_files() {
        let name = path
            .strip_prefix(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"))
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let inputs = common::example_inputs(&name);
        let args: Vec<CoopValue> = inputs
            .iter()
            .map(|a| match a {
                coopvm::Arg::Int(n) => CoopValue::Int(*n),
                coopvm::Arg::Str(s) => CoopValue::Bytes(s.as_bytes().to_vec()),
            })
            .collect();
        let loaded = load::from_path(&path).unwrap();
        let f = CoopValue::Function(Function::new(loaded.contract.clone()).unwrap());
        let Ok(verified) = loaded.verify(&Limits::default()) else {
            continue;
        };
        let ctx = ExecutionContext {
            caller_did: "did:key:anonymous".into(),
            ..Default::default()
        };
        for gas in [5, 1000, coopvm::DEFAULT_GAS_LIMIT] {
            // What `coopvm run FILE --args ...` does: a fresh in-memory cooperative host.
            let out = CoopHost::new()
                .execute_with(&verified, &ctx, |host, ctx, state| {
                    let params = coopvm::RunParams::new(ctx, state, gas)
                        .with_calls(&Engine::Interp)
                        .with_args(&inputs);
                    (Engine::Interp.run_params(&verified, params, host), ())
                })
                .0;
            let expect = match (&out.result, out.stack.last()) {
                (Ok(()), Some(&v)) => Some(CoopValue::Int(v)),
                _ => None,
            };
            assert_eq!(
                CoopVm::default().evaluate(&f, &args, gas),
                (expect, out.gas_used),
                "{}",
                path.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} examples checked");
}

#[test]
fn host_operations_run_against_a_fresh_host() {
    let f = CoopValue::Function(
        Function::assemble(
            "c.casm",
            "push \"coop\"\npush 100\ncreatecooperative\npush 1\n",
        )
        .unwrap(),
    );
    let vm = CoopVm::default();
    let first = vm.evaluate(&f, &[], 1000);
    assert_eq!(first.0, Some(CoopValue::Int(1)));
    // The host is fresh for every call: creating the same cooperative again succeeds.
    assert_eq!(vm.evaluate(&f, &[], 1000), first);
    // Without a host the operation fails.
    let bare = CoopVm {
        host: EvalHost::None,
        ..CoopVm::default()
    };
    assert_eq!(bare.evaluate(&f, &[], 1000).0, None);
    // Dependencies are never deployed in a fresh host.
    let dep =
        CoopValue::Function(Function::assemble("d.casm", ".depends other\npush 1\n").unwrap());
    assert_eq!(vm.evaluate(&dep, &[], 1000), (None, 0));
    assert_eq!(bare.evaluate(&dep, &[], 1000), (Some(CoopValue::Int(1)), 1));
}

#[test]
fn the_jit_evaluates_natively_and_agrees() {
    let f = CoopValue::Function(
        Function::assemble(
            "sum.casm",
            ".params 1\npush 0\nswap\ntop: dup\njumpif body\npop\nhalt\nbody: dup\nstore i\nadd\nload i\npush 1\nsub\njump top\n",
        )
        .unwrap(),
    );
    let args = [CoopValue::Int(77_777)];
    let interp = CoopVm::default().evaluate(&f, &args, 10_000_000);
    assert_eq!(interp.0, Some(CoopValue::Int(77_777 * 77_778 / 2)));
    let jit = CoopVm::with_engine(Engine::Jit).evaluate(&f, &args, 10_000_000);
    assert_eq!(jit, interp);
    // The function was compiled to native code, not interpreted as a fallback.
    assert!(coopvm::tier::CodeCache::global_eager().compiled() >= 1);
    // Out of gas in the middle of the loop: same on both.
    let limit = interp.1 / 2;
    assert_eq!(
        CoopVm::with_engine(Engine::Jit).evaluate(&f, &args, limit),
        (None, limit)
    );
}

#[test]
fn arguments_are_inputs_and_cost_nothing() {
    let vm = CoopVm::default();
    let fib = example("fib.casm");
    let (plain, plain_gas) = vm.evaluate(&fib, &[], 1_000_000);
    assert_eq!(plain, Some(CoopValue::Int(6765)));
    // fib.casm takes no inputs: arguments are refused, before anything runs.
    assert_eq!(
        vm.evaluate(&fib, &[CoopValue::Int(1), CoopValue::Int(2)], 1_000_000),
        (None, 0)
    );
    // A function with inputs runs on them as `coopvm run --args` would, at no extra gas.
    let rel = example("relation_square.casm");
    let args = [CoopValue::Int(49), CoopValue::Int(7)];
    assert_eq!(
        vm.evaluate(&rel, &args, 100),
        (Some(CoopValue::Int(1)), 1 + 2 + 1 + 1)
    );
    assert_eq!(vm.evaluate(&rel, &args[..1], 100), (None, 0));
    assert!(plain_gas > 0);
}

#[test]
fn one_verified_and_compiled_contract_serves_every_argument_list() {
    // The function's contract is run as it is: its bytes (the JIT's cache key) do not depend
    // on the arguments, so the code cache holds one entry for all of them.
    let f = CoopValue::Function(
        Function::assemble(
            "serves_all_lists.casm",
            // a * b, then a countdown from 100: 507 gas a run, enough work for `auto` to
            // compile it (`Policy::min_gas_per_run`).
            ".contract serves_all_lists\n.params 2\nmul\npush 100\n\
             l: dup\njumpif b\npop\nhalt\nb: push 1\nsub\njump l\n",
        )
        .unwrap(),
    );
    let CoopValue::Function(func) = &f else {
        unreachable!()
    };
    let verified = coopvm::verify(func.contract().clone(), &Limits::default()).unwrap();
    let jit = CoopVm::with_engine(Engine::Jit);
    for (a, b) in [(2, 3), (4, 5), (-1, 9), (0, 0)] {
        let out = jit
            .call(&f, &[CoopValue::Int(a), CoopValue::Int(b)], 1_000)
            .unwrap();
        assert_eq!((out.stack.to_vec(), out.gas_used), (vec![a * b], 507));
    }
    assert!(coopvm::tier::CodeCache::global_eager().is_compiled(&verified));
    // Tiering warms up across argument lists: after the policy's number of runs, every one
    // with other arguments, the function runs as native code.
    let auto = CoopVm::with_engine(Engine::Auto);
    let runs = coopvm::tier::Policy::default().runs;
    for i in 0..=runs as i64 {
        let args = [CoopValue::Int(i), CoopValue::Int(i + 1)];
        assert_eq!(
            auto.evaluate(&f, &args, 1_000),
            (Some(CoopValue::Int(i * (i + 1))), 507)
        );
    }
    // The run that made it hot handed it to the background compiler.
    coopvm::tier::CodeCache::global().wait_for_compiles();
    assert!(coopvm::tier::CodeCache::global().is_compiled(&verified));
}

#[test]
fn string_arguments_are_handles() {
    let vm = CoopVm::default();
    // `emitevent` needs a string handle as topic: a UTF-8 byte string argument is one.
    let f = CoopValue::Function(
        Function::assemble("e.casm", ".params 1\npush 7\nemitevent\npush 1\n").unwrap(),
    );
    assert_eq!(
        vm.evaluate(&f, &[CoopValue::Bytes(b"Topic".to_vec())], 100),
        (Some(CoopValue::Int(1)), 12)
    );
    // An integer that is not a handle makes the host operation fail.
    assert_eq!(vm.evaluate(&f, &[CoopValue::Int(99)], 100).0, None);
    // Non-UTF-8 bytes, lists and functions are not arguments.
    assert_eq!(
        vm.evaluate(&f, &[CoopValue::Bytes(vec![0xff])], 100),
        (None, 0)
    );
    assert_eq!(vm.evaluate(&f, &[CoopValue::List(vec![])], 100), (None, 0));
    assert_eq!(vm.evaluate(&f, std::slice::from_ref(&f), 100), (None, 0));
}

#[test]
fn evaluate_terminates_on_infinite_loops() {
    let vm = CoopVm::default();
    let f = CoopValue::Function(Function::assemble("l.casm", "top: jump top\n").unwrap());
    assert_eq!(vm.evaluate(&f, &[], 10_000), (None, 10_000));
}

// ---------- registry ----------

/// A tiny second VM: its functions are `FunctionV { vm: 2, code: [k] }` and add `k` to the
/// sum of their integer arguments, at 1 gas per argument.
struct SumVm;

impl Vm for SumVm {
    type Value = DataValue;
    fn number(&self) -> u64 {
        2
    }
    fn name(&self) -> &'static str {
        "sum"
    }
    fn encode(&self, v: &DataValue) -> DataValue {
        v.clone()
    }
    fn decode(&self, d: &DataValue) -> Option<DataValue> {
        Some(d.clone())
    }
    fn evaluate(&self, f: &DataValue, args: &[DataValue], gas: u64) -> (Option<DataValue>, u64) {
        let DataValue::FunctionV { vm: 2, code } = f else {
            return (None, 0);
        };
        let [k] = code.as_slice() else {
            return (None, 0);
        };
        let mut sum = i64::from(*k);
        for (used, a) in args.iter().enumerate() {
            if used as u64 >= gas {
                return (None, gas);
            }
            let DataValue::Int(n) = a else {
                return (None, used as u64 + 1);
            };
            sum = sum.wrapping_add(*n);
        }
        (Some(DataValue::Int(sum)), args.len() as u64)
    }
}

#[test]
fn registry_dispatches_by_vm_number() {
    let mut registry = Registry::standard();
    registry.register(Box::new(SumVm)).unwrap();
    assert_eq!(
        registry.numbers().collect::<Vec<_>>(),
        vec![2, COOPVM_NUMBER]
    );
    assert_eq!(
        registry.register(Box::new(SumVm)),
        Err(RegistryError::Taken {
            number: 2,
            existing: "sum"
        })
    );
    let args = [DataValue::Int(3), DataValue::Int(4)];
    let sum = DataValue::FunctionV {
        vm: 2,
        code: vec![10],
    };
    assert_eq!(
        registry.evaluate(&sum, &args, 100),
        (Some(DataValue::Int(17)), 2)
    );
    let coop = CoopVm::default().encode(&CoopValue::Function(
        Function::assemble("m.casm", ".params 2\nmul\n").unwrap(),
    ));
    assert_eq!(
        registry.evaluate(&coop, &args, 100),
        (Some(DataValue::Int(12)), 2)
    );
    // coopvm carries the other VM's function as data; it cannot evaluate it.
    let coopvm: &dyn DynVm = registry.get(COOPVM_NUMBER).unwrap();
    assert!(coopvm.accepts(&sum));
    assert_eq!(coopvm.evaluate_data(&sum, &args, 100), (None, 0));
    // Unknown VMs and non-functions evaluate to nothing.
    let unknown = DataValue::FunctionV {
        vm: 3,
        code: vec![],
    };
    assert_eq!(registry.evaluate(&unknown, &args, 100), (None, 0));
    assert_eq!(registry.evaluate(&DataValue::Int(1), &args, 100), (None, 0));
    // Arguments that do not decode give nothing.
    let bad = DataValue::FunctionV {
        vm: COOPVM_NUMBER,
        code: vec![0],
    };
    assert_eq!(registry.evaluate(&coop, &[bad], 100), (None, 0));
}

// ---------- provable VM ----------

fn relation_square() -> CoopValue {
    example("relation_square.casm")
}

#[test]
fn completeness_for_true_relations() {
    let vm = CoopVm::default();
    let f = relation_square();
    for x in [0, 1, -7, 3_037_000_499] {
        let public = CoopValue::Int(x * x);
        let proof = vm.prove(&f, &public, &CoopValue::Int(x)).unwrap();
        assert!(vm.verify(&f, &public, &proof), "x = {x}");
        let back = Proof::from_bytes(&proof.to_bytes()).unwrap();
        assert!(vm.verify(&f, &public, &back));
    }
}

#[test]
fn false_relations_have_no_proof() {
    let vm = CoopVm::default();
    let f = relation_square();
    assert_eq!(
        vm.prove(&f, &CoopValue::Int(10), &CoopValue::Int(3)),
        Err(ProveError::False(0))
    );
    // Overflowing x * x is a run-time error, not a proof.
    assert!(matches!(
        vm.prove(&f, &CoopValue::Int(0), &CoopValue::Int(i64::MAX)),
        Err(ProveError::Failed(e)) if e.kind == ErrorKind::ArithmeticOverflow
    ));
}

#[test]
fn relations_out_of_gas_have_no_proof() {
    let vm = CoopVm {
        proof_gas_limit: 10_000,
        ..CoopVm::default()
    };
    let forever =
        CoopValue::Function(Function::assemble("l.casm", ".params 2\ntop: jump top\n").unwrap());
    assert_eq!(
        vm.prove(&forever, &CoopValue::Int(1), &CoopValue::Int(1)),
        Err(ProveError::OutOfGas(10_000))
    );
}

#[test]
fn a_proof_is_bound_to_its_public_input_and_relation() {
    let vm = CoopVm::default();
    // f(public, private) = private > public: private 100 satisfies public 1 and public 2.
    let gt = CoopValue::Function(Function::assemble("gt.casm", ".params 2\nlt\n").unwrap());
    let proof = vm
        .prove(&gt, &CoopValue::Int(1), &CoopValue::Int(100))
        .unwrap();
    assert!(vm.verify(&gt, &CoopValue::Int(1), &proof));
    assert!(vm
        .prove(&gt, &CoopValue::Int(2), &CoopValue::Int(100))
        .is_ok());
    assert!(!vm.verify(&gt, &CoopValue::Int(2), &proof));
    // Nor does it verify for another relation that the same inputs satisfy.
    let ne = CoopValue::Function(Function::assemble("ne.casm", ".params 2\nne\n").unwrap());
    assert!(vm
        .prove(&ne, &CoopValue::Int(1), &CoopValue::Int(100))
        .is_ok());
    assert!(!vm.verify(&ne, &CoopValue::Int(1), &proof));
}

#[test]
fn every_tampered_proof_fails() {
    let vm = CoopVm::default();
    let f = relation_square();
    let public = CoopValue::Int(49);
    let proof = vm.prove(&f, &public, &CoopValue::Int(7)).unwrap();
    let bytes = proof.to_bytes();
    let mut parsed = 0;
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut t = bytes.clone();
            t[i] ^= flip;
            if let Ok(p) = Proof::from_bytes(&t) {
                assert!(!vm.verify(&f, &public, &p), "byte {i} ^ {flip:#x} verified");
                parsed += 1;
            }
        }
    }
    // Most flips inside the payload still parse as an envelope and reach `verify`.
    assert!(
        parsed > bytes.len(),
        "only {parsed} tampered envelopes parsed"
    );
    // A proof with the other square root is a different, equally valid proof.
    let other = vm.prove(&f, &public, &CoopValue::Int(-7)).unwrap();
    assert_ne!(other, proof);
    assert!(vm.verify(&f, &public, &other));
}
