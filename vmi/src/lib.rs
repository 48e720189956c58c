//! The VM as the protocol sees it: functions and data as [`DataValue`]s, and a VM as the
//! three functions encode, decode and evaluate ([`Vm`]), named by a number in a
//! [`Registry`]; plus the provable VM ([`ProvableVm`]: prove and verify relations).
//!
//! - [`data`]: [`DataValue`] and its canonical bytes (`docs/datavalue.md`);
//! - [`vm`]: the [`Vm`] trait, [`DynVm`] trait objects and the [`Registry`];
//! - [`coop`]: coopvm's implementation ([`CoopVm`], number [`COOPVM_NUMBER`]);
//! - [`prove`]: [`ProvableVm`], [`Proof`] envelopes and the witness backend (sound and
//!   complete, but neither zero-knowledge nor succinct).
//!
//! See `docs/vmi.md` for the design.

pub mod coop;
pub mod data;
pub mod prove;
pub mod vm;

#[cfg(all(test, feature = "stark"))]
mod stark_tests;

pub use coop::{
    CallError, CoopValue, CoopVm, EvalHost, Foreign, Function, FunctionError, COOPVM_NUMBER,
    DEFAULT_CALLER,
};
pub use data::{DataDecodeError, DataValue};
pub use prove::{Backend, Proof, ProofDecodeError, ProvableVm, ProveError};
pub use vm::{DynVm, Registry, RegistryError, Vm};
