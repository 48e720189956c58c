//! The instruction table (its rows are in `isa/table.rs`): the one place where every opcode
//! is defined, and what is generated from it.
//!
//! Each row gives the opcode's binary code, its mnemonic, the kind of operand it takes, its
//! static stack effect (values popped, values pushed), its static gas cost, its class and a
//! one-line description. The assembler, disassembler, verifier, codec, both engines and
//! `docs/opcodes.md` all read this table.
//!
//! The table has three sections, and each opcode's section decides who executes it:
//!
//! - **pure** opcodes ([`PureOp`]) are executed by the engines themselves (arithmetic,
//!   stack, memory, control flow). Each engine matches on [`PureOp`] exhaustively, without a
//!   wildcard, so a pure opcode added here and forgotten in the interpreter or the JIT is a
//!   compile error (`non-exhaustive patterns: PureOp::...`).
//! - **host** opcodes declare their arguments and result, e.g.
//!   `fn create_cooperative(name: Str, pool: Int) -> Unit`, where `Str` is a string handle
//!   resolved to `&str` (as a result: a `String`, which the run interns and pushes as a
//!   handle), `Int` an `i64`, `Bool` a result pushed as 1 or 0 and `Unit` no result. The row's `pops` and `pushes` follow from the declaration, and the
//!   [`Host`](crate::host::Host) trait method of the same name, with a default body that
//!   fails with `host_unavailable`, and its argument decoding in
//!   [`dispatch`](crate::host::dispatch) are generated from it.
//! - **system** opcodes are served by [`dispatch`](crate::host::dispatch) from the run's
//!   [`Env`](crate::host::Env) (logs, events, the execution context), one exhaustive match
//!   over [`SystemOp`].
//!
//! Engines see host and system opcodes alike as [`HostOp`]s, which they hand to
//! [`dispatch`](crate::host::dispatch) through one generic path; [`Op::kind`] splits an
//! opcode into a [`PureOp`] or a [`HostOp`].
//!
//! ```
//! use coopvm_core::isa::{HostOp, Op, OpKind, OperandKind, PureOp, MAX_HOST_ARGS};
//! let add = Op::Add.info();
//! assert_eq!((add.mnemonic, add.pops, add.pushes), ("add", 2, 1));
//! assert_eq!(Op::Push.info().operand, OperandKind::Imm);
//! assert_eq!(Op::Add.kind(), OpKind::Pure(PureOp::Add));
//! assert_eq!(Op::CastVote.kind(), OpKind::Host(HostOp::CastVote));
//! // `createproposal(coop: Str, title: Str, quorum: Int, deadline: Int) -> Int`
//! assert_eq!((Op::CreateProposal.info().pops, Op::CreateProposal.info().pushes), (4, 1));
//! assert_eq!(MAX_HOST_ARGS, 4);
//! ```

/// What kind of operand an instruction carries in its `arg` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OperandKind {
    /// No operand; `arg` is 0.
    None,
    /// A 64-bit integer immediate.
    Imm,
    /// An index into the program's string constant pool.
    Str,
    /// An index into the program's static key table (a memory slot).
    Key,
    /// An instruction index (a jump or call target).
    Target,
}

/// The family an opcode belongs to (used for docs and dispatch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// Checked 64-bit integer arithmetic.
    Arithmetic,
    /// Comparison and logic (an extension to the ICN seed); results are 1 or 0.
    Comparison,
    /// Value stack manipulation.
    Stack,
    /// The contract's key-value memory.
    Memory,
    /// Jumps, calls, returns and halting.
    Control,
    /// Cooperatives and their resource pools.
    Cooperative,
    /// Federations of cooperatives.
    Federation,
    /// Proposals, votes and quorums.
    Governance,
    /// Reputation scores.
    Reputation,
    /// Decentralised identifiers (DIDs).
    Identity,
    /// Logs, events, the execution context and string handles.
    System,
    /// Calls into other contracts (an extension).
    Contract,
}

impl Class {
    /// Every class, in documentation order.
    pub const ALL: &'static [Class] = &[
        Class::Arithmetic,
        Class::Comparison,
        Class::Stack,
        Class::Memory,
        Class::Control,
        Class::Cooperative,
        Class::Federation,
        Class::Governance,
        Class::Reputation,
        Class::Identity,
        Class::System,
        Class::Contract,
    ];

    /// A human title for the class.
    pub fn title(self) -> &'static str {
        match self {
            Class::Arithmetic => "Arithmetic",
            Class::Comparison => "Comparison and logic (extension)",
            Class::Stack => "Stack",
            Class::Memory => "Memory",
            Class::Control => "Control flow",
            Class::Cooperative => "Cooperative",
            Class::Federation => "Federation",
            Class::Governance => "Governance",
            Class::Reputation => "Reputation",
            Class::Identity => "Identity",
            Class::System => "System",
            Class::Contract => "Contract calls (extension)",
        }
    }
}

/// Static facts about one opcode: one row of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpInfo {
    /// The opcode this row describes.
    pub op: Op,
    /// The byte that encodes the opcode in the binary format.
    pub code: u8,
    /// The assembly mnemonic, lower case (the assembler is case-insensitive).
    pub mnemonic: &'static str,
    /// The operand the instruction carries.
    pub operand: OperandKind,
    /// How many values the instruction pops.
    pub pops: u8,
    /// How many values the instruction pushes.
    pub pushes: u8,
    /// Static gas cost, charged as part of its basic block.
    pub gas: u64,
    /// The opcode's family.
    pub class: Class,
    /// Whether the opcode is a coopvm extension to the ICN seed's instruction set.
    pub extension: bool,
    /// Stack picture before -> after, e.g. `[a, b] -> [a + b]`.
    pub stack: &'static str,
    /// One-line description.
    pub doc: &'static str,
}

mod table;
pub(crate) use table::for_each_op;

/// How many values a host operation with this result type pushes.
macro_rules! host_pushes {
    (Unit) => {
        0
    };
    (Int) => {
        1
    };
    (Bool) => {
        1
    };
    (Str) => {
        1
    };
}

/// The number of the identifiers given, as a `u8`.
macro_rules! count {
    () => { 0u8 };
    ($x:ident $($rest:ident)*) => { 1u8 + count!($($rest)*) };
}

macro_rules! instructions {
    (
        pure { $(
            $p:ident = $pcode:literal, $pmn:literal, $pop:ident, $ppops:literal -> $ppushes:literal,
            gas $pgas:literal, $pclass:ident, $pext:literal, $pstack:literal, $pdoc:literal;
        )* }
        host { $(
            $h:ident = $hcode:literal, $hmn:literal, gas $hgas:literal, $hclass:ident, $hext:literal,
            $hstack:literal, $hdoc:literal,
            fn $method:ident($($arg:ident: $aty:ident),*) -> $rty:ident $(else $default:block)?;
        )* }
        system { $(
            $s:ident = $scode:literal, $smn:literal, $spops:literal -> $spushes:literal,
            gas $sgas:literal, $sclass:ident, $sext:literal, $sstack:literal, $sdoc:literal;
        )* }
    ) => {
        /// An opcode. The discriminant is the byte used in the binary encoding.
        #[repr(u8)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Op {
            $(#[doc = $pdoc] $p = $pcode,)*
            $(#[doc = $hdoc] $h = $hcode,)*
            $(#[doc = $sdoc] $s = $scode,)*
        }

        /// An opcode the engines execute themselves (the table's `pure` section). Engines
        /// match on it exhaustively: a pure opcode an engine forgets is a compile error.
        #[repr(u8)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum PureOp {
            $(#[doc = $pdoc] $p = $pcode,)*
        }

        /// An opcode the engines execute through [`crate::host::dispatch`] (the table's `host`
        /// and `system` sections).
        #[repr(u8)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum HostOp {
            $(#[doc = $hdoc] $h = $hcode,)*
            $(#[doc = $sdoc] $s = $scode,)*
        }

        /// A host opcode served from the run's [`crate::host::Env`] rather than the
        /// [`crate::host::Host`] (the table's `system` section).
        #[repr(u8)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum SystemOp {
            $(#[doc = $sdoc] $s = $scode,)*
        }

        impl Op {
            /// Every opcode, in order of code.
            pub const ALL: &'static [Op] = &by_code([$(Op::$p,)* $(Op::$h,)* $(Op::$s,)*]);

            /// This opcode's row of the instruction table.
            pub const fn info(self) -> &'static OpInfo {
                match self {
                    $(Op::$p => {
                        const INFO: OpInfo = OpInfo {
                            op: Op::$p,
                            code: $pcode,
                            mnemonic: $pmn,
                            operand: OperandKind::$pop,
                            pops: $ppops,
                            pushes: $ppushes,
                            gas: $pgas,
                            class: Class::$pclass,
                            extension: $pext,
                            stack: $pstack,
                            doc: $pdoc,
                        };
                        &INFO
                    })*
                    $(Op::$h => {
                        const INFO: OpInfo = OpInfo {
                            op: Op::$h,
                            code: $hcode,
                            mnemonic: $hmn,
                            operand: OperandKind::None,
                            pops: count!($($arg)*),
                            pushes: host_pushes!($rty),
                            gas: $hgas,
                            class: Class::$hclass,
                            extension: $hext,
                            stack: $hstack,
                            doc: $hdoc,
                        };
                        &INFO
                    })*
                    $(Op::$s => {
                        const INFO: OpInfo = OpInfo {
                            op: Op::$s,
                            code: $scode,
                            mnemonic: $smn,
                            operand: OperandKind::None,
                            pops: $spops,
                            pushes: $spushes,
                            gas: $sgas,
                            class: Class::$sclass,
                            extension: $sext,
                            stack: $sstack,
                            doc: $sdoc,
                        };
                        &INFO
                    })*
                }
            }

            /// The opcode encoded by `byte`, if any.
            pub const fn from_byte(byte: u8) -> Option<Op> {
                match byte {
                    $($pcode => Some(Op::$p),)*
                    $($hcode => Some(Op::$h),)*
                    $($scode => Some(Op::$s),)*
                    _ => None,
                }
            }

            /// Who executes this opcode: the engine ([`OpKind::Pure`]) or
            /// [`crate::host::dispatch`] ([`OpKind::Host`]).
            pub const fn kind(self) -> OpKind {
                match self {
                    $(Op::$p => OpKind::Pure(PureOp::$p),)*
                    $(Op::$h => OpKind::Host(HostOp::$h),)*
                    $(Op::$s => OpKind::Host(HostOp::$s),)*
                }
            }
        }

        impl PureOp {
            /// Every pure opcode, in table order.
            pub const ALL: &'static [PureOp] = &[$(PureOp::$p,)*];

            /// The opcode.
            pub const fn op(self) -> Op {
                match self {
                    $(PureOp::$p => Op::$p,)*
                }
            }
        }

        impl HostOp {
            /// Every host opcode, in table order (the `host` section, then `system`).
            pub const ALL: &'static [HostOp] = &[$(HostOp::$h,)* $(HostOp::$s,)*];

            /// The opcode.
            pub const fn op(self) -> Op {
                match self {
                    $(HostOp::$h => Op::$h,)*
                    $(HostOp::$s => Op::$s,)*
                }
            }

            /// The system opcode this is, if it is served from the run's environment.
            pub const fn system(self) -> Option<SystemOp> {
                match self {
                    $(HostOp::$h => None,)*
                    $(HostOp::$s => Some(SystemOp::$s),)*
                }
            }
        }

        impl SystemOp {
            /// Every system opcode, in table order.
            pub const ALL: &'static [SystemOp] = &[$(SystemOp::$s,)*];

            /// The host opcode.
            pub const fn host(self) -> HostOp {
                match self {
                    $(SystemOp::$s => HostOp::$s,)*
                }
            }
        }
    };
}

for_each_op!(instructions);

/// Who executes an opcode (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// The engine itself.
    Pure(PureOp),
    /// [`crate::host::dispatch`], called by the engine with the popped arguments.
    Host(HostOp),
}

/// The most values a host opcode pops (the largest `pops` of the table's host and system
/// rows): engines that pass host arguments through a fixed buffer size it with this.
pub const MAX_HOST_ARGS: usize = {
    let mut max = 0;
    let mut i = 0;
    while i < HostOp::ALL.len() {
        let pops = HostOp::ALL[i].op().info().pops as usize;
        if pops > max {
            max = pops;
        }
        i += 1;
    }
    max
};

/// `ops` sorted by code (insertion sort; the table is small and this runs at compile time).
const fn by_code<const N: usize>(mut ops: [Op; N]) -> [Op; N] {
    let mut i = 1;
    while i < N {
        let mut j = i;
        while j > 0 && (ops[j - 1] as u8) > (ops[j] as u8) {
            let t = ops[j - 1];
            ops[j - 1] = ops[j];
            ops[j] = t;
            j -= 1;
        }
        i += 1;
    }
    ops
}

impl PureOp {
    /// This opcode's row of the instruction table.
    pub const fn info(self) -> &'static OpInfo {
        self.op().info()
    }
}

impl HostOp {
    /// This opcode's row of the instruction table.
    pub const fn info(self) -> &'static OpInfo {
        self.op().info()
    }

    /// The host opcode encoded by `byte`, if any.
    pub const fn from_byte(byte: u8) -> Option<HostOp> {
        match Op::from_byte(byte) {
            Some(op) => op.as_host(),
            None => None,
        }
    }
}

impl From<PureOp> for Op {
    fn from(op: PureOp) -> Op {
        op.op()
    }
}

impl From<HostOp> for Op {
    fn from(op: HostOp) -> Op {
        op.op()
    }
}

impl From<SystemOp> for HostOp {
    fn from(op: SystemOp) -> HostOp {
        op.host()
    }
}

impl Op {
    /// Whether this opcode is executed by the host (through [`crate::host::dispatch`]).
    pub const fn is_host(self) -> bool {
        self.as_host().is_some()
    }

    /// This opcode as a [`HostOp`], if it is one.
    pub const fn as_host(self) -> Option<HostOp> {
        match self.kind() {
            OpKind::Host(op) => Some(op),
            OpKind::Pure(_) => None,
        }
    }

    /// Whether this opcode ends a basic block: the control class (jumps, calls, returns,
    /// halting).
    pub fn ends_block(self) -> bool {
        self.info().class == Class::Control
    }

    /// The opcodes sharing `mnemonic` (compared case-insensitively).
    pub fn by_mnemonic(mnemonic: &str) -> impl Iterator<Item = Op> + '_ {
        Op::ALL
            .iter()
            .copied()
            .filter(move |op| op.info().mnemonic.eq_ignore_ascii_case(mnemonic))
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.info().mnemonic)
    }
}

impl std::fmt::Display for PureOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.op().fmt(f)
    }
}

impl std::fmt::Display for HostOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.op().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for &op in Op::ALL {
            assert_eq!(op.info().op, op);
            assert_eq!(op as u8, op.info().code);
            assert_eq!(Op::from_byte(op as u8), Some(op));
            assert!(seen.insert(op as u8));
        }
        assert_eq!(Op::from_byte(0), None);
        assert_eq!(Op::from_byte(0xff), None);
    }

    #[test]
    fn codes_are_in_order_and_kinds_partition_the_table() {
        assert!(Op::ALL.windows(2).all(|w| (w[0] as u8) < (w[1] as u8)));
        let (mut pure, mut host) = (0, 0);
        for &op in Op::ALL {
            match op.kind() {
                OpKind::Pure(p) => {
                    pure += 1;
                    assert_eq!((p.op(), p as u8), (op, op as u8));
                }
                OpKind::Host(h) => {
                    host += 1;
                    assert_eq!((h.op(), h as u8), (op, op as u8));
                    assert_eq!(HostOp::from_byte(op as u8), Some(h));
                    assert_eq!(op.info().operand, OperandKind::None, "{op:?}");
                    assert!(usize::from(op.info().pops) <= MAX_HOST_ARGS);
                    assert_eq!(
                        h.system().is_some(),
                        op.info().class == Class::System,
                        "{op:?}"
                    );
                }
            }
            // The classes of host opcodes are exactly the host sections' classes.
            let host_class = !matches!(
                op.info().class,
                Class::Arithmetic
                    | Class::Comparison
                    | Class::Stack
                    | Class::Memory
                    | Class::Control
            );
            assert_eq!(op.is_host(), host_class, "{op:?}");
        }
        assert_eq!((pure, host), (PureOp::ALL.len(), HostOp::ALL.len()));
        assert!(SystemOp::ALL.iter().all(|s| s.host().system() == Some(*s)));
        assert_eq!(
            MAX_HOST_ARGS,
            usize::from(
                Op::ALL
                    .iter()
                    .filter(|o| o.is_host())
                    .map(|o| o.info().pops)
                    .max()
                    .unwrap()
            )
        );
    }

    #[test]
    fn shared_mnemonics_differ_by_operand() {
        for &op in Op::ALL {
            let same: Vec<Op> = Op::by_mnemonic(op.info().mnemonic).collect();
            let kinds: std::collections::HashSet<_> =
                same.iter().map(|o| o.info().operand).collect();
            assert_eq!(
                kinds.len(),
                same.len(),
                "{op:?} shares mnemonic and operand"
            );
        }
    }

    #[test]
    fn mnemonic_lookup_is_case_insensitive() {
        assert_eq!(Op::by_mnemonic("JumpIf").next(), Some(Op::JumpIf));
        assert_eq!(
            Op::by_mnemonic("CREATECOOPERATIVE").next(),
            Some(Op::CreateCooperative)
        );
        assert_eq!(Op::by_mnemonic("nope").next(), None);
    }

    #[test]
    fn every_seed_opcode_is_present() {
        let seed = [
            "Add",
            "Sub",
            "Mul",
            "Div",
            "Mod",
            "Push",
            "Pop",
            "Dup",
            "Swap",
            "Store",
            "Load",
            "Jump",
            "JumpIf",
            "Call",
            "Return",
            "CreateCooperative",
            "JoinCooperative",
            "LeaveCooperative",
            "AllocateResource",
            "TransferResource",
            "CreateProposal",
            "CastVote",
            "DelegateVotes",
            "ExecuteProposal",
            "UpdateQuorum",
            "UpdateReputation",
            "GetReputation",
            "VerifyDID",
            "UpdateDIDDocument",
            "Log",
            "Halt",
            "EmitEvent",
            "GetTimestamp",
            "GetCaller",
            "CreateFederation",
            "JoinFederation",
        ];
        for name in seed {
            assert!(Op::by_mnemonic(name).next().is_some(), "{name} missing");
        }
    }
}
