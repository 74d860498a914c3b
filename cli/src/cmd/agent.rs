//! Not built yet.

use anyhow::{bail, Result};
use clap::Subcommand;

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum AgentCmd {
    /// Not built yet.
    #[command(name = "todo-agent", hide = true)]
    Placeholder,
}

/// Runs a subcommand.
pub fn run(_cmd: AgentCmd) -> Result<()> {
    bail!("not implemented yet")
}
