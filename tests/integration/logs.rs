//! Logs through `tracing`: an error event with the contract, position and error kind at the
//! end of a failed run, debug summaries otherwise; `--log-level` and `RUST_LOG` on the
//! command line, silence by default.

use coopvm::{load, Engine};
use coopvm::{ExecutionContext, Limits, NoHost};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn captured(level: tracing::Level, f: impl FnOnce()) -> String {
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .without_time()
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = buf.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn a_failed_run_logs_an_error_with_contract_position_and_kind() {
    let v = load::from_source("t.casm", ".contract divider\npush 1\npush 0\ndiv\n")
        .unwrap()
        .verify(&Limits::default())
        .unwrap();
    let ctx = ExecutionContext::default();
    let logs = captured(tracing::Level::ERROR, || {
        Engine::Interp.run(&v, &ctx, &v.contract().state, 100, &mut NoHost);
    });
    assert!(
        logs.contains("ERROR coopvm::run: contract run failed"),
        "{logs}"
    );
    assert!(logs.contains("contract=\"divider\""), "{logs}");
    assert!(logs.contains("kind=\"division_by_zero\""), "{logs}");
    assert!(logs.contains("pc=2"), "{logs}");
    assert!(logs.contains("engine=\"interp\""), "{logs}");
    assert_eq!(logs.lines().count(), 1, "{logs}");
}

#[test]
fn contract_text_in_an_error_cannot_forge_a_log_line() {
    // The error quotes the string the contract pushed; it used to be logged with Display,
    // so its newline started a line that looked like another record.
    let src = ".contract evil\npush \"x\\n ERROR coopvm::run: forged\\u{202e}\"\njoincooperative\n";
    let v = load::from_source("t.casm", src)
        .unwrap()
        .verify(&Limits::default())
        .unwrap();
    let ctx = ExecutionContext {
        caller_did: "did:example:alice".into(),
        ..ExecutionContext::default()
    };
    let logs = captured(tracing::Level::ERROR, || {
        let mut host = coopvm::domain::CoopHost::new();
        Engine::Interp.run(&v, &ctx, &v.contract().state, 1_000, &mut host);
    });
    assert_eq!(logs.lines().count(), 1, "{logs}");
    assert!(logs.contains("kind=\"not_found\""), "{logs}");
    assert!(
        logs.contains("\\n ERROR coopvm::run: forged\\u{202e}"),
        "{logs}"
    );
    assert!(!logs.contains('\u{202e}'), "{logs}");
}

#[test]
fn successful_runs_log_only_at_debug_level() {
    let v = load::from_source("t.casm", ".contract ok\npush 1\n")
        .unwrap()
        .verify(&Limits::default())
        .unwrap();
    let ctx = ExecutionContext::default();
    let state = v.contract().state.clone();
    let quiet = captured(tracing::Level::INFO, || {
        Engine::Interp.run(&v, &ctx, &state, 100, &mut NoHost);
        Engine::Interp.run_with_stats(&v, &ctx, &state, 100, &mut NoHost);
    });
    assert_eq!(quiet, "");
    let debug = captured(tracing::Level::DEBUG, || {
        Engine::Interp.run_with_stats(&v, &ctx, &state, 100, &mut NoHost);
    });
    assert!(
        debug.contains("DEBUG coopvm::run: contract run succeeded"),
        "{debug}"
    );
    assert!(debug.contains("run statistics"), "{debug}");
    assert!(debug.contains("instructions=1"), "{debug}");
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn coopvm(args: &[&str], rust_log: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coopvm"));
    cmd.current_dir(root()).env_remove("RUST_LOG").args(args);
    if let Some(filter) = rust_log {
        cmd.env("RUST_LOG", filter);
    }
    cmd.output().expect("run coopvm")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_command_line_is_silent_by_default() {
    let out = coopvm(&["run", "examples/rollback.casm"], None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "");
}

#[test]
fn log_level_shows_the_error_log() {
    let out = coopvm(
        &["run", "examples/rollback.casm", "--log-level", "error"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("ERROR coopvm::run: contract run failed"),
        "{err}"
    );
    assert!(err.contains("contract=\"rollback_demo\""), "{err}");
    assert!(err.contains("pc=9"), "{err}");
    // The flag goes anywhere on the line, and applies to trace as well.
    let out = coopvm(
        &[
            "--log-level",
            "debug",
            "trace",
            "examples/counter.casm",
            "--limit",
            "0",
        ],
        None,
    );
    assert!(
        stderr(&out).contains("contract run succeeded"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn rust_log_is_honoured_and_the_flag_wins() {
    let out = coopvm(
        &["run", "examples/counter.casm", "--stats"],
        Some("coopvm=debug"),
    );
    let err = stderr(&out);
    assert!(err.contains("run statistics"), "{err}");
    let out = coopvm(
        &["run", "examples/counter.casm", "--log-level", "error"],
        Some("debug"),
    );
    assert_eq!(stderr(&out), "");
}

#[test]
fn a_bad_filter_is_a_usage_error() {
    let out = coopvm(&["run", "examples/counter.casm", "--log-level", "[["], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid --log-level"),
        "{}",
        stderr(&out)
    );
    let out = coopvm(&["run", "examples/counter.casm"], Some("[["));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid RUST_LOG"),
        "{}",
        stderr(&out)
    );
}
