//! coopvm: a deterministic, gas-metered virtual machine for cooperative smart contracts.
//!
//! This is the crate an embedder depends on. It gathers the workspace's libraries under one
//! name and pulls in no command-line dependencies:
//!
//! - everything of `coopvm-core` at the top level: the instruction table ([`isa`]), the
//!   assembler ([`asm`]), loading ([`load`]), the verifier ([`verify()`]), the codec
//!   ([`codec`]), the [`Host`] trait and the run protocol ([`run`]);
//! - the engines: [`interp`] (the reference interpreter) and [`jit`] (Cranelift), chosen
//!   through [`Engine`], with [`tier`]ing and [`observe`] (logs and metrics);
//! - the cooperative world: [`domain`] ([`domain::CoopHost`]) and its redb [`store`];
//! - the VM interface of the protocol: [`vmi`] (encode / decode / evaluate, prove / verify).
//!
//! ```
//! use coopvm::{domain::CoopHost, load, Engine, ExecutionContext, Limits};
//! let v = load::from_source("hello.casm", "push 40\npush 2\nadd\n")
//!     .unwrap()
//!     .verify(&Limits::default())
//!     .unwrap();
//! let ctx = ExecutionContext::default();
//! let out = CoopHost::new().execute(&v, &ctx, 1_000, &Engine::Auto);
//! assert_eq!(out.stack, vec![42]);
//! ```

pub use coopvm_core::*;
pub use coopvm_domain as domain;
pub use coopvm_domain::store;
pub use coopvm_engine::{observe, tier, Engine};
pub use coopvm_interp as interp;
pub use coopvm_jit as jit;
pub use coopvm_vmi as vmi;
