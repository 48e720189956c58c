//! Helpers shared by the end-to-end tests.

use coopvm::load;
use coopvm::{Limits, Verified};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The marker (in its comments: "Not runnable with `coopvm run`") of an example that is not a contract to `run` (a relation for `prove`, which
/// starts with its inputs on the stack).
const NOT_RUNNABLE: &str = "Not runnable with";

/// The inputs an example declares for a run: its `; args: 40,2` comment line (the syntax of
/// `coopvm run --args`), or none. `name` is the path under `examples/`.
pub fn example_args(name: &str) -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    text.lines()
        .find_map(|l| l.trim().strip_prefix("; args:"))
        .map(|a| a.trim().split(',').map(|v| v.trim().to_owned()).collect())
        .unwrap_or_default()
}

/// [`example_args`] as run inputs.
pub fn example_inputs(name: &str) -> Vec<coopvm::Arg> {
    example_args(name)
        .iter()
        .map(|v| match v.strip_prefix("s:") {
            Some(s) => coopvm::Arg::from(s),
            None => coopvm::Arg::Int(v.parse().unwrap_or_else(|_| panic!("{name}: `{v}`"))),
        })
        .collect()
}

/// Every example that `coopvm run` can run (in `examples/` and its subdirectories), verified
/// with the default limits, named by their path under `examples/`; one with `.params` runs
/// with its [`example_inputs`].
/// An example that fails to load or verify without saying it is not runnable fails the test.
pub fn runnable_examples() -> Vec<(String, Verified)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files = Vec::new();
    let mut dirs = vec![dir.clone()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).expect("examples/") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "casm") {
                files.push(path);
            }
        }
    }
    files.sort();
    let runnable: Vec<(String, Verified)> = files
        .into_iter()
        .filter(|p| {
            !std::fs::read_to_string(p)
                .expect("example is text")
                .contains(NOT_RUNNABLE)
        })
        .map(|p| {
            let name = p.strip_prefix(&dir).unwrap().to_string_lossy().into_owned();
            let v = load::from_path(&p)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .verify(&Limits::default())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, v)
        })
        .collect();
    assert!(runnable.len() >= 5, "examples went missing");
    runnable
}

/// Runs the built `coopvm` binary with `args`.
pub fn coopvm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_coopvm"))
        .args(args)
        .output()
        .expect("the coopvm binary runs")
}

/// Runs `coopvm verify RELATION --public PUBLIC --proof PROOF` followed by `extra` (for
/// example `["--gas-limit", "3"]`).
pub fn verify(relation: &str, public: &str, proof: &Path, extra: &[&str]) -> Output {
    let proof = proof.to_str().expect("a UTF-8 scratch path");
    let mut args = vec!["verify", relation, "--public", public, "--proof", proof];
    args.extend_from_slice(extra);
    coopvm(&args)
}

/// The path of `name` under `examples/`.
pub fn example(name: &str) -> String {
    format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A fresh, empty scratch directory for test `test` of module `module`.
pub fn scratch(module: &str, test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{module}_{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
