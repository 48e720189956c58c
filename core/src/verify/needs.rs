//! Subroutine needs solved over the call graph, for contracts that exhaust the fixed point's
//! budget (see [`super::fixpoint`]).
//!
//! A subroutine's need is how many of its caller's values it may consume: the least solution
//! of `need[f] >= base[f]` (what its own instructions consume) and `need[f] >= need[g] - h`
//! for each call of `g` that `f` makes at height `h` above its entry. The strongly connected
//! components of the call graph are solved callees first, so a subroutine outside recursion is
//! settled in one step from its callees' final needs. Inside a recursive component the bounds
//! are relaxed in rounds (Bellman-Ford), each round propagating only the needs the last one
//! raised. As long as no cycle of calls consumes values, every need is final after as many
//! rounds as the component has subroutines (`V`); and a need is raised at most `L + 1` times
//! before it passes the limit `L`. So a component with `E` call sites inside it costs at most
//! `E * min(V + 2, L + 2)` relaxations. A need above the limit, or rounds that do not settle
//! (a cycle of calls that consumes values), reject the contract.
//!
//! A cycle that consumes values would otherwise be found only when a need passes the limit
//! or the rounds run out, so each raise also records the callee it came from: a cycle in
//! those records is a cycle of calls that consumes values (each record's need is at most its
//! callee's plus what the call consumes, with equality when made, and the raise that closes
//! the cycle is strict). The records are searched for a cycle, in `O(V)`, whenever as many
//! relaxations as the component has subroutines were made since the last search.

use super::NONE;

/// One call site: `caller` calls `callee` at `height` relative to the caller's entry.
pub(super) struct Call {
    pub caller: u32,
    pub callee: u32,
    pub height: i64,
}

/// The subroutines' least needs given their own `base` needs and their `calls`. On failure, a
/// subroutine whose need exceeds `limit` or grows without bound, with the needs as far as
/// they were solved. For a recursion that consumes its caller's values, that is the one with
/// the lowest `key` among those making a recursive call below their entry height.
pub(super) fn solve(
    mut need: Vec<i64>,
    calls: &[Call],
    key: &[u32],
    limit: i64,
) -> Result<Vec<i64>, (u32, Vec<i64>)> {
    let n = need.len();
    let out = Adjacency::new(n, calls.iter().map(|c| (c.caller, c.callee, c.height)));
    let into = Adjacency::new(n, calls.iter().map(|c| (c.callee, c.caller, c.height)));
    let mut solver = Components {
        out: &out,
        index: vec![NONE; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        component: vec![NONE; n],
        found: 0,
        completed: 0,
    };
    let mut rounds = Rounds {
        out: &out,
        into: &into,
        key,
        queued: vec![false; n],
        parent: vec![NONE; n],
        walked: vec![0; n],
        walks: 0,
    };
    for root in 0..n as u32 {
        if solver.index[root as usize] != NONE {
            continue;
        }
        let mut result = Ok(());
        solver.visit(root, &mut |members, component| {
            if result.is_ok() {
                result = rounds.solve(members, component, &mut need, limit);
            }
        });
        if let Err(f) = result {
            return Err((f, need));
        }
    }
    Ok(need)
}

/// Edges grouped by their source: `targets[start[v]..start[v + 1]]` are `v`'s.
struct Adjacency {
    start: Vec<u32>,
    targets: Vec<(u32, i64)>,
}

impl Adjacency {
    fn new(n: usize, edges: impl Iterator<Item = (u32, u32, i64)> + Clone) -> Self {
        let mut start = vec![0u32; n + 1];
        for (from, _, _) in edges.clone() {
            start[from as usize + 1] += 1;
        }
        for v in 0..n {
            start[v + 1] += start[v];
        }
        let mut fill = start.clone();
        let mut targets = vec![(0, 0); start[n] as usize];
        for (from, to, h) in edges {
            targets[fill[from as usize] as usize] = (to, h);
            fill[from as usize] += 1;
        }
        Adjacency { start, targets }
    }

    fn of(&self, v: u32) -> &[(u32, i64)] {
        &self.targets[self.start[v as usize] as usize..self.start[v as usize + 1] as usize]
    }
}

/// Tarjan's strongly connected components, iteratively; each component is handed over as it
/// completes, which is after every component it calls into.
struct Components<'a> {
    out: &'a Adjacency,
    index: Vec<u32>,
    low: Vec<u32>,
    on_stack: Vec<bool>,
    stack: Vec<u32>,
    /// Per subroutine: the number of its component once that completed, or [`NONE`].
    component: Vec<u32>,
    found: u32,
    completed: u32,
}

impl Components<'_> {
    fn open(&mut self, v: u32) {
        let i = v as usize;
        self.index[i] = self.found;
        self.low[i] = self.found;
        self.found += 1;
        self.on_stack[i] = true;
        self.stack.push(v);
    }

    fn visit(&mut self, root: u32, done: &mut impl FnMut(&[u32], &[u32])) {
        let mut path: Vec<(u32, u32)> = vec![(root, self.out.start[root as usize])];
        self.open(root);
        while let Some(&mut (v, ref mut edge)) = path.last_mut() {
            if *edge < self.out.start[v as usize + 1] {
                let (w, _) = self.out.targets[*edge as usize];
                *edge += 1;
                if self.index[w as usize] == NONE {
                    self.open(w);
                    path.push((w, self.out.start[w as usize]));
                } else if self.on_stack[w as usize] {
                    self.low[v as usize] = self.low[v as usize].min(self.index[w as usize]);
                }
                continue;
            }
            path.pop();
            if let Some(&(u, _)) = path.last() {
                self.low[u as usize] = self.low[u as usize].min(self.low[v as usize]);
            }
            if self.low[v as usize] == self.index[v as usize] {
                let at = self.stack.iter().rposition(|&m| m == v).unwrap_or(0);
                let members = self.stack.split_off(at);
                for &m in &members {
                    self.on_stack[m as usize] = false;
                    self.component[m as usize] = self.completed;
                }
                self.completed += 1;
                done(&members, &self.component);
            }
        }
    }
}

/// Which subroutine to name when the needs of a component exceed the limit: among those
/// making a recursive call below their entry height, the one with the lowest key.
fn culprit(members: &[u32], component: &[u32], out: &Adjacency, key: &[u32]) -> u32 {
    let this = component[members[0] as usize];
    let descends = |f: u32| {
        out.of(f)
            .iter()
            .any(|&(g, h)| h < 0 && component[g as usize] == this)
    };
    let candidates = members.iter().copied().filter(|&f| descends(f));
    candidates
        .min_by_key(|&f| key[f as usize])
        .unwrap_or(members[0])
}

/// Solves one component's needs.
struct Rounds<'a> {
    out: &'a Adjacency,
    into: &'a Adjacency,
    key: &'a [u32],
    queued: Vec<bool>,
    /// Per subroutine: the callee its need was last raised from, or [`NONE`].
    parent: Vec<u32>,
    /// Per subroutine: the last walk along `parent` that passed it.
    walked: Vec<u64>,
    walks: u64,
}

impl Rounds<'_> {
    fn solve(
        &mut self,
        members: &[u32],
        component: &[u32],
        need: &mut [i64],
        limit: i64,
    ) -> Result<(), u32> {
        let this = component[members[0] as usize];
        // Calls out of the component go to subroutines already solved.
        for &f in members {
            let mut n = need[f as usize].max(0);
            for &(g, h) in self.out.of(f) {
                if component[g as usize] != this {
                    n = n.max(need[g as usize] - h);
                }
            }
            need[f as usize] = n;
            if n > limit {
                return Err(f);
            }
        }
        // Calls inside it, in rounds: each round propagates the needs raised by the last. The
        // first goes deepest callees first (the reverse of the depth-first search that found
        // them), so that a chain of calls settles in one round.
        let mut raised: Vec<u32> = members.iter().rev().copied().collect();
        let mut round = 0;
        let mut since_search = 0;
        while !raised.is_empty() {
            round += 1;
            if round > members.len() + 1 {
                // Every path without repetition is accounted for after `members.len()`
                // rounds; a need still rising comes from a cycle that consumes values.
                return Err(culprit(members, component, self.out, self.key));
            }
            if since_search >= members.len() {
                since_search = 0;
                if self.parents_cycle(members) {
                    return Err(culprit(members, component, self.out, self.key));
                }
            }
            let mut next = Vec::new();
            for g in raised {
                self.queued[g as usize] = false;
                for &(f, h) in self.into.of(g) {
                    if component[f as usize] != this {
                        continue;
                    }
                    since_search += 1;
                    let n = need[g as usize] - h;
                    if n > need[f as usize] {
                        need[f as usize] = n;
                        self.parent[f as usize] = g;
                        if n > limit {
                            // Only a call below the caller's entry height raises a need
                            // above the component's highest so far.
                            return Err(culprit(members, component, self.out, self.key));
                        }
                        if !self.queued[f as usize] {
                            self.queued[f as usize] = true;
                            next.push(f);
                        }
                    }
                }
            }
            raised = next;
        }
        Ok(())
    }

    /// Whether following `parent` from the members runs into a cycle.
    fn parents_cycle(&mut self, members: &[u32]) -> bool {
        let first = self.walks + 1;
        for &start in members {
            if self.walked[start as usize] >= first {
                continue; // on an earlier walk of this search
            }
            self.walks += 1;
            let mut v = start;
            while v != NONE {
                let seen = self.walked[v as usize];
                if seen == self.walks {
                    return true;
                }
                if seen >= first {
                    break;
                }
                self.walked[v as usize] = self.walks;
                v = self.parent[v as usize];
            }
        }
        false
    }
}
