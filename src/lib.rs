//! coopvm
