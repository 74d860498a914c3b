//! Not built yet.

use anyhow::{bail, Result};
use clap::Subcommand;

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum AgentCmd {
    /// Not built yet.
    #[command(name = "todo-agents", hide = true)]
    Placeholder,
}

/// Runs a subcommand.
pub fn run(_cmd: AgentCmd, _vault: Option<&str>) -> Result<()> {
    bail!("not implemented yet")
}
