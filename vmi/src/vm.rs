//! The VM interface ([`Vm`]: encode, decode, evaluate) and the [`Registry`] that names VMs
//! by number.
//!
//! A protocol component holds functions and data as [`DataValue`]s. A function is a
//! [`DataValue::FunctionV`] carrying the number of the VM that evaluates it; the registry maps
//! that number to the VM, so a component can evaluate any registered function without knowing
//! which VM it was written for:
//!
//! ```
//! use coopvm_vmi::{DataValue, Registry, CoopVm, Vm, CoopValue, Function, COOPVM_NUMBER};
//! let vm = CoopVm::default();
//! let f = Function::assemble("add.casm", ".params 2\nadd\n").unwrap();
//! let f = vm.encode(&CoopValue::Function(f));
//! let registry = Registry::standard();
//! let (result, gas) = registry.evaluate(&f, &[DataValue::Int(40), DataValue::Int(2)], 100);
//! assert_eq!(result, Some(DataValue::Int(42)));
//! assert_eq!(gas, 1); // the add (the arguments are the function's inputs: free)
//! assert!(registry.get(COOPVM_NUMBER).is_some());
//! ```

use super::data::DataValue;
use std::collections::BTreeMap;
use std::fmt::Debug;

/// A virtual machine: a way to represent functions, defined by encode, decode and evaluate.
///
/// Laws every implementation must keep (checked for coopvm in `tests/integration/vmi.rs`):
/// - `decode(&encode(&x)) == Some(x)` for every internal value `x`;
/// - `encode(&decode(&d)?) == d` for every `d` that decodes;
/// - `evaluate` is a pure function of its arguments (same result and gas on every run and
///   every engine), and its gas never exceeds `gas_limit`.
pub trait Vm {
    /// The VM's internal representation of functions and data.
    type Value: Clone + PartialEq + Debug;

    /// The number this VM is registered under.
    fn number(&self) -> u64;

    /// A short human name.
    fn name(&self) -> &'static str;

    /// Encodes an internal value; functions become [`DataValue::FunctionV`] with this VM's
    /// number.
    fn encode(&self, value: &Self::Value) -> DataValue;

    /// Decodes a [`DataValue`], or `None` if it is not a valid representation. A `FunctionV`
    /// of another VM decodes as data (it can be carried, not evaluated).
    fn decode(&self, data: &DataValue) -> Option<Self::Value>;

    /// Calls `f` on `args` with at most `gas_limit` gas; returns the result (`None` if the
    /// call fails, runs out of gas, or `f` is not a function of this VM) and the gas used.
    fn evaluate(
        &self,
        f: &Self::Value,
        args: &[Self::Value],
        gas_limit: u64,
    ) -> (Option<Self::Value>, u64);
}

/// A [`Vm`] seen through [`DataValue`]s only, so VMs with different internal types can live
/// in one [`Registry`] as trait objects. Every [`Vm`] is a `DynVm`.
pub trait DynVm: Send + Sync {
    /// The number this VM is registered under.
    fn number(&self) -> u64;
    /// A short human name.
    fn name(&self) -> &'static str;
    /// Whether `data` decodes under this VM.
    fn accepts(&self, data: &DataValue) -> bool;
    /// Decodes `f` and `args`, evaluates, and encodes the result. Anything that does not
    /// decode gives `(None, 0)`.
    fn evaluate_data(
        &self,
        f: &DataValue,
        args: &[DataValue],
        gas_limit: u64,
    ) -> (Option<DataValue>, u64);
}

impl<V: Vm + Send + Sync> DynVm for V {
    fn number(&self) -> u64 {
        Vm::number(self)
    }

    fn name(&self) -> &'static str {
        Vm::name(self)
    }

    fn accepts(&self, data: &DataValue) -> bool {
        self.decode(data).is_some()
    }

    fn evaluate_data(
        &self,
        f: &DataValue,
        args: &[DataValue],
        gas_limit: u64,
    ) -> (Option<DataValue>, u64) {
        let Some(f) = self.decode(f) else {
            return (None, 0);
        };
        let Some(args) = args
            .iter()
            .map(|a| self.decode(a))
            .collect::<Option<Vec<_>>>()
        else {
            return (None, 0);
        };
        let (result, gas) = self.evaluate(&f, &args, gas_limit);
        (result.map(|r| self.encode(&r)), gas)
    }
}

/// Why a VM could not be registered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// Another VM already has this number.
    #[error("VM number {number} is already registered (to {existing})")]
    Taken {
        /// The number.
        number: u64,
        /// The name of the VM holding it.
        existing: &'static str,
    },
}

/// Maps VM numbers to VM implementations.
#[derive(Default)]
pub struct Registry {
    vms: BTreeMap<u64, Box<dyn DynVm>>,
}

impl Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.vms.iter().map(|(n, vm)| (n, vm.name())))
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// A registry holding coopvm (with its default configuration) under
    /// [`super::COOPVM_NUMBER`].
    pub fn standard() -> Self {
        let mut r = Registry::new();
        r.register(Box::new(super::CoopVm::default()))
            .expect("an empty registry has every number free");
        r
    }

    /// Registers `vm` under its number.
    pub fn register(&mut self, vm: Box<dyn DynVm>) -> Result<(), RegistryError> {
        let number = vm.number();
        if let Some(existing) = self.vms.get(&number) {
            return Err(RegistryError::Taken {
                number,
                existing: existing.name(),
            });
        }
        self.vms.insert(number, vm);
        Ok(())
    }

    /// The VM registered under `number`.
    pub fn get(&self, number: u64) -> Option<&dyn DynVm> {
        self.vms.get(&number).map(|b| b.as_ref())
    }

    /// The registered numbers, ascending.
    pub fn numbers(&self) -> impl Iterator<Item = u64> + '_ {
        self.vms.keys().copied()
    }

    /// Evaluates the function `f` with the VM its [`DataValue::FunctionV`] names. Anything
    /// that is not a function of a registered VM gives `(None, 0)`.
    pub fn evaluate(
        &self,
        f: &DataValue,
        args: &[DataValue],
        gas_limit: u64,
    ) -> (Option<DataValue>, u64) {
        match f {
            DataValue::FunctionV { vm, .. } => match self.get(*vm) {
                Some(vm) => vm.evaluate_data(f, args, gas_limit),
                None => (None, 0),
            },
            _ => (None, 0),
        }
    }
}
