//! The program generator of the `differential` target: fuzz input bytes, read through
//! [`arbitrary::Unstructured`], steer every choice, and exhausted input always takes the
//! simplest one, so short inputs make short programs and the fuzzer's mutations map to local
//! changes of the program.
//!
//! It writes verified-by-construction assembly (the stack discipline is tracked): straight
//! line arithmetic with overflow and division by zero, stack shuffles, counted and unbounded
//! loops, conditionals, subroutines with any signature and recursion (bounded and runaway),
//! static, dynamic and transient memory with missing keys and the key limits, strings and
//! bad handles, every host operation of the cooperative world with string or integer
//! arguments (sometimes of the wrong kind), nested contract calls (that succeed, trap, run
//! out of gas or are missing), inputs of both kinds (sometimes the wrong number), contract
//! requirements (permission, reputation), `halt` anywhere, and the instruction pairs an
//! engine might fuse (push and arithmetic, compare and branch, load, add and store), next to
//! small limits of stack, call depth and memory so traps happen at call boundaries.

use crate::case::{Case, HostKind};
use arbitrary::Unstructured;
use coopvm::error::ErrorKind;
use coopvm::isa::HostOp;
use coopvm::{Arg, ExecutionContext, Limits, Op};

const KEYS: [&str; 3] = ["a", "b", "c"];
/// A string long enough for several units of `streq`'s dynamic gas (1 per 32 bytes).
const LONG: &str = "a string of seventy bytes and more; long enough to cost streq three units";
/// Strings the programs use: names in the base world, DIDs, and names that exist nowhere.
const STRINGS: [&str; 12] = [
    "makers",
    "did:key:alice",
    "did:key:bob",
    "did:key:carol",
    "fed",
    "kiln",
    "newcoop",
    "did:key:zed",
    "not a did",
    "",
    LONG,
    "doubler",
];
const CALLERS: [&str; 5] = [
    "did:key:alice",
    "did:key:bob",
    "did:key:carol",
    "did:key:zed",
    "nobody",
];
const PERMISSIONS: [&str; 4] = ["member", "governance", "reputation", "treasury"];
const IMMS: [i64; 12] = [
    0,
    1,
    -1,
    2,
    3,
    7,
    100,
    1000,
    i64::MAX,
    i64::MIN,
    -50,
    i64::MAX / 2 + 1,
];
/// Operand names of host operations that are integers; every other operand is a string.
const INT_OPERANDS: [&str; 9] = [
    "pool", "amount", "quorum", "deadline", "id", "choice", "index", "delta", "arg",
];

struct Gen<'a, 'b> {
    u: &'a mut Unstructured<'b>,
    out: String,
    labels: u32,
    /// Subroutines: (name, params, results).
    subs: Vec<(String, u32, u32)>,
    budget: u32,
    /// Libraries the program calls with `callcontract` (for `.depends`).
    depends: Vec<&'static str>,
}

impl Gen<'_, '_> {
    fn pick(&mut self, n: u32) -> u32 {
        if n <= 1 {
            return 0;
        }
        self.u.int_in_range(0..=n - 1).unwrap_or(0)
    }

    fn chance(&mut self, one_in: u32) -> bool {
        self.pick(one_in) == one_in - 1
    }

    fn emit(&mut self, line: &str) {
        self.out.push_str(line);
        self.out.push('\n');
    }

    fn label(&mut self) -> String {
        self.labels += 1;
        format!("L{}", self.labels)
    }

    fn imm(&mut self) -> i64 {
        match self.pick(4) {
            0 => IMMS[self.pick(IMMS.len() as u32) as usize],
            1 => self.u.arbitrary().unwrap_or(0),
            _ => i64::from(self.pick(10)) - 2,
        }
    }

    fn string(&mut self) -> &'static str {
        STRINGS[self.pick(STRINGS.len() as u32) as usize]
    }

    /// Emits statements starting at height `h` that never consume below `floor`; returns
    /// the height after them.
    fn block(&mut self, mut h: u32, floor: u32, depth: u32) -> u32 {
        let n = self.pick(6) + 1;
        for _ in 0..n {
            if self.budget == 0 || self.u.is_empty() {
                break;
            }
            self.budget -= 1;
            h = self.stmt(h, floor, depth);
        }
        h
    }

    /// Brings the height from `h` to `want` (pops or zero pushes).
    fn fix(&mut self, mut h: u32, want: u32) {
        while h > want {
            self.emit("pop");
            h -= 1;
        }
        while h < want {
            self.emit("push 0");
            h += 1;
        }
    }

    /// A host operation of the cooperative world with its operands pushed: strings from
    /// [`STRINGS`] or the caller, integers; one operand in eight of the other kind.
    fn host_op(&mut self) -> u32 {
        let domain: Vec<HostOp> = HostOp::ALL
            .iter()
            .copied()
            .filter(|h| h.system().is_none() && h.op() != Op::CallContract)
            .collect();
        let op = domain[self.pick(domain.len() as u32) as usize].op();
        let info = op.info();
        let operands = info
            .stack
            .split("->")
            .next()
            .unwrap_or("")
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']');
        for name in operands.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let int = INT_OPERANDS.contains(&name) != self.chance(8);
            if int {
                let v = match self.pick(3) {
                    0 => i64::from(self.pick(4)),
                    _ => self.imm(),
                };
                self.emit(&format!("push {v}"));
            } else if self.chance(4) {
                self.emit("getcaller");
            } else {
                let s = self.string();
                self.emit(&format!("push \"{s}\""));
            }
        }
        self.emit(info.mnemonic);
        u32::from(info.pushes)
    }

    fn stmt(&mut self, h: u32, floor: u32, depth: u32) -> u32 {
        let avail = h - floor;
        match self.pick(34) {
            0 | 1 => {
                let v = self.imm();
                self.emit(&format!("push {v}"));
                h + 1
            }
            2..=4 if avail >= 2 => {
                const OPS: [&str; 13] = [
                    "add", "sub", "mul", "div", "mod", "eq", "ne", "lt", "le", "gt", "ge", "and",
                    "or",
                ];
                let op = OPS[self.pick(OPS.len() as u32) as usize];
                self.emit(op);
                h - 1
            }
            5 if avail >= 1 => {
                let op = ["neg", "not", "dup", "pop"][self.pick(4) as usize];
                self.emit(op);
                match op {
                    "dup" => h + 1,
                    "pop" => h - 1,
                    _ => h,
                }
            }
            6 if avail >= 2 => {
                self.emit("swap");
                h
            }
            7 if avail >= 1 => {
                let k = KEYS[self.pick(3) as usize];
                self.emit(&format!("store {k}"));
                h - 1
            }
            8 => {
                let k = KEYS[self.pick(3) as usize];
                self.emit(&format!("load {k}"));
                h + 1
            }
            9 if avail >= 1 => {
                let k = self.pick(5) as i64 - 1;
                self.emit(&format!("push {k}\nstore"));
                h - 1
            }
            10 => {
                let k = self.pick(5) as i64 - 1;
                self.emit(&format!("push {k}\nload"));
                h + 1
            }
            11 => {
                let op = ["gettimestamp", "getcaller", "getblock"][self.pick(3) as usize];
                self.emit(op);
                h + 1
            }
            12 if avail >= 1 => {
                if self.pick(2) == 0 {
                    self.emit("log");
                } else if self.chance(4) {
                    // A value as the topic: usually not a string handle.
                    self.emit("dup\nemitevent\npop");
                } else {
                    self.emit("push \"topic\"\nswap\nemitevent");
                }
                h - 1
            }
            13 | 14 => h + self.host_op(),
            15 if depth < 3 => {
                // Counted loop; the body keeps the counter. A negative count never ends
                // (until the gas does).
                let n = if self.chance(16) {
                    -1
                } else {
                    self.pick(7) as i64
                };
                let (top, body, end) = (self.label(), self.label(), self.label());
                self.emit(&format!(
                    "push {n}\n{top}:\ndup\njumpif {body}\npop\njump {end}"
                ));
                self.emit(&format!("{body}:"));
                let after = self.block(h + 1, h + 1, depth + 1);
                self.fix(after, h + 1);
                self.emit(&format!("push 1\nsub\njump {top}\n{end}:"));
                h
            }
            16 if avail >= 1 && depth < 3 => {
                // if / else on the top value.
                let (then, end) = (self.label(), self.label());
                self.emit(&format!("jumpif {then}"));
                let a = self.block(h - 1, floor.min(h - 1), depth + 1);
                self.fix(a, h - 1);
                self.emit(&format!("jump {end}\n{then}:"));
                let b = self.block(h - 1, floor.min(h - 1), depth + 1);
                self.fix(b, h - 1);
                self.emit(&format!("{end}:"));
                h - 1
            }
            17 | 18 if !self.subs.is_empty() => {
                let i = self.pick(self.subs.len() as u32) as usize;
                let (name, params, results) = self.subs[i].clone();
                if avail < params {
                    return h;
                }
                self.emit(&format!("call {name}"));
                h - params + results
            }
            19 if self.chance(8) => {
                self.emit("halt");
                h
            }
            20 if self.chance(10) => {
                self.emit("jump end");
                h
            }
            21 if avail >= 2 => {
                self.emit("over");
                h + 1
            }
            22 if avail >= 3 => {
                self.emit("rot");
                h
            }
            23 if avail >= 1 => {
                let n = self.pick(avail.min(8));
                self.emit(&format!("pick {n}"));
                h + 1
            }
            24 => {
                // Transient memory: its own keys, missing keys, its own limit.
                let k = KEYS[self.pick(3) as usize];
                let d = self.pick(5) as i64 - 1;
                match self.pick(4) {
                    0 if avail >= 1 => {
                        self.emit(&format!("tstore {k}"));
                        h - 1
                    }
                    1 => {
                        self.emit(&format!("tload {k}"));
                        h + 1
                    }
                    2 if avail >= 1 => {
                        self.emit(&format!("push {d}\ntstore"));
                        h - 1
                    }
                    _ => {
                        self.emit(&format!("push {d}\ntload"));
                        h + 1
                    }
                }
            }
            25 => {
                // String equality and length: constants, made strings, inputs, and values
                // that are no handle; long strings for the dynamic gas.
                match self.pick(6) {
                    0 => self.emit("getcaller\npush \"did:key:alice\"\nstreq"),
                    1 => self.emit(&format!("push \"{LONG}\"\npush \"{LONG}\"\nstreq")),
                    2 => self.emit("getcaller\nstrlen"),
                    3 if avail >= 1 => self.emit("dup\nstrlen"),
                    4 if avail >= 2 => self.emit("over\nover\nstreq"),
                    _ => self.emit(&format!("push \"{LONG}\"\nstrlen")),
                }
                h + 1
            }
            26 => {
                // A nested contract call: a library that works, one that spends gas or
                // traps (by its argument), one that is not declared or not deployed.
                let lib = ["doubler", "spender", "spender", "ghost"][self.pick(4) as usize];
                let declared = lib != "ghost" || self.chance(2);
                if declared && !self.depends.contains(&lib) {
                    self.depends.push(lib);
                }
                let arg = match self.pick(4) {
                    0 => -1,
                    1 => 0,
                    _ => self.imm(),
                };
                self.emit(&format!("push \"{lib}\"\npush {arg}\ncallcontract"));
                h + 1
            }
            27 | 28 => {
                // Pairs an engine might fuse into one instruction: each must still charge
                // its gas and trap at its own pc.
                let v = self.imm();
                let k = KEYS[self.pick(3) as usize];
                match self.pick(6) {
                    0 if avail >= 1 => {
                        let op =
                            ["add", "sub", "mul", "div", "mod", "lt", "eq"][self.pick(7) as usize];
                        self.emit(&format!("push {v}\n{op}"));
                        h
                    }
                    1 if avail >= 2 => {
                        let (skip, end) = (self.label(), self.label());
                        let op = ["lt", "eq", "ge", "ne"][self.pick(4) as usize];
                        self.emit(&format!(
                            "{op}\njumpif {skip}\npush {v}\njump {end}\n{skip}:\npush 1\n{end}:"
                        ));
                        h
                    }
                    2 => {
                        self.emit(&format!("load {k}\npush {v}\nadd\nstore {k}"));
                        h
                    }
                    3 if avail >= 1 => {
                        self.emit(&format!("dup\npush {v}\nmul\nadd"));
                        h
                    }
                    4 => {
                        self.emit(&format!("push {v}\ndup\nstore {k}\nload {k}"));
                        h + 1
                    }
                    _ => {
                        self.emit(&format!("tload {k}\npush {v}\nsub"));
                        h + 1
                    }
                }
            }
            29 if avail >= 1 => {
                // Grows the stack by several values at once (stack limits).
                let n = self.pick(6) + 2;
                for _ in 0..n {
                    self.emit("dup");
                }
                h + n
            }
            _ => {
                let v = self.imm();
                self.emit(&format!("push {v}"));
                h + 1
            }
        }
    }
}

fn limits(u: &mut Unstructured) -> Limits {
    let d = Limits::default();
    let mut l = d;
    let mut pick = |n: u32| u.int_in_range(0..=n - 1).unwrap_or(0);
    match pick(8) {
        0 => l.stack = pick(24) + 1,
        1 => l.stack = 64,
        _ => {}
    }
    match pick(8) {
        0 => l.call_depth = pick(10),
        1 => l.call_depth = 100_000,
        _ => {}
    }
    if pick(4) == 0 {
        l.memory_keys = pick(4);
    }
    if pick(4) == 0 {
        l.transient_keys = pick(3);
    }
    l
}

fn context(u: &mut Unstructured) -> ExecutionContext {
    let mut pick = |n: u32| u.int_in_range(0..=n - 1).unwrap_or(0);
    let caller = CALLERS[pick(CALLERS.len() as u32) as usize].to_owned();
    let timestamp = [1_000, 0, 49, 50, 51][pick(5) as usize];
    let block_number = u64::from(pick(4)) * 7;
    let mut permissions = vec!["member".to_owned()];
    if pick(3) == 0 {
        permissions = PERMISSIONS
            .iter()
            .filter(|_| pick(2) == 0)
            .map(|p| (*p).to_owned())
            .collect();
    }
    ExecutionContext {
        caller_did: caller,
        cooperative_id: "makers".into(),
        timestamp,
        block_number,
        reputation_score: 0,
        permissions,
    }
}

/// A differential case from fuzz input: the world and limits first, then the program.
pub fn case(u: &mut Unstructured) -> Case {
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
    let limits = limits(u);
    let ctx = context(u);
    let mut g = Gen {
        u,
        out: String::new(),
        labels: 0,
        subs: Vec::new(),
        budget: 60,
        depends: Vec::new(),
    };
    let params = g.pick(4);
    let mut args: Vec<Arg> = (0..params)
        .map(|_| {
            if g.chance(3) {
                Arg::from(STRINGS[g.pick(STRINGS.len() as u32) as usize])
            } else {
                Arg::Int(g.imm())
            }
        })
        .collect();
    if g.chance(32) {
        // The wrong number of inputs: refused before the run.
        args.push(Arg::Int(1));
    }
    let mut header = String::from(".contract gen\n");
    if g.chance(8) {
        header.push_str(&format!(
            ".permission {}\n",
            PERMISSIONS[g.pick(4) as usize]
        ));
    }
    if g.chance(8) {
        header.push_str(&format!(
            ".reputation {}\n",
            [1, 20, 21][g.pick(3) as usize]
        ));
    }
    for k in KEYS {
        if g.chance(3) {
            let v = g.imm();
            header.push_str(&format!(".state {k} {v}\n"));
        }
    }
    header.push_str(&format!(".params {params}\n"));
    let mut subs_text = String::new();
    // A recursive countdown: [n] -> [sum], recursing n times (n from the caller).
    if g.pick(2) == 1 {
        let mut s = std::mem::take(&mut g.out);
        s.push_str("rec:\ndup\njumpif rec_more\nreturn\nrec_more:\ndup\npush 1\nsub\n");
        g.out = s;
        let after = g.block(2, 2, 2);
        g.fix(after, 2);
        g.emit("call rec\nadd\nreturn");
        subs_text.push_str(&std::mem::take(&mut g.out));
        g.subs.push(("rec".into(), 1, 1));
    }
    for i in 0..g.pick(3) {
        let name = format!("f{i}");
        let params = g.pick(3);
        let results = g.pick(3);
        g.emit(&format!("{name}:"));
        let after = g.block(params, 0, 1);
        g.fix(after, results);
        g.emit("return");
        subs_text.push_str(&std::mem::take(&mut g.out));
        g.subs.push((name, params, results));
    }
    // Main: sometimes a deep recursion (beyond small call-depth and stack limits).
    let mut main = String::new();
    if g.subs.iter().any(|s| s.0 == "rec") && g.chance(3) {
        let n = [3, 9, 20, 300, 2000][g.pick(5) as usize];
        main.push_str(&format!("push {n}\ncall rec\npop\n"));
    }
    g.out = main;
    g.block(params, 0, 0);
    g.emit("halt");
    for lib in &g.depends {
        header.push_str(&format!(".depends {lib}\n"));
    }
    let source = format!("{header}{}{subs_text}end:\n", g.out);
    Case {
        source,
        args,
        limits,
        host,
        ctx,
        gas: crate::MAX_FUZZ_GAS,
    }
}
