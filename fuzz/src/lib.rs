//! coopvm's fuzz targets, as plain functions of the input bytes: each panics on a property it
//! finds broken (with a readable report), and returns normally otherwise. The files under
//! `fuzz_targets/` hand libFuzzer's inputs to these functions; the unit tests below and
//! `fuzz-tool replay` call them directly, so a saved input replays without libFuzzer.

pub mod case;
pub mod generate;
pub mod seeds;
pub mod store;

use arbitrary::Unstructured;
use case::{Case, HostKind};
use coopvm::disasm::{disassemble, quote};
use coopvm::error::ErrorKind;
use coopvm::vmi::data::MAX_DEPTH;
use coopvm::vmi::DataValue;
use coopvm::{asm::assemble, codec, verify, Limits};
use std::time::{Duration, Instant};

/// Inputs of the `differential` target that start with this line are a readable case
/// ([`Case::from_casm`]) rather than generator choices: how the seed corpus brings the
/// examples and the saved regressions in.
pub const CASE_PREFIX: &[u8] = b"CASE\n";

/// The largest gas limit of a fuzzed case: a runaway loop burns all of it at every limit of
/// the sweep on every engine, so this bounds the time of one input.
pub const MAX_FUZZ_GAS: u64 = 100_000;

/// The differential case an input of the `differential` target stands for: a readable case
/// after [`CASE_PREFIX`] (its gas limit at most [`MAX_FUZZ_GAS`]), else the generator's
/// program for the input's choices.
pub fn differential_case(data: &[u8]) -> Option<Case> {
    match data.strip_prefix(CASE_PREFIX) {
        Some(text) => {
            let case = Case::from_casm(std::str::from_utf8(text).ok()?).ok()?;
            Some(Case {
                gas: case.gas.min(MAX_FUZZ_GAS),
                ..case
            })
        }
        None => Some(generated_case(&mut Unstructured::new(data))),
    }
}

/// A differential case from the input's choices: the host (the cooperative world, or one
/// time in four a failing host with any error kind), the caller and the program
/// ([`coopvm_testgen::program`], with its limits and inputs), at gas limit
/// [`MAX_FUZZ_GAS`].
pub fn generated_case(u: &mut Unstructured) -> Case {
    let host = if u.int_in_range(0..=3u8).unwrap_or(0) == 3 {
        let kind = ErrorKind::ALL[u.choose_index(ErrorKind::ALL.len()).unwrap_or(0)];
        HostKind::Failing {
            kind,
            after: u.int_in_range(0..=3).unwrap_or(0),
            charge: [0, 1, 7, 1000][u.choose_index(4).unwrap_or(0)],
        }
    } else {
        HostKind::Coop
    };
    let ctx = coopvm_testgen::context(u);
    let g = coopvm_testgen::program(u);
    Case {
        source: g.source,
        args: g.args,
        limits: g.limits,
        host,
        ctx,
        gas: MAX_FUZZ_GAS,
    }
}

/// The `differential` target: every engine agrees with the interpreter on the case, at every
/// gas limit of the sweep, and the interpreter keeps the gas laws ([`case::check`]). Returns
/// the number of runs per engine (0 when the program did not verify).
pub fn differential(data: &[u8]) -> u64 {
    let Some(case) = differential_case(data) else {
        return 0;
    };
    match case::check(&case) {
        Ok(checked) => checked.runs,
        Err(report) => panic!("differential: {report}"),
    }
}

/// The `asm` target: assembling any text never panics; what assembles disassembles to text
/// that assembles to the same contract, and disassembling that gives the same text again.
pub fn asm(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(contract) = assemble("fuzz.casm", text) else {
        return;
    };
    let listing = disassemble(&contract);
    let again = assemble("listing.casm", &listing).unwrap_or_else(|e| {
        panic!("asm: the disassembly does not assemble: {e}\n--- source ---\n{text}\n--- listing ---\n{listing}")
    });
    assert!(
        again == contract,
        "asm: the round trip changed the contract\n--- source ---\n{text}\n--- listing ---\n{listing}\n--- before ---\n{contract:?}\n--- after ---\n{again:?}"
    );
    assert_eq!(
        disassemble(&again),
        listing,
        "asm: disassembly is not stable\n--- source ---\n{text}"
    );
    // Whatever the verifier thinks of it, it must say so without panicking.
    let _ = verify(contract, &Limits::default());
}

/// The `codec` target: decoding any bytes never panics; what decodes encodes to exactly the
/// same bytes (the format is canonical) and round-trips through assembly text.
pub fn codec(data: &[u8]) {
    let Ok(contract) = codec::decode(data) else {
        return;
    };
    let bytes = codec::encode(&contract);
    assert!(
        bytes == data,
        "codec: decode then encode changed the bytes\n--- input ---\n{data:02x?}\n--- encoded ---\n{bytes:02x?}\n--- contract ---\n{contract:?}"
    );
    // Every contract, verified or not, survives its text form: the listing (pool
    // declarations, raw indices for what no label or value names) assembles to exactly the
    // same contract, and lists itself again. Only a header the assembler refuses by design
    // (a state key that is no key, more inputs than any stack holds; the verifier refuses
    // them too) may keep the listing from assembling.
    let listing = disassemble(&contract);
    let again = match assemble("listing.casm", &listing) {
        Ok(again) => again,
        Err(e) => {
            let refused_header = contract.params > Limits::MAX.stack
                || contract
                    .state
                    .keys()
                    .any(|k| assemble("k.casm", &format!(".state {} 0\n", quote(k))).is_err());
            assert!(
                refused_header,
                "codec: a decoded contract's listing does not assemble: {e}\n--- listing ---\n{listing}"
            );
            return;
        }
    };
    assert!(
        again == contract && disassemble(&again) == listing,
        "codec: a decoded contract's listing assembles to another contract\n--- listing ---\n{listing}\n--- decoded ---\n{contract:?}\n--- assembled ---\n{again:?}"
    );
}

/// How long verification may take before the `verify` target calls it superlinear: a fixed
/// allowance plus a generous time per instruction (far above what a linear verifier needs,
/// so a loaded machine does not trip it; a quadratic one does on long inputs).
fn verify_budget(instructions: usize) -> Duration {
    Duration::from_millis(250) + Duration::from_micros(200) * instructions as u32
}

/// The `verify` target: any contract (decoded from the input's bytes, or built from the
/// input's choices as a raw instruction stream) is verified without panicking and within a
/// time linear in its length; what verifies runs on every engine against the cooperative
/// world, with the same outcome as the interpreter, without panicking.
pub fn verify_target(data: &[u8]) {
    let contract = match codec::decode(data) {
        Ok(c) => c,
        Err(_) => coopvm_testgen::raw_contract(&mut Unstructured::new(data)),
    };
    let len = contract.program.code.len();
    let limits = Limits {
        stack: 64,
        call_depth: 16,
        ..Limits::default()
    };
    let listing = disassemble(&contract);
    let started = Instant::now();
    let verified = verify(contract, &limits);
    let took = started.elapsed();
    assert!(
        took <= verify_budget(len),
        "verify: {len} instructions took {took:?}\n--- contract ---\n{listing}"
    );
    let Ok(v) = verified else {
        return;
    };
    let case = Case {
        source: listing,
        args: Vec::new(),
        limits,
        host: HostKind::Coop,
        ctx: coopvm::ExecutionContext {
            caller_did: "did:key:alice".into(),
            permissions: vec!["member".into()],
            ..Default::default()
        },
        gas: 20_000,
    };
    // The inputs a contract with `.params` needs: small integers.
    let case = Case {
        args: (0..v.contract().params)
            .map(|i| coopvm::Arg::Int(i64::from(i)))
            .collect(),
        ..case
    };
    if let Err(report) = case::check_verified(&case, &v) {
        panic!("verify: {report}");
    }
}

/// Builds a [`DataValue`] from the input's choices, nesting at most `depth` lists deep.
fn data_value(u: &mut Unstructured, depth: usize) -> arbitrary::Result<DataValue> {
    Ok(match u.int_in_range(0..=3u8)? {
        0 => DataValue::Int(u.arbitrary()?),
        1 => DataValue::Bytes(u.arbitrary()?),
        2 if depth > 0 => {
            let n = u.int_in_range(0..=4usize)?;
            DataValue::List(
                (0..n)
                    .map(|_| data_value(u, depth - 1))
                    .collect::<arbitrary::Result<_>>()?,
            )
        }
        _ => DataValue::FunctionV {
            vm: u.arbitrary()?,
            code: u.arbitrary()?,
        },
    })
}

/// The `datavalue` target: decoding any bytes never panics; what decodes is at most
/// `MAX_DEPTH` deep and encodes to exactly the same bytes; a value built from the input's
/// choices encodes to bytes that decode to it (or, deeper than `MAX_DEPTH`, are refused).
pub fn datavalue(data: &[u8]) {
    if let Ok(v) = DataValue::from_bytes(data) {
        assert!(
            v.depth() <= MAX_DEPTH,
            "datavalue: decoded a value {} deep",
            v.depth()
        );
        let bytes = v.to_bytes();
        assert!(
            bytes == data,
            "datavalue: decode then encode changed the bytes\n--- input ---\n{data:02x?}\n--- encoded ---\n{bytes:02x?}"
        );
    }
    let mut u = Unstructured::new(data);
    let Ok(value) = data_value(&mut u, MAX_DEPTH + 2) else {
        return;
    };
    let bytes = value.to_bytes();
    match DataValue::from_bytes(&bytes) {
        Ok(back) => assert!(
            back == value,
            "datavalue: encode then decode changed the value\n--- value ---\n{value:?}\n--- back ---\n{back:?}"
        ),
        Err(e) => assert!(
            value.depth() > MAX_DEPTH,
            "datavalue: the encoding of a value {} deep is refused: {e}\n--- value ---\n{value:?}",
            value.depth()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use coopvm_testgen::bytes;

    #[test]
    fn generated_cases_verify_and_agree() {
        let mut verified = 0;
        for seed in 1..=60 {
            let data = bytes(seed, 400);
            let case = differential_case(&data).unwrap();
            if case.verified().is_some() {
                verified += 1;
            }
            differential(&data);
        }
        assert!(
            verified >= 50,
            "only {verified} of 60 generated cases verify"
        );
    }

    /// Runs start from worlds handed back by earlier runs and reset: after checking cases on
    /// both hosts (runs that deploy, change tables, emit events, fail half-way), every spare
    /// world shows exactly the base world's text (every field of the host).
    #[test]
    fn spare_worlds_are_reset_to_the_base_world() {
        let mut hosts = [0, 0];
        for seed in 100..=140 {
            let case = differential_case(&bytes(seed, 400)).unwrap();
            if case::check(&case).unwrap().runs > 0 {
                hosts[usize::from(case.host != HostKind::Coop)] += 1;
            }
        }
        assert!(
            hosts[0] > 0 && hosts[1] > 0,
            "cases on both hosts: {hosts:?}"
        );
        // The base world's text is written after the runs: the deployed code it shares with
        // the spare worlds (the same `Arc`s) shows how many engine artefacts it keeps, and
        // runs add some (a library called for the first time is lowered then).
        let base = format!("{:?}", case::base_world());
        let spare = case::spare_worlds_text();
        assert!(spare.len() >= 2, "{} spare worlds", spare.len());
        for text in spare {
            assert_eq!(text, base);
        }
    }

    #[test]
    fn cases_survive_their_text_form() {
        for seed in 1..=40 {
            let case = differential_case(&bytes(seed, 300)).unwrap();
            let back = Case::from_casm(&case.to_casm()).unwrap();
            assert_eq!(back, case);
        }
    }

    #[test]
    fn the_other_targets_accept_random_bytes() {
        for seed in 1..=40 {
            let data = bytes(seed, 200);
            asm(&data);
            codec(&data);
            verify_target(&data);
            datavalue(&data);
        }
    }
}
