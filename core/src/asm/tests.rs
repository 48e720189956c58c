use super::*;

fn err(src: &str) -> AsmError {
    assemble("t.casm", src).unwrap_err()
}

#[test]
fn assembles_everything() {
    let src = r#"
        .contract "demo"   ; the id
        .version 1.2.0
        .reputation 5
        .permission vote
        .permission admin
        .depends lib
        .meta name "Green Co-op"
        .state count 0
        .state 7 -1
    start:  push 0x10
            PUSH "did:key:alice"
            push "did:key:alice"
            store count
            load count
            store
            load
    loop: jumpif loop
            call start
            JumpIf end
    end:
    "#;
    let c = assemble("t.casm", src).unwrap();
    assert_eq!(c.id, "demo");
    assert_eq!(c.version, "1.2.0");
    assert_eq!(c.required_reputation, 5);
    assert_eq!(c.permissions, vec!["vote", "admin"]);
    assert_eq!(c.dependencies, vec!["lib"]);
    assert_eq!(c.metadata["name"], "Green Co-op");
    assert_eq!(c.state["count"], 0);
    assert_eq!(c.state["7"], -1);
    let code = &c.program.code;
    assert_eq!(code[0], Insn::with(Op::Push, 16));
    assert_eq!(code[1], Insn::with(Op::PushStr, 0));
    assert_eq!(code[2], Insn::with(Op::PushStr, 0));
    assert_eq!(code[3], Insn::with(Op::Store, 0));
    assert_eq!(code[4], Insn::with(Op::Load, 0));
    assert_eq!(code[5], Insn::new(Op::StoreDyn));
    assert_eq!(code[6], Insn::new(Op::LoadDyn));
    assert_eq!(code[7], Insn::with(Op::JumpIf, 7));
    assert_eq!(code[8], Insn::with(Op::Call, 0));
    assert_eq!(code[9], Insn::with(Op::JumpIf, 10));
    assert_eq!(c.program.strings, vec!["did:key:alice"]);
}

#[test]
fn string_escapes() {
    let c = assemble("t", r#"push "a\"b\\c\n\u{41};x" ; comment"#).unwrap();
    assert_eq!(c.program.strings, vec!["a\"b\\c\nA;x"]);
    assert!(err(r#"push "abc"#).message.contains("unterminated"));
    assert!(err(r#"push "\q""#).message.contains("unknown escape"));
    assert!(err(r#"push "\u{zz}""#).message.contains("unicode"));
}

#[test]
fn errors_are_located() {
    let e = err("push 1\n  ad\n");
    assert_eq!((e.line, e.column), (2, 3));
    assert_eq!(e.help.as_deref(), Some("did you mean `add`?"));
    let shown = e.to_string();
    assert!(shown.contains("t.casm:2:3"), "{shown}");
    assert!(shown.contains("ad"), "{shown}");
    assert_eq!(e.short(), "t.casm:2:3: unknown instruction `ad`");
}

#[test]
fn operand_errors() {
    assert!(err("push").message.contains("needs an operand"));
    assert!(err("add 1").message.contains("takes no operand"));
    assert!(err("push 1 2").message.contains("at most one operand"));
    assert!(err("push x").message.contains("does not take a name"));
    assert!(err("jump 3").message.contains("does not take an integer"));
    assert!(err("store 3").message.contains("does not take an integer"));
    assert!(err("store \"k\"")
        .message
        .contains("does not take a string"));
    assert!(err("push 99999999999999999999")
        .message
        .contains("does not fit"));
    assert!(err("push 1x").message.contains("not an integer literal"));
    assert!(err("store a-b").message.contains("not a valid key name"));
    assert!(err("jump a-b").message.contains("not a valid label name"));
}

#[test]
fn label_errors() {
    let e = err("loop: push 1\nloop: pop\n");
    assert!(e.message.contains("defined twice"));
    assert_eq!(e.line, 2);
    let e = err("lop: jump loop\n");
    assert_eq!(e.message, "undefined label `loop`");
    assert_eq!(e.help.as_deref(), Some("did you mean `lop`?"));
    assert!(err("9x: halt").message.contains("not a valid label name"));
    assert!(err("\"s\"").message.contains("string literal"));
}

#[test]
fn huge_names_give_small_messages_and_no_quadratic_suggestions() {
    // Before: "did you mean" compared the undefined label with every label by edit
    // distance, so two 30 KB labels took seconds and two 2 MB labels hours.
    let (a, b) = ("a".repeat(2_000_000), "b".repeat(2_000_000));
    let e = err(&format!("{b}:\njump {a}\n"));
    assert!(
        e.message.starts_with("undefined label `aaaa"),
        "{}",
        e.message
    );
    assert!(e.message.ends_with("… (2000000 bytes)`"), "{}", e.message);
    assert_eq!(
        e.help.as_deref(),
        Some("define it with `name:` before an instruction")
    );
    assert!(e.to_string().len() < 1_000);
    // Many similar long labels: still no pairwise comparisons.
    let many: String = (0..2_000)
        .map(|i| format!("{}{i}:\n", "l".repeat(100)))
        .collect();
    let e = err(&format!("{many}jump {}x\n", "l".repeat(100)));
    assert_eq!(
        e.help.as_deref(),
        Some("define it with `name:` before an instruction")
    );
    for src in [
        "x".repeat(1_000_000),
        format!("push {}", "9".repeat(1_000_000)),
        format!(".state 9{} 1", "k".repeat(1_000_000)),
        format!(".bogus{}", "z".repeat(1_000_000)),
    ] {
        let e = err(&src);
        assert!(e.message.len() < 200, "{}", e.message);
        assert!(e.to_string().len() < 1_000, "{}", e.to_string().len());
    }
}

#[test]
fn directive_errors() {
    assert!(err(".bogus 1").message.contains("unknown directive"));
    assert!(err(".contract").message.contains("takes one value"));
    assert!(err(".meta a").message.contains("takes two values"));
    assert!(err(".contract a\n.contract b")
        .message
        .contains("given twice"));
    assert!(err(".state 0x1 1")
        .message
        .contains("not a valid state key"));
    assert!(err(".state a 1\n.state a 2")
        .message
        .contains("given twice"));
    assert!(err(".state a \"x\"")
        .message
        .contains("expected an integer"));
    assert!(err(".reputation ten").message.contains("not an integer"));
    assert!(err(".meta a 1\n.meta a 2").message.contains("given twice"));
    assert!(err(".params 1\n.params 1").message.contains("given twice"));
    assert!(err(".params -1").message.contains("takes 0 to"));
    assert!(err(".params 99999999999").message.contains("takes 0 to"));
    assert!(err(".params two").message.contains("not an integer"));
    assert!(err(".params").message.contains("takes one value"));
}

#[test]
fn params() {
    assert_eq!(assemble("t", "add").unwrap().params, 0);
    let c = assemble("t", ".params 2\nadd").unwrap();
    assert_eq!(c.params, 2);
    assert_eq!(assemble("t", ".PARAMS 0x3").unwrap().params, 3);
}

#[test]
fn integer_literals() {
    assert_eq!(parse_int("0"), Ok(0));
    assert_eq!(parse_int("-1"), Ok(-1));
    assert_eq!(parse_int("0xff"), Ok(255));
    assert_eq!(parse_int("0x7fff_ffff_ffff_ffff"), Ok(i64::MAX));
    assert_eq!(parse_int("-0x8000_0000_0000_0000"), Ok(i64::MIN));
    for bad in [
        "",
        "-",
        "0x",
        "1__0",
        "_1",
        "1_",
        "--1",
        "0xg",
        "1e3",
        "1000000000000000000000000000000000000000000",
    ] {
        assert!(parse_int(bad).is_err(), "{bad}");
    }
}

#[test]
fn crlf_and_blank_lines() {
    let c = assemble("t", "push 1\r\n\r\n  ; only a comment\r\npop\r\n").unwrap();
    assert_eq!(c.program.code.len(), 2);
}

#[test]
fn pool_declarations_and_raw_indices() {
    let c = assemble(
        "t",
        ".string \"b\"\n.key k\n.string \"a\"\n.string \"b\"\npush \"a\"\npush \"b\"\npush \"c\"\npush #3\nload #7\njump #-2\ncall #99\nload k\n",
    )
    .unwrap();
    assert_eq!(c.program.strings, ["b", "a", "b", "c"]);
    assert_eq!(c.program.keys, ["k"]);
    let args: Vec<i64> = c.program.code.iter().map(|i| i.arg).collect();
    assert_eq!(args, [1, 0, 3, 3, 7, -2, 99, 0]);
    assert!(err("add #1").message.contains("does not take a raw index"));
    assert!(err("push 1\njumpif #x").message.contains("not an integer"));
    assert!(err(".string").message.contains("takes one value"));
    assert!(err(".key a b").help.unwrap().contains(".key name"));
}
