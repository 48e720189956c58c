//! Unit tests of every opcode and every run-time error, on the reference interpreter.

use super::*;
use coopvm_core::asm::assemble;
use coopvm_core::host::{EventValue, HostCx, NoHost};
use coopvm_core::run::{run, Outcome, RunParams};
use coopvm_core::{verify, ExecutionContext, Op, State, VmResult};

fn verified(src: &str, limits: Limits) -> Verified {
    verify(assemble("t.casm", src).unwrap(), &limits).unwrap()
}

fn run_full<H: Host>(
    src: &str,
    gas: u64,
    limits: Limits,
    ctx: &ExecutionContext,
    host: &mut H,
) -> Outcome {
    let v = verified(src, limits);
    let state = v.contract().state.clone();
    run(&lower(&v), &v, RunParams::new(ctx, &state, gas), host)
}

fn run_src(src: &str) -> Outcome {
    run_full(
        src,
        1_000_000,
        Limits::default(),
        &ExecutionContext::default(),
        &mut NoHost,
    )
}

fn stack(src: &str) -> Vec<i64> {
    let out = run_src(src);
    assert!(out.is_ok(), "{src}: {:?}", out.result);
    out.stack.into()
}

fn error(src: &str) -> ErrorKind {
    let out = run_src(src);
    let e = out.result.expect_err(src);
    assert!(out.stack.is_empty());
    e.kind
}

#[test]
fn arithmetic() {
    assert_eq!(stack("push 7\npush 5\nadd"), vec![12]);
    assert_eq!(stack("push 7\npush 5\nsub"), vec![2]);
    assert_eq!(stack("push 7\npush -5\nmul"), vec![-35]);
    assert_eq!(stack("push 7\npush 2\ndiv"), vec![3]);
    assert_eq!(stack("push -7\npush 2\ndiv"), vec![-3]);
    assert_eq!(stack("push 7\npush -2\ndiv"), vec![-3]);
    assert_eq!(stack("push 7\npush 2\nmod"), vec![1]);
    assert_eq!(stack("push -7\npush 2\nmod"), vec![-1]);
    assert_eq!(stack("push 7\npush -2\nmod"), vec![1]);
    assert_eq!(stack("push 5\nneg"), vec![-5]);
    assert_eq!(stack("push -9223372036854775807\nneg"), vec![i64::MAX]);
}

#[test]
fn arithmetic_errors() {
    let max = i64::MAX;
    let min = i64::MIN;
    assert_eq!(
        error(&format!("push {max}\npush 1\nadd")),
        ErrorKind::ArithmeticOverflow
    );
    assert_eq!(
        error(&format!("push {min}\npush 1\nsub")),
        ErrorKind::ArithmeticOverflow
    );
    assert_eq!(
        error(&format!("push {max}\npush 2\nmul")),
        ErrorKind::ArithmeticOverflow
    );
    assert_eq!(
        error(&format!("push {min}\npush -1\ndiv")),
        ErrorKind::ArithmeticOverflow
    );
    assert_eq!(
        error(&format!("push {min}\npush -1\nmod")),
        ErrorKind::ArithmeticOverflow
    );
    assert_eq!(
        error(&format!("push {min}\nneg")),
        ErrorKind::ArithmeticOverflow
    );
    assert_eq!(error("push 1\npush 0\ndiv"), ErrorKind::DivisionByZero);
    assert_eq!(error("push 1\npush 0\nmod"), ErrorKind::DivisionByZero);
    assert_eq!(error("push 0\npush 0\ndiv"), ErrorKind::DivisionByZero);
}

#[test]
fn comparison_and_logic() {
    let cases = [
        ("eq", 3, 3, 1),
        ("eq", 3, 4, 0),
        ("ne", 3, 4, 1),
        ("ne", 3, 3, 0),
        ("lt", -1, 0, 1),
        ("lt", 0, 0, 0),
        ("le", 0, 0, 1),
        ("le", 1, 0, 0),
        ("gt", 1, 0, 1),
        ("gt", 0, 0, 0),
        ("ge", 0, 0, 1),
        ("ge", -1, 0, 0),
        ("and", 2, 3, 1),
        ("and", 2, 0, 0),
        ("or", 0, -3, 1),
        ("or", 0, 0, 0),
    ];
    for (op, a, b, want) in cases {
        assert_eq!(
            stack(&format!("push {a}\npush {b}\n{op}")),
            vec![want],
            "{a} {op} {b}"
        );
    }
    assert_eq!(stack("push 0\nnot"), vec![1]);
    assert_eq!(stack("push -4\nnot"), vec![0]);
}

#[test]
fn stack_ops() {
    assert_eq!(stack("push 1\npush 2\npop"), vec![1]);
    assert_eq!(stack("push 1\ndup"), vec![1, 1]);
    assert_eq!(stack("push 1\npush 2\nswap"), vec![2, 1]);
    assert_eq!(stack("push \"a\"\npush \"b\"\npush \"a\""), vec![0, 1, 0]);
}

#[test]
fn over_rot_pick() {
    assert_eq!(stack("push 1\npush 2\nover"), vec![1, 2, 1]);
    assert_eq!(stack("push 1\npush 2\npush 3\nrot"), vec![2, 3, 1]);
    assert_eq!(
        stack("push 9\npush 1\npush 2\npush 3\nrot\nrot\nrot"),
        vec![9, 1, 2, 3]
    );
    assert_eq!(stack("push 1\npush 2\npush 3\npick 0"), vec![1, 2, 3, 3]);
    assert_eq!(stack("push 1\npush 2\npush 3\npick 1"), vec![1, 2, 3, 2]);
    assert_eq!(stack("push 1\npush 2\npush 3\npick 2"), vec![1, 2, 3, 1]);
    // In a subroutine, `pick` reaches into the caller's values (the verifier counts them as
    // the subroutine's parameters).
    assert_eq!(
        stack("push 5\npush 6\ncall f\nhalt\nf: pick 1\nreturn"),
        vec![5, 6, 5]
    );
    // Gas: one each, like `dup`.
    let out = run_src("push 1\npush 2\npush 3\nover\nrot\npick 3");
    assert_eq!(out.gas_used, 6);
    for op in [Op::Over, Op::Rot, Op::Pick] {
        assert_eq!(op.info().gas, 1);
    }
}

#[test]
fn over_rot_pick_are_checked_by_the_verifier() {
    use coopvm_core::VerifyError;
    let check = |src: &str| verify(assemble("t.casm", src).unwrap(), &Limits::default());
    for (src, pc) in [
        ("push 1\nover", 1),
        ("push 1\npush 2\nrot", 2),
        ("push 1\npush 2\npick 2", 2),
        ("pick 0", 0),
    ] {
        let e = check(src).unwrap_err();
        assert!(
            matches!(e, VerifyError::StackUnderflow { pc: p, .. } if p == pc),
            "{src}: {e:?}"
        );
    }
    let e = check("push 1\npick -1").unwrap_err();
    assert!(matches!(e, VerifyError::BadOperand { pc: 1, .. }), "{e:?}");
    // A subroutine's `pick` deepens its signature.
    let v = check("push 1\npush 2\npush 3\ncall f\nhalt\nf: pick 2\nreturn").unwrap();
    assert_eq!(v.analysis().funcs[1].params, 3);
    // `pick N` with N at the stack limit cannot be satisfied.
    let small = Limits {
        stack: 4,
        ..Limits::default()
    };
    let e = verify(
        assemble("t.casm", "push 1\npush 2\npush 3\npush 4\npick 4").unwrap(),
        &small,
    )
    .unwrap_err();
    assert!(
        matches!(e, VerifyError::StackUnderflow { pc: 4, .. }),
        "{e:?}"
    );
}

#[test]
fn static_memory() {
    let out = run_src(".state a 5\nload a\npush 2\nmul\nstore b\nload b\n");
    assert!(out.is_ok());
    assert_eq!(out.stack, vec![10]);
    assert_eq!(out.state, State::from([("a".into(), 5), ("b".into(), 10)]));
    assert_eq!(error("load missing"), ErrorKind::InvalidMemoryAccess);
}

#[test]
fn dynamic_memory() {
    let out = run_src(".state 3 30\npush 3\nload\npush 1\nadd\npush -4\nstore\npush -4\nload\n");
    assert!(out.is_ok(), "{:?}", out.result);
    assert_eq!(out.stack, vec![31]);
    assert_eq!(
        out.state,
        State::from([("3".into(), 30), ("-4".into(), 31)])
    );
    assert_eq!(error("push 9\nload"), ErrorKind::InvalidMemoryAccess);
}

#[test]
fn memory_limit() {
    let limits = Limits {
        memory_keys: 2,
        ..Limits::default()
    };
    let ctx = ExecutionContext::default();
    let ok = run_full(
        ".state a 1\npush 1\nstore a\npush 2\nstore b\n",
        100,
        limits,
        &ctx,
        &mut NoHost,
    );
    assert!(ok.is_ok());
    let bad = run_full(
        ".state a 1\npush 1\nstore b\npush 2\npush 7\nstore\n",
        100,
        limits,
        &ctx,
        &mut NoHost,
    );
    let e = bad.result.unwrap_err();
    assert_eq!(e.kind, ErrorKind::MemoryLimitExceeded);
    assert_eq!(e.pc, Some(4));
    assert_eq!(bad.state, State::from([("a".into(), 1)]));
}

#[test]
fn transient_memory() {
    // Static and dynamic transient keys; nothing of it reaches the state, and the
    // persistent key of the same name is another value.
    let out = run_src(
        ".state a 5\npush 7\ntstore a\ntload a\nload a\nadd\npush 3\npush -2\ntstore\npush -2\ntload\ntload a\n",
    );
    assert!(out.is_ok(), "{:?}", out.result);
    assert_eq!(out.stack, vec![12, 3, 7]);
    assert_eq!(out.state, State::from([("a".into(), 5)]));
    // Gas: 2 static, 4 dynamic.
    let out = run_src("push 1\ntstore t\ntload t\npush 2\ntstore\npush 2\ntload");
    assert_eq!(out.gas_used, 1 + 2 + 2 + 1 + 4 + 1 + 4);
    // A missing transient key is invalid_memory_access, even where the state has the key.
    assert_eq!(error(".state a 1\ntload a"), ErrorKind::InvalidMemoryAccess);
    assert_eq!(
        error(".state 4 1\npush 4\ntload"),
        ErrorKind::InvalidMemoryAccess
    );
    let out = run_src("push 4\ntload");
    assert_eq!(
        out.result.unwrap_err().message,
        "tload of transient key 4, which holds no value"
    );
}

#[test]
fn transient_memory_limit() {
    let ctx = ExecutionContext::default();
    let limits = Limits {
        memory_keys: 1,
        transient_keys: 2,
        ..Limits::default()
    };
    // Two transient keys and one persistent key: within both limits.
    let src = "push 1\ntstore a\npush 2\npush 9\ntstore\npush 1\ntstore a\npush 3\nstore a\n";
    assert!(run_full(src, 100, limits, &ctx, &mut NoHost).is_ok());
    let over = "push 1\ntstore a\npush 2\npush 9\ntstore\npush 3\ntstore b\n";
    let out = run_full(over, 100, limits, &ctx, &mut NoHost);
    let e = out.result.unwrap_err();
    assert_eq!((e.kind, e.pc), (ErrorKind::MemoryLimitExceeded, Some(6)));
    assert_eq!(e.message, "transient memory is limited to 2 keys");
    let over = "push 1\ntstore a\npush 2\npush 9\ntstore\npush 3\npush 8\ntstore\n";
    let out = run_full(over, 100, limits, &ctx, &mut NoHost);
    assert_eq!(out.result.unwrap_err().kind, ErrorKind::MemoryLimitExceeded);
}

fn run_args(src: &str, args: &[coopvm_core::Arg], gas: u64) -> Outcome {
    let v = verified(src, Limits::default());
    let ctx = ExecutionContext {
        caller_did: "did:key:alice".into(),
        ..Default::default()
    };
    let state = v.contract().state.clone();
    let params = RunParams::new(&ctx, &state, gas).with_args(args);
    run(&lower(&v), &v, params, &mut NoHost)
}

#[test]
fn inputs() {
    use coopvm_core::Arg;
    // Deepest first, as given: 40 - 2. Inputs cost no gas.
    let out = run_args(".params 2\nsub", &Arg::ints(&[40, 2]), 100);
    assert_eq!((out.stack.to_vec(), out.gas_used), (vec![38], 1));
    // Unused inputs are the result.
    assert_eq!(
        run_args(".params 3", &Arg::ints(&[1, 2, 3]), 100).stack,
        vec![1, 2, 3]
    );
    // A subroutine and `pick` reach them.
    let out = run_args(
        ".params 2\npick 1\ncall f\nhalt\nf: mul\nadd\nreturn",
        &Arg::ints(&[3, 4]),
        100,
    );
    assert_eq!(out.stack, vec![15]);
    // A string input is a string of the run: the first handle after the constants.
    let src = ".params 1\npush \"x\"\npop\ndup\ngetcaller\nstreq\nswap\nstrlen";
    let out = run_args(src, &[Arg::from("did:key:alice")], 100);
    assert_eq!(out.stack, vec![1, 13]);
    let out = run_args(".params 1\ngetcaller", &[Arg::from("did:key:alice")], 100);
    assert_eq!(
        out.stack,
        vec![0, 0],
        "the caller's DID is the input's string"
    );
    // The wrong number of inputs is refused before the run: no gas, no host.
    for args in [&Arg::ints(&[1])[..], &Arg::ints(&[1, 2, 3])[..], &[]] {
        let mut host = Recorder::default();
        let v = verified(".params 2\nadd", Limits::default());
        let ctx = ExecutionContext::default();
        let params = RunParams::new(&ctx, &v.contract().state, 100).with_args(args);
        let out = run(&lower(&v), &v, params, &mut host);
        let e = out.result.unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert_eq!(
            e.message,
            format!(
                "contract `` takes 2 input(s) (`.params 2`), but the run was given {}",
                args.len()
            )
        );
        assert_eq!(out.gas_used, 0);
        assert!(host.calls.is_empty());
    }
    // A contract without `.params` takes none.
    let out = run_args("push 1", &Arg::ints(&[1]), 100);
    assert_eq!(out.result.unwrap_err().kind, ErrorKind::InvalidArgument);
}

#[test]
fn control_flow() {
    // jump skips, jumpif takes non-zero only.
    assert_eq!(stack("jump a\npush 1\na: push 2"), vec![2]);
    assert_eq!(stack("push 0\njumpif a\npush 1\npop\na: push 2"), vec![2]);
    assert_eq!(stack("push 5\njumpif a\npush 1\npop\na: push 2"), vec![2]);
    assert_eq!(stack("push -1\njumpif a\npush 9\nhalt\na: push 2"), vec![2]);
    assert_eq!(stack("push 0\njumpif a\npush 9\nhalt\na: push 2"), vec![9]);
    // Jump to the end ends the run.
    assert_eq!(stack("push 1\njump end\npush 2\nend:"), vec![1]);
    // Halt stops; return in main stops; falling off the end stops.
    assert_eq!(stack("push 1\nhalt\npush 2"), vec![1]);
    assert_eq!(stack("push 1\nreturn\npush 2"), vec![1]);
    assert_eq!(stack("push 1"), vec![1]);
    assert_eq!(stack(""), Vec::<i64>::new());
}

#[test]
fn calls() {
    assert_eq!(
        stack("push 3\ncall sq\ncall sq\nhalt\nsq: dup\nmul\nreturn"),
        vec![81]
    );
    // Halt inside a subroutine reports the whole stack.
    assert_eq!(
        stack("push 1\npush 2\ncall f\nf: push 3\nhalt"),
        vec![1, 2, 3]
    );
    let fib = include_str!("../../examples/fib.casm");
    assert_eq!(stack(fib), vec![6765]);
}

#[test]
fn call_depth_limit() {
    let ctx = ExecutionContext::default();
    let limits = Limits {
        call_depth: 10,
        ..Limits::default()
    };
    let src =
        "push 20\ncall f\nhalt\nf: dup\njumpif more\nreturn\nmore: push 1\nsub\ncall f\nreturn";
    let out = run_full(src, 100_000, limits, &ctx, &mut NoHost);
    assert_eq!(out.result.unwrap_err().kind, ErrorKind::CallDepthExceeded);
    let ok = run_full(
        &src.replace("push 20", "push 9"),
        100_000,
        limits,
        &ctx,
        &mut NoHost,
    );
    assert!(ok.is_ok(), "{:?}", ok.result);
}

#[test]
fn stack_limit_at_calls() {
    let ctx = ExecutionContext::default();
    let limits = Limits {
        stack: 16,
        call_depth: 1000,
        ..Limits::default()
    };
    // Each level keeps one value on the stack.
    let src = "call f\nf: push 1\ncall f";
    let out = run_full(src, 100_000, limits, &ctx, &mut NoHost);
    let e = out.result.unwrap_err();
    assert_eq!(e.kind, ErrorKind::StackOverflow);
    assert_eq!(e.pc, Some(2));
    // Infinite recursion without stack growth hits the call depth limit.
    let out = run_full("call f\nf: call f", 100_000, limits, &ctx, &mut NoHost);
    assert_eq!(out.result.unwrap_err().kind, ErrorKind::CallDepthExceeded);
}

#[test]
fn gas_is_charged_per_block() {
    // One block: push(1) + push(1) + add(1) = 3.
    let ctx = ExecutionContext::default();
    let src = "push 1\npush 2\nadd";
    for (limit, ok) in [(3, true), (2, false), (0, false), (100, true)] {
        let out = run_full(src, limit, Limits::default(), &ctx, &mut NoHost);
        assert_eq!(out.is_ok(), ok, "limit {limit}");
        if ok {
            assert_eq!(out.gas_used, 3);
        } else {
            assert_eq!(out.result.unwrap_err().kind, ErrorKind::OutOfGas);
            assert_eq!(out.gas_used, limit);
        }
    }
}

#[test]
fn out_of_gas_stops_infinite_loops() {
    let ctx = ExecutionContext::default();
    let out = run_full("l: jump l", 1000, Limits::default(), &ctx, &mut NoHost);
    assert_eq!(out.result.unwrap_err().kind, ErrorKind::OutOfGas);
    assert_eq!(out.gas_used, 1000);
}

#[test]
fn out_of_gas_at_block_entry_runs_nothing_of_the_block() {
    // First block: push 1, jump b (2 gas). Block b: log, halt (2 + 1 = 3 gas).
    let ctx = ExecutionContext::default();
    let src = "push 1\njump b\nb: log\nhalt";
    let out = run_full(src, 4, Limits::default(), &ctx, &mut NoHost);
    assert_eq!(out.result.as_ref().unwrap_err().kind, ErrorKind::OutOfGas);
    assert!(
        out.logs.is_empty(),
        "no instruction of the unpaid block ran"
    );
    let out = run_full(src, 5, Limits::default(), &ctx, &mut NoHost);
    assert!(out.is_ok());
    assert_eq!(out.logs, vec![1]);
    assert_eq!(out.gas_used, 5);
}

#[test]
fn system_ops() {
    let ctx = ExecutionContext {
        caller_did: "did:key:bob".into(),
        timestamp: 1234,
        block_number: 77,
        ..Default::default()
    };
    let src = "gettimestamp\ngetblock\ngetcaller\npush \"Ping\"\npush 5\nemitevent\npush 6\nlog";
    let out = run_full(src, 1000, Limits::default(), &ctx, &mut NoHost);
    assert!(out.is_ok(), "{:?}", out.result);
    assert_eq!(out.stack, vec![1234, 77, 1]);
    assert_eq!(out.logs, vec![6]);
    assert_eq!(out.events.len(), 1);
    assert_eq!(out.events[0].name, "Ping");
    assert_eq!(out.events[0].caller, "did:key:bob");
    assert_eq!(out.events[0].fields["value"], EventValue::Int(5));
    assert_eq!(out.host_calls, 5);
    assert_eq!(
        error("push 99\npush 1\nemitevent"),
        ErrorKind::InvalidStringHandle
    );
}

#[test]
fn string_equality_and_length() {
    let ctx = ExecutionContext {
        caller_did: "did:key:alice".into(),
        ..Default::default()
    };
    let src = "getcaller\npush \"did:key:alice\"\nstreq\ngetcaller\npush \"did:key:alice\"\neq\n\
               getcaller\npush \"did:key:bob\"\nstreq\ngetcaller\nstrlen\npush \"\"\nstrlen";
    let out = run_full(src, 1000, Limits::default(), &ctx, &mut NoHost);
    assert!(out.is_ok(), "{:?}", out.result);
    // `eq` compares handles (a constant and a created string differ); `streq` the text.
    assert_eq!(out.stack, vec![1, 0, 0, 13, 0]);
    // streq: 3 + 1 per 32 bytes of the shorter string (13 and 13, 11 bytes: 1 each).
    assert_eq!(
        out.gas_used,
        (2 + 1 + 3 + 1) + (2 + 1 + 1) + (2 + 1 + 3 + 1) + (2 + 2) + (1 + 2)
    );
    assert_eq!(out.host_calls, 8);
    // The dynamic charge (2 for 64 bytes) can run out of gas after the static 5.
    let long = format!("push \"{0}\"\npush \"{0}z\"\nstreq", "z".repeat(64));
    for (limit, ok) in [(5, false), (6, false), (7, true)] {
        let out = run_full(&long, limit, Limits::default(), &ctx, &mut NoHost);
        assert_eq!(out.is_ok(), ok, "{limit}");
        if ok {
            assert_eq!((out.stack.to_vec(), out.gas_used), (vec![0], 7));
        } else {
            assert_eq!(out.result.unwrap_err().kind, ErrorKind::OutOfGas);
            assert_eq!(out.gas_used, limit);
        }
    }
    assert_eq!(
        error("push 0\npush 1\nstreq"),
        ErrorKind::InvalidStringHandle
    );
    assert_eq!(
        error("push \"a\"\npush 1\nstreq"),
        ErrorKind::InvalidStringHandle
    );
    assert_eq!(error("push -1\nstrlen"), ErrorKind::InvalidStringHandle);
}

#[test]
fn domain_ops_without_a_host_fail_cleanly() {
    let e = run_src(".state x 1\npush 2\nstore x\npush \"c\"\npush 10\ncreatecooperative");
    assert_eq!(e.result.unwrap_err().kind, ErrorKind::HostUnavailable);
    assert_eq!(e.state["x"], 1);
}

/// A host that records every call and returns fixed values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Recorder {
    calls: Vec<String>,
    charge: u64,
    fail_on: Option<&'static str>,
}

impl Recorder {
    fn note(&mut self, cx: &mut HostCx, call: String) -> VmResult<()> {
        let name = call.split('(').next().unwrap_or("").to_owned();
        cx.charge(self.charge);
        self.calls.push(call);
        if self.fail_on == Some(name.as_str()) {
            return Err(VmError::new(ErrorKind::NotMember, "refused"));
        }
        cx.emit(&name, [("n", EventValue::Int(self.calls.len() as i64))]);
        Ok(())
    }
}

impl Host for Recorder {
    fn begin(&mut self) {
        self.calls.push("begin".into());
    }
    fn commit(&mut self) {
        self.calls.push("commit".into());
    }
    fn rollback(&mut self) {
        self.calls.push("rollback".into());
    }
    fn create_cooperative(&mut self, cx: &mut HostCx, name: &str, pool: i64) -> VmResult<()> {
        self.note(cx, format!("create_cooperative({name},{pool})"))
    }
    fn join_cooperative(&mut self, cx: &mut HostCx, coop: &str) -> VmResult<()> {
        self.note(cx, format!("join_cooperative({coop})"))
    }
    fn leave_cooperative(&mut self, cx: &mut HostCx, coop: &str) -> VmResult<()> {
        self.note(cx, format!("leave_cooperative({coop})"))
    }
    fn allocate_resource(
        &mut self,
        cx: &mut HostCx,
        coop: &str,
        member: &str,
        amount: i64,
    ) -> VmResult<()> {
        self.note(cx, format!("allocate_resource({coop},{member},{amount})"))
    }
    fn transfer_resource(
        &mut self,
        cx: &mut HostCx,
        coop: &str,
        to: &str,
        amount: i64,
    ) -> VmResult<()> {
        self.note(cx, format!("transfer_resource({coop},{to},{amount})"))
    }
    fn create_federation(&mut self, cx: &mut HostCx, name: &str, coop: &str) -> VmResult<()> {
        self.note(cx, format!("create_federation({name},{coop})"))
    }
    fn join_federation(&mut self, cx: &mut HostCx, federation: &str, coop: &str) -> VmResult<()> {
        self.note(cx, format!("join_federation({federation},{coop})"))
    }
    fn create_proposal(
        &mut self,
        cx: &mut HostCx,
        coop: &str,
        title: &str,
        quorum: i64,
        deadline: i64,
    ) -> VmResult<i64> {
        self.note(
            cx,
            format!("create_proposal({coop},{title},{quorum},{deadline})"),
        )?;
        Ok(41)
    }
    fn cast_vote(&mut self, cx: &mut HostCx, id: i64, choice: i64) -> VmResult<()> {
        self.note(cx, format!("cast_vote({id},{choice})"))
    }
    fn delegate_votes(&mut self, cx: &mut HostCx, coop: &str, delegate: &str) -> VmResult<()> {
        self.note(cx, format!("delegate_votes({coop},{delegate})"))
    }
    fn execute_proposal(&mut self, cx: &mut HostCx, id: i64) -> VmResult<bool> {
        self.note(cx, format!("execute_proposal({id})"))?;
        Ok(true)
    }
    fn update_quorum(&mut self, cx: &mut HostCx, id: i64, quorum: i64) -> VmResult<()> {
        self.note(cx, format!("update_quorum({id},{quorum})"))
    }
    fn update_reputation(&mut self, cx: &mut HostCx, did: &str, delta: i64) -> VmResult<()> {
        self.note(cx, format!("update_reputation({did},{delta})"))
    }
    fn get_reputation(&mut self, cx: &mut HostCx, did: &str) -> VmResult<i64> {
        self.note(cx, format!("get_reputation({did})"))?;
        Ok(-8)
    }
    fn verify_did(
        &mut self,
        cx: &mut HostCx,
        did: &str,
        payload: &str,
        signature: &str,
    ) -> VmResult<bool> {
        self.note(cx, format!("verify_did({did},{payload},{signature})"))?;
        Ok(false)
    }
    fn update_did_document(&mut self, cx: &mut HostCx, did: &str, document: &str) -> VmResult<()> {
        self.note(cx, format!("update_did_document({did},{document})"))
    }
    fn call_contract(&mut self, cx: &mut HostCx, contract: &str, arg: i64) -> VmResult<i64> {
        self.note(cx, format!("call_contract({contract},{arg})"))?;
        Ok(arg.wrapping_mul(2))
    }
    fn get_balance(&mut self, cx: &mut HostCx, coop: &str, member: &str) -> VmResult<i64> {
        self.note(cx, format!("get_balance({coop},{member})"))?;
        Ok(11)
    }
    fn get_pool(&mut self, cx: &mut HostCx, coop: &str) -> VmResult<i64> {
        self.note(cx, format!("get_pool({coop})"))?;
        Ok(12)
    }
    fn is_member(&mut self, cx: &mut HostCx, coop: &str, did: &str) -> VmResult<bool> {
        self.note(cx, format!("is_member({coop},{did})"))?;
        Ok(true)
    }
    fn in_federation(&mut self, cx: &mut HostCx, federation: &str, coop: &str) -> VmResult<bool> {
        self.note(cx, format!("in_federation({federation},{coop})"))?;
        Ok(false)
    }
    fn federation_size(&mut self, cx: &mut HostCx, federation: &str) -> VmResult<i64> {
        self.note(cx, format!("federation_size({federation})"))?;
        Ok(13)
    }
    fn federation_member(
        &mut self,
        cx: &mut HostCx,
        federation: &str,
        index: i64,
    ) -> VmResult<String> {
        self.note(cx, format!("federation_member({federation},{index})"))?;
        Ok(format!("member-{index}"))
    }
    fn proposal_state(&mut self, cx: &mut HostCx, id: i64) -> VmResult<i64> {
        self.note(cx, format!("proposal_state({id})"))?;
        Ok(2)
    }
    fn proposal_tally(&mut self, cx: &mut HostCx, id: i64, choice: i64) -> VmResult<i64> {
        self.note(cx, format!("proposal_tally({id},{choice})"))?;
        Ok(14)
    }
    fn has_voted(&mut self, cx: &mut HostCx, id: i64, did: &str) -> VmResult<bool> {
        self.note(cx, format!("has_voted({id},{did})"))?;
        Ok(true)
    }
    fn did_registered(&mut self, cx: &mut HostCx, did: &str) -> VmResult<bool> {
        self.note(cx, format!("did_registered({did})"))?;
        Ok(false)
    }
    fn did_controller(&mut self, cx: &mut HostCx, did: &str) -> VmResult<String> {
        self.note(cx, format!("did_controller({did})"))?;
        Ok("did:key:m".into())
    }
}

const DOMAIN: &str = r#"
    push "coop"
    push 100
    createcooperative
    push "coop"
    joincooperative
    push "coop"
    leavecooperative
    push "coop"
    push "did:key:m"
    push 5
    allocateresource
    push "coop"
    push "did:key:m"
    push 6
    transferresource
    push "fed"
    push "coop"
    createfederation
    push "fed"
    push "coop"
    joinfederation
    push "coop"
    push "title"
    push 3
    push 99
    createproposal
    dup
    push 1
    castvote
    push "coop"
    push "did:key:m"
    delegatevotes
    dup
    push 4
    updatequorum
    executeproposal
    push "did:key:m"
    push -2
    updatereputation
    push "did:key:m"
    getreputation
    push "did:key:m"
    push "payload"
    push "sig"
    verifydid
    push "did:key:m"
    push "doc"
    updatediddocument
    push "lib"
    push 21
    callcontract
    push "coop"
    push "did:key:m"
    getbalance
    push "coop"
    getpool
    push "coop"
    push "did:key:m"
    ismember
    push "fed"
    push "coop"
    infederation
    push "fed"
    federationsize
    push "fed"
    push 3
    federationmember
    push 41
    proposalstate
    push 41
    push 0
    proposaltally
    push 41
    push "did:key:m"
    hasvoted
    push "did:key:m"
    didregistered
    push "did:key:m"
    didcontroller
"#;

#[test]
fn domain_ops_dispatch_to_the_host() {
    let mut host = Recorder::default();
    let out = run_full(
        DOMAIN,
        100_000,
        Limits::default(),
        &ExecutionContext::default(),
        &mut host,
    );
    assert!(out.is_ok(), "{:?}", out.result);
    // A string a host returns becomes a string of the run: `federationmember`'s answer
    // gets the first handle after the 8 constants, `didcontroller`'s the next (created
    // strings are handles of their own even when a constant has the same text).
    assert_eq!(
        out.stack,
        vec![1, -8, 0, 42, 11, 12, 1, 0, 13, 8, 2, 14, 1, 0, 9]
    );
    let want = [
        "begin",
        "create_cooperative(coop,100)",
        "join_cooperative(coop)",
        "leave_cooperative(coop)",
        "allocate_resource(coop,did:key:m,5)",
        "transfer_resource(coop,did:key:m,6)",
        "create_federation(fed,coop)",
        "join_federation(fed,coop)",
        "create_proposal(coop,title,3,99)",
        "cast_vote(41,1)",
        "delegate_votes(coop,did:key:m)",
        "update_quorum(41,4)",
        "execute_proposal(41)",
        "update_reputation(did:key:m,-2)",
        "get_reputation(did:key:m)",
        "verify_did(did:key:m,payload,sig)",
        "update_did_document(did:key:m,doc)",
        "call_contract(lib,21)",
        "get_balance(coop,did:key:m)",
        "get_pool(coop)",
        "is_member(coop,did:key:m)",
        "in_federation(fed,coop)",
        "federation_size(fed)",
        "federation_member(fed,3)",
        "proposal_state(41)",
        "proposal_tally(41,0)",
        "has_voted(41,did:key:m)",
        "did_registered(did:key:m)",
        "did_controller(did:key:m)",
        "commit",
    ];
    assert_eq!(host.calls, want);
    assert_eq!(out.events.len(), 28);
    assert_eq!(out.host_calls, 28);
    // Every domain opcode of the table is exercised above.
    let text = DOMAIN.to_ascii_lowercase();
    for op in coopvm_core::HostOp::ALL {
        let m = op.info().mnemonic;
        let system = op.system().is_some();
        assert!(system || text.contains(m), "{m} is not exercised");
    }
}

#[test]
fn host_errors_roll_back_everything() {
    let mut host = Recorder {
        fail_on: Some("cast_vote"),
        ..Default::default()
    };
    let src = format!(".state s 1\npush 2\nstore s\n{DOMAIN}");
    let out = run_full(
        &src,
        100_000,
        Limits::default(),
        &ExecutionContext::default(),
        &mut host,
    );
    let e = out.result.as_ref().unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotMember);
    assert_eq!(host.calls.last().map(String::as_str), Some("rollback"));
    assert_eq!(out.state["s"], 1);
    assert_eq!(out.events.len(), 1);
    assert_eq!(out.events[0].name, "Error");
    assert_eq!(out.events[0].fields["kind"], EventValue::from("not_member"));
}

#[test]
fn dynamic_host_gas_is_charged() {
    let src = "push \"c\"\npush 1\ncreatecooperative";
    let static_gas = 1 + 1 + Op::CreateCooperative.info().gas;
    let ctx = ExecutionContext::default();
    let mut host = Recorder {
        charge: 50,
        ..Default::default()
    };
    let out = run_full(src, 1000, Limits::default(), &ctx, &mut host);
    assert!(out.is_ok());
    assert_eq!(out.gas_used, static_gas + 50);
    let mut host = Recorder {
        charge: 50,
        ..Default::default()
    };
    let out = run_full(src, static_gas + 49, Limits::default(), &ctx, &mut host);
    assert_eq!(out.result.unwrap_err().kind, ErrorKind::OutOfGas);
    assert_eq!(out.gas_used, static_gas + 49);
    assert_eq!(host.calls.last().map(String::as_str), Some("rollback"));
}

#[test]
fn preflight_checks_use_no_gas() {
    let src = ".permission vote\n.reputation 10\npush 1";
    let mut ctx = ExecutionContext {
        reputation_score: 10,
        ..Default::default()
    };
    let mut host = Recorder::default();
    let out = run_full(src, 100, Limits::default(), &ctx, &mut host);
    assert_eq!(out.result.unwrap_err().kind, ErrorKind::PermissionDenied);
    assert_eq!(out.gas_used, 0);
    assert!(host.calls.is_empty(), "the host is not touched");
    ctx.permissions.push("vote".into());
    ctx.reputation_score = 9;
    let out = run_full(src, 100, Limits::default(), &ctx, &mut NoHost);
    assert_eq!(
        out.result.unwrap_err().kind,
        ErrorKind::InsufficientReputation
    );
    assert_eq!(out.gas_used, 0);
    ctx.reputation_score = 10;
    assert!(run_full(src, 100, Limits::default(), &ctx, &mut NoHost).is_ok());
}

#[test]
fn errors_carry_the_instruction_index() {
    let out = run_src("push 1\npush 2\njump x\nx: push 0\ndiv");
    let e = out.result.unwrap_err();
    assert_eq!((e.kind, e.pc), (ErrorKind::DivisionByZero, Some(4)));
    let out = run_full(
        "push 1\njump x\nx: push 2",
        2,
        Limits::default(),
        &ExecutionContext::default(),
        &mut NoHost,
    );
    let e = out.result.unwrap_err();
    assert_eq!((e.kind, e.pc), (ErrorKind::OutOfGas, Some(2)));
}

#[test]
fn step_api_matches_a_full_run() {
    let v = verified(
        include_str!("../../examples/subroutine.casm"),
        Limits::default(),
    );
    let compiled = lower(&v);
    let ctx = ExecutionContext::default();
    let c = v.contract();
    let mut env = Env::new(&ctx, &c.id, &c.program.strings);
    let mut memory = Memory::new(&c.program, &c.state, 100);
    let mut m = Machine::new(&compiled, 1000);
    let mut steps = 0;
    let result = loop {
        steps += 1;
        match m.step(&mut env, &mut NoHost, &mut memory) {
            Flow::Continue => {}
            Flow::Done => break Ok(()),
            Flow::Error(e) => break Err(*e),
        }
    };
    assert!(steps > 10);
    let exec = m.finish(result);
    let full = run(
        &lower(&v),
        &v,
        RunParams::new(&ctx, &c.state, 1000),
        &mut NoHost,
    );
    assert_eq!(exec.stack, full.stack);
    assert_eq!(exec.gas_used, full.gas_used);
}

// --- the register code against the one-to-one stream -------------------------------------

use crate::step::Stepper;
use coopvm_core::run::Session;
use coopvm_core::stats::{run_with_stats, Stats, Stop, Tally};
use coopvm_testgen::arbitrary::Unstructured;
use coopvm_testgen::gas_limits;
use proptest::prelude::*;

/// `v` stepped to the end with the one-to-one machine (the reference): the outcome as the
/// step API reports it, and the statistics the stepping machine's block entries give.
fn stepped(v: &Verified, params: RunParams<'_>, host: &mut Recorder) -> (Outcome, Stats) {
    let code = lower(v);
    // The public step API.
    let mut api_host = host.clone();
    let mut stepper = Stepper::new(v, &code, params, &mut api_host);
    let api = stepper.run_to_end().clone();
    // The machine underneath, with every block entry reported as the register loop's probe
    // reports it.
    let (out, mut stats) = match Session::begin(v, params, host) {
        Err(refused) => (*refused, Stats::default()),
        Ok(mut session) => {
            let mut tally = Tally::new(v.analysis());
            let mut m = Machine::new(&code, params.gas_limit).with_inputs(session.env.inputs());
            let (result, at_charge) = loop {
                let ip = m.ip();
                let charge = matches!(code.ops()[ip], IOp::Charge(_));
                match m.step(&mut session.env, host, &mut session.memory) {
                    Flow::Continue => {
                        if charge {
                            let block = v.analysis().block_at[code.pc_of(ip) as usize];
                            tally.enter(block, m.stack().len() as u32, m.call_stack().len() as u32);
                        }
                    }
                    Flow::Done => break (Ok(()), false),
                    Flow::Error(e) => break (Err(*e), charge),
                }
            };
            let stop = Stop::from_result(&result, at_charge);
            let memory_keys = session.memory.len();
            let out = session.finish(m.finish(result), host);
            let mut stats = tally.finish(v, stop);
            stats.memory_keys = memory_keys;
            (out, stats)
        }
    };
    stats.gas_used = out.gas_used;
    stats.host_calls = out.host_calls;
    assert_eq!(api, out, "the step API and its machine disagree");
    assert_eq!(api_host, *host);
    (out, stats)
}

/// Integer inputs for `v`'s `.params`.
fn int_inputs(v: &Verified) -> Vec<coopvm_core::Arg> {
    let n = (v.contract().params as usize).min(4);
    coopvm_core::Arg::ints(&[49, 7, 3, 1][..n])
}

/// [`agree_with`] with integer inputs for `v`'s `.params`.
fn agree(v: &Verified, state: &State, gases: &[u64]) -> u64 {
    agree_with(v, state, &int_inputs(v), gases)
}

/// Runs `v` with `args` on the register code (plain and with statistics) and steps it, at
/// each gas limit: outcomes, host effects and statistics must be identical. Returns the gas
/// the run used with the first limit.
fn agree_with(v: &Verified, state: &State, args: &[coopvm_core::Arg], gases: &[u64]) -> u64 {
    let ctx = ExecutionContext {
        caller_did: "did:key:alice".into(),
        timestamp: 1_700_000_000,
        block_number: 42,
        reputation_score: 10,
        permissions: vec!["member".into()],
        ..ExecutionContext::default()
    };
    let code = lowered(v);
    let mut first = None;
    for &gas in gases {
        let params = RunParams::new(&ctx, state, gas).with_args(args);
        let (mut h1, mut h2, mut h3) = (
            Recorder::default(),
            Recorder::default(),
            Recorder::default(),
        );
        let fast = run(&*code, v, params, &mut h1);
        let (counted, stats) = run_with_stats(&*code, v, params, &mut h2);
        let (want, want_stats) = stepped(v, params, &mut h3);
        let listing = || coopvm_core::disasm::disassemble(v.contract());
        assert!(
            fast == want && h1 == h3,
            "register code and stepping disagree with gas {gas}\n{}\n--- register ---\n{fast:#?}\n--- stepped ---\n{want:#?}",
            listing()
        );
        assert!(
            counted == want && h2 == h3 && stats.deterministic() == want_stats.deterministic(),
            "statistics disagree with gas {gas}\n{}\n--- register ---\n{stats:#?}\n--- stepped ---\n{want_stats:#?}",
            listing()
        );
        first.get_or_insert(want.gas_used);
    }
    first.unwrap_or(0)
}

/// Every example under `examples/`, verified (a relation gets inputs pushed in front).
fn examples() -> Vec<(String, Verified)> {
    let paths = coopvm_testgen::casm_files(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples"
    )));
    paths
        .into_iter()
        .map(|path| {
            let name = path.display().to_string();
            let src = std::fs::read_to_string(&path).expect("readable");
            let contract = assemble(&name, &src).expect("examples assemble");
            let v = (0..4)
                .find_map(|n| verify(with_inputs(&contract, n), &Limits::default()).ok())
                .unwrap_or_else(|| panic!("{name} does not verify"));
            (name, v)
        })
        .collect()
}

/// `contract` with `n` input values pushed in front of its code.
fn with_inputs(contract: &coopvm_core::Contract, n: usize) -> coopvm_core::Contract {
    use coopvm_core::isa::OperandKind;
    let mut c = contract.clone();
    let mut code: Vec<coopvm_core::Insn> = [49, 7, 3, 1][..n]
        .iter()
        .map(|&v| coopvm_core::Insn::with(Op::Push, v))
        .collect();
    for insn in &c.program.code {
        let mut insn = *insn;
        if insn.op.info().operand == OperandKind::Target {
            insn.arg += n as i64;
        }
        code.push(insn);
    }
    c.program.code = code;
    c
}

#[test]
fn register_code_agrees_with_stepping_on_every_example() {
    let all = examples();
    assert!(all.len() >= 10, "only {} examples", all.len());
    for (name, v) in &all {
        let state = v.contract().state.clone();
        let full = agree(v, &state, &[coopvm_core::DEFAULT_GAS_LIMIT]);
        agree(v, &state, &gas_limits(full, 7));
        let params = v.contract().params as usize;
        if params > 0 {
            // Inputs as the examples take them: a member's DID first, then integers.
            let mut args = vec![coopvm_core::Arg::Str("did:key:bob".into())];
            args.extend(coopvm_core::Arg::ints(&[7, 1, 3][..params - 1]));
            let full = agree_with(v, &state, &args, &[coopvm_core::DEFAULT_GAS_LIMIT]);
            agree_with(v, &state, &args, &gas_limits(full, 7));
        }
        // The register code is shorter than the stream it replaces.
        let code = lower(v);
        assert!(code.register_len() <= code.ops().len() + 2, "{name}");
    }
}

/// The gas limit of a generated program's reference run (a loop that never ends burns all
/// of it at every limit of the sweep).
const REFERENCE_GAS: u64 = 100_000;

fn cases(default: u32) -> u32 {
    std::env::var("INTERP_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(400),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn register_code_agrees_with_stepping_on_generated_programs(
        data in prop::collection::vec(any::<u8>(), 0..1024),
    ) {
        // Programs aimed at the register code's rewrites, among the rest: stack shuffles,
        // constants of every width, comparisons feeding `jumpif`, the fused memory shapes,
        // host operations between them, loops, calls and recursion.
        let mut u = Unstructured::new(&data);
        let salt: u64 = u.arbitrary().unwrap_or(0);
        let g = coopvm_testgen::program(&mut u);
        let contract = assemble("gen.casm", &g.source).expect("generated programs assemble");
        let Ok(v) = verify(contract, &g.limits) else {
            return Ok(());
        };
        let state = v.contract().state.clone();
        let full = agree_with(&v, &state, &g.args, &[REFERENCE_GAS]);
        agree_with(&v, &state, &g.args, &gas_limits(full, salt));
    }

    #[test]
    fn register_code_agrees_with_stepping_on_raw_instruction_streams(
        data in prop::collection::vec(any::<u8>(), 0..128),
    ) {
        let mut u = Unstructured::new(&data);
        let limits = coopvm_testgen::limits(&mut u);
        let salt: u64 = u.arbitrary().unwrap_or(0);
        let contract = coopvm_testgen::raw_contract(&mut u);
        let Ok(v) = verify(contract, &limits) else {
            return Ok(());
        };
        let state = v.contract().state.clone();
        let full = agree(&v, &state, &[REFERENCE_GAS]);
        agree(&v, &state, &gas_limits(full, salt));
    }
}

/// The register code of `src`, as operation names, a block's first operation marked `*`.
fn shapes(src: &str) -> Vec<String> {
    lower(&verified(src, Limits::default()))
        .reg
        .ops
        .iter()
        .map(|i| format!("{}{}", if i.charge > 0 { "*" } else { "" }, op_name(&i.op)))
        .collect()
}

#[test]
fn common_shapes_lower_to_few_operations() {
    // The counter contract: `load K; push 1; add` is one operation, the `dup` folded; the
    // block's charge on its first operation. The code is lowered for every state, so the
    // load tests its cell; the store follows a successful load of its key and overwrites
    // the cell untested.
    assert_eq!(
        shapes(".state count 0\nload count\npush 1\nadd\ndup\nstore count\nhalt\n"),
        ["*LoadAddI", "StoreP", "Halt", "Unreachable"]
    );
    // A counted loop over a memory slot: `load i; jumpif`, `load i; add`, `load i; push 1;
    // sub; store i`, and the loop head copied onto the back edge (its own charge kept). `i`
    // is stored before the loop, so the loop's loads do not test its cell.
    assert_eq!(
        shapes(
            "push 0\npush 9\nstore i\nloop: load i\njumpif body\nhalt\n\
             body: load i\nadd\nload i\npush 1\nsub\nstore i\njump loop\n"
        ),
        [
            "*Const",
            "Store",
            "Const",
            "*BrLoadNz",
            "*Halt",
            "*AddLoadP",
            "DecMemNzP",
            "*BrLoadNz",
            "Jump",
            "Unreachable"
        ]
    );
    // Recursion: `dup; push 2; lt; jumpif` is one compare-and-branch on a slot.
    assert_eq!(
        shapes(
            "push 9\ncall fib\nhalt\nfib: dup\npush 2\nlt\njumpif done\n\
             dup\npush 1\nsub\ncall fib\nswap\npush 2\nsub\ncall fib\nadd\n\
             done: return\n"
        ),
        [
            "*Const",
            "Call",
            "*Halt",
            "*BrLtI",
            "*SubI",
            "Call",
            "*Swap",
            "SubI",
            "Call",
            "*Add",
            "*Return",
            "Unreachable"
        ]
    );
    // `load K; push n; <comparison>; jumpif` is one operation.
    assert_eq!(
        shapes("push 3\nstore i\nl: load i\npush 0\ngt\njumpif l\n"),
        ["*Const", "Store", "*BrLoadGtI", "Halt", "Unreachable"]
    );
}

/// The register operation's name (an exhaustive match: a new operation must be added here,
/// and then be produced by the generators below).
fn op_name(op: &reg::RegOp) -> &'static str {
    use reg::RegOp::*;
    match op {
        Nop => "Nop",
        Enter => "Enter",
        Const { .. } => "Const",
        Copy { .. } => "Copy",
        Swap { .. } => "Swap",
        Add { .. } => "Add",
        AddI { .. } => "AddI",
        Sub { .. } => "Sub",
        SubI { .. } => "SubI",
        Mul { .. } => "Mul",
        MulI { .. } => "MulI",
        Div { .. } => "Div",
        DivI { .. } => "DivI",
        Mod { .. } => "Mod",
        ModI { .. } => "ModI",
        Neg { .. } => "Neg",
        Eq { .. } => "Eq",
        EqI { .. } => "EqI",
        Ne { .. } => "Ne",
        NeI { .. } => "NeI",
        Lt { .. } => "Lt",
        LtI { .. } => "LtI",
        Le { .. } => "Le",
        LeI { .. } => "LeI",
        Gt { .. } => "Gt",
        GtI { .. } => "GtI",
        Ge { .. } => "Ge",
        GeI { .. } => "GeI",
        And { .. } => "And",
        AndI { .. } => "AndI",
        Or { .. } => "Or",
        OrI { .. } => "OrI",
        Not { .. } => "Not",
        Load { .. } => "Load",
        Store { .. } => "Store",
        LoadDyn { .. } => "LoadDyn",
        StoreDyn { .. } => "StoreDyn",
        StoreDynI { .. } => "StoreDynI",
        TLoad { .. } => "TLoad",
        TStore { .. } => "TStore",
        TLoadDyn { .. } => "TLoadDyn",
        TStoreDyn { .. } => "TStoreDyn",
        AddLoad { .. } => "AddLoad",
        LoadAddI { .. } => "LoadAddI",
        LoadSubI { .. } => "LoadSubI",
        IncMem { .. } => "IncMem",
        DecMem { .. } => "DecMem",
        LoadP { .. } => "LoadP",
        StoreP { .. } => "StoreP",
        AddLoadP { .. } => "AddLoadP",
        LoadAddIP { .. } => "LoadAddIP",
        LoadSubIP { .. } => "LoadSubIP",
        IncMemP { .. } => "IncMemP",
        DecMemP { .. } => "DecMemP",
        IncMemCloseP { .. } => "IncMemCloseP",
        DecMemCloseP { .. } => "DecMemCloseP",
        IncMemNzP { .. } => "IncMemNzP",
        DecMemNzP { .. } => "DecMemNzP",
        SubINz { .. } => "SubINz",
        LoadSubINzP { .. } => "LoadSubINzP",
        LoadDynAtP { .. } => "LoadDynAtP",
        Jump { .. } => "Jump",
        BrNz { .. } => "BrNz",
        BrModINz { .. } => "BrModINz",
        BrLowNz { .. } => "BrLowNz",
        BrLoadNz { .. } => "BrLoadNz",
        BrLoadEqI { .. } => "BrLoadEqI",
        BrLoadNeI { .. } => "BrLoadNeI",
        BrLoadLtI { .. } => "BrLoadLtI",
        BrLoadLeI { .. } => "BrLoadLeI",
        BrLoadGtI { .. } => "BrLoadGtI",
        BrLoadGeI { .. } => "BrLoadGeI",
        BrEq { .. } => "BrEq",
        BrEqI { .. } => "BrEqI",
        BrNe { .. } => "BrNe",
        BrNeI { .. } => "BrNeI",
        BrLt { .. } => "BrLt",
        BrLtI { .. } => "BrLtI",
        BrLe { .. } => "BrLe",
        BrLeI { .. } => "BrLeI",
        BrGt { .. } => "BrGt",
        BrGtI { .. } => "BrGtI",
        BrGe { .. } => "BrGe",
        BrGeI { .. } => "BrGeI",
        Call { .. } => "Call",
        Return { .. } => "Return",
        Halt { .. } => "Halt",
        Host { .. } => "Host",
        Unreachable => "Unreachable",
    }
}

#[test]
fn the_generators_exercise_every_register_operation() {
    let mut seen = std::collections::BTreeSet::new();
    let mut verified = 0;
    for seed in 1..=3000 {
        let data = coopvm_testgen::bytes(seed, 800);
        let g = coopvm_testgen::program(&mut Unstructured::new(&data));
        let Ok(v) = verify(assemble("g", &g.source).unwrap(), &g.limits) else {
            continue;
        };
        verified += 1;
        for inst in &lower(&v).reg.ops {
            seen.insert(op_name(&inst.op));
        }
    }
    assert!(verified > 1000, "only {verified} generated programs verify");
    // `Enter` needs a block of no gas (no opcode costs nothing), `Unreachable` never runs;
    // `Nop` is a block with nothing but its charge.
    let all = [
        "Nop",
        "Const",
        "Copy",
        "Swap",
        "Add",
        "AddI",
        "Sub",
        "SubI",
        "Mul",
        "MulI",
        "Div",
        "DivI",
        "Mod",
        "ModI",
        "Neg",
        "Eq",
        "EqI",
        "Ne",
        "NeI",
        "Lt",
        "LtI",
        "Le",
        "LeI",
        "Gt",
        "GtI",
        "Ge",
        "GeI",
        "And",
        "AndI",
        "Or",
        "OrI",
        "Not",
        "Load",
        "Store",
        "LoadDyn",
        "StoreDyn",
        "StoreDynI",
        "TLoad",
        "TStore",
        "TLoadDyn",
        "TStoreDyn",
        "AddLoad",
        "LoadAddI",
        "LoadSubI",
        "IncMem",
        "DecMem",
        "LoadP",
        "StoreP",
        "AddLoadP",
        "LoadAddIP",
        "LoadSubIP",
        "IncMemP",
        "DecMemP",
        "IncMemCloseP",
        "DecMemCloseP",
        "IncMemNzP",
        "DecMemNzP",
        "SubINz",
        "LoadSubINzP",
        "LoadDynAtP",
        "Jump",
        "BrNz",
        "BrLoadNz",
        "BrLoadEqI",
        "BrLoadNeI",
        "BrLoadLtI",
        "BrLoadLeI",
        "BrLoadGtI",
        "BrLoadGeI",
        "BrEq",
        "BrEqI",
        "BrNe",
        "BrNeI",
        "BrLt",
        "BrLtI",
        "BrLe",
        "BrLeI",
        "BrGt",
        "BrGtI",
        "BrGe",
        "BrGeI",
        "BrModINz",
        "BrLowNz",
        "Call",
        "Return",
        "Halt",
        "Host",
    ];
    let missing: Vec<_> = all.iter().filter(|n| !seen.contains(*n)).collect();
    assert!(missing.is_empty(), "never generated: {missing:?}");
}

/// Fused shapes cut by a block boundary: the lowering must not fuse across it (the second
/// block's charge would be skipped or made early), and at every gas limit from 0 to the
/// full cost the register code stops exactly where stepping does, with the same gas, the
/// same error location, and the same logs (a `log` at the start of each block shows
/// whether anything of a block ran before its charge).
#[test]
fn fused_shapes_cut_by_a_block_boundary_charge_every_block() {
    // Each program makes `mid` a block start with a `jumpif` that is never taken.
    let cases: [(&str, &[&str]); 6] = [
        // load K; push n; sub; store K (DecMem) cut after `load K`.
        (
            "push 3\nstore i\ntop: push 1\nlog\nload i\npush 0\njumpif mid\n\
             mid: push 2\nlog\npush 1\nsub\nstore i\nload i\njumpif top\n",
            &["DecMem", "LoadSubI"],
        ),
        // load K; push n; <comparison>; jumpif cut before the `jumpif`.
        (
            "push 3\nstore i\ntop: load i\npush 1\nsub\nstore i\nload i\npush 0\ngt\n\
             push 0\njumpif mid\nmid: push 9\nlog\njumpif top\n",
            &["BrLoadGtI", "BrGtI"],
        ),
        // load K; add (AddLoad) cut between the two.
        (
            "push 4\nstore i\npush 1\nload i\npush 0\njumpif mid\nmid: push 5\nlog\nadd\n",
            &["AddLoad"],
        ),
        // load K; push n; add (LoadAddI) cut after `push n`.
        (
            "push 4\nstore i\nload i\npush 7\npush 0\njumpif mid\nmid: push 6\nlog\nadd\n",
            &["LoadAddI"],
        ),
        // <comparison>; jumpif cut between them, inside a loop on the stack.
        (
            "push 3\ntop: push 1\nsub\ndup\npush 0\ngt\npush 0\njumpif mid\n\
             mid: push 8\nlog\njumpif top\n",
            &["BrGtI", "BrGt"],
        ),
        // push n; mod; jumpif (BrModINz) cut before the `jumpif`, inside a loop.
        (
            "push 5\ntop: push 1\nsub\ndup\npush 2\nmod\npush 0\njumpif mid\n\
             mid: push 8\nlog\njumpif odd\nodd: dup\njumpif top\nhalt\n",
            &["BrModINz", "BrLowNz"],
        ),
    ];
    for (src, unfused) in cases {
        let v = verified(src, Limits::default());
        let names = shapes(src);
        for name in unfused {
            // The present forms (`...P`) count as the fused shape too.
            assert!(
                !names
                    .iter()
                    .any(|n| n.trim_start_matches('*').trim_end_matches('P') == *name),
                "{name} fused across a block boundary in\n{src}\n{names:?}"
            );
        }
        let state = v.contract().state.clone();
        let full = agree(&v, &state, &[1_000]);
        assert!(full > 10, "{src}: {full}");
        // Every limit from 0 to the full cost and one more.
        agree(&v, &state, &(0..=full + 1).collect::<Vec<_>>());
        let ctx = ExecutionContext::default();
        let code = lowered(&v);
        for gas in 0..=full {
            let out = run(&*code, &v, RunParams::new(&ctx, &state, gas), &mut NoHost);
            if gas < full {
                let e = out.result.expect_err("short of gas");
                assert_eq!(e.kind, ErrorKind::OutOfGas, "{src} with {gas}");
                // Out of gas uses all of it and stops at a block's first instruction.
                assert_eq!(out.gas_used, gas);
                let pc = e.pc.expect("a location");
                assert!(
                    v.analysis().blocks.iter().any(|b| b.start == pc),
                    "{src} with {gas}: stopped at {pc}, inside a block"
                );
            } else {
                assert!(out.is_ok(), "{src} with the full {gas}");
                assert_eq!(out.gas_used, full);
            }
        }
    }
}

/// A host whose `getreputation` panics (a host bug unwinding out of a run).
struct Panicking;

impl Host for Panicking {
    fn get_reputation(&mut self, _: &mut HostCx, _: &str) -> VmResult<i64> {
        panic!("the host failed");
    }
}

/// Runs `src` on the interpreter under the run protocol, on this thread, from `state`.
fn run_on(src: &str, state: &State, host: &mut impl Host) -> Outcome {
    let v = verified(src, Limits::default());
    let ctx = ExecutionContext::default();
    run(&lower(&v), &v, RunParams::new(&ctx, state, 1_000_000), host)
}

#[test]
fn the_reused_memory_and_stacks_never_carry_a_run_into_the_next() {
    // A run that fills every part of the memory (static slots, dense and hashed integer
    // keys, transient keys) and the stacks, then fails: the thread keeps its memory.
    const FILLS: &str = "\
        push 7\npush 70\nstore\npush 8\npush -80\nstore\npush 1\npush 100000\nstore\n\
        push 2\nstore b\npush 3\ntstore a\npush 4\npush 5\ntstore\n\
        push 11\npush 12\npush 13\npush 1\npush 0\ndiv\n";
    let filled = State::from([("a".into(), 1), ("9".into(), 9)]);
    // Another contract, whose first static key has the other's `b` slot, reads each of
    // them after it: every read fails as in a fresh memory.
    let other = State::from([("x".into(), 3), ("zz".into(), 4)]);
    for read in [
        "load b",
        "load a",
        "push 70\nload",
        "push -80\nload",
        "push 100000\nload",
        "push 9\nload",
        "tload b",
        "tload a",
        "push 5\ntload",
    ] {
        let out = run_on(FILLS, &filled, &mut NoHost);
        assert_eq!(out.result.unwrap_err().kind, ErrorKind::DivisionByZero);
        assert_eq!(out.state, filled, "a failed run keeps its state");
        let src = format!("load x\n{read}\nadd\n");
        let out = run_on(&src, &other, &mut NoHost);
        let e = out.result.expect_err(read);
        assert_eq!(e.kind, ErrorKind::InvalidMemoryAccess, "{read}");
        assert_eq!(out.state, other);
    }
    // A successful run after the failing one ends with exactly its own keys, the new ones
    // included, and the stack it built (no value of the other run's stack).
    run_on(FILLS, &filled, &mut NoHost);
    let out = run_on(
        "load x\npush 1\nadd\ndup\nstore x\npush 60\npush 6\nstore\n",
        &other,
        &mut NoHost,
    );
    assert!(out.is_ok(), "{:?}", out.result);
    assert_eq!(out.stack, vec![4]);
    assert_eq!(
        out.state,
        State::from([("x".into(), 4), ("zz".into(), 4), ("6".into(), 60)])
    );
}

#[test]
fn a_panic_out_of_a_host_call_leaves_the_next_run_on_the_thread_clean() {
    const PANICS: &str = "push 7\npush 70\nstore\npush 2\nstore b\npush 3\ntstore a\n\
        push \"did:key:p\"\ngetreputation\n";
    let state = State::from([("a".into(), 1)]);
    for _ in 0..2 {
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_on(PANICS, &state, &mut Panicking)
        }));
        assert!(unwound.is_err());
        // The same contract again, and another one, run as on a fresh thread.
        let out = run_on("load a\npush 70\nload\n", &state, &mut NoHost);
        assert_eq!(out.result.unwrap_err().kind, ErrorKind::InvalidMemoryAccess);
        let out = run_on("tload a\n", &state, &mut NoHost);
        assert_eq!(out.result.unwrap_err().kind, ErrorKind::InvalidMemoryAccess);
        let out = run_on("load a\npush 5\nadd\ndup\nstore a\n", &state, &mut NoHost);
        assert_eq!(
            (out.stack.to_vec(), out.state),
            (vec![6], State::from([("a".into(), 6)]))
        );
    }
}

#[test]
fn the_state_after_a_run_is_the_memory_whichever_way_it_is_built() {
    // Unchanged keys (a copy of the initial state refreshed in place), and new keys (the
    // state built again), with static, integer and unnamed keys.
    let state = State::from([
        ("a".into(), 1),
        ("b".into(), 2),
        ("-3".into(), 30),
        ("12".into(), 120),
        ("zz".into(), 9),
        ("q.r".into(), 8),
    ]);
    let same = "load a\npush 10\nadd\nstore b\npush 5\npush 12\nstore\n\
        push 6\npush -3\nstore\n";
    let out = run_on(same, &state, &mut NoHost);
    assert!(out.is_ok(), "{:?}", out.result);
    let mut want = state.clone();
    want.extend([("b".into(), 11), ("12".into(), 5), ("-3".into(), 6)]);
    assert_eq!(out.state, want);
    let grows = format!("{same}push 40\npush 4\nstore\npush 1\nstore c\n");
    let out = run_on(&grows, &state, &mut NoHost);
    assert!(out.is_ok(), "{:?}", out.result);
    want.extend([("4".into(), 40), ("c".into(), 1)]);
    assert_eq!(out.state, want);
}

#[test]
fn a_state_handed_out_is_refreshed_for_the_next_run_only_once_no_one_holds_it() {
    // The thread's memory keeps the last state it handed out and, when the next run starts
    // from the same initial state and the caller dropped that outcome, overwrites it in
    // place: never while an outcome still holds it, whatever ran in between.
    let state = State::from([("a".into(), 1), ("5".into(), 50), ("zz".into(), 9)]);
    let add = |n: i64| format!("load a\npush {n}\nadd\nstore a\npush {n}\npush 5\nstore\n");
    let want = |n: i64| State::from([("a".into(), 1 + n), ("5".into(), n), ("zz".into(), 9)]);
    for round in 0..3 {
        // Dropped outcomes: later runs may reuse their states.
        assert_eq!(run_on(&add(1), &state, &mut NoHost).state, want(1));
        assert_eq!(run_on(&add(2), &state, &mut NoHost).state, want(2));
        // Held outcomes keep their values while other runs from the same state go on.
        let held = run_on(&add(3), &state, &mut NoHost);
        let mut changed = run_on(&add(4), &state, &mut NoHost);
        changed.state.insert("b".into(), 7);
        let after = run_on(&add(5), &state, &mut NoHost);
        assert_eq!(held.state, want(3), "round {round}");
        let mut grown = want(4);
        grown.insert("b".into(), 7);
        assert_eq!(changed.state, grown);
        assert_eq!(after.state, want(5));
        assert_eq!(
            state,
            State::from([("a".into(), 1), ("5".into(), 50), ("zz".into(), 9)])
        );
        drop((held, changed, after));
        // Between two runs from `state`: a failing run, a run of another contract with
        // other keys, a run from a copy of `state` changed in place, a panic.
        match round {
            0 => {
                let out = run_on("load a\npush 0\ndiv\nstore a\n", &state, &mut NoHost);
                assert_eq!(out.result.unwrap_err().kind, ErrorKind::DivisionByZero);
                assert_eq!(out.state, state);
            }
            1 => {
                let other = State::from([("a".into(), 40), ("b".into(), 2)]);
                let out = run_on("load b\npush 1\nadd\nstore b\n", &other, &mut NoHost);
                assert_eq!(out.state, State::from([("a".into(), 40), ("b".into(), 3)]));
                let mut edited = state.clone();
                edited.insert("c".into(), 3);
                let out = run_on(&add(6), &edited, &mut NoHost);
                let mut grown = want(6);
                grown.insert("c".into(), 3);
                assert_eq!(out.state, grown);
            }
            _ => {
                let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run_on(
                        "push \"did:key:p\"\ngetreputation\n",
                        &state,
                        &mut Panicking,
                    )
                }));
                assert!(unwound.is_err());
            }
        }
        assert_eq!(run_on(&add(8), &state, &mut NoHost).state, want(8));
        // A run that changes no value ends with its initial state: the state itself when
        // there is no state to refresh.
        let out = run_on("load a\npush 1\nadd\n", &state, &mut NoHost);
        assert_eq!((out.state, out.stack.to_vec()), (state.clone(), vec![2]));
        let anew = State::from([("a".into(), 1), ("5".into(), 50), ("zz".into(), 9)]);
        let out = run_on("load a\npush 1\nadd\n", &anew, &mut NoHost);
        assert!(out.state.shares_with(&anew) && out.stack == vec![2]);
    }
}
