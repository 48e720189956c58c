//! The provable VM: proofs that a relation `f(public, private)` holds, checkable without
//! being given `private` separately.
//!
//! A relation is a function with two inputs (`.params 2`): it is evaluated with
//! `[public, private]` as its initial stack (private on top; see [`crate::coop`]) and holds
//! when it leaves a non-zero integer on top.
//!
//! [`ProvableVm`] is the interface; a [`Proof`] is an opaque, versioned envelope naming the
//! [`Backend`] that made it, so a succinct backend (a STARK, say) can be added as a new
//! backend without changing any caller: callers only move `Proof`s (or their bytes) between
//! `prove` and `verify`.
//!
//! A second backend, [`Backend::Stark`] (feature `stark`, off by default), makes succinct
//! STARK proofs of pure relations ([`CoopVm::prove_with`]); it is not zero-knowledge either.
//!
//! ## The witness backend: neither zero-knowledge nor succinct
//!
//! The default backend, [`Backend::Witness`], is a *witness* proof: the proof **contains
//! the private input in the clear** (so it is not zero-knowledge: anyone holding the proof
//! learns `private`), and verifying it **re-runs the relation** (so it is not succinct:
//! verification costs as much as evaluation). It is sound and complete:
//!
//! - **complete**: for every `private` with `evaluate(f, [public, private], g) = (true, _)`
//!   within the VM's [`CoopVm::proof_gas_limit`] `g`, `prove` returns a proof that verifies;
//! - **sound**: `verify(f, public, proof)` is true only if re-evaluating `f` on `public` and
//!   the proof's private input gives a true result (a non-zero integer) using exactly the gas
//!   the proof states, within the limit; and the proof carries a SHA-256 commitment to
//!   `(f, public, private, gas)`, so a proof made for one relation or public input does not
//!   verify for another, even where the same private input would satisfy both.
//!
//! ```
//! use coopvm_vmi::{CoopVm, CoopValue, Function, ProvableVm, Proof};
//! let vm = CoopVm::default();
//! // f(public, private) = private * private == public: a relation takes two inputs.
//! let f = CoopValue::Function(Function::assemble("sq.casm", ".params 2\ndup\nmul\neq\n").unwrap());
//! let proof = vm.prove(&f, &CoopValue::Int(49), &CoopValue::Int(7)).unwrap();
//! let bytes = proof.to_bytes();
//! let proof = Proof::from_bytes(&bytes).unwrap();
//! assert!(vm.verify(&f, &CoopValue::Int(49), &proof));
//! assert!(!vm.verify(&f, &CoopValue::Int(50), &proof));
//! assert!(vm.prove(&f, &CoopValue::Int(50), &CoopValue::Int(7)).is_err());
//! ```

use super::coop::{CallError, CoopValue, CoopVm, COOPVM_NUMBER};
use super::data::{DataDecodeError, DataValue};
use super::vm::Vm;
use coopvm_core::{ErrorKind, VmError};
use sha2::{Digest, Sha256};

/// The version of the [`Proof`] envelope this build writes and reads.
pub const PROOF_VERSION: i64 = 1;
/// The label that starts every encoded proof envelope.
pub const PROOF_LABEL: &[u8] = b"coopvm-proof";
/// The domain-separation label of the witness backend's commitment.
const WITNESS_DOMAIN: &[u8] = b"coopvm witness proof v1";

/// A proof system that can make and check [`Proof`]s.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// The private input in the clear with a commitment; verify re-evaluates. Neither
    /// zero-knowledge nor succinct.
    Witness,
    /// A STARK proof (`coopvm-stark`: the relation translated to the Miden VM and proved by
    /// it). Succinct, does not contain the private input, but NOT zero-knowledge (see
    /// [`CoopVm::prove_with`]). Only pure relations with integer inputs.
    Stark,
}

impl Backend {
    /// The backend's number in a proof envelope.
    pub const fn id(self) -> u64 {
        match self {
            Backend::Witness => 1,
            Backend::Stark => 2,
        }
    }

    /// The backend numbered `id`, if this build knows it.
    pub const fn from_id(id: u64) -> Option<Backend> {
        match id {
            1 => Some(Backend::Witness),
            2 => Some(Backend::Stark),
            _ => None,
        }
    }
}

/// A proof: an opaque payload and the number of the backend that made it.
///
/// Its byte form ([`Proof::to_bytes`]) is the canonical [`DataValue`] encoding of the list
/// `[b"coopvm-proof", PROOF_VERSION, backend, payload]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Proof {
    /// The backend's id ([`Backend::id`]); unknown ids never verify.
    pub backend: u64,
    /// Backend-specific bytes.
    pub payload: Vec<u8>,
}

/// Why bytes are not a proof envelope.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofDecodeError {
    /// The bytes are not a DataValue.
    #[error("{0}")]
    Data(#[from] DataDecodeError),
    /// The DataValue is not a proof envelope.
    #[error("not a coopvm proof envelope")]
    NotAProof,
    /// The envelope's version is not this build's.
    #[error("proof version {0} is not supported (this build reads version {PROOF_VERSION})")]
    Version(i64),
}

impl Proof {
    /// The canonical bytes of the envelope.
    pub fn to_bytes(&self) -> Vec<u8> {
        DataValue::List(vec![
            DataValue::Bytes(PROOF_LABEL.to_vec()),
            DataValue::Int(PROOF_VERSION),
            DataValue::Bytes(self.backend.to_be_bytes().to_vec()),
            DataValue::Bytes(self.payload.clone()),
        ])
        .to_bytes()
    }

    /// Parses an envelope (any backend id; verification rejects unknown ones).
    pub fn from_bytes(bytes: &[u8]) -> Result<Proof, ProofDecodeError> {
        let DataValue::List(items) = DataValue::from_bytes(bytes)? else {
            return Err(ProofDecodeError::NotAProof);
        };
        match items.as_slice() {
            [DataValue::Bytes(label), DataValue::Int(version), DataValue::Bytes(backend), DataValue::Bytes(payload)]
                if label == PROOF_LABEL =>
            {
                if *version != PROOF_VERSION {
                    return Err(ProofDecodeError::Version(*version));
                }
                let backend: [u8; 8] = backend
                    .as_slice()
                    .try_into()
                    .map_err(|_| ProofDecodeError::NotAProof)?;
                Ok(Proof {
                    backend: u64::from_be_bytes(backend),
                    payload: payload.clone(),
                })
            }
            _ => Err(ProofDecodeError::NotAProof),
        }
    }
}

/// Why no proof could be made: the relation does not hold for these inputs (or cannot run).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProveError {
    /// The relation could not be called on the inputs.
    #[error("cannot run the relation: {0}")]
    Call(#[from] CallError),
    /// The relation failed with a run-time error other than running out of gas.
    #[error("the relation failed: {0}")]
    Failed(VmError),
    /// The relation ran out of gas within the proof gas limit.
    #[error("the relation ran out of gas (limit {0})")]
    OutOfGas(u64),
    /// The relation ended with an empty stack.
    #[error("the relation left no result")]
    NoResult,
    /// The relation's result is false (zero).
    #[error("the relation does not hold (result {0})")]
    False(i64),
    /// The backend cannot prove this relation (an operation it does not support, an input
    /// it does not take) or is not in this build.
    #[error("the {backend} backend cannot prove this relation: {message}")]
    Backend {
        /// The backend's name.
        backend: &'static str,
        /// Why.
        message: String,
    },
}

/// A VM that can prove that relations written in it hold.
///
/// Laws: for a relation `f`, `verify(f, public, prove(f, public, private)?)` is true
/// (completeness), and `verify(f, public, p)` is true only if `p` was made by `prove(f,
/// public, private)` for a `private` that satisfies `f` (soundness).
pub trait ProvableVm: Vm {
    /// Proves that `f(public, private)` holds, or says why it cannot.
    fn prove(
        &self,
        f: &Self::Value,
        public: &Self::Value,
        private: &Self::Value,
    ) -> Result<Proof, ProveError>;

    /// Whether `proof` shows that `f(public, private)` holds for some `private`.
    fn verify(&self, f: &Self::Value, public: &Self::Value, proof: &Proof) -> bool;
}

impl Backend {
    /// The backend's name (`witness`, `stark`).
    pub const fn name(self) -> &'static str {
        match self {
            Backend::Witness => "witness",
            Backend::Stark => "stark",
        }
    }

    /// Whether this build can make and check the backend's proofs ([`Backend::Stark`] needs
    /// feature `stark`).
    pub const fn is_available(self) -> bool {
        match self {
            Backend::Witness => true,
            Backend::Stark => cfg!(feature = "stark"),
        }
    }
}

impl CoopVm {
    /// Runs the relation on the interpreter (the configured engine) and returns its gas and
    /// result if it holds.
    fn run_relation(
        &self,
        f: &CoopValue,
        public: &CoopValue,
        private: &CoopValue,
    ) -> Result<(i64, i64), ProveError> {
        let limit = self.proof_gas_limit.min(i64::MAX as u64);
        let out = self.call(f, &[public.clone(), private.clone()], limit)?;
        if let Err(e) = out.result {
            return Err(if e.kind == ErrorKind::OutOfGas {
                ProveError::OutOfGas(limit)
            } else {
                ProveError::Failed(e)
            });
        }
        let result = match out.stack.last() {
            None => return Err(ProveError::NoResult),
            Some(0) => return Err(ProveError::False(0)),
            Some(&r) => r,
        };
        let gas = i64::try_from(out.gas_used).map_err(|_| ProveError::OutOfGas(limit))?;
        Ok((gas, result))
    }

    /// Proves that `f(public, private)` holds with the given backend
    /// ([`ProvableVm::prove`] is `prove_with(Backend::Witness, ..)`).
    ///
    /// [`Backend::Stark`] proves pure relations (no host or system operations, no string
    /// constants, `.params 2`, integer inputs; `pick N` up to 7) and refuses anything else
    /// with [`ProveError::Backend`] naming the instruction. Its proof is succinct (verifying
    /// does not re-run the relation) and does not contain the private input, but it is
    /// **not zero-knowledge**: the STARK is not blinded, so it can leak partial information
    /// about the private input. It binds the relation, the public input, the result and the
    /// gas, which equals the interpreter's.
    ///
    /// Without feature `stark` it returns [`ProveError::Backend`] saying so.
    ///
    /// ```
    /// use coopvm_vmi::{Backend, CoopValue, CoopVm, Function, ProvableVm};
    /// let vm = CoopVm::default();
    /// let f = CoopValue::Function(Function::assemble("sq", ".params 2\ndup\nmul\neq\n").unwrap());
    /// let proved = vm.prove_with(Backend::Stark, &f, &CoopValue::Int(49), &CoopValue::Int(7));
    /// if Backend::Stark.is_available() {
    ///     let proof = proved.unwrap();
    ///     assert_eq!(proof.backend, Backend::Stark.id());
    ///     assert!(vm.verify(&f, &CoopValue::Int(49), &proof));
    ///     assert!(!vm.verify(&f, &CoopValue::Int(36), &proof));
    /// } else {
    ///     assert!(proved.unwrap_err().to_string().contains("feature `stark`"));
    /// }
    /// ```
    pub fn prove_with(
        &self,
        backend: Backend,
        f: &CoopValue,
        public: &CoopValue,
        private: &CoopValue,
    ) -> Result<Proof, ProveError> {
        match backend {
            Backend::Witness => self.prove_witness(f, public, private),
            Backend::Stark => self.prove_stark(f, public, private),
        }
    }

    #[cfg(feature = "stark")]
    fn prove_stark(
        &self,
        f: &CoopValue,
        public: &CoopValue,
        private: &CoopValue,
    ) -> Result<Proof, ProveError> {
        let refuse = |message: String| ProveError::Backend {
            backend: Backend::Stark.name(),
            message,
        };
        let CoopValue::Function(function) = f else {
            return Err(ProveError::Call(CallError::NotAFunction));
        };
        let params = function.contract().params;
        if params != 2 {
            return Err(ProveError::Call(CallError::Arity { params, given: 2 }));
        }
        // Refuse what the backend does not prove before running anything.
        let compiled = coopvm_stark::Compiled::cached(function.contract(), &self.limits).map_err(
            |e| match e {
                coopvm_stark::StarkError::Verify(e) => ProveError::Call(CallError::Verify(e)),
                e => refuse(e.to_string()),
            },
        )?;
        let (CoopValue::Int(public_int), CoopValue::Int(private_int)) = (public, private) else {
            return Err(refuse("it takes integer inputs only".into()));
        };
        let (gas, result) = self.run_relation(f, public, private)?;
        let proof = coopvm_stark::prove_compiled(&compiled, *public_int, *private_int, gas as u64)
            .map_err(|e| refuse(e.to_string()))?;
        if proof.gas != gas as u64 || proof.result != result {
            return Err(refuse(format!(
                "internal error: the proved execution (result {}, gas {}) disagrees with the interpreter (result {result}, gas {gas})",
                proof.result, proof.gas
            )));
        }
        Ok(Proof {
            backend: Backend::Stark.id(),
            payload: proof.to_bytes(),
        })
    }

    #[cfg(not(feature = "stark"))]
    fn prove_stark(
        &self,
        _f: &CoopValue,
        _public: &CoopValue,
        _private: &CoopValue,
    ) -> Result<Proof, ProveError> {
        Err(ProveError::Backend {
            backend: Backend::Stark.name(),
            message: "this build has no STARK prover: build with feature `stark` (coopvm-vmi's, or the coopvm command's: `cargo build --release --features stark`)".into(),
        })
    }

    #[cfg(feature = "stark")]
    fn verify_stark(&self, f: &CoopValue, public: &CoopValue, payload: &[u8]) -> bool {
        let (CoopValue::Function(function), CoopValue::Int(public)) = (f, public) else {
            return false;
        };
        let Ok(proof) = coopvm_stark::StarkProof::from_bytes(payload) else {
            return false;
        };
        proof.gas <= self.proof_gas_limit
            && proof.result != 0
            && coopvm_stark::verify(function.contract(), &self.limits, *public, &proof).is_ok()
    }

    #[cfg(not(feature = "stark"))]
    fn verify_stark(&self, _f: &CoopValue, _public: &CoopValue, _payload: &[u8]) -> bool {
        false
    }

    fn prove_witness(
        &self,
        f: &CoopValue,
        public: &CoopValue,
        private: &CoopValue,
    ) -> Result<Proof, ProveError> {
        let (gas, _) = self.run_relation(f, public, private)?;
        let private_data = self.encode(private);
        let commitment = self.commitment(f, public, &private_data, gas);
        let payload = DataValue::List(vec![
            private_data,
            DataValue::Int(gas),
            DataValue::Bytes(commitment),
        ])
        .to_bytes();
        Ok(Proof {
            backend: Backend::Witness.id(),
            payload,
        })
    }

    /// The witness commitment: SHA-256 of the canonical bytes of
    /// `[domain, vm, f, public, private, gas]`.
    fn commitment(
        &self,
        f: &CoopValue,
        public: &CoopValue,
        private: &DataValue,
        gas: i64,
    ) -> Vec<u8> {
        let committed = DataValue::List(vec![
            DataValue::Bytes(WITNESS_DOMAIN.to_vec()),
            DataValue::Bytes(COOPVM_NUMBER.to_be_bytes().to_vec()),
            self.encode(f),
            self.encode(public),
            private.clone(),
            DataValue::Int(gas),
        ]);
        Sha256::digest(committed.to_bytes()).to_vec()
    }

    fn verify_witness(&self, f: &CoopValue, public: &CoopValue, payload: &[u8]) -> Option<()> {
        let DataValue::List(items) = DataValue::from_bytes(payload).ok()? else {
            return None;
        };
        let [private_data, DataValue::Int(gas), DataValue::Bytes(commitment)] = items.as_slice()
        else {
            return None;
        };
        let gas_u = u64::try_from(*gas).ok()?;
        if gas_u > self.proof_gas_limit {
            return None;
        }
        if self.commitment(f, public, private_data, *gas) != *commitment {
            return None;
        }
        let private = self.decode(private_data)?;
        let (result, used) = self.evaluate(f, &[public.clone(), private], gas_u);
        (result.is_some_and(|r| r.is_true()) && used == gas_u).then_some(())
    }
}

impl ProvableVm for CoopVm {
    fn prove(
        &self,
        f: &CoopValue,
        public: &CoopValue,
        private: &CoopValue,
    ) -> Result<Proof, ProveError> {
        self.prove_witness(f, public, private)
    }

    fn verify(&self, f: &CoopValue, public: &CoopValue, proof: &Proof) -> bool {
        match Backend::from_id(proof.backend) {
            Some(Backend::Witness) => self.verify_witness(f, public, &proof.payload).is_some(),
            Some(Backend::Stark) => self.verify_stark(f, public, &proof.payload),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Function;

    fn square() -> CoopValue {
        CoopValue::Function(Function::assemble("sq.casm", ".params 2\ndup\nmul\neq\n").unwrap())
    }

    #[test]
    fn envelope_round_trip_and_errors() {
        let p = Proof {
            backend: 9,
            payload: vec![1, 2],
        };
        assert_eq!(Proof::from_bytes(&p.to_bytes()), Ok(p));
        assert!(matches!(
            Proof::from_bytes(b"junk"),
            Err(ProofDecodeError::Data(_))
        ));
        assert_eq!(
            Proof::from_bytes(&DataValue::Int(1).to_bytes()),
            Err(ProofDecodeError::NotAProof)
        );
        let v2 = DataValue::List(vec![
            DataValue::Bytes(PROOF_LABEL.to_vec()),
            DataValue::Int(2),
            DataValue::Bytes(vec![0; 8]),
            DataValue::Bytes(vec![]),
        ]);
        assert_eq!(
            Proof::from_bytes(&v2.to_bytes()),
            Err(ProofDecodeError::Version(2))
        );
        let short_backend = DataValue::List(vec![
            DataValue::Bytes(PROOF_LABEL.to_vec()),
            DataValue::Int(1),
            DataValue::Bytes(vec![0; 7]),
            DataValue::Bytes(vec![]),
        ]);
        assert_eq!(
            Proof::from_bytes(&short_backend.to_bytes()),
            Err(ProofDecodeError::NotAProof)
        );
    }

    #[test]
    fn unknown_backend_never_verifies() {
        let vm = CoopVm::default();
        let mut p = vm
            .prove(&square(), &CoopValue::Int(9), &CoopValue::Int(3))
            .unwrap();
        assert!(vm.verify(&square(), &CoopValue::Int(9), &p));
        p.backend = 3;
        assert!(!vm.verify(&square(), &CoopValue::Int(9), &p));
        // A witness payload under the STARK backend's id is no STARK proof.
        p.backend = Backend::Stark.id();
        assert!(!vm.verify(&square(), &CoopValue::Int(9), &p));
        assert_eq!(Backend::from_id(1), Some(Backend::Witness));
    }

    #[test]
    fn prove_errors() {
        let vm = CoopVm::default();
        let pub9 = CoopValue::Int(9);
        assert_eq!(
            vm.prove(&square(), &pub9, &CoopValue::Int(2)),
            Err(ProveError::False(0))
        );
        assert!(matches!(
            vm.prove(&CoopValue::Int(1), &pub9, &CoopValue::Int(3)),
            Err(ProveError::Call(CallError::NotAFunction))
        ));
        let pop = CoopValue::Function(Function::assemble("p", ".params 2\npop\npop\n").unwrap());
        assert_eq!(
            vm.prove(&pop, &pub9, &CoopValue::Int(3)),
            Err(ProveError::NoResult)
        );
        let div = CoopValue::Function(Function::assemble("d", ".params 2\ndiv\n").unwrap());
        assert!(matches!(
            vm.prove(&div, &pub9, &CoopValue::Int(0)),
            Err(ProveError::Failed(e)) if e.kind == ErrorKind::DivisionByZero
        ));
        let tight = CoopVm {
            proof_gas_limit: 3,
            ..CoopVm::default()
        };
        assert_eq!(
            tight.prove(&square(), &pub9, &CoopValue::Int(3)),
            Err(ProveError::OutOfGas(3))
        );
        // A function that does not take [public, private] cannot be a relation.
        let one = CoopValue::Function(Function::assemble("o", ".params 1\npush 1\n").unwrap());
        assert_eq!(
            vm.prove(&one, &pub9, &CoopValue::Int(3)),
            Err(ProveError::Call(CallError::Arity {
                params: 1,
                given: 2
            }))
        );
    }

    /// A proof forged with a correct commitment (anyone can compute SHA-256) but a private
    /// input that does not satisfy the relation, or a false gas claim, does not verify.
    #[test]
    fn forged_proofs_with_valid_commitments_fail() {
        let vm = CoopVm::default();
        let public = CoopValue::Int(49);
        let forge = |private: i64, gas: i64| {
            let private = DataValue::Int(private);
            let commitment = vm.commitment(&square(), &public, &private, gas);
            Proof {
                backend: Backend::Witness.id(),
                payload: DataValue::List(vec![
                    private,
                    DataValue::Int(gas),
                    DataValue::Bytes(commitment),
                ])
                .to_bytes(),
            }
        };
        // The honest proof is exactly what the forger computes for the true witness.
        let honest = vm.prove(&square(), &public, &CoopValue::Int(7)).unwrap();
        assert_eq!(forge(7, 4), honest);
        assert!(vm.verify(&square(), &public, &forge(7, 4)));
        assert!(!vm.verify(&square(), &public, &forge(6, 4)));
        assert!(!vm.verify(&square(), &public, &forge(7, 5)));
        assert!(!vm.verify(&square(), &public, &forge(7, 3)));
        assert!(!vm.verify(&square(), &public, &forge(7, -1)));
        // A private input that is not a coopvm value (a coopvm FunctionV that is no contract).
        let bad_private = DataValue::FunctionV {
            vm: COOPVM_NUMBER,
            code: vec![0],
        };
        let commitment = vm.commitment(&square(), &public, &bad_private, 4);
        let p = Proof {
            backend: Backend::Witness.id(),
            payload: DataValue::List(vec![
                bad_private,
                DataValue::Int(4),
                DataValue::Bytes(commitment),
            ])
            .to_bytes(),
        };
        assert!(!vm.verify(&square(), &public, &p));
        // Payloads of the wrong shape.
        for payload in [
            b"junk".to_vec(),
            DataValue::Int(1).to_bytes(),
            DataValue::List(vec![DataValue::Int(7)]).to_bytes(),
        ] {
            let p = Proof {
                backend: Backend::Witness.id(),
                payload,
            };
            assert!(!vm.verify(&square(), &public, &p));
        }
    }

    #[test]
    fn verifier_gas_limit_caps_claimed_gas() {
        let vm = CoopVm::default();
        let p = vm
            .prove(&square(), &CoopValue::Int(9), &CoopValue::Int(3))
            .unwrap();
        // The relation uses 4 gas (dup, mul (2), eq; its inputs are free); a verifier
        // allowing less rejects.
        let tight = CoopVm {
            proof_gas_limit: 3,
            ..CoopVm::default()
        };
        assert!(!tight.verify(&square(), &CoopValue::Int(9), &p));
        let enough = CoopVm {
            proof_gas_limit: 4,
            ..CoopVm::default()
        };
        assert!(enough.verify(&square(), &CoopValue::Int(9), &p));
    }
}
