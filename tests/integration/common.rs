//! Helpers shared by the end-to-end tests.

use coopvm::load;
use coopvm::{Limits, Verified};
use std::path::PathBuf;

/// The marker (in its comments: "Not runnable with `coopvm run`") of an example that is not a contract to `run` (a relation for `prove`, which
/// starts with its inputs on the stack).
const NOT_RUNNABLE: &str = "Not runnable with";

/// Every example that `coopvm run` can run (in `examples/` and its subdirectories), verified
/// with the default limits, named by their path under `examples/`.
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
