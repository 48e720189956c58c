//! Rendering for people and for tools: run outcomes, statistics and state databases
//! ([`report`]), and execution traces ([`trace`]).

pub(crate) mod report;
pub(crate) mod trace;
