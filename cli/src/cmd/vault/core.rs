//! Not built yet.

use anyhow::{bail, Result};
use clap::Subcommand;

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum CoreCmd {
    /// Not built yet.
    #[command(name = "todo-core", hide = true)]
    Placeholder,
}

/// Runs a subcommand.
pub fn run(_cmd: CoreCmd, _vault: Option<&str>) -> Result<()> {
    bail!("not implemented yet")
}
