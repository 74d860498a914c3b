//! Not built yet.

use anyhow::{bail, Result};
use clap::Subcommand;

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// Not built yet.
    #[command(name = "todo-config", hide = true)]
    Placeholder,
}

/// Runs a subcommand.
pub fn run(_cmd: ConfigCmd) -> Result<()> {
    bail!("not implemented yet")
}
