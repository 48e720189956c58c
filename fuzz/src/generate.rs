//! Generated-program campaigns: the `differential` check on pseudo-random inputs, without
//! libFuzzer or coverage instrumentation (`fuzz-tool generate`, `campaign.sh generate`).
//!
//! Input `index` of stream `seed` is [`input`]`(seed, index)`: 512 pseudo-random bytes whose
//! generator seed is a bijection of the pair, so different (seed, index) pairs (seeds and
//! indices below 2^32) give different inputs, and processes given different seeds check
//! disjoint sets of programs. A failure is reproduced from the pair alone.

use crate::case::{self, Checked};
use crate::differential_case;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The length of a generated input.
pub const INPUT_LEN: usize = 512;

/// Seeds and indices of [`input`] are below this (so pairs map to distinct inputs).
pub const STREAM_MAX: u64 = 1 << 32;

/// SplitMix64's finaliser: a bijection of `u64` that mixes every bit.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Input `index` of stream `seed` (both below [`STREAM_MAX`]; larger values wrap into it).
pub fn input(seed: u64, index: u64) -> Vec<u8> {
    let pair = ((seed % STREAM_MAX) << 32) | (index % STREAM_MAX);
    coopvm_testgen::bytes(mix(pair), INPUT_LEN)
}

/// Checks one `differential` input like the fuzz target does, with a panic (in an engine,
/// the host or the check) caught and reported as a failure, not unwound into the caller.
pub fn check_input(data: &[u8]) -> Result<Checked, String> {
    guarded(data, || differential_case(data).map(|c| case::check(&c)))
}

/// Runs `check` on `data`'s case; a panic becomes a failure holding its message and the
/// case as readable assembly.
fn guarded(
    data: &[u8],
    check: impl FnOnce() -> Option<Result<Checked, String>>,
) -> Result<Checked, String> {
    match catch_unwind(AssertUnwindSafe(check)) {
        Ok(Some(result)) => result,
        Ok(None) => Ok(Checked::default()),
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("(a panic without a message)");
            let case = differential_case(data)
                .map(|c| c.to_casm())
                .unwrap_or_default();
            Err(format!("panicked: {message}\n--- case ---\n{case}"))
        }
    }
}

/// What a campaign checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Inputs tried.
    pub inputs: u64,
    /// Inputs whose program verified (each checked on every engine at every gas limit of
    /// its sweep).
    pub programs: u64,
    /// Runs per engine.
    pub runs: u64,
    /// Verified programs by the reference run's outcome: `ok` or the error kind's name.
    pub outcomes: BTreeMap<&'static str, u64>,
    /// Inputs that failed: (index, report).
    pub failures: Vec<(u64, String)>,
}

impl Tally {
    /// Counts the result of input `index`.
    pub fn add(&mut self, index: u64, result: Result<Checked, String>) {
        self.inputs += 1;
        match result {
            Ok(checked) if checked.runs > 0 => {
                self.programs += 1;
                self.runs += checked.runs;
                *self
                    .outcomes
                    .entry(checked.error.map_or("ok", |k| k.name()))
                    .or_default() += 1;
            }
            Ok(_) => {}
            Err(report) => self.failures.push((index, report)),
        }
    }

    /// The outcomes as `name=count` words.
    pub fn outcome_words(&self) -> String {
        self.outcomes
            .iter()
            .map(|(k, n)| format!("{k}={n}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_disjoint_and_reproducible() {
        let mut seen = std::collections::HashSet::new();
        for seed in 0..4 {
            for index in 0..200 {
                assert!(seen.insert(input(seed, index)), "({seed}, {index}) repeats");
            }
        }
        assert_eq!(input(3, 17), input(3, 17));
        assert_eq!(input(3, 17).len(), INPUT_LEN);
    }

    #[test]
    fn a_tally_counts_programs_outcomes_and_failures() {
        let mut t = Tally::default();
        for index in 0..30 {
            t.add(index, check_input(&input(9, index)));
        }
        t.add(30, Err("a report".into()));
        assert_eq!(t.inputs, 31);
        assert!(t.programs >= 20, "{} programs", t.programs);
        assert_eq!(t.outcomes.values().sum::<u64>(), t.programs);
        assert!(t.runs > t.programs);
        assert_eq!(t.failures, vec![(30, "a report".to_string())]);
    }

    #[test]
    fn a_panic_is_a_failure_with_its_message_and_case() {
        let data = input(5, 0);
        let r = guarded(&data, || panic!("boom {}", 1));
        let report = r.unwrap_err();
        assert!(
            report.starts_with("panicked: boom 1\n--- case ---\n"),
            "{report}"
        );
        assert!(report.contains(".contract gen"), "{report}");
        let r = guarded(&data, || -> Option<Result<Checked, String>> {
            std::panic::panic_any(7u8)
        });
        assert!(r
            .unwrap_err()
            .starts_with("panicked: (a panic without a message)"));
    }
}
