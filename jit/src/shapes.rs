//! Contract shapes, as assembly source, whose compile cost the JIT is measured and tested
//! on: the `compile_scaling` example, the unit tests of the compile budget and the
//! `compile` benches all build them here, so their figures are of the same programs.
//!
//! ```
//! use coopvm_core::{asm::assemble, verify, Limits};
//! use coopvm_jit::shapes::{chain, hundred, subs};
//! for (src, len) in [(hundred(100), 102), (chain(50), 100), (subs(50), 101)] {
//!     let v = verify(assemble("shape", &src).unwrap(), &Limits::default()).unwrap();
//!     assert_eq!(v.contract().program.code.len(), len);
//!     assert!(coopvm_jit::compile(&v).is_ok());
//! }
//! ```

/// About `n` instructions of straight-line arithmetic and branches: `n / 10` blocks of
/// `push i; add; dup; store k(i mod 16); dup; push 3; mod; jumpif; push 2; mul`, between a
/// `push 1` and a `halt` (`n / 10 * 10 + 2` instructions).
pub fn hundred(n: usize) -> String {
    let mut s = String::from("push 1\n");
    for i in 0..n / 10 {
        s.push_str(&format!(
            "push {i}\nadd\ndup\nstore k{}\ndup\npush 3\nmod\njumpif s{i}\npush 2\nmul\ns{i}:\n",
            i % 16
        ));
    }
    s.push_str("halt\n");
    s
}

/// A chain of `n` `jumpif` blocks (`push 1; jumpif` to the next line; `2 n` instructions):
/// many small blocks, each with a branch.
pub fn chain(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!("push 1\njumpif l{i}\nl{i}:\n"));
    }
    s
}

/// `n` one-instruction subroutines, each called once from main (`2 n + 1` instructions):
/// many return sites and call-stack checks.
pub fn subs(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!("call f{i}\n"));
    }
    s.push_str("halt\n");
    for i in 0..n {
        s.push_str(&format!("f{i}: return\n"));
    }
    s
}
