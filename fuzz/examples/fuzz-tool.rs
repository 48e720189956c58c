//! Helpers around the fuzz targets (run from `fuzz/` with `cargo run --release --example
//! fuzz-tool -- COMMAND`):
//!
//! - `seeds`: writes the seed corpora to `seeds/TARGET/` (from `../examples`,
//!   `../tests/regressions` and the base world's libraries);
//! - `replay TARGET PATH...`: runs a target on saved inputs (files, or every file of a
//!   directory) without libFuzzer; exits with 1 if any fails;
//! - `show PATH`: prints the differential case an input of `differential` stands for;
//! - `save PATH NAME`: writes that case to `../tests/regressions/NAME.casm`, where the
//!   integration tests replay it;
//! - `generate SEED COUNT`: checks COUNT generated programs from pseudo-random inputs
//!   (no coverage guidance; a quick campaign, and a measure of the checking cost).

use coopvm_fuzz::{differential_case, seeds};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("fuzz/ has a parent")
        .to_path_buf()
}

fn target(name: &str) -> Option<fn(&[u8])> {
    Some(match name {
        "differential" => |d| {
            coopvm_fuzz::differential(d);
        },
        "asm" => coopvm_fuzz::asm,
        "codec" => coopvm_fuzz::codec,
        "verify" => coopvm_fuzz::verify_target,
        "datavalue" => coopvm_fuzz::datavalue,
        "store" => coopvm_fuzz::store::store,
        _ => return None,
    })
}

fn inputs(paths: &[String]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        let p = PathBuf::from(p);
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&p)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            out.extend(files);
        } else {
            out.push(p);
        }
    }
    out
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn run(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("seeds") => {
            let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
            let mut n = 0;
            for (target, name, bytes) in seeds::all(&root()) {
                let dir = out.join(target);
                std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                std::fs::write(dir.join(&name), bytes).map_err(|e| format!("{name}: {e}"))?;
                n += 1;
            }
            println!("wrote {n} seeds under {}", out.display());
            Ok(())
        }
        Some("replay") if args.len() >= 3 => {
            let f = target(&args[1]).ok_or_else(|| format!("no target `{}`", args[1]))?;
            let files = inputs(&args[2..]);
            let mut failed = 0;
            for path in &files {
                let bytes = read(path)?;
                let r = std::panic::catch_unwind(|| f(&bytes));
                if r.is_err() {
                    failed += 1;
                    eprintln!("FAILED: {}", path.display());
                }
            }
            println!("{} inputs, {failed} failed", files.len());
            if failed > 0 {
                return Err(format!("{failed} inputs failed"));
            }
            Ok(())
        }
        Some("show") if args.len() == 2 => {
            let case = differential_case(&read(Path::new(&args[1]))?)
                .ok_or("not a differential input")?;
            print!("{}", case.to_casm());
            Ok(())
        }
        Some("save") if args.len() == 3 => {
            let case = differential_case(&read(Path::new(&args[1]))?)
                .ok_or("not a differential input")?;
            let name = &args[2];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                return Err(format!("`{name}`: a name of letters, digits, `_` and `-`"));
            }
            let path = root().join("tests/regressions").join(format!("{name}.casm"));
            std::fs::write(&path, case.to_casm()).map_err(|e| format!("{}: {e}", path.display()))?;
            println!("wrote {}", path.display());
            Ok(())
        }
        Some("generate") if args.len() == 3 => {
            let seed: u64 = args[1].parse().map_err(|e| format!("seed: {e}"))?;
            let count: u64 = args[2].parse().map_err(|e| format!("count: {e}"))?;
            let started = std::time::Instant::now();
            let (mut programs, mut runs) = (0u64, 0u64);
            let mut outcomes = std::collections::BTreeMap::<&str, u64>::new();
            for i in 0..count {
                let data = coopvm_testgen::bytes(seed.wrapping_mul(1_000_003).wrapping_add(i) | 1, 512);
                let case = differential_case(&data).ok_or("no case")?;
                let checked = coopvm_fuzz::case::check(&case).map_err(|report| format!("input {i}: {report}"))?;
                if checked.runs > 0 {
                    programs += 1;
                    runs += checked.runs;
                    *outcomes.entry(checked.error.map_or("ok", |k| k.name())).or_default() += 1;
                }
            }
            let secs = started.elapsed().as_secs_f64();
            println!(
                "{count} inputs, {programs} verified programs, {runs} runs per engine, {:.0} programs/s",
                programs as f64 / secs.max(1e-9)
            );
            println!("outcomes: {outcomes:?}");
            Ok(())
        }
        _ => Err("usage: fuzz-tool seeds | replay TARGET PATH... | show PATH | save PATH NAME | generate SEED COUNT".into()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fuzz-tool: {e}");
            ExitCode::FAILURE
        }
    }
}
