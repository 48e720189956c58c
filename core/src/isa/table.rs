//! The instruction table itself: every opcode's row (see the [parent module](super) for
//! what the sections and columns mean and what is generated from them).
//!
//! Adding an opcode is one row here plus its semantics: a pure opcode in both engines (the
//! compiler points at each exhaustive match that lacks it), a host opcode in the hosts that
//! serve it (the trait method is generated, with a default), a system opcode in
//! `host::system`.

/// The instruction table: hands every row, in three sections (`pure`, `host`, `system`; see
/// the module docs), to the macro `$m`. This is the one definition of the instruction set:
/// [`Op`](super::Op) and its relatives are generated from it in `isa`, the [`Host`](crate::host::Host) trait
/// and [`dispatch`](crate::host::dispatch) in `host.rs`.
///
/// Row formats (the operand of host and system opcodes is always `None`):
///
/// ```text
/// pure:   Name = code, "mnemonic", Operand, pops -> pushes, gas N, Class, extension, "stack", "doc";
/// host:   Name = code, "mnemonic", gas N, Class, extension, "stack", "doc",
///             fn method(arg: Type, ...) -> Type [else { default body }];
/// system: Name = code, "mnemonic", pops -> pushes, gas N, Class, extension, "stack", "doc";
/// ```
macro_rules! for_each_op {
    ($m:ident) => {
        $m! {
            pure {
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
                Over = 0x25, "over", None, 2 -> 3, gas 1, Stack, true, "[a, b] -> [a, b, a]",
                    "Pushes a copy of the second value from the top.";
                Rot = 0x26, "rot", None, 3 -> 3, gas 1, Stack, true, "[a, b, c] -> [b, c, a]",
                    "Moves the third value from the top to the top.";
                Pick = 0x27, "pick", Imm, 0 -> 1, gas 1, Stack, true, "[x_N, .., x_0] -> [x_N, .., x_0, x_N]",
                    "Pushes a copy of the value N places below the top (`pick N`; `pick 0` is `dup`, `pick 1` is `over`). The verifier rejects a negative N and an N that reaches below the values the stack holds there.";
                // --- memory (ICN seed A.3) ---
                Store = 0x30, "store", Key, 1 -> 0, gas 3, Memory, false, "[v] -> []",
                    "Pops v and stores it under the static key K (`store K`); a new key beyond the memory limit is `memory_limit_exceeded`.";
                StoreDyn = 0x31, "store", None, 2 -> 0, gas 5, Memory, false, "[v, k] -> []",
                    "Pops the integer key k, then v, and stores v under k; a new key beyond the memory limit is `memory_limit_exceeded`.";
                Load = 0x32, "load", Key, 0 -> 1, gas 3, Memory, false, "[] -> [v]",
                    "Pushes the value stored under the static key K (`load K`); a missing key is `invalid_memory_access`.";
                LoadDyn = 0x33, "load", None, 1 -> 1, gas 5, Memory, false, "[k] -> [v]",
                    "Pops the integer key k and pushes the value stored under it; a missing key is `invalid_memory_access`.";
                // --- transient memory (extension): scratch values for one run ---
                TStore = 0x34, "tstore", Key, 1 -> 0, gas 2, Memory, true, "[v] -> []",
                    "Pops v and stores it under the static key K of the run's transient memory (`tstore K`): it lasts for this run only, is never persisted nor part of the reported `state`, and has its own key limit (a new key beyond it is `memory_limit_exceeded`).";
                TStoreDyn = 0x35, "tstore", None, 2 -> 0, gas 4, Memory, true, "[v, k] -> []",
                    "Pops the integer key k, then v, and stores v under k in the run's transient memory (see `tstore K`); a new key beyond the transient limit is `memory_limit_exceeded`.";
                TLoad = 0x36, "tload", Key, 0 -> 1, gas 2, Memory, true, "[] -> [v]",
                    "Pushes the value stored under the static key K of the run's transient memory (`tload K`); a missing key is `invalid_memory_access`.";
                TLoadDyn = 0x37, "tload", None, 1 -> 1, gas 4, Memory, true, "[k] -> [v]",
                    "Pops the integer key k and pushes the value stored under it in the run's transient memory; a missing key is `invalid_memory_access`.";
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
            }
            host {
                // --- cooperative (ICN seed A.5) ---
                CreateCooperative = 0x50, "createcooperative", gas 100, Cooperative, false, "[name, pool] -> []",
                    "Creates the cooperative `name` with a resource pool of `pool` units; the caller is its first member. Emits `CooperativeCreated`.",
                    fn create_cooperative(name: Str, pool: Int) -> Unit;
                JoinCooperative = 0x51, "joincooperative", gas 50, Cooperative, false, "[coop] -> []",
                    "Makes the caller a member of `coop`. Emits `MemberJoined`.",
                    fn join_cooperative(coop: Str) -> Unit;
                LeaveCooperative = 0x52, "leavecooperative", gas 50, Cooperative, false, "[coop] -> []",
                    "Removes the caller from `coop`. Emits `MemberLeft`.",
                    fn leave_cooperative(coop: Str) -> Unit;
                AllocateResource = 0x53, "allocateresource", gas 60, Cooperative, false, "[coop, member, amount] -> []",
                    "Moves `amount` units from the pool of `coop` to `member`. Emits `ResourceAllocated`.",
                    fn allocate_resource(coop: Str, member: Str, amount: Int) -> Unit;
                TransferResource = 0x54, "transferresource", gas 60, Cooperative, false, "[coop, to, amount] -> []",
                    "Moves `amount` units of `coop`'s resource from the caller to `to`. Emits `ResourceTransferred`.",
                    fn transfer_resource(coop: Str, to: Str, amount: Int) -> Unit;
                GetBalance = 0x55, "getbalance", gas 20, Cooperative, true, "[coop, member] -> [units]",
                    "Pushes the units of `coop`'s resource that `member` holds. Reads only.",
                    fn get_balance(coop: Str, member: Str) -> Int;
                GetPool = 0x56, "getpool", gas 20, Cooperative, true, "[coop] -> [units]",
                    "Pushes the units left in the pool of `coop`. Reads only.",
                    fn get_pool(coop: Str) -> Int;
                IsMember = 0x57, "ismember", gas 20, Cooperative, true, "[coop, did] -> [member]",
                    "Pushes 1 if `did` is a member of `coop`, else 0. Reads only.",
                    fn is_member(coop: Str, did: Str) -> Bool;
                // --- federation (ICN seed, module list) ---
                CreateFederation = 0x58, "createfederation", gas 100, Federation, false, "[name, coop] -> []",
                    "Creates the federation `name` with `coop` as its founding member. Emits `FederationCreated`.",
                    fn create_federation(name: Str, coop: Str) -> Unit;
                JoinFederation = 0x59, "joinfederation", gas 50, Federation, false, "[federation, coop] -> []",
                    "Adds the cooperative `coop` to `federation`. Emits `FederationJoined`.",
                    fn join_federation(federation: Str, coop: Str) -> Unit;
                InFederation = 0x5a, "infederation", gas 20, Federation, true, "[federation, coop] -> [member]",
                    "Pushes 1 if the cooperative `coop` is a member of `federation`, else 0. Reads only.",
                    fn in_federation(federation: Str, coop: Str) -> Bool;
                FederationSize = 0x5b, "federationsize", gas 20, Federation, true, "[federation] -> [n]",
                    "Pushes the number of member cooperatives of `federation`. Reads only.",
                    fn federation_size(federation: Str) -> Int;
                FederationMember = 0x5c, "federationmember", gas 20, Federation, true, "[federation, index] -> [coop]",
                    "Pushes (as a string handle) the name of member cooperative number `index` (from 0, in byte order of the names) of `federation`; plus 1 gas per member before it. Reads only.",
                    fn federation_member(federation: Str, index: Int) -> Str;
                // --- governance (ICN seed A.6) ---
                CreateProposal = 0x60, "createproposal", gas 100, Governance, false, "[coop, title, quorum, deadline] -> [id]",
                    "Opens a proposal in `coop` and pushes its id. Emits `ProposalCreated`.",
                    fn create_proposal(coop: Str, title: Str, quorum: Int, deadline: Int) -> Int;
                CastVote = 0x61, "castvote", gas 50, Governance, false, "[id, choice] -> []",
                    "Casts the caller's vote (choice != 0 is yes) on proposal `id`. Emits `VoteCast`.",
                    fn cast_vote(id: Int, choice: Int) -> Unit;
                DelegateVotes = 0x62, "delegatevotes", gas 50, Governance, false, "[coop, delegate] -> []",
                    "Delegates the caller's vote in `coop` to `delegate`. Emits `VotesDelegated`.",
                    fn delegate_votes(coop: Str, delegate: Str) -> Unit;
                ExecuteProposal = 0x63, "executeproposal", gas 100, Governance, false, "[id] -> [passed]",
                    "Executes proposal `id` once quorum and deadline are met; pushes 1 if it passed, else 0. Emits `ProposalExecuted`.",
                    fn execute_proposal(id: Int) -> Bool;
                UpdateQuorum = 0x64, "updatequorum", gas 50, Governance, false, "[id, quorum] -> []",
                    "Sets the quorum of proposal `id`. Emits `QuorumUpdated`.",
                    fn update_quorum(id: Int, quorum: Int) -> Unit;
                ProposalState = 0x65, "proposalstate", gas 20, Governance, true, "[id] -> [state]",
                    "Pushes the state of proposal `id`: 0 voting (before its deadline), 1 voting over and not executed, 2 executed and passed, 3 executed and rejected. Reads only.",
                    fn proposal_state(id: Int) -> Int;
                ProposalTally = 0x66, "proposaltally", gas 20, Governance, true, "[id, choice] -> [weight]",
                    "Pushes the weight of the yes votes (`choice` != 0) or of the no votes (`choice` = 0) cast on proposal `id` so far. Reads only.",
                    fn proposal_tally(id: Int, choice: Int) -> Int;
                HasVoted = 0x67, "hasvoted", gas 20, Governance, true, "[id, did] -> [counted]",
                    "Pushes 1 if `did` has been counted on proposal `id` (by its own vote or a delegate's), else 0. Reads only.",
                    fn has_voted(id: Int, did: Str) -> Bool;
                // --- reputation ---
                UpdateReputation = 0x70, "updatereputation", gas 50, Reputation, false, "[did, delta] -> []",
                    "Adds `delta` to the reputation of `did`. Emits `ReputationUpdated`.",
                    fn update_reputation(did: Str, delta: Int) -> Unit;
                GetReputation = 0x71, "getreputation", gas 20, Reputation, false, "[did] -> [score]",
                    "Pushes the reputation score of `did`.",
                    fn get_reputation(did: Str) -> Int;
                // --- identity ---
                VerifyDid = 0x78, "verifydid", gas 200, Identity, false, "[did, payload, signature] -> [ok]",
                    "Pushes 1 if `did` is registered and `signature` verifies over `payload`, else 0.",
                    fn verify_did(did: Str, payload: Str, signature: Str) -> Bool;
                UpdateDidDocument = 0x79, "updatediddocument", gas 100, Identity, false, "[did, document] -> []",
                    "Replaces the document of `did`. Emits `DidDocumentUpdated`.",
                    fn update_did_document(did: Str, document: Str) -> Unit;
                DidRegistered = 0x7a, "didregistered", gas 20, Identity, true, "[did] -> [registered]",
                    "Pushes 1 if `did` is in the DID registry, else 0. Reads only.",
                    fn did_registered(did: Str) -> Bool;
                DidController = 0x7b, "didcontroller", gas 20, Identity, true, "[did] -> [controller]",
                    "Pushes (as a string handle) the controller of the registered DID `did`. Reads only.",
                    fn did_controller(did: Str) -> Str;
                // --- contract calls (extension) ---
                CallContract = 0x90, "callcontract", gas 50, Contract, true, "[contract, arg] -> [result]",
                    "Runs the dependency `contract` (named in `.depends`) with `arg` under its reserved key `arg` (`load arg`) and pushes the top of its final stack; its gas is charged to this run and its effects commit or roll back with it (docs/domain.md).",
                    fn call_contract(contract: Str, arg: Int) -> Int
                    else { unavailable(&format!("callcontract {contract}")) };
            }
            system {
                // --- system (ICN seed A.7) ---
                Log = 0x80, "log", 1 -> 0, gas 2, System, false, "[v] -> []",
                    "Pops v and appends it to the run's execution log.";
                EmitEvent = 0x81, "emitevent", 2 -> 0, gas 10, System, false, "[topic, v] -> []",
                    "Pops v and the string handle `topic` and emits the event `topic` with value v, marked `source: contract` (never mistaken for a host event of the same name).";
                GetTimestamp = 0x82, "gettimestamp", 0 -> 1, gas 2, System, false, "[] -> [t]",
                    "Pushes the execution context's timestamp.";
                GetCaller = 0x83, "getcaller", 0 -> 1, gas 2, System, false, "[] -> [did]",
                    "Pushes the string handle of the caller's DID.";
                GetBlock = 0x84, "getblock", 0 -> 1, gas 2, System, true, "[] -> [n]",
                    "Pushes the execution context's block number.";
                // --- strings (extension) ---
                StrEq = 0x85, "streq", 2 -> 1, gas 3, System, true, "[a, b] -> [a == b]",
                    "Pops the string handles b then a and pushes 1 if their strings are equal byte for byte, else 0 (`getcaller; push \"did:key:alice\"; streq`); plus 1 gas per 32 bytes (rounded up) of the shorter string. A value that is no handle is `invalid_string_handle`.";
                StrLen = 0x86, "strlen", 1 -> 1, gas 2, System, true, "[s] -> [n]",
                    "Pops the string handle s and pushes the length of its string in bytes (UTF-8). A value that is no handle is `invalid_string_handle`.";
            }
        }
    };
}
pub(crate) use for_each_op;
