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
//! - `generate SEED COUNT [SECONDS]`: checks the inputs 0..COUNT of stream SEED (generated
//!   programs from pseudo-random bytes, no coverage guidance; see `coopvm_fuzz::generate`),
//!   stopping after SECONDS if given; prints what it checked (at the end, and every minute
//!   a `progress:` line with the figures so far), and for every failure (a
//!   divergence, a broken gas law or a panic) its index and report, its input saved as
//!   `artifacts/generate/fail-SEED-INDEX`; exits with 1 if any failed. While it runs,
//!   `artifacts/generate/current-SEED` names the input being checked, so a process killed
//!   by a signal or a hang can still be reproduced (`campaign.sh generate` does);
//! - `input SEED INDEX PATH`: writes input INDEX of stream SEED to PATH (for `show`, `save`,
//!   `replay differential` and `cargo fuzz tmin`).

use coopvm_fuzz::{differential_case, generate, seeds};
use std::os::unix::fs::FileExt;
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
        Some("generate") if (3..=4).contains(&args.len()) => {
            let seed: u64 = args[1].parse().map_err(|e| format!("seed: {e}"))?;
            let count: u64 = args[2].parse().map_err(|e| format!("count: {e}"))?;
            let secs: Option<f64> = match args.get(3) {
                Some(s) => Some(s.parse().map_err(|e| format!("seconds: {e}"))?),
                None => None,
            };
            generate_campaign(seed, count, secs)
        }
        Some("input") if args.len() == 4 => {
            let seed: u64 = args[1].parse().map_err(|e| format!("seed: {e}"))?;
            let index: u64 = args[2].parse().map_err(|e| format!("index: {e}"))?;
            std::fs::write(&args[3], generate::input(seed, index))
                .map_err(|e| format!("{}: {e}", args[3]))?;
            println!("wrote input {index} of seed {seed} to {}", args[3]);
            Ok(())
        }
        _ => Err("usage: fuzz-tool seeds | replay TARGET PATH... | show PATH | save PATH NAME | generate SEED COUNT [SECONDS] | input SEED INDEX PATH".into()),
    }
}

/// Failures saved per process, at most: a systematic bug fails most inputs, and a few
/// reproducers are enough.
const MAX_SAVED_FAILURES: usize = 20;

/// How often `generate` prints its progress.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// `generate SEED COUNT [SECONDS]`: see the module docs.
fn generate_campaign(seed: u64, count: u64, secs: Option<f64>) -> Result<(), String> {
    if seed >= generate::STREAM_MAX || count > generate::STREAM_MAX {
        return Err(format!(
            "seed and count must be below {}",
            generate::STREAM_MAX
        ));
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts/generate");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // The input being checked, as fixed-width text overwritten in place (one write per
    // input): what is left of it after a crash names the input that crashed.
    let current_path = dir.join(format!("current-{seed}"));
    let current = std::fs::File::create(&current_path)
        .map_err(|e| format!("{}: {e}", current_path.display()))?;
    let deadline = secs.map(std::time::Duration::from_secs_f64);
    let started = std::time::Instant::now();
    let mut tally = generate::Tally::default();
    let mut next_progress = PROGRESS_EVERY;
    for index in 0..count {
        let elapsed = started.elapsed();
        if deadline.is_some_and(|d| elapsed >= d) {
            break;
        }
        if elapsed >= next_progress {
            // What a campaign cut short has checked so far (the summary line is only
            // written at the end).
            println!(
                "progress: seed {seed}: {} inputs, {} programs, {} runs per engine, {:.0} s, {} failed",
                tally.inputs,
                tally.programs,
                tally.runs,
                elapsed.as_secs_f64(),
                tally.failures.len()
            );
            next_progress += PROGRESS_EVERY;
        }
        current
            .write_at(format!("{seed:020} {index:020}\n").as_bytes(), 0)
            .map_err(|e| format!("{}: {e}", current_path.display()))?;
        let data = generate::input(seed, index);
        let failed = tally.failures.len();
        tally.add(index, generate::check_input(&data));
        if tally.failures.len() > failed {
            let path = dir.join(format!("fail-{seed}-{index}"));
            std::fs::write(&path, &data).map_err(|e| format!("{}: {e}", path.display()))?;
            let report = &tally.failures[failed].1;
            println!(
                "FAILED: seed {seed} index {index}, input {}\n{report}",
                path.display()
            );
            if tally.failures.len() >= MAX_SAVED_FAILURES {
                println!("stopping after {MAX_SAVED_FAILURES} failures");
                break;
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    drop(current);
    let _ = std::fs::remove_file(&current_path);
    println!(
        "generate: seed {seed}: {} inputs, {} programs, {} runs per engine, {:.1} s, {:.0} programs/s, {} failed",
        tally.inputs,
        tally.programs,
        tally.runs,
        secs,
        tally.programs as f64 / secs.max(1e-9),
        tally.failures.len()
    );
    println!("outcomes: {}", tally.outcome_words());
    if tally.failures.is_empty() {
        Ok(())
    } else {
        Err(format!("{} inputs failed", tally.failures.len()))
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
