//! The subroutine fixed point: which instructions each subroutine reaches and at which height
//! relative to its entry, and each subroutine's signature, recursion included.
//!
//! A subroutine's walk follows a `call` only once the callee is known to return (and by how
//! much it changes the stack), so walks and signatures depend on each other. The verifier
//! always settled them with a queue of subroutines, lowest entry first: take one, walk it with
//! the signatures known so far, update its signature, and queue its callers if it changed.
//! Re-walking a subroutine from its entry every time made that quadratic (`call F0; call F1;
//! ...` with each `Fi` returning walks main once per call, each time one call further).
//!
//! Here the queue and its order are the same, so the same fault is found first, but a walk is
//! never repeated: each subroutine keeps the heights it has reached, and a call whose callee
//! was not yet known to return is remembered at its callee; when the callee's signature
//! changes, its callers' bounds are updated from those call sites and the walks blocked there
//! are resumed, and nothing else. Everything is in dense vectors indexed by instruction or by
//! subroutine, and lists threaded through them.
//!
//! The need (how deep a subroutine reaches into its caller's stack) is propagated through the
//! same queue, which recursion can make slow (a recursion that consumes one caller value per
//! call climbs one value at a time until it passes the stack limit). That propagation spends
//! a [`Budget`] (its size is in the [module documentation](super)); once it is spent, needs
//! are no longer propagated through the queue, the walks are finished alone, and
//! [`super::needs`] solves the needs over the call graph. The result is the same least fixed
//! point either way. Code reached by several subroutines (which is rejected once the fixed
//! point is done) is walked by each, as before, but only up to the code's length in all;
//! past that, or past the budget, the contract is rejected for it at once.

use super::needs::{self, Call};
use super::witness::{self, Sig};
use super::{VerifyError, NONE};
use crate::isa::Op;
use crate::program::Insn;
use rustc_hash::FxHashMap;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// The end of a list threaded through a vector.
const END: u32 = u32::MAX;

/// A subroutine as far as the fixed point has got (indexed in the order they were found).
pub(super) struct Sub {
    /// Its entry instruction.
    pub entry: u32,
    /// Its signature as published to its callers.
    pub sig: Sig,
    /// The height at the `return`s reached so far (they all agree); published as `sig.delta`
    /// when it is settled.
    ret: Option<i64>,
    /// The lowest height reached minus what the instruction there needs from the stack, calls
    /// counted at their callees' current needs (0 at most).
    min: i64,
    /// The same, calls not counted.
    local_min: i64,
    /// The highest height after any instruction reached (0 at least).
    pub max: i64,
    /// The call sites that call it (a list through [`Site::next`]).
    callers: u32,
    /// Walks waiting to be made (a list through [`Resume::next`]).
    pending: u32,
    /// Whether it is in the queue.
    queued: bool,
}

/// A `call` reached by some walk.
struct Site {
    caller: u32,
    callee: u32,
    /// Height before the call, relative to the caller's entry.
    height: i64,
    pc: u32,
    /// The next call site of the same callee.
    next: u32,
}

/// A walk to make: from `pc` at `height`.
struct Resume {
    pc: u32,
    height: i64,
    next: u32,
}

/// What the fixed point established.
pub(super) struct Reach {
    /// The subroutines, in the order they were found (`subs[0]` is main).
    pub subs: Vec<Sub>,
    /// Per instruction (and one past the end): the subroutine entered there, or [`NONE`].
    pub sub_at: Vec<u32>,
    /// Per instruction: the first subroutine that reached it, or [`NONE`].
    pub owner: Vec<u32>,
    /// Per instruction: its height in its owner, relative to the owner's entry.
    pub at: Vec<i64>,
    /// Instructions reached by a subroutine other than their owner: (subroutine, pc) to the
    /// height there. Non-empty only when the contract is to be rejected for shared code.
    pub shared: FxHashMap<(u32, u32), i64>,
}

impl Reach {
    /// The signature of the subroutine entered at `entry` (unknown ones have the default).
    pub fn sig_of(&self, entry: u32) -> Sig {
        match self.sub_at.get(entry as usize) {
            Some(&f) if f != NONE => self.subs[f as usize].sig,
            _ => Sig::default(),
        }
    }
}

/// Work the fixed point may spend propagating needs through its queue.
pub(super) struct Budget {
    /// Units left (one per instruction walked, subroutine settled or call site notified).
    pub left: u64,
    /// Whether it ran out (or walks of shared code outgrew their own cap): from then on the
    /// fault reported may not be the one the old order meets first.
    pub exhausted: bool,
}

/// Runs the fixed point over `code` (whose operands and targets are valid) for a contract
/// whose main body starts with `params` inputs (`.params N`), under the stack limit `limit`,
/// spending `budget` on propagating needs in order.
pub(super) fn run(
    code: &[Insn],
    params: i64,
    limit: i64,
    budget: &mut Budget,
) -> Result<Reach, VerifyError> {
    let len = code.len();
    let mut fp = Fixpoint {
        code,
        limit,
        budget,
        reach: Reach {
            subs: Vec::new(),
            sub_at: vec![NONE; len + 1],
            owner: vec![NONE; len],
            at: vec![0; len],
            shared: FxHashMap::default(),
        },
        sites: Vec::new(),
        resumes: Vec::new(),
        queue: BinaryHeap::new(),
        stack: Vec::new(),
        params,
    };
    fp.discover(0);
    // `.params N`: main needs (at least, and exactly when it uses fewer) its N inputs, also
    // when it is called as a subroutine, so its heights are absolute.
    let main = &mut fp.reach.subs[0];
    main.min = -params;
    main.local_min = -params;
    while let Some(Reverse(entry)) = fp.queue.pop() {
        fp.settle(entry)?;
    }
    if fp.budget.exhausted {
        fp.solve_needs()?;
    }
    // Main starts with its inputs (`.params N`, else an empty stack): any further need is an
    // underflow.
    if fp.reach.subs[0].sig.need > params {
        return Err(fp.main_underflow());
    }
    Ok(fp.reach)
}

struct Fixpoint<'a> {
    code: &'a [Insn],
    limit: i64,
    /// Once exhausted, needs are no longer propagated through the queue.
    budget: &'a mut Budget,
    reach: Reach,
    sites: Vec<Site>,
    resumes: Vec<Resume>,
    /// Entries of the subroutines to settle, lowest first.
    queue: BinaryHeap<Reverse<u32>>,
    /// The current walk's work list.
    stack: Vec<(u32, i64)>,
    /// Main's inputs (`.params N`).
    params: i64,
}

impl Fixpoint<'_> {
    /// Whether needs are still propagated through the queue.
    fn exact(&self) -> bool {
        !self.budget.exhausted
    }

    /// Spends `units` of the budget; when it runs out, needs stop being propagated in order.
    fn spend(&mut self, units: u64) {
        match self.budget.left.checked_sub(units) {
            Some(left) => self.budget.left = left,
            None => self.budget.exhausted = true,
        }
    }

    fn enqueue(&mut self, f: u32) {
        let sub = &mut self.reach.subs[f as usize];
        if !sub.queued {
            sub.queued = true;
            self.queue.push(Reverse(sub.entry));
        }
    }

    fn resume(&mut self, f: u32, pc: u32, height: i64) {
        let sub = &mut self.reach.subs[f as usize];
        self.resumes.push(Resume {
            pc,
            height,
            next: sub.pending,
        });
        sub.pending = (self.resumes.len() - 1) as u32;
    }

    /// The subroutine entered at `entry`, found now (and queued) if it is new.
    fn discover(&mut self, entry: u32) -> u32 {
        let known = self.reach.sub_at[entry as usize];
        if known != NONE {
            return known;
        }
        let f = self.reach.subs.len() as u32;
        self.reach.sub_at[entry as usize] = f;
        self.reach.subs.push(Sub {
            entry,
            sig: Sig::default(),
            ret: None,
            min: 0,
            local_min: 0,
            max: 0,
            callers: END,
            pending: END,
            queued: false,
        });
        self.resume(f, entry, 0);
        self.enqueue(f);
        f
    }

    /// One round for the subroutine at `entry`: walk what it newly reaches, publish its
    /// signature, and if that changed, update and queue its callers.
    fn settle(&mut self, entry: u32) -> Result<(), VerifyError> {
        let f = self.reach.sub_at[entry as usize];
        self.reach.subs[f as usize].queued = false;
        self.spend(1);
        self.walk(f)?;
        let sub = &self.reach.subs[f as usize];
        let old = sub.sig;
        let new = Sig {
            need: if self.exact() { -sub.min } else { old.need },
            delta: sub.ret,
        };
        if self.exact() && new.need > self.limit {
            return Err(if entry == 0 {
                self.main_underflow()
            } else {
                VerifyError::UnboundedStackUse { entry }
            });
        }
        if new != old {
            self.reach.subs[f as usize].sig = new;
            // `delta` only ever goes from unknown to known: a second value is a mismatch.
            self.notify(f, old.delta.is_none() && new.delta.is_some());
        }
        Ok(())
    }

    /// Tells the callers of `f` that its signature changed: lowers their bounds by its need,
    /// resumes their walks after its call sites if it now returns, and queues them.
    fn notify(&mut self, f: u32, returns_now: bool) {
        let Sig { need, delta } = self.reach.subs[f as usize].sig;
        let mut s = self.reach.subs[f as usize].callers;
        let exact = self.exact();
        while s != END {
            self.spend(1);
            let Site {
                caller,
                height,
                pc,
                next,
                ..
            } = self.sites[s as usize];
            let c = &mut self.reach.subs[caller as usize];
            if exact {
                c.min = c.min.min(height - need);
            }
            if let (true, Some(d)) = (returns_now, delta) {
                // Every call site of `f` stopped there, since it did not return before.
                let after = height.saturating_add(d);
                c.max = c.max.max(after);
                self.resume(caller, pc + 1, after);
            }
            self.enqueue(caller);
            s = next;
        }
    }

    /// Walks `f` from its pending resumption points, over everything newly reachable.
    fn walk(&mut self, f: u32) -> Result<(), VerifyError> {
        let mut r = std::mem::replace(&mut self.reach.subs[f as usize].pending, END);
        while r != END {
            let Resume { pc, height, next } = self.resumes[r as usize];
            self.stack.push((pc, height));
            r = next;
        }
        while let Some((pc, h)) = self.stack.pop() {
            let i = pc as usize;
            if i >= self.code.len() {
                continue; // falling off the end ends the contract
            }
            if !self.visit(f, pc, h)? {
                continue;
            }
            let insn = self.code[i];
            match insn.op {
                Op::Call => {
                    let g = self.discover(insn.arg as u32);
                    let callee = self.reach.subs[g as usize].sig;
                    let sub = &mut self.reach.subs[f as usize];
                    sub.min = sub.min.min(h - callee.need);
                    if let Some(d) = callee.delta {
                        let after = h.saturating_add(d);
                        sub.max = sub.max.max(after);
                        self.stack.push((pc + 1, after));
                    }
                    let callee = &mut self.reach.subs[g as usize];
                    self.sites.push(Site {
                        caller: f,
                        callee: g,
                        height: h,
                        pc,
                        next: callee.callers,
                    });
                    callee.callers = (self.sites.len() - 1) as u32;
                }
                Op::Return => {
                    let sub = &mut self.reach.subs[f as usize];
                    match sub.ret {
                        None => sub.ret = Some(h),
                        Some(first) if first != h => {
                            let mismatch = VerifyError::ReturnMismatch {
                                pc,
                                first,
                                second: h,
                            };
                            return Err(self.walk_error(f, mismatch));
                        }
                        Some(_) => {}
                    }
                }
                Op::Halt => {}
                Op::Jump => self.stack.push((insn.arg as u32, h)),
                Op::JumpIf => {
                    let sub = &mut self.reach.subs[f as usize];
                    sub.min = sub.min.min(h - 1);
                    sub.local_min = sub.local_min.min(h - 1);
                    self.stack.push((pc + 1, h - 1));
                    self.stack.push((insn.arg as u32, h - 1));
                }
                op => {
                    let info = op.info();
                    let low = h - i64::from(info.pops);
                    // Peak within the instruction is `after` (no opcode pushes before popping
                    // more than it ends with).
                    let after = low.saturating_add(i64::from(info.pushes));
                    // `pick N` reads N + 1 values (`Insn::needs`), every other opcode its pops.
                    let deepest = h - insn.needs();
                    let sub = &mut self.reach.subs[f as usize];
                    sub.min = sub.min.min(deepest);
                    sub.local_min = sub.local_min.min(deepest);
                    sub.max = sub.max.max(after);
                    self.stack.push((pc + 1, after));
                }
            }
        }
        Ok(())
    }

    /// Records that `f` reaches `pc` at height `h`; false if it already had.
    fn visit(&mut self, f: u32, pc: u32, h: i64) -> Result<bool, VerifyError> {
        let i = pc as usize;
        let owner = self.reach.owner[i];
        let first = if owner == f {
            Some(self.reach.at[i])
        } else if owner == NONE {
            None
        } else {
            self.reach.shared.get(&(f, pc)).copied()
        };
        match first {
            Some(first) if first != h => {
                let mismatch = VerifyError::HeightMismatch {
                    pc,
                    first,
                    second: h,
                };
                Err(self.walk_error(f, mismatch))
            }
            Some(_) => Ok(false),
            None => {
                if owner == NONE {
                    self.reach.owner[i] = f;
                    self.reach.at[i] = h;
                } else if self.exact() && self.reach.shared.len() < self.code.len() + 1024 {
                    // Shared code is rejected once the fixed point is done (unless a fault
                    // found on the way is reported first); walk it as the owner does.
                    self.reach.shared.insert((f, pc), h);
                } else {
                    // Walking shared code once more per subroutine could be quadratic: past
                    // the budget, or once the walks of shared code exceed the code's length
                    // (by 1024), reject now.
                    self.budget.exhausted = true;
                    let (a, b) = (self.reach.subs[owner as usize].entry, self.entry(f));
                    return Err(VerifyError::SharedCode {
                        pc,
                        first: a.min(b),
                        second: a.max(b),
                    });
                }
                self.spend(1);
                Ok(true)
            }
        }
    }

    fn entry(&self, f: u32) -> u32 {
        self.reach.subs[f as usize].entry
    }

    /// The error for a fault the walk of `f` met, worded as a walk from scratch words it.
    fn walk_error(&self, f: u32, fault: VerifyError) -> VerifyError {
        witness::scan(self.code, self.entry(f), 0, |e| self.reach.sig_of(e))
            .err()
            .unwrap_or(fault)
    }

    /// The stack-underflow error for main, with the signatures known now.
    fn main_underflow(&self) -> VerifyError {
        match witness::scan(self.code, 0, -self.params, |e| self.reach.sig_of(e)) {
            Ok(scan) => witness::main_underflow(self.code, &scan, self.params),
            Err(e) => e,
        }
    }

    /// Past the budget: the walks are complete; solves the needs and checks their limit.
    fn solve_needs(&mut self) -> Result<(), VerifyError> {
        let base = self.reach.subs.iter().map(|s| -s.local_min).collect();
        let calls: Vec<Call> = self
            .sites
            .iter()
            .map(|s| Call {
                caller: s.caller,
                callee: s.callee,
                height: s.height,
            })
            .collect();
        let entries: Vec<u32> = self.reach.subs.iter().map(|s| s.entry).collect();
        let (needs, over) = match needs::solve(base, &calls, &entries, self.limit) {
            Ok(needs) => (needs, None),
            Err((f, needs)) => (needs, Some(f)),
        };
        for (sub, need) in self.reach.subs.iter_mut().zip(needs) {
            sub.sig.need = need;
        }
        match over {
            None => Ok(()),
            Some(0) => Err(self.main_underflow()),
            Some(f) => Err(VerifyError::UnboundedStackUse {
                entry: self.entry(f),
            }),
        }
    }
}
