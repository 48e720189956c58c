//! The translated relations compute coopvm's results (executed on Miden without proofs;
//! the differential tests against the interpreter are in `coopvm-vmi`).

use coopvm_core::{asm::assemble, Limits};

fn run(src: &str, public: i64, private: i64) -> Option<i64> {
    let c = assemble("t.casm", src).unwrap();
    let compiled = coopvm_stark::Compiled::new(&c, &Limits::default()).unwrap();
    coopvm_stark::execute(&compiled, public, private)
        .ok()
        .map(|(r, _)| r)
}

#[test]
fn arithmetic() {
    assert_eq!(run(".params 2\nadd\n", 40, 2), Some(42));
    assert_eq!(run(".params 2\nsub\n", 40, 2), Some(38));
    assert_eq!(run(".params 2\nsub\n", 2, 40), Some(-38));
    assert_eq!(run(".params 2\nmul\n", -6, 7), Some(-42));
    assert_eq!(run(".params 2\ndiv\n", -7, 2), Some(-3));
    assert_eq!(run(".params 2\nmod\n", -7, 2), Some(-1));
    assert_eq!(run(".params 2\nmod\n", 7, -2), Some(1));
    assert_eq!(run(".params 2\ndiv\n", i64::MIN, 1), Some(i64::MIN));
    assert_eq!(run(".params 2\ndiv\n", i64::MIN, -1), None);
    assert_eq!(run(".params 2\nmod\n", i64::MIN, -1), None);
    assert_eq!(run(".params 2\ndiv\n", 1, 0), None);
    assert_eq!(run(".params 2\nadd\n", i64::MAX, 1), None);
    assert_eq!(run(".params 2\nsub\n", i64::MIN, 1), None);
    assert_eq!(run(".params 2\nmul\n", 1 << 32, 1 << 31), None);
    assert_eq!(run(".params 2\nmul\n", -(1 << 32), 1 << 31), Some(i64::MIN));
    assert_eq!(run(".params 2\nswap\npop\nneg\n", 0, i64::MIN), None);
    assert_eq!(run(".params 2\nswap\npop\nneg\n", 0, 5), Some(-5));
    assert_eq!(run(".params 2\nlt\n", -1, 0), Some(1));
    assert_eq!(run(".params 2\ngt\n", i64::MAX, i64::MIN), Some(1));
    assert_eq!(run(".params 2\nlt\n", 1, 0), None);
}

#[test]
fn control_and_memory() {
    let fib = ".params 2\ncall fib\nadd\nhalt\nfib:\ndup\npush 2\nlt\njumpif done\ndup\npush 1\nsub\ncall fib\nswap\npush 2\nsub\ncall fib\nadd\ndone:\nreturn\n";
    assert_eq!(run(fib, 0, 9), Some(34));
    let dynamic = ".params 2\nswap\npush 7\nstore\npush 7\nload\npush 3\npush 7\nstore\npush 7\nload\nadd\nadd\n";
    assert_eq!(run(dynamic, 10, 20), Some(33));
    assert_eq!(
        run(".params 2\n.state a 5\nload a\nadd\nadd\n", 1, 2),
        Some(8)
    );
    assert_eq!(run(".params 2\nload missing\n", 1, 2), None);
    assert_eq!(run(".params 2\npop\npop\n", 1, 2), None);
    assert_eq!(run(".params 2\ncall f\nf: call f\n", 1, 2), None);
}

#[test]
fn gas_is_coopvm_gas() {
    let c = assemble("sq.casm", ".params 2\ndup\nmul\neq\n").unwrap();
    let compiled = coopvm_stark::Compiled::new(&c, &Limits::default()).unwrap();
    assert_eq!(coopvm_stark::execute(&compiled, 49, 7).ok(), Some((1, 4)));
}

#[test]
fn limits_transient_memory_and_odd_exits() {
    // Transient memory is its own namespace and starts empty.
    assert_eq!(run(".params 2\n.state k 1\ntload k\n", 5, 6), None);
    assert_eq!(
        run(
            ".params 2\n.state k 1\ntstore k\ntload k\nload k\nadd\nadd\n",
            5,
            6
        ),
        Some(12)
    );
    assert_eq!(
        run(".params 2\npush 3\ntstore\npush 3\ntload\nadd\n", 5, 6),
        Some(11)
    );
    // Key limits.
    let limits = Limits {
        memory_keys: 2,
        transient_keys: 1,
        ..Limits::default()
    };
    let limited = |src: &str| {
        let c = assemble("t.casm", src).unwrap();
        let compiled = coopvm_stark::Compiled::new(&c, &limits).unwrap();
        coopvm_stark::execute(&compiled, 1, 2).ok().map(|(r, _)| r)
    };
    assert_eq!(limited(".params 2\nstore a\nstore b\npush 1\n"), Some(1));
    assert_eq!(
        limited(".params 2\nstore a\nstore b\npush 1\nstore c\npush 1\n"),
        None
    );
    assert_eq!(limited(".params 2\ntstore a\ntstore b\npush 1\n"), None);
    assert_eq!(
        limited(".params 2\npush 1\ntstore\ntstore a\npush 1\n"),
        None
    );
    assert_eq!(
        limited(".params 2\n.state a 1\n.state b 1\npush 5\nstore\npush 1\n"),
        None
    );
    // Stack room: unbounded growth by recursion fails.
    assert_eq!(run(".params 2\ncall f\nf: dup\ncall f\n", 1, 1), None);
    // Halt inside a subroutine; a call in the middle of a block.
    assert_eq!(run(".params 2\ncall f\nf: pop\nhalt\n", 1, 2), Some(1));
    assert_eq!(
        run(
            ".params 2\ncall sq\npush 1\nadd\ncall sq\nadd\nhalt\nsq: dup\nmul\nreturn\n",
            2,
            3
        ),
        Some(2 + 100)
    );
    // Keys are whole integers, not limbs.
    assert_eq!(
        run(".params 2\npush 1\npush 4294967296\nstore\npush 2\npush 1\nstore\npush 4294967296\nload\n", 0, 0),
        Some(1)
    );
}
