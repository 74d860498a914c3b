//! Not built yet.

use anyhow::{bail, Result};
use clap::Subcommand;

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum ProposalCmd {
    /// Not built yet.
    #[command(name = "todo-proposals", hide = true)]
    Placeholder,
}

/// Runs a subcommand.
pub fn run(_cmd: ProposalCmd, _vault: Option<&str>) -> Result<()> {
    bail!("not implemented yet")
}
