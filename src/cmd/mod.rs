//! One module per subcommand family.
pub(crate) mod vmi;
