//! Not built yet.

use anyhow::{bail, Result};
use clap::Subcommand;

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum AuthCmd {
    /// Not built yet.
    #[command(name = "todo-auth", hide = true)]
    Placeholder,
}

/// Runs a subcommand.
pub fn run(_cmd: AuthCmd) -> Result<()> {
    bail!("not implemented yet")
}
