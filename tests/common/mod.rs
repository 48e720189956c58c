//! Helpers shared by the end-to-end tests.

use coopvm::core::{Limits, Verified};
use coopvm::load;
use std::path::PathBuf;

/// The marker (in its comments: "Not runnable with `coopvm run`") of an example that is not a contract to `run` (a relation for `prove`, which
/// starts with its inputs on the stack).
const NOT_RUNNABLE: &str = "Not runnable with";

/// Every example that `coopvm run` can run, verified with the default limits, by file name.
/// An example that fails to load or verify without saying it is not runnable fails the test.
pub fn runnable_examples() -> Vec<(String, Verified)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "casm"))
        .collect();
    files.sort();
    let runnable: Vec<(String, Verified)> = files
        .into_iter()
        .filter(|p| {
            !std::fs::read_to_string(p)
                .expect("example is text")
                .contains(NOT_RUNNABLE)
        })
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
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
