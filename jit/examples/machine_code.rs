//! Prints the machine code the JIT makes of a contract, as Cranelift prints it after
//! register allocation: `cargo run --release -p coopvm-jit --example machine_code -- FILE.casm`;
//! `OPT=fast|none|speed` compiles at that [`coopvm_jit::OptLevel`] instead of the JIT's own
//! choice. `--clif` prints the Cranelift IR instead.

use coopvm_core::{asm::assemble, verify, Limits};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let clif = args.iter().any(|a| a == "--clif");
    let Some(path) = args.iter().find(|a| !a.starts_with("--")) else {
        eprintln!("usage: machine_code [--clif] FILE.casm");
        return ExitCode::FAILURE;
    };
    let opt = match std::env::var("OPT").as_deref() {
        Ok("fast") => Some(coopvm_jit::OptLevel::Fast),
        Ok("none") => Some(coopvm_jit::OptLevel::None),
        Ok("speed") => Some(coopvm_jit::OptLevel::Speed),
        _ => None,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let verified = match assemble("contract", &text)
        .map_err(|e| e.to_string())
        .and_then(|c| verify(c, &Limits::default()).map_err(|e| e.to_string()))
    {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let out = if clif {
        coopvm_jit::clif(&verified)
    } else {
        let options = coopvm_jit::Options {
            opt,
            ..Default::default()
        };
        coopvm_jit::machine_code(&verified, options)
    };
    match out {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{path}: {e}");
            ExitCode::FAILURE
        }
    }
}
