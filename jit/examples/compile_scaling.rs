//! Compile time and peak heap per contract shape and size (release build):
//! `cargo run --release -p coopvm-jit --example compile_scaling [-- SHAPE...]`; `OPT=fast|none|speed`
//! compiles at that [`coopvm_jit::OptLevel`] instead of the JIT's own choice, `SIZES=100,1000`
//! picks the sizes.

use coopvm_core::{asm::assemble, verify, Limits};
use coopvm_jit::shapes::{chain, hundred, subs};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

struct Counting;
static CUR: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        let c = CUR.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        PEAK.fetch_max(c, Ordering::Relaxed);
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        CUR.fetch_sub(l.size(), Ordering::Relaxed);
    }
}
#[global_allocator]
static A: Counting = Counting;

fn deep(n: usize) -> String {
    // 500 values on the stack, then a chain of blocks with calls under them.
    let mut s = String::new();
    for _ in 0..500 {
        s.push_str("push 1\n");
    }
    for i in 0..(n.saturating_sub(1000)) / 3 {
        s.push_str(&format!("push 1\njumpif l{i}\nl{i}: call f\n"));
    }
    for _ in 0..499 {
        s.push_str("add\n");
    }
    s.push_str("halt\nf: return\n");
    s
}

/// The compile measured by `ONE=shape:n` (for `valgrind --tool=callgrind
/// --collect-atstart=no --toggle-collect='*measured*'`: load-independent instruction counts).
#[inline(never)]
fn measured(v: &coopvm_core::Verified) -> Result<coopvm_jit::NativeCode, coopvm_jit::JitError> {
    let opt = match std::env::var("OPT").as_deref() {
        Ok("fast") => Some(coopvm_jit::OptLevel::Fast),
        Ok("none") => Some(coopvm_jit::OptLevel::None),
        Ok("speed") => Some(coopvm_jit::OptLevel::Speed),
        _ => None,
    };
    coopvm_jit::compile_with_options(
        v,
        coopvm_jit::Options {
            opt,
            ..Default::default()
        },
    )
}

fn limits_default() -> Limits {
    Limits::default()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if std::env::var("ESTIMATE").is_ok() {
        // Compile estimate per instruction of each file given, and of each shape at 4,000.
        let mut items: Vec<(String, String)> = args
            .iter()
            .map(|p| {
                (
                    p.clone(),
                    std::fs::read_to_string(p).expect("a readable file"),
                )
            })
            .collect();
        for (name, f) in [
            ("subs", subs as fn(usize) -> String),
            ("chain", chain),
            ("hundred", hundred),
            ("deep", deep),
        ] {
            items.push((format!("{name}:4000"), f(4_000)));
        }
        for (name, src) in items {
            let c = coopvm_core::load::from_source(&name, &src)
                .unwrap()
                .contract;
            let v = verify(c, &limits_default()).unwrap();
            let len = v.contract().program.code.len();
            let e = coopvm_jit::compile_estimate(&v);
            println!("{name}\t{len}\t{e}\t{:.1}", e as f64 / len.max(1) as f64);
        }
        return;
    }
    if let Ok(one) = std::env::var("ONE") {
        let (shape, n) = one.split_once(':').expect("ONE=shape:n");
        let n: usize = n.parse().expect("a size");
        let src = match shape {
            "subs" => subs(n),
            "chain" => chain(n),
            "hundred" => hundred(n),
            _ => deep(n),
        };
        let v = verify(assemble("t", &src).unwrap(), &Limits::default()).unwrap();
        // Warm up: the ISA and the thread's compiler contexts.
        let warm = verify(assemble("t", "push 1").unwrap(), &Limits::default()).unwrap();
        coopvm_jit::compile(&warm).unwrap();
        let r = measured(&v);
        println!(
            "{shape}\t{}\t{}",
            v.contract().program.code.len(),
            match r {
                Ok(c) => format!("compiled, {} bytes", c.code_size()),
                Err(e) => format!("refused: {e}"),
            }
        );
        return;
    }
    type Shape = (&'static str, fn(usize) -> String);
    let shapes: [Shape; 4] = [
        ("subs", subs),
        ("chain", chain),
        ("hundred", hundred),
        ("deep", deep),
    ];
    let limits = Limits::default();
    // Warm up: the ISA and the thread's compiler contexts are built once per process.
    let warm = verify(assemble("t", "push 1").unwrap(), &limits).unwrap();
    coopvm_jit::compile(&warm).unwrap();
    println!("shape\tinsns\tverify_ms\tcompile_ms\tus_per_insn\tpeak_MB\tcode_KB");
    for (name, f) in shapes {
        if !args.is_empty() && !args.iter().any(|a| a == name) {
            continue;
        }
        let maxn: usize = std::env::var("MAXN")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(16_000);
        let sizes: Vec<usize> = std::env::var("SIZES")
            .ok()
            .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
            .unwrap_or_else(|| vec![100, 1_000, 4_000, 16_000]);
        for n in sizes.into_iter().filter(|&n| n <= maxn) {
            let src = f(n);
            let c = assemble("t", &src).unwrap();
            let len = c.program.code.len();
            let t = Instant::now();
            let v = verify(c, &limits).unwrap();
            let vt = t.elapsed();
            if std::env::var("CLIF").is_ok() {
                println!("{}", coopvm_jit::clif(&v).unwrap());
                return;
            }
            if std::env::var("IRMEM").is_ok() {
                let base = CUR.load(Ordering::Relaxed);
                PEAK.store(base, Ordering::Relaxed);
                let t = Instant::now();
                let text = coopvm_jit::clif(&v).unwrap();
                let peak = PEAK.load(Ordering::Relaxed) - base;
                println!(
                    "{name}\t{len}\tIR only (+text): {:.1} ms, peak {:.1} MB, {} lines",
                    t.elapsed().as_secs_f64() * 1e3,
                    peak as f64 / (1 << 20) as f64,
                    text.lines().count()
                );
            }
            // The best of `REPS` compiles (default 1): the wall time on a loaded machine.
            let reps: usize = std::env::var("REPS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(1);
            let mut best = None;
            let mut peak = 0;
            let mut r = Err(coopvm_jit::JitError::Internal("not compiled".into()));
            for _ in 0..reps.max(1) {
                drop(r);
                let base = CUR.load(Ordering::Relaxed);
                PEAK.store(base, Ordering::Relaxed);
                let t = Instant::now();
                r = measured(&v);
                let elapsed = t.elapsed();
                peak = PEAK.load(Ordering::Relaxed) - base;
                best = Some(best.map_or(elapsed, |b: std::time::Duration| b.min(elapsed)));
            }
            let ct = best.unwrap_or_default();
            let size = r.as_ref().map(|c| c.code_size()).unwrap_or(0);
            println!(
                "{name}\t{len}\t{:.1}\t{:.2}\t{:.2}\t{:.1}\t{}{}",
                vt.as_secs_f64() * 1e3,
                ct.as_secs_f64() * 1e3,
                ct.as_secs_f64() * 1e6 / len as f64,
                peak as f64 / (1 << 20) as f64,
                size / 1024,
                match &r {
                    Ok(_) => String::new(),
                    Err(e) => format!("\trefused: {e}"),
                }
            );
            if std::env::var("TIMING").is_ok() {
                println!("{}", cranelift_codegen::timing::take_current());
            }
            if ct.as_secs() > 20 {
                break;
            }
        }
    }
}
