//! The instruction table: the one place where every opcode is defined.
//!
//! Each row gives the opcode's binary code, its mnemonic, the kind of operand it takes, its
//! static stack effect (values popped, values pushed), its static gas cost, its class and a
//! one-line description. The assembler, disassembler, verifier, codec, both engines and
//! `docs/opcodes.md` all read this table; adding an opcode is one row here plus its semantics
//! (and every `match` on [`Op`] that forgets it is a compile error).
//!
//! ```
//! use coopvm_core::isa::{Op, OperandKind};
//! let add = Op::Add.info();
//! assert_eq!((add.mnemonic, add.pops, add.pushes), ("add", 2, 1));
//! assert_eq!(Op::Push.info().operand, OperandKind::Imm);
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
    /// Logs, events and the execution context.
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

macro_rules! instructions {
    ($(
        $variant:ident = $code:literal, $mn:literal, $operand:ident, $pops:literal -> $pushes:literal,
        gas $gas:literal, $class:ident, $ext:literal, $stack:literal, $doc:literal;
    )*) => {
        /// An opcode. The discriminant is the byte used in the binary encoding.
        #[repr(u8)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Op {
            $(
                #[doc = $doc]
                $variant = $code,
            )*
        }

        impl Op {
            /// Every opcode, in table order.
            pub const ALL: &'static [Op] = &[$(Op::$variant,)*];

            /// This opcode's row of the instruction table.
            pub const fn info(self) -> &'static OpInfo {
                match self {
                    $(Op::$variant => &OpInfo {
                        op: Op::$variant,
                        code: $code,
                        mnemonic: $mn,
                        operand: OperandKind::$operand,
                        pops: $pops,
                        pushes: $pushes,
                        gas: $gas,
                        class: Class::$class,
                        extension: $ext,
                        stack: $stack,
                        doc: $doc,
                    },)*
                }
            }

            /// The opcode encoded by `byte`, if any.
            pub const fn from_byte(byte: u8) -> Option<Op> {
                match byte {
                    $($code => Some(Op::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

instructions! {
    // --- arithmetic (ICN seed A.1) ---
    Add = 0x01, "add", None, 2 -> 1, gas 1, Arithmetic, false, "[a, b] -> [a + b]",
        "Pops b then a and pushes a + b; overflow is `arithmetic_overflow`.";
    Sub = 0x02, "sub", None, 2 -> 1, gas 1, Arithmetic, false, "[a, b] -> [a - b]",
        "Pops b then a and pushes a - b; overflow is `arithmetic_overflow`.";
    Mul = 0x03, "mul", None, 2 -> 1, gas 2, Arithmetic, false, "[a, b] -> [a * b]",
        "Pops b then a and pushes a * b; overflow is `arithmetic_overflow`.";
    Div = 0x04, "div", None, 2 -> 1, gas 4, Arithmetic, false, "[a, b] -> [a / b]",
        "Pops b then a and pushes a / b truncated toward zero; b = 0 is `division_by_zero`, i64::MIN / -1 is `arithmetic_overflow`.";
    Mod = 0x05, "mod", None, 2 -> 1, gas 4, Arithmetic, false, "[a, b] -> [a % b]",
        "Pops b then a and pushes the remainder of a / b, with the sign of a; b = 0 is `division_by_zero`, i64::MIN % -1 is `arithmetic_overflow`.";
    Neg = 0x06, "neg", None, 1 -> 1, gas 1, Arithmetic, true, "[a] -> [-a]",
        "Pops a and pushes -a; -i64::MIN is `arithmetic_overflow`.";
    // --- comparison and logic (extension) ---
    Eq = 0x10, "eq", None, 2 -> 1, gas 1, Comparison, true, "[a, b] -> [a == b]",
        "Pops b then a and pushes 1 if a == b, else 0.";
    Ne = 0x11, "ne", None, 2 -> 1, gas 1, Comparison, true, "[a, b] -> [a != b]",
        "Pops b then a and pushes 1 if a != b, else 0.";
    Lt = 0x12, "lt", None, 2 -> 1, gas 1, Comparison, true, "[a, b] -> [a < b]",
        "Pops b then a and pushes 1 if a < b (signed), else 0.";
    Le = 0x13, "le", None, 2 -> 1, gas 1, Comparison, true, "[a, b] -> [a <= b]",
        "Pops b then a and pushes 1 if a <= b (signed), else 0.";
    Gt = 0x14, "gt", None, 2 -> 1, gas 1, Comparison, true, "[a, b] -> [a > b]",
        "Pops b then a and pushes 1 if a > b (signed), else 0.";
    Ge = 0x15, "ge", None, 2 -> 1, gas 1, Comparison, true, "[a, b] -> [a >= b]",
        "Pops b then a and pushes 1 if a >= b (signed), else 0.";
    Not = 0x16, "not", None, 1 -> 1, gas 1, Comparison, true, "[a] -> [!a]",
        "Pops a and pushes 1 if a == 0, else 0.";
    And = 0x17, "and", None, 2 -> 1, gas 1, Comparison, true, "[a, b] -> [a && b]",
        "Pops b then a and pushes 1 if both are non-zero, else 0.";
    Or = 0x18, "or", None, 2 -> 1, gas 1, Comparison, true, "[a, b] -> [a || b]",
        "Pops b then a and pushes 1 if either is non-zero, else 0.";
    // --- stack (ICN seed A.2) ---
    Push = 0x20, "push", Imm, 0 -> 1, gas 1, Stack, false, "[] -> [n]",
        "Pushes the integer immediate n.";
    PushStr = 0x21, "push", Str, 0 -> 1, gas 1, Stack, false, "[] -> [s]",
        "Pushes the handle of a string constant (`push \"did:key:...\"`); see docs/strings.md.";
    Pop = 0x22, "pop", None, 1 -> 0, gas 1, Stack, false, "[a] -> []",
        "Discards the top value.";
    Dup = 0x23, "dup", None, 1 -> 2, gas 1, Stack, false, "[a] -> [a, a]",
        "Duplicates the top value.";
    Swap = 0x24, "swap", None, 2 -> 2, gas 1, Stack, false, "[a, b] -> [b, a]",
        "Swaps the top two values.";
    // --- memory (ICN seed A.3) ---
    Store = 0x30, "store", Key, 1 -> 0, gas 3, Memory, false, "[v] -> []",
        "Pops v and stores it under the static key K (`store K`); a new key beyond the memory limit is `memory_limit_exceeded`.";
    StoreDyn = 0x31, "store", None, 2 -> 0, gas 5, Memory, false, "[v, k] -> []",
        "Pops the integer key k, then v, and stores v under k; a new key beyond the memory limit is `memory_limit_exceeded`.";
    Load = 0x32, "load", Key, 0 -> 1, gas 3, Memory, false, "[] -> [v]",
        "Pushes the value stored under the static key K (`load K`); a missing key is `invalid_memory_access`.";
    LoadDyn = 0x33, "load", None, 1 -> 1, gas 5, Memory, false, "[k] -> [v]",
        "Pops the integer key k and pushes the value stored under it; a missing key is `invalid_memory_access`.";
    // --- control flow (ICN seed A.4) ---
    Jump = 0x40, "jump", Target, 0 -> 0, gas 1, Control, false, "[] -> []",
        "Continues at the label L.";
    JumpIf = 0x41, "jumpif", Target, 1 -> 0, gas 1, Control, false, "[c] -> []",
        "Pops c and continues at the label L when c != 0, else with the next instruction.";
    Call = 0x42, "call", Target, 0 -> 0, gas 3, Control, false, "[args] -> [results]",
        "Calls the subroutine at L; its stack effect is inferred by the verifier; call depth beyond the limit is `call_depth_exceeded`.";
    Return = 0x43, "return", None, 0 -> 0, gas 1, Control, false, "[results] -> [results]",
        "Returns to the instruction after the matching `call`; with no caller it ends the contract like `halt`.";
    Halt = 0x44, "halt", None, 0 -> 0, gas 1, Control, false, "[] -> []",
        "Ends the contract successfully; the stack is the result.";
    // --- cooperative (ICN seed A.5) ---
    CreateCooperative = 0x50, "createcooperative", None, 2 -> 0, gas 100, Cooperative, false, "[name, pool] -> []",
        "Creates the cooperative `name` with a resource pool of `pool` units; the caller is its first member. Emits `CooperativeCreated`.";
    JoinCooperative = 0x51, "joincooperative", None, 1 -> 0, gas 50, Cooperative, false, "[coop] -> []",
        "Makes the caller a member of `coop`. Emits `MemberJoined`.";
    LeaveCooperative = 0x52, "leavecooperative", None, 1 -> 0, gas 50, Cooperative, false, "[coop] -> []",
        "Removes the caller from `coop`. Emits `MemberLeft`.";
    AllocateResource = 0x53, "allocateresource", None, 3 -> 0, gas 60, Cooperative, false, "[coop, member, amount] -> []",
        "Moves `amount` units from the pool of `coop` to `member`. Emits `ResourceAllocated`.";
    TransferResource = 0x54, "transferresource", None, 3 -> 0, gas 60, Cooperative, false, "[coop, to, amount] -> []",
        "Moves `amount` units of `coop`'s resource from the caller to `to`. Emits `ResourceTransferred`.";
    // --- federation (ICN seed, module list) ---
    CreateFederation = 0x58, "createfederation", None, 2 -> 0, gas 100, Federation, false, "[name, coop] -> []",
        "Creates the federation `name` with `coop` as its founding member. Emits `FederationCreated`.";
    JoinFederation = 0x59, "joinfederation", None, 2 -> 0, gas 50, Federation, false, "[federation, coop] -> []",
        "Adds the cooperative `coop` to `federation`. Emits `FederationJoined`.";
    // --- governance (ICN seed A.6) ---
    CreateProposal = 0x60, "createproposal", None, 4 -> 1, gas 100, Governance, false, "[coop, title, quorum, deadline] -> [id]",
        "Opens a proposal in `coop` and pushes its id. Emits `ProposalCreated`.";
    CastVote = 0x61, "castvote", None, 2 -> 0, gas 50, Governance, false, "[id, choice] -> []",
        "Casts the caller's vote (choice != 0 is yes) on proposal `id`. Emits `VoteCast`.";
    DelegateVotes = 0x62, "delegatevotes", None, 2 -> 0, gas 50, Governance, false, "[coop, delegate] -> []",
        "Delegates the caller's vote in `coop` to `delegate`. Emits `VotesDelegated`.";
    ExecuteProposal = 0x63, "executeproposal", None, 1 -> 1, gas 100, Governance, false, "[id] -> [passed]",
        "Executes proposal `id` once quorum and deadline are met; pushes 1 if it passed, else 0. Emits `ProposalExecuted`.";
    UpdateQuorum = 0x64, "updatequorum", None, 2 -> 0, gas 50, Governance, false, "[id, quorum] -> []",
        "Sets the quorum of proposal `id`. Emits `QuorumUpdated`.";
    // --- reputation ---
    UpdateReputation = 0x70, "updatereputation", None, 2 -> 0, gas 50, Reputation, false, "[did, delta] -> []",
        "Adds `delta` to the reputation of `did`. Emits `ReputationUpdated`.";
    GetReputation = 0x71, "getreputation", None, 1 -> 1, gas 20, Reputation, false, "[did] -> [score]",
        "Pushes the reputation score of `did`.";
    // --- identity ---
    VerifyDid = 0x78, "verifydid", None, 3 -> 1, gas 200, Identity, false, "[did, payload, signature] -> [ok]",
        "Pushes 1 if `did` is registered and `signature` verifies over `payload`, else 0.";
    UpdateDidDocument = 0x79, "updatediddocument", None, 2 -> 0, gas 100, Identity, false, "[did, document] -> []",
        "Replaces the document of `did`. Emits `DidDocumentUpdated`.";
    // --- system (ICN seed A.7) ---
    Log = 0x80, "log", None, 1 -> 0, gas 2, System, false, "[v] -> []",
        "Pops v and appends it to the run's execution log.";
    EmitEvent = 0x81, "emitevent", None, 2 -> 0, gas 10, System, false, "[topic, v] -> []",
        "Pops v and the string handle `topic` and emits the event `topic` with value v.";
    GetTimestamp = 0x82, "gettimestamp", None, 0 -> 1, gas 2, System, false, "[] -> [t]",
        "Pushes the execution context's timestamp.";
    GetCaller = 0x83, "getcaller", None, 0 -> 1, gas 2, System, false, "[] -> [did]",
        "Pushes the string handle of the caller's DID.";
    GetBlock = 0x84, "getblock", None, 0 -> 1, gas 2, System, true, "[] -> [n]",
        "Pushes the execution context's block number.";
    // --- contract calls (extension) ---
    CallContract = 0x90, "callcontract", None, 2 -> 1, gas 50, Contract, true, "[contract, arg] -> [result]",
        "Runs the dependency `contract` (named in `.depends`) with `arg` under its reserved key `arg` (`load arg`) and pushes the top of its final stack; its gas is charged to this run and its effects commit or roll back with it (docs/domain.md).";
}

impl Op {
    /// Whether this opcode is executed by the host (through [`crate::host::dispatch`]).
    pub fn is_host(self) -> bool {
        matches!(
            self.info().class,
            Class::Cooperative
                | Class::Federation
                | Class::Governance
                | Class::Reputation
                | Class::Identity
                | Class::System
                | Class::Contract
        )
    }

    /// Whether this opcode ends a basic block (control transfers and halting).
    pub fn ends_block(self) -> bool {
        matches!(
            self,
            Op::Jump | Op::JumpIf | Op::Call | Op::Return | Op::Halt
        )
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
