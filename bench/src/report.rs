//! Reading back what criterion measured, for the summary tables the benches print at the end.
//!
//! Criterion writes each benchmark's estimates to
//! `<criterion home>/<group>/<function>/<value>/new/estimates.json` (names made file-safe:
//! `/` and a few other characters become `_`). The criterion home is, as criterion decides
//! it, `$CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`, else the target directory
//! `cargo metadata` names, plus `criterion`, else `target/criterion`.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The directory criterion writes its results to (see the module docs).
pub fn criterion_home() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return Path::new(&target).join("criterion");
    }
    let metadata = std::env::var_os("CARGO").and_then(|cargo| {
        std::process::Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .output()
            .ok()
    });
    metadata
        .and_then(|out| target_directory(&String::from_utf8_lossy(&out.stdout)))
        .map_or_else(
            || PathBuf::from("target/criterion"),
            |t| t.join("criterion"),
        )
}

/// `"target_directory":"..."` of `cargo metadata`'s JSON (paths with escapes are not
/// expected; such a path gives `None`).
fn target_directory(json: &str) -> Option<PathBuf> {
    let key = "\"target_directory\":\"";
    let start = json.find(key)? + key.len();
    let rest = &json[start..];
    let path = &rest[..rest.find('"')?];
    (!path.contains('\\')).then(|| PathBuf::from(path))
}

/// Criterion's file-safe form of a benchmark name part.
pub fn file_safe(name: &str) -> String {
    name.replace(['?', '"', '/', '\\', '*', '<', '>', ':', '|', '^'], "_")
}

/// Which of criterion's estimates to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Statistic {
    /// The mean time per iteration.
    Mean,
    /// The slope of time against iterations over the samples (what criterion prints as
    /// `time:` for its default linear sampling; a fixed cost per sample drops out of it),
    /// else the mean.
    Typical,
}

/// Time per iteration in nanoseconds (`stat`) of the benchmark `group/function/value`, if
/// criterion wrote it at or after `since` (so a benchmark filtered out of this run does not
/// show an old figure).
pub fn estimate_ns(
    home: &Path,
    (group, function, value): (&str, &str, &str),
    stat: Statistic,
    since: SystemTime,
) -> Option<f64> {
    let file = home
        .join(file_safe(group))
        .join(file_safe(function))
        .join(file_safe(value))
        .join("new")
        .join("estimates.json");
    let fresh = std::fs::metadata(&file).ok()?.modified().ok()? >= since;
    if !fresh {
        return None;
    }
    let json = std::fs::read_to_string(&file).ok()?;
    match stat {
        Statistic::Mean => point_estimate(&json, "mean"),
        Statistic::Typical => {
            point_estimate(&json, "slope").or_else(|| point_estimate(&json, "mean"))
        }
    }
}

/// Criterion's mean time per iteration in nanoseconds ([`estimate_ns`] of the mean).
pub fn mean_ns(
    home: &Path,
    group: &str,
    function: &str,
    value: &str,
    since: SystemTime,
) -> Option<f64> {
    estimate_ns(home, (group, function, value), Statistic::Mean, since)
}

/// The `point_estimate` of the estimate `name` (`mean`, `slope`, ...) in criterion's
/// `estimates.json`; `None` when it is missing or `null` (the slope of flat sampling).
///
/// ```
/// let json = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,
///     "lower_bound":1.0,"upper_bound":3.0},"point_estimate":2.5,"standard_error":0.1},
///     "median":{"point_estimate":9.0},"slope":null}"#;
/// assert_eq!(coopvm_bench::report::point_estimate(json, "mean"), Some(2.5));
/// assert_eq!(coopvm_bench::report::point_estimate(json, "median"), Some(9.0));
/// assert_eq!(coopvm_bench::report::point_estimate(json, "slope"), None);
/// ```
pub fn point_estimate(json: &str, name: &str) -> Option<f64> {
    let at = &json[json.find(&format!("\"{name}\""))?..];
    let value = at[at.find(':')? + 1..].trim_start();
    if !value.starts_with('{') {
        return None;
    }
    let key = "\"point_estimate\":";
    let rest = value[value.find(key)? + key.len()..].trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// A duration in nanoseconds with a unit that keeps three or four digits.
///
/// ```
/// use coopvm_bench::report::time;
/// assert_eq!(time(12.345), "12.3 ns");
/// assert_eq!(time(1_234.5), "1.23 µs");
/// assert_eq!(time(2_500_000.0), "2.50 ms");
/// ```
pub fn time(ns: f64) -> String {
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    if value < 100.0 && unit != "ns" {
        format!("{value:.2} {unit}")
    } else {
        format!("{value:.1} {unit}")
    }
}

/// `a / b` as a ratio like `2.35x`, or `-` when either is missing.
pub fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "-".into(),
    }
}

/// The system load averages (`/proc/loadavg`: 1, 5 and 15 minutes), if readable.
pub fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let fields: Vec<&str> = text.split_whitespace().take(3).collect();
    Some(fields.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_criterion_and_cargo_write() {
        assert_eq!(
            target_directory(r#"{"packages":[],"target_directory":"/w/t","version":1}"#),
            Some(PathBuf::from("/w/t"))
        );
        assert_eq!(target_directory("{}"), None);
        assert_eq!(file_safe("peers/fib"), "peers_fib");
        let json = r#"{"mean":{"point_estimate":1.5e3,"standard_error":2},"slope":null}"#;
        assert_eq!(point_estimate(json, "mean"), Some(1500.0));
        assert_eq!(point_estimate(json, "slope"), None);
        assert_eq!(
            point_estimate(r#"{"median":{"point_estimate":1}}"#, "mean"),
            None
        );
        assert_eq!(ratio(Some(3.0), Some(2.0)), "1.50x");
        assert_eq!(ratio(None, Some(2.0)), "-");
        assert_eq!(time(950_000_000_000.0), "950.0 s");
    }

    #[test]
    fn a_missing_or_stale_estimate_is_none() {
        let guard = tempfile::tempdir().unwrap();
        let dir = guard.path();
        let file = dir.join("g_x").join("f").join("1").join("new");
        std::fs::create_dir_all(&file).unwrap();
        std::fs::write(
            file.join("estimates.json"),
            r#"{"mean":{"point_estimate":42.0}}"#,
        )
        .unwrap();
        let long_ago = SystemTime::UNIX_EPOCH;
        assert_eq!(mean_ns(dir, "g/x", "f", "1", long_ago), Some(42.0));
        let later = SystemTime::now() + std::time::Duration::from_secs(3600);
        assert_eq!(mean_ns(dir, "g/x", "f", "1", later), None);
        assert_eq!(mean_ns(dir, "g/x", "f", "2", long_ago), None);
        let typical = estimate_ns(dir, ("g/x", "f", "1"), Statistic::Typical, long_ago);
        assert_eq!(typical, Some(42.0), "no slope: the mean");
    }
}
