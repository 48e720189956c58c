//! coopvm's integration tests, as one test binary: Cranelift and redb are linked once, not
//! once per file. Each module is one area; `cargo test --test integration MODULE::` runs one
//! of them (for example `cargo test --test integration trace::`).
//!
//! Expected outputs live beside this directory: the golden traces in `tests/golden/`, and
//! proptest's saved failing cases in `tests/proptest-regressions/` (where proptest looks for
//! the modules of a crate rooted at `tests/integration/main.rs`).

mod common;

mod cli;
mod concurrency;
mod crash;
mod differential;
mod domain_engines;
mod garbage;
mod governance;
mod hardening;
mod identity;
mod jit_cli;
mod logs;
mod persistence;
mod regressions;
mod stark_cli;
mod stats;
mod step;
mod trace;
mod vmi;
mod vmi_cli;
