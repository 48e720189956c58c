//! coopvm-testgen: the one random program generator of coopvm's differential tests (the
//! interpreter's register code against stepping, the JIT against the interpreter) and of the
//! `differential` and `verify` fuzz targets.
//!
//! Every choice is read from a byte source, [`arbitrary::Unstructured`]: the fuzz targets
//! hand it libFuzzer's input, the tests a seeded pseudo-random stream ([`bytes`]) or
//! proptest's bytes. Exhausted input always takes the simplest choice, so short inputs make
//! short programs, shrinking the bytes shrinks the program, and a mutation of the input is a
//! local change of the program.
//!
//! [`program`] writes verified-by-construction assembly (the stack discipline is tracked):
//! straight-line arithmetic with overflow and division by zero; constants of every width;
//! stack shuffles (`dup`, `swap`, `pop`, `over`, `rot`, `pick N`) in the orders an engine
//! rewrites; counted loops (the counter on the stack or in memory) and loops that never end
//! until the gas does; conditionals, compare-and-branch and the conditions an engine fuses;
//! subroutines of any signature, recursion (bounded and runaway, past small call-depth and
//! stack limits) and main falling into a subroutine; static, dynamic and transient memory
//! with missing keys, initial state and the key limits; loops over many integer keys (the
//! memory's dense array growing mid-run or staying sparse, keys across the end of its range
//! and at the ends of `i64`, absent keys, the key limit reached by a loop, transient keys
//! under the same integers); strings and values that are no
//! handle; every host operation with string or integer operands (sometimes of the wrong
//! kind); nested contract calls to libraries that work, trap, run out of gas or do not
//! exist; inputs of both kinds (sometimes the wrong number); contract requirements
//! (permission, reputation); `halt` and jumps to the end anywhere; and the instruction
//! sequences an engine might fuse (push and arithmetic, compare and branch, load, add and
//! store). [`limits`] and [`context`] choose the limits and the caller a program runs with,
//! [`raw_contract`] a raw instruction stream (shapes no structured program has), and
//! [`gas_limits`] the gas limits a run is swept over.

use arbitrary::Unstructured;
use coopvm_core::isa::{HostOp, OperandKind};
use coopvm_core::{Arg, Contract, ExecutionContext, Insn, Limits, Op};
use std::path::{Path, PathBuf};

pub use arbitrary;

/// Static keys of generated programs (`store a`, `tload b`).
pub const KEYS: [&str; 3] = ["a", "b", "c"];
/// A string long enough for several units of `streq`'s dynamic gas (1 per 32 bytes).
pub const LONG: &str = "a string of seventy bytes and more; long enough to cost streq three units";
/// Strings the programs and their inputs use: names in the test worlds, DIDs, and names that
/// exist nowhere.
pub const STRINGS: [&str; 14] = [
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
    "topic",
    "nocoop",
];
/// Callers of generated runs.
pub const CALLERS: [&str; 5] = [
    "did:key:alice",
    "did:key:bob",
    "did:key:carol",
    "did:key:zed",
    "nobody",
];
/// Permissions contracts require and callers hold.
pub const PERMISSIONS: [&str; 4] = ["member", "governance", "reputation", "treasury"];
/// Libraries generated programs call (`callcontract`): a host that runs nested calls should
/// hold `doubler` (doubles its argument) and `spender` (spends gas by its argument, traps on
/// 0); `ghost` exists nowhere.
pub const LIBRARIES: [&str; 3] = ["doubler", "spender", "ghost"];
/// Constants of interest: the edges of `i64`, of `i32` (the width an engine may keep an
/// immediate in) and small numbers.
const IMMS: [i64; 16] = [
    0,
    1,
    -1,
    2,
    3,
    7,
    100,
    1000,
    -50,
    i64::MAX,
    i64::MIN,
    i64::MAX / 2 + 1,
    i32::MAX as i64,
    i32::MIN as i64,
    1 << 31,
    -(1 << 40),
];
/// Operand names of host operations that are integers; every other operand is a string.
const INT_OPERANDS: [&str; 9] = [
    "pool", "amount", "quorum", "deadline", "id", "choice", "index", "delta", "arg",
];
/// Binary operations.
const BINARY: [&str; 13] = [
    "add", "sub", "mul", "div", "mod", "eq", "ne", "lt", "le", "gt", "ge", "and", "or",
];
/// Comparisons.
const COMPARE: [&str; 6] = ["eq", "ne", "lt", "le", "gt", "ge"];
/// State keys a generated contract may start with: its static keys, dynamic (integer) keys,
/// keys at the end of the dense range and of `i64`, and a key the program never names.
const STATE_KEYS: [&str; 11] = [
    "a",
    "b",
    "c",
    "-1",
    "0",
    "1",
    "3",
    "other",
    "1048575",
    "1048576",
    "9223372036854775807",
];

/// Integer keys at the edges of the memory's dense part (keys `0..2^20` are kept in an array
/// while it is at least an eighth full, the others in a hash map): negative keys, the array's
/// smallest sizes, the last dense key and the first hashed one, and the ends of `i64`.
pub const EDGE_KEYS: [i64; 12] = [
    -1,
    0,
    63,
    64,
    1000,
    (1 << 20) - 1,
    1 << 20,
    -(1 << 20),
    1 << 32,
    i64::MIN,
    i64::MAX,
    i64::MIN + 1,
];
/// Strides of the key loops: dense runs, every other key, and runs sparse enough (8 and
/// more) that the dense part stops growing at an eighth full; backwards.
const STRIDES: [i64; 8] = [1, 1, 2, 3, 8, 9, 64, -1];
/// Offsets of the key loops: from 0, across the array's sizes, across the end of the dense
/// range (2^20), negative, and near the ends of `i64`.
const OFFSETS: [i64; 9] = [
    0,
    0,
    1,
    60,
    1000,
    (1 << 20) - 16,
    -8,
    i64::MAX - 5000,
    i64::MIN + 1,
];
/// Iterations of the key loops: across the dense part's sizes (64, 128, ... ), and past
/// the default memory-key limit (4,096).
const KEY_LOOP_COUNTS: [i64; 11] = [2, 5, 17, 63, 64, 65, 130, 257, 600, 1100, 4100];

/// The statements of a whole program, at most.
const BUDGET: u32 = 60;

/// A generated program and what it runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generated {
    /// The contract's assembly (directives included).
    pub source: String,
    /// The run's inputs (for `.params`; sometimes one too many, which the run refuses).
    pub args: Vec<Arg>,
    /// The limits to verify it with.
    pub limits: Limits,
}

/// Reads choices from the byte source; exhausted input gives 0.
struct Choices<'a, 'b> {
    u: &'a mut Unstructured<'b>,
}

impl Choices<'_, '_> {
    /// A number below `n` (0 for `n` of 0 or 1, and when the input is exhausted).
    fn pick(&mut self, n: u32) -> u32 {
        if n <= 1 {
            return 0;
        }
        self.u.int_in_range(0..=n - 1).unwrap_or(0)
    }

    /// True one time in `one_in` (never when the input is exhausted).
    fn chance(&mut self, one_in: u32) -> bool {
        self.pick(one_in) == one_in - 1
    }

    /// One of `items`.
    fn one<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.pick(items.len() as u32) as usize]
    }

    /// A constant: one of interest, any `i64`, or a small number.
    fn imm(&mut self) -> i64 {
        match self.pick(4) {
            0 => self.one(&IMMS),
            1 => self.u.arbitrary().unwrap_or(0),
            _ => i64::from(self.pick(10)) - 2,
        }
    }

    fn is_empty(&self) -> bool {
        self.u.is_empty()
    }
}

/// The program generator's state.
struct Gen<'a, 'b> {
    c: Choices<'a, 'b>,
    out: String,
    labels: u32,
    /// Subroutines: (name, params, results).
    subs: Vec<(String, u32, u32)>,
    budget: u32,
    /// Libraries the program calls with `callcontract` (for `.depends`).
    depends: Vec<&'static str>,
    /// Whether main is being written (not a subroutine).
    in_main: bool,
}

impl Gen<'_, '_> {
    fn emit(&mut self, line: &str) {
        self.out.push_str(line);
        self.out.push('\n');
    }

    fn label(&mut self) -> String {
        self.labels += 1;
        format!("L{}", self.labels)
    }

    fn key(&mut self) -> &'static str {
        self.c.one(&KEYS)
    }

    /// A dynamic (integer) memory key: -1 to 3.
    fn dyn_key(&mut self) -> i64 {
        i64::from(self.c.pick(5)) - 1
    }

    /// Emits statements starting at height `h` that never consume below `floor`; returns
    /// the height after them.
    fn block(&mut self, mut h: u32, floor: u32, depth: u32) -> u32 {
        let n = self.c.pick(8) + 1;
        for _ in 0..n {
            if self.budget == 0 || self.c.is_empty() {
                break;
            }
            self.budget -= 1;
            h = self.stmt(h, floor, depth);
        }
        h
    }

    /// Brings the height from `h` to `want` (pops, or pushes of zero or a constant).
    fn fix(&mut self, mut h: u32, want: u32) {
        while h > want {
            self.emit("pop");
            h -= 1;
        }
        while h < want {
            let v = if self.c.chance(2) { self.c.imm() } else { 0 };
            self.emit(&format!("push {v}"));
            h += 1;
        }
    }

    /// Two blocks from height `h` (then and else), each brought back to `h`, after a
    /// `jumpif` to the second one or (rarely) to the end of the program.
    fn branches(&mut self, cond: &str, h: u32, floor: u32, depth: u32) {
        let (then, end) = (self.label(), self.label());
        let target = if self.in_main && self.c.chance(16) {
            "end".to_owned()
        } else {
            then.clone()
        };
        self.emit(&format!("{cond}jumpif {target}"));
        let floor = floor.min(h);
        let a = self.block(h, floor, depth + 1);
        self.fix(a, h);
        self.emit(&format!("jump {end}\n{then}:"));
        let b = self.block(h, floor, depth + 1);
        self.fix(b, h);
        self.emit(&format!("{end}:"));
    }

    /// A host operation with its operands pushed: strings from [`STRINGS`] or the caller,
    /// integers; one operand in eight of the other kind. Returns the values it pushes.
    fn host_op(&mut self) -> u32 {
        let domain: Vec<HostOp> = HostOp::ALL
            .iter()
            .copied()
            .filter(|h| h.system().is_none() && h.op() != Op::CallContract)
            .collect();
        let info = self.c.one(&domain).op().info();
        let operands = info
            .stack
            .split("->")
            .next()
            .unwrap_or("")
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']');
        for name in operands.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let int = INT_OPERANDS.contains(&name) != self.c.chance(8);
            if int {
                let v = match self.c.pick(3) {
                    0 => i64::from(self.c.pick(4)),
                    _ => self.c.imm(),
                };
                self.emit(&format!("push {v}"));
            } else if self.c.chance(4) {
                self.emit("getcaller");
            } else {
                let s = self.c.one(&STRINGS);
                self.emit(&format!("push \"{s}\""));
            }
        }
        self.emit(info.mnemonic);
        u32::from(info.pushes)
    }

    /// A counted loop that leaves the height at `h`: the counter on the stack (the body
    /// above it), in memory (counting down to zero or up to it), or in memory with the loop
    /// tested on a value computed from it
    /// (`load K; push 1; sub` closing a loop whose head is `dup; jumpif`, a shape an engine
    /// may fuse into one operation). A negative count never ends (until the gas does, or
    /// the counter overflows).
    fn counted_loop(&mut self, h: u32, depth: u32) {
        let n = if self.c.chance(16) {
            -1
        } else {
            i64::from(self.c.pick(7))
        };
        let (top, body, end) = (self.label(), self.label(), self.label());
        match self.c.pick(3) {
            0 => {
                // The counter on the stack, the body above it.
                self.emit(&format!(
                    "push {n}\n{top}:\ndup\njumpif {body}\npop\njump {end}\n{body}:"
                ));
                let after = self.block(h + 1, h + 1, depth + 1);
                self.fix(after, h + 1);
                self.emit(&format!("push 1\nsub\njump {top}\n{end}:"));
            }
            1 => {
                // The counter in memory, tested by the head: counting down to zero
                // (`jumpif`, or `push 0; gt; jumpif`), or up to it from below (`push 0;
                // lt|ne; jumpif`), so that the closing operation meets heads of every kind
                // of sign test.
                let k = self.key();
                let (start, test, step) = match self.c.pick(4) {
                    0 | 1 => (n, "", "sub"),
                    2 => (n, "push 0\ngt\n", "sub"),
                    _ if self.c.chance(2) => (-n, "push 0\nlt\n", "add"),
                    _ => (-n, "push 0\nne\n", "add"),
                };
                self.emit(&format!(
                    "push {start}\nstore {k}\n{top}:\nload {k}\n{test}jumpif {body}\njump {end}\n{body}:"
                ));
                let after = self.block(h, h, depth + 1);
                self.fix(after, h);
                self.emit(&format!(
                    "load {k}\npush 1\n{step}\nstore {k}\njump {top}\n{end}:"
                ));
            }
            _ => {
                // The counter in memory, and `counter - 1` on the stack for the head to
                // test: the loop runs while the decremented counter is not zero.
                let k = self.key();
                let start = if self.c.chance(16) { i64::MIN + 2 } else { n };
                self.emit(&format!(
                    "push {start}\nstore {k}\nload {k}\n{top}:\ndup\njumpif {body}\npop\njump {end}\n{body}:\npop"
                ));
                let after = self.block(h, h, depth + 1);
                self.fix(after, h);
                self.emit(&format!(
                    "load {k}\npush 1\nsub\nstore {k}\nload {k}\npush 1\nsub\njump {top}\n{end}:"
                ));
            }
        }
    }

    /// A loop over `count` down to 1 (the counter on the stack, at height `h + 1`) whose body
    /// `body` runs with the counter on top and leaves the height as it found it.
    fn down_loop(&mut self, count: i64, body: &str) {
        let (top, run, end) = (self.label(), self.label(), self.label());
        self.emit(&format!(
            "push {count}\n{top}:\ndup\njumpif {run}\npop\njump {end}\n{run}:\n{body}\npush 1\nsub\njump {top}\n{end}:"
        ));
    }

    /// Dynamic integer keys in the shapes that reach every part of the memory's integer
    /// keys: loops storing and loading many keys `i * stride + offset` (the dense array
    /// growing mid-run, or staying small when the keys are sparse, keys across the end of the
    /// dense range, negative keys), stores overwriting what a loop stored, loads of absent
    /// keys, the memory-key limit reached by a loop, transient keys stored under the same
    /// integers, and single keys at the edges ([`EDGE_KEYS`]). Returns the height after it.
    fn int_keys(&mut self, h: u32, avail: u32, depth: u32) -> u32 {
        // `i * stride + offset` from `i` on top: [.., i] -> [.., key].
        let key_of = |stride: i64, offset: i64| {
            let mut k = String::new();
            if stride != 1 {
                k.push_str(&format!("\npush {stride}\nmul"));
            }
            if offset != 0 {
                k.push_str(&format!("\npush {offset}\nadd"));
            }
            k
        };
        let (stride, offset) = (self.c.one(&STRIDES), self.c.one(&OFFSETS));
        let mut count = self.c.one(&KEY_LOOP_COUNTS);
        if count > 1100 && !self.c.chance(2) {
            count = 257;
        }
        if depth >= 2 {
            // Inside loops: a few keys only (the gas of nested loops multiplies).
            count = count.min(17);
        }
        match self.c.pick(8) {
            0..=2 => {
                // Store i under each key, then sum the keys back (usually the same keys;
                // sometimes shifted, so a load meets an absent key and traps).
                let keyed = key_of(stride, offset);
                let transient = if self.c.chance(3) {
                    format!("\ndup\ndup{keyed}\ntstore")
                } else {
                    String::new()
                };
                self.down_loop(count, &format!("dup\ndup{keyed}\nstore{transient}"));
                let back = match self.c.pick(6) {
                    0 => offset.wrapping_add(1),
                    1 => offset.wrapping_add(stride.wrapping_mul(count)),
                    _ => offset,
                };
                let load = if self.c.chance(4) && !transient.is_empty() {
                    "tload"
                } else {
                    "load"
                };
                self.emit("push 0");
                self.down_loop(
                    count,
                    &format!("dup{}\n{load}\nrot\nadd\nswap", key_of(stride, back)),
                );
                h + 1
            }
            3 => {
                // Two passes of different strides: the second overwrites some keys of the
                // first and adds others (the array grown by one, filled by the other).
                let second = self.c.one(&STRIDES);
                self.down_loop(count, &format!("dup\ndup{}\nstore", key_of(stride, offset)));
                self.down_loop(
                    count,
                    &format!("push 7\nover{}\nstore", key_of(second, offset)),
                );
                let k = self.c.one(&EDGE_KEYS);
                self.emit(&format!("push {k}\nload"));
                h + 1
            }
            4 => {
                // A key at an edge: stored then loaded, loaded absent, or transient.
                let k = self.c.one(&EDGE_KEYS);
                let v = self.c.imm();
                match self.c.pick(4) {
                    0 => self.emit(&format!("push {k}\nload")),
                    1 => self.emit(&format!("push {v}\npush {k}\ntstore\npush {k}\ntload")),
                    _ => self.emit(&format!("push {v}\npush {k}\nstore\npush {k}\nload")),
                }
                h + 1
            }
            5 if avail >= 1 => {
                // A key computed from a value of the stack (any integer, negative ones too).
                let m = self.c.one(&[1000, 70, 1 << 20, 3]);
                match self.c.pick(3) {
                    0 => {
                        self.emit(&format!("dup\ndup\npush {m}\nmod\nstore"));
                        h
                    }
                    1 => {
                        self.emit(&format!("dup\npush {m}\nmod\nload"));
                        h + 1
                    }
                    _ => {
                        self.emit(&format!("dup\ndup\npush {m}\nmod\ntstore"));
                        h
                    }
                }
            }
            6 => {
                // Sparse keys first (kept in the hash map), then dense ones that make the
                // array grow over them, then the sparse ones read back.
                self.down_loop(count.min(65), &format!("dup\ndup{}\nstore", key_of(64, 0)));
                self.down_loop(count, "dup\ndup\nstore");
                self.emit("push 128\nload\npush 64\nload\nadd");
                h + 1
            }
            _ => {
                // Only stores: with a small memory-key limit, or a count past the default
                // one, the limit is reached by a loop.
                self.down_loop(count, &format!("dup\ndup{}\nstore", key_of(stride, offset)));
                h
            }
        }
    }

    /// One statement from height `h`, never consuming below `floor`; returns the height
    /// after it.
    fn stmt(&mut self, h: u32, floor: u32, depth: u32) -> u32 {
        let avail = h - floor;
        match self.c.pick(40) {
            0..=2 => {
                let v = self.c.imm();
                self.emit(&format!("push {v}"));
                h + 1
            }
            3..=5 if avail >= 2 => {
                let op = self.c.one(&BINARY);
                self.emit(op);
                h - 1
            }
            6 if avail >= 1 => {
                let op = self.c.one(&["neg", "not", "dup", "pop", "dup"]);
                self.emit(op);
                match op {
                    "dup" => h + 1,
                    "pop" => h - 1,
                    _ => h,
                }
            }
            7 | 8 if avail >= 2 => {
                // Shuffles: swaps with dups, pops and constants around them.
                let (s, grows) = self.c.one(&[
                    ("swap", 0),
                    ("swap\nswap", 0),
                    ("dup\nswap", 1),
                    ("swap\ndup", 1),
                    ("swap\npop\ndup", 0),
                    ("push 3\nswap", 1),
                    ("swap\npush 5\nswap", 1),
                    ("dup\npush 1\nswap\npop", 1),
                ]);
                self.emit(s);
                h + grows
            }
            9 if avail >= 1 => {
                let k = self.key();
                self.emit(&format!("store {k}"));
                h - 1
            }
            10 => {
                let k = self.key();
                self.emit(&format!("load {k}"));
                h + 1
            }
            11 if avail >= 1 => {
                // Dynamic keys: missing ones, negative ones, a key computed from a value.
                let k = self.dyn_key();
                if self.c.pick(3) == 0 {
                    self.emit(&format!("dup\npush {k}\nadd\nstore"));
                } else {
                    self.emit(&format!("push {k}\nstore"));
                }
                h - 1
            }
            12 => {
                let k = self.dyn_key();
                self.emit(&format!("push {k}\nload"));
                h + 1
            }
            13 => {
                let op = self.c.one(&["gettimestamp", "getcaller", "getblock"]);
                self.emit(op);
                h + 1
            }
            14 if avail >= 1 => {
                match self.c.pick(6) {
                    0 | 1 => self.emit("log"),
                    // A value as the topic: usually not a string handle.
                    2 => self.emit("dup\nemitevent"),
                    3 | 4 => self.emit("push \"topic\"\nswap\nemitevent"),
                    // A host operation between computations, on a value of the stack.
                    _ => {
                        self.emit("push 7\nswap\npush \"did:key:bob\"\nswap\nupdatereputation\npop")
                    }
                }
                h - 1
            }
            15 | 16 => h + self.host_op(),
            17 if depth < 3 => {
                self.counted_loop(h, depth);
                h
            }
            18 if avail >= 2 && depth < 3 => {
                // Compare-and-branch on the operands as the stack has them.
                let op = self.c.one(&COMPARE);
                self.branches(&format!("{op}\n"), h - 2, floor, depth);
                h - 2
            }
            19 if avail >= 1 && depth < 3 => {
                // if / else on the top value, or on a condition an engine might fuse with
                // the branch (a remainder by a constant tested for zero among them, with
                // the divisors that fail or overflow).
                let k = self.key();
                let (n, cmp) = (self.c.imm(), self.c.one(&COMPARE));
                let (cond, after) = match self.c.pick(6) {
                    0 => ("dup\npush 2\nlt\n".to_owned(), h),
                    1 => ("push 0\nswap\nlt\n".to_owned(), h - 1),
                    2 => ("not\n".to_owned(), h - 1),
                    3 => (format!("load {k}\npush {n}\n{cmp}\n"), h),
                    4 => {
                        let m = self.c.one(&[2, 3, 0, -1, i64::MIN, n]);
                        (format!("dup\npush {m}\nmod\n"), h)
                    }
                    _ => (String::new(), h - 1),
                };
                self.branches(&cond, after, floor, depth);
                after
            }
            20 | 21 if !self.subs.is_empty() => {
                let i = self.c.pick(self.subs.len() as u32) as usize;
                let (name, params, results) = self.subs[i].clone();
                if avail < params {
                    return h;
                }
                self.emit(&format!("call {name}"));
                h - params + results
            }
            22 if self.c.chance(8) => {
                self.emit("halt");
                h
            }
            23 if self.in_main && self.c.chance(8) => {
                // (Only from main: code a subroutine reaches belongs to it.)
                self.emit("jump end");
                h
            }
            24 if avail >= 2 => {
                // over, rot, pick N: the values they copy or move, in every place.
                let n = self.c.pick(avail);
                let pick = format!("pick {n}");
                let (text, delta): (&str, i32) = match self.c.pick(8) {
                    0 => ("over", 1),
                    1 | 2 if avail >= 3 => ("rot", 0),
                    3 if avail >= 3 => ("swap\nrot", 0),
                    4 => ("push 4\nrot\npop", 0),
                    5 if avail >= 3 => ("rot\nrot\nadd", -1),
                    6 => (&pick, 1),
                    _ => ("dup\nover\nswap\npop", 1),
                };
                self.emit(text);
                h.saturating_add_signed(delta)
            }
            25 if avail >= 1 => {
                // Any depth the frame allows (the inputs of main included).
                let n = self.c.pick(avail.min(8));
                self.emit(&format!("pick {n}"));
                h + 1
            }
            26 => {
                // Transient memory: its own keys, missing keys, its own limit; read before
                // or after a write.
                let k = self.key();
                let d = self.dyn_key();
                match self.c.pick(5) {
                    0 if avail >= 1 => {
                        self.emit(&format!("tstore {k}"));
                        h - 1
                    }
                    1 if avail >= 1 => {
                        self.emit(&format!("push {d}\ntstore"));
                        h - 1
                    }
                    2 => {
                        self.emit(&format!("push {d}\ntload"));
                        h + 1
                    }
                    3 => {
                        self.emit(&format!("push {d}\ntstore {k}\ntload {k}"));
                        h + 1
                    }
                    _ => {
                        self.emit(&format!("tload {k}"));
                        h + 1
                    }
                }
            }
            27 => {
                // String equality and length: constants, made strings, strings a host
                // returned, inputs, and values that are no handle; long strings for the
                // dynamic gas.
                match self.c.pick(8) {
                    0 => self.emit("getcaller\npush \"did:key:alice\"\nstreq"),
                    1 => self.emit(&format!("push \"{LONG}\"\npush \"{LONG}\"\nstreq")),
                    2 => self.emit("getcaller\nstrlen"),
                    3 if avail >= 1 => self.emit("dup\nstrlen"),
                    4 if avail >= 2 => self.emit("over\nover\nstreq"),
                    5 => {
                        let i = self.dyn_key();
                        self.emit(&format!(
                            "push \"fed\"\npush {i}\nfederationmember\ndup\nstrlen\nadd"
                        ))
                    }
                    6 => self.emit("getcaller\ndidcontroller\ngetcaller\nstreq"),
                    _ => self.emit(&format!("push \"{LONG}\"\nstrlen")),
                }
                h + 1
            }
            28 => {
                // A nested contract call: a library that works, one that spends gas or
                // traps (by its argument), one that is not declared or not deployed.
                let lib = self
                    .c
                    .one(&[LIBRARIES[0], LIBRARIES[1], LIBRARIES[1], LIBRARIES[2]]);
                let declared = lib != LIBRARIES[2] || self.c.chance(2);
                if declared && !self.depends.contains(&lib) {
                    self.depends.push(lib);
                }
                let arg = match self.c.pick(4) {
                    0 => -1,
                    1 => 0,
                    _ => self.c.imm(),
                };
                self.emit(&format!("push \"{lib}\"\npush {arg}\ncallcontract"));
                h + 1
            }
            29 | 30 => {
                // Sequences an engine might fuse into one instruction: each must still
                // charge its gas and trap at its own pc.
                let v = self.c.imm();
                let k = self.key();
                match self.c.pick(7) {
                    6 => {
                        // A dynamic load at a static key's value (`load K; load`): the
                        // integer key sometimes stored before, sometimes absent.
                        let dk = self.dyn_key();
                        if self.c.pick(2) == 0 {
                            self.emit(&format!("push {v}\npush {dk}\nstore"));
                        }
                        let at = if self.c.chance(4) { v } else { dk };
                        self.emit(&format!("push {at}\nstore {k}\nload {k}\nload"));
                        h + 1
                    }
                    0 if avail >= 1 => {
                        let op = self.c.one(&["add", "sub", "mul", "div", "mod", "lt", "eq"]);
                        self.emit(&format!("push {v}\n{op}"));
                        h
                    }
                    1 if avail >= 2 => {
                        let (skip, end) = (self.label(), self.label());
                        let op = self.c.one(&["lt", "eq", "ge", "ne"]);
                        self.emit(&format!(
                            "{op}\njumpif {skip}\npush {v}\njump {end}\n{skip}:\npush 1\n{end}:"
                        ));
                        h - 1
                    }
                    2 => {
                        let op = self.c.one(&["add", "sub"]);
                        self.emit(&format!("load {k}\npush {v}\n{op}\nstore {k}"));
                        h
                    }
                    3 if avail >= 1 => {
                        self.emit(&format!("dup\npush {v}\nmul\nadd"));
                        h
                    }
                    4 => {
                        self.emit(&format!("push {v}\ndup\nstore {k}\nload {k}"));
                        h + 2
                    }
                    _ => {
                        self.emit(&format!("tload {k}\npush {v}\nsub"));
                        h + 1
                    }
                }
            }
            31 if avail >= 1 => {
                // A memory value into a computation: `load K; add`, or a counter read and
                // not written back.
                let k = self.key();
                if self.c.pick(2) == 0 {
                    self.emit(&format!("load {k}\nadd"));
                    return h;
                }
                let n = self.c.imm();
                let op = self.c.one(&["add", "sub"]);
                self.emit(&format!("load {k}\npush {n}\n{op}"));
                h + 1
            }
            33 | 34 => self.int_keys(h, avail, depth),
            32 if avail >= 1 => {
                // Grows the stack by several values at once (stack limits).
                let n = self.c.pick(6) + 2;
                for _ in 0..n {
                    self.emit("dup");
                }
                h + n
            }
            _ => {
                let v = self.c.imm();
                self.emit(&format!("push {v}"));
                h + 1
            }
        }
    }

    /// Moves what was emitted so far out (to start a new section).
    fn take(&mut self) -> String {
        std::mem::take(&mut self.out)
    }
}

/// Limits to verify a generated program with: usually the defaults; sometimes a small stack
/// (down to 1) or call depth (down to 0), a large call depth (beyond what an engine
/// preallocates), few memory or transient keys.
pub fn limits(u: &mut Unstructured) -> Limits {
    let mut c = Choices { u };
    let mut l = Limits::default();
    match c.pick(8) {
        6 => l.stack = c.pick(24) + 1,
        7 => l.stack = 64,
        _ => {}
    }
    match c.pick(8) {
        6 => l.call_depth = c.pick(10),
        7 => l.call_depth = 100_000,
        _ => {}
    }
    if c.chance(4) {
        // Few keys, or a limit a key loop reaches.
        l.memory_keys = c.one(&[0, 1, 2, 3, 0, 1, 2, 3, 64, 65, 200, 1100]);
    }
    if c.chance(4) {
        l.transient_keys = c.pick(3);
    }
    l
}

/// The context of a generated run: a caller of [`CALLERS`], in the cooperative `makers`,
/// timestamps around a deadline of 50, a few block numbers, and permissions (usually
/// `member`, sometimes any subset of [`PERMISSIONS`]).
pub fn context(u: &mut Unstructured) -> ExecutionContext {
    let mut c = Choices { u };
    let caller = c.one(&CALLERS).to_owned();
    let timestamp = c.one(&[1_000, 0, 49, 50, 51]);
    let block_number = u64::from(c.pick(4)) * 7;
    let reputation_score = c.one(&[0, 10, 25]);
    let mut permissions = vec!["member".to_owned()];
    if c.chance(3) {
        permissions = PERMISSIONS
            .iter()
            .filter(|_| c.chance(2))
            .map(|p| (*p).to_owned())
            .collect();
    }
    ExecutionContext {
        caller_did: caller,
        cooperative_id: "makers".into(),
        timestamp,
        block_number,
        reputation_score,
        permissions,
    }
}

/// A program from the input's choices, with its limits ([`limits`], chosen first) and
/// inputs: the header (`.permission`, `.reputation`, `.state`, `.params`, `.depends`), main,
/// then the subroutines (sometimes a recursive one), then the label `end`.
pub fn program(u: &mut Unstructured) -> Generated {
    let limits = limits(u);
    let mut g = Gen {
        c: Choices { u },
        out: String::new(),
        labels: 0,
        subs: Vec::new(),
        budget: BUDGET,
        depends: Vec::new(),
        in_main: false,
    };
    let params = g.c.pick(4);
    let mut args: Vec<Arg> = (0..params)
        .map(|_| {
            if g.c.chance(3) {
                Arg::from(g.c.one(&STRINGS))
            } else {
                Arg::Int(g.c.imm())
            }
        })
        .collect();
    if g.c.chance(32) {
        // The wrong number of inputs: refused before the run.
        args.push(Arg::Int(1));
    }
    let mut header = String::from(".contract gen\n");
    if g.c.chance(8) {
        let p = g.c.one(&PERMISSIONS);
        header.push_str(&format!(".permission {p}\n"));
    } else if g.c.chance(2) {
        header.push_str(".permission member\n");
    }
    if g.c.chance(8) {
        let r = g.c.one(&[1, 20, 21]);
        header.push_str(&format!(".reputation {r}\n"));
    }
    for k in STATE_KEYS {
        if g.c.chance(4) {
            let v = g.c.imm();
            header.push_str(&format!(".state {k} {v}\n"));
        }
    }
    header.push_str(&format!(".params {params}\n"));
    let mut subs_text = String::new();
    // A recursive sum: [n] -> [sum], recursing n times (n from the caller), testing n with
    // `jumpif` or with a comparison.
    if g.c.pick(2) == 1 {
        if g.c.pick(2) == 0 {
            g.emit("rec:\ndup\njumpif rec_more\nreturn\nrec_more:\ndup\npush 1\nsub");
            let after = g.block(2, 2, 2);
            g.fix(after, 2);
            g.emit("call rec\nadd\nreturn");
        } else {
            g.emit("rec:\ndup\npush 1\nlt\njumpif rec_done\ndup\npush 1\nsub");
            let after = g.block(2, 2, 2);
            g.fix(after, 2);
            g.emit("call rec\nadd\nrec_done:\nreturn");
        }
        subs_text.push_str(&g.take());
        g.subs.push(("rec".into(), 1, 1));
    }
    for i in 0..g.c.pick(3) {
        let name = format!("f{i}");
        let (params, results) = (g.c.pick(3), g.c.pick(3));
        g.emit(&format!("{name}:"));
        let after = g.block(params, 0, 1);
        g.fix(after, results);
        g.emit("return");
        subs_text.push_str(&g.take());
        g.subs.push((name, params, results));
    }
    // Main: sometimes a deep recursion (beyond small call-depth and stack limits).
    if g.subs.iter().any(|s| s.0 == "rec") && g.c.chance(3) {
        let n = g.c.one(&[3, 9, 20, 300, 2000]);
        g.emit(&format!("push {n}\ncall rec\npop"));
    }
    g.in_main = true;
    g.block(params, 0, 0);
    // Main halts, or (without subroutines) sometimes runs off the end of the code.
    if !(g.subs.is_empty() && g.c.chance(4)) {
        g.emit("halt");
    }
    for lib in &g.depends {
        header.push_str(&format!(".depends {lib}\n"));
    }
    let source = format!("{header}{}{subs_text}end:\n", g.out);
    Generated {
        source,
        args,
        limits,
    }
}

/// A raw instruction stream from the input's choices: any opcode (every other one a push, so
/// more streams keep the stack discipline), operands in range (immediates of every width),
/// jump targets anywhere, and 0 to 2 inputs. It reaches shapes no structured program has
/// (unreachable code, jumps into loops, main called as a subroutine); most streams do not
/// verify.
pub fn raw_contract(u: &mut Unstructured) -> Contract {
    let mut c = Choices { u };
    let n = c.pick(48) as usize + 1;
    let ops: Vec<(u8, i8)> = (0..n)
        .map(|_| (c.u.arbitrary().unwrap_or(0), c.u.arbitrary().unwrap_or(0)))
        .collect();
    let len = ops.len() as i64;
    let code = ops
        .iter()
        .map(|&(o, a)| {
            let op = if o % 2 == 0 {
                Op::Push
            } else {
                Op::ALL[(o / 2) as usize % Op::ALL.len()]
            };
            let arg = match op.info().operand {
                OperandKind::None => 0,
                OperandKind::Imm => i64::from(a) << (16 * (o % 4)),
                OperandKind::Str | OperandKind::Key => i64::from(a).rem_euclid(2),
                OperandKind::Target => i64::from(a).rem_euclid(len + 1),
            };
            Insn::with(op, arg)
        })
        .collect();
    Contract {
        id: "raw".into(),
        params: c.pick(3),
        program: coopvm_core::Program {
            code,
            keys: vec!["a".into(), "b".into()],
            strings: vec!["did:key:bob".into(), "makers".into()],
        },
        ..Default::default()
    }
}

/// Gas limits are swept one by one up to this full cost; above it, a spread of limits.
pub const SWEEP_ALL_UP_TO: u64 = 200;

/// The gas limits to run a program at whose full run used `full` gas: every limit up to
/// `full + 1` when `full` is at most [`SWEEP_ALL_UP_TO`] (so `out_of_gas` is met at every
/// block boundary and host charge), else a spread of 24, the edges and one more chosen by
/// `salt`. Sorted, without repeats.
pub fn gas_limits(full: u64, salt: u64) -> Vec<u64> {
    let mut g: Vec<u64> = if full <= SWEEP_ALL_UP_TO {
        (0..=full + 1).collect()
    } else {
        let mut g: Vec<u64> = (0..24).map(|i| full / 24 * i).collect();
        g.extend([full - 1, full, full + 1, full / 2 + 1, salt % full]);
        g
    };
    g.sort_unstable();
    g.dedup();
    g
}

/// A deterministic pseudo-random byte stream (xorshift64*) for the generator.
pub fn bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.max(1);
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

/// Every `.casm` file under `dir` (recursively), sorted; none when it cannot be read.
pub fn casm_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "casm") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use coopvm_core::{asm::assemble, verify};

    #[test]
    fn generated_programs_assemble_and_most_verify() {
        let mut verified = 0;
        for seed in 1..=300 {
            let data = bytes(seed, 600);
            let g = program(&mut Unstructured::new(&data));
            let contract = assemble("gen.casm", &g.source)
                .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{}", g.source));
            verified += usize::from(verify(contract, &g.limits).is_ok());
        }
        assert!(verified >= 270, "only {verified} of 300 verify");
    }

    /// The loops over integer keys (a store loop ends its body with `store`, a load loop
    /// sums with `rot; add; swap`) are common, and verify as often as the other programs.
    #[test]
    fn integer_key_loops_are_common_and_verify() {
        let (mut loops, mut verified) = (0, 0);
        for seed in 1..=300 {
            let data = bytes(seed, 600);
            let g = program(&mut Unstructured::new(&data));
            if g.source.contains("rot\nadd\nswap")
                || g.source.contains("\nstore\npush 1\nsub\njump")
            {
                loops += 1;
                let contract = assemble("gen.casm", &g.source).expect("assembles");
                verified += usize::from(verify(contract, &g.limits).is_ok());
            }
        }
        assert!(loops >= 60, "only {loops} of 300 programs have a key loop");
        assert!(
            verified * 10 >= loops * 9,
            "{verified} of {loops} key-loop programs verify"
        );
    }

    #[test]
    fn the_same_bytes_give_the_same_program() {
        for seed in 1..=20 {
            let data = bytes(seed, 400);
            let a = program(&mut Unstructured::new(&data));
            let b = program(&mut Unstructured::new(&data));
            assert_eq!(a, b);
        }
    }

    #[test]
    fn no_input_gives_the_smallest_program() {
        let g = program(&mut Unstructured::new(&[]));
        assert_eq!(g.source, ".contract gen\n.params 0\nhalt\nend:\n");
        assert!(g.args.is_empty());
        assert_eq!(g.limits, Limits::default());
    }

    #[test]
    fn gas_limits_sweep_all_small_costs_and_spread_large_ones() {
        assert_eq!(gas_limits(3, 9), vec![0, 1, 2, 3, 4]);
        let g = gas_limits(10_000, 77);
        assert!(g.windows(2).all(|w| w[0] < w[1]));
        for must in [0, 9_999, 10_000, 10_001, 77] {
            assert!(g.contains(&must), "{must} missing from {g:?}");
        }
    }
}
