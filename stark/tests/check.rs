//! What the backend refuses, and the proof format, without the prover (these run in every
//! build; proving and verifying are tested with feature `miden`).

use coopvm_core::{asm::assemble, Limits};
use coopvm_stark::{check, StarkError, StarkProof, Unsupported, LABEL};

fn checked(src: &str) -> Result<(), StarkError> {
    check(&assemble("t.casm", src).unwrap(), &Limits::default())
}

/// The refusal for `src`, which must name an instruction.
fn refused_instruction(src: &str) -> (u32, &'static str, String) {
    match checked(src) {
        Err(StarkError::Unsupported(e @ Unsupported::Instruction { pc, mnemonic, .. })) => {
            (pc, mnemonic, e.to_string())
        }
        other => panic!("{src}: {other:?}"),
    }
}

#[test]
fn pure_relations_pass() {
    for src in [
        ".params 2\ndup\nmul\neq\n",
        ".params 2\ncall f\nhalt\nf: dup\nadd\nreturn\n",
        ".params 2\n.state a 3\nload a\nadd\npush 5\npush 6\nstore\npush 6\ntload\n",
        ".params 2\npush 1\npush 1\npush 1\npush 1\npush 1\npush 1\npick 7\n",
    ] {
        checked(src).unwrap_or_else(|e| panic!("{src}: {e}"));
    }
}

#[test]
fn host_operations_are_refused_by_name() {
    let (pc, mnemonic, message) = refused_instruction(".params 2\nadd\ndup\nlog\n");
    assert_eq!((pc, mnemonic), (2, "log"));
    assert!(
        message.contains("`log`") && message.contains("host"),
        "{message}"
    );
    let (_, mnemonic, _) = refused_instruction(".params 2\npop\npop\ngetcaller\n");
    assert_eq!(mnemonic, "getcaller");
    // Unreachable host operations do not matter.
    checked(".params 2\nadd\nhalt\nlog\n").unwrap();
}

#[test]
fn strings_and_deep_picks_are_refused() {
    let (_, mnemonic, message) = refused_instruction(".params 2\npop\npush \"x\"\n");
    assert_eq!(mnemonic, "push");
    assert!(message.contains("string"), "{message}");
    let (_, mnemonic, _) = refused_instruction(
        ".params 2\npush 1\npush 1\npush 1\npush 1\npush 1\npush 1\npush 1\npick 8\n",
    );
    assert_eq!(mnemonic, "pick");
}

#[test]
fn contract_features_are_refused() {
    for (src, word) in [
        (".params 2\n.permission admin\nadd\n", "permission"),
        (".params 1\n", "two inputs"),
        (".params 3\nadd\nadd\n", "two inputs"),
    ] {
        match checked(src) {
            Err(StarkError::Unsupported(e @ Unsupported::Contract(_))) => {
                assert!(e.to_string().contains(word), "{e}")
            }
            other => panic!("{src}: {other:?}"),
        }
    }
    // A relation that does not verify is refused as such.
    assert!(matches!(
        checked(".params 2\nadd\nadd\n"),
        Err(StarkError::Verify(_))
    ));
}

#[test]
fn proof_bytes_round_trip_and_garbage_is_an_error() {
    let proof = StarkProof {
        relation: [7; 32],
        result: -3,
        gas: 12,
        stark: vec![1, 2, 3],
    };
    let bytes = proof.to_bytes();
    assert!(bytes.starts_with(LABEL));
    assert_eq!(StarkProof::from_bytes(&bytes).unwrap(), proof);
    // Every truncation before the STARK part, junk and another label are errors.
    for n in 0..LABEL.len() + 48 {
        assert!(matches!(
            StarkProof::from_bytes(&bytes[..n]),
            Err(StarkError::Invalid(_))
        ));
    }
    for junk in [&b"junk"[..], b"", &[0xff; 200]] {
        assert!(StarkProof::from_bytes(junk).is_err());
    }
    let mut other = bytes.clone();
    other[0] ^= 1;
    assert!(StarkProof::from_bytes(&other).is_err());
}
