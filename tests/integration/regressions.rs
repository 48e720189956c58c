//! Saved differential cases: every `.casm` file under `tests/regressions/` (what the fuzz
//! campaigns found, minimised, and hand-written cases of the bug classes other VMs shipped)
//! is replayed by the same check the `differential` fuzz target runs (`fuzz/src/case.rs`,
//! included here): every engine agrees with the interpreter at every gas limit of the
//! sweep, and the gas laws hold. Cases of bugs not fixed yet live under
//! `tests/regressions/open/`, replayed by an ignored test
//! (`cargo test --test integration regressions -- --ignored`).

#[allow(dead_code)]
#[path = "../../fuzz/src/case.rs"]
mod case;

use std::path::{Path, PathBuf};

fn cases(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "casm"))
        .collect();
    out.sort();
    out
}

/// Replays every case in `dir`; returns the failures' reports.
fn replay(dir: &str) -> (usize, Vec<String>) {
    let files = cases(dir);
    let mut failures = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("readable");
        let case = case::Case::from_casm(&text)
            .unwrap_or_else(|e| panic!("{}: not a case: {e}", path.display()));
        let v = case
            .verified()
            .unwrap_or_else(|| panic!("{}: the case does not verify", path.display()));
        match case::check_verified(&case, &v) {
            Ok(checked) => assert!(checked.runs > 1, "{}", path.display()),
            Err(report) => failures.push(format!("{}:\n{report}", path.display())),
        }
    }
    (files.len(), failures)
}

#[test]
fn saved_cases_agree_on_every_engine_at_every_gas_limit() {
    let (n, failures) = replay("tests/regressions");
    assert!(n >= 4, "only {n} saved cases");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
#[ignore = "bugs found by fuzzing and not fixed yet: see tests/regressions/open/"]
fn open_cases_agree_on_every_engine_at_every_gas_limit() {
    let (_, failures) = replay("tests/regressions/open");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A saved case survives its text form, its header sets the host, inputs, limits, context
/// and gas, and its check runs the reference run and every smaller limit.
#[test]
fn the_case_format_round_trips_and_the_gas_laws_are_checked() {
    let text = "; coopvm differential case\n; host: failing kind=not_found after=1 charge=7\n\
        ; args: 3, s:did:key:bob\n; limits: stack=9 call_depth=2 memory_keys=1 transient_keys=1 code_len=100\n\
        ; ctx: caller=did:key:alice cooperative=makers timestamp=5 block=7 reputation=0 permissions=member,governance\n\
        ; gas: 5000\n.contract gen\n.params 2\npop\npop\nhalt\n";
    let case = case::Case::from_casm(text).unwrap();
    assert_eq!(case.to_casm(), text);
    assert_eq!(case.args.len(), 2);
    assert_eq!(case.limits.stack, 9);
    assert_eq!(
        case.host,
        case::HostKind::Failing {
            kind: coopvm::ErrorKind::NotFound,
            after: 1,
            charge: 7
        }
    );
    let checked = case::check(&case).unwrap();
    // push, push of the inputs are not instructions: pop, pop, halt is one block of 3.
    assert_eq!(checked.gas_used, 3);
    assert_eq!(checked.runs, 1 + 5, "the reference run and limits 0 to 4");
    assert!(case::Case::from_casm("; host: nowhere\n").is_err());
    assert!(case::Case::from_casm("; limits: stack=x\n").is_err());
}
