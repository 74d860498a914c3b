//! Not built yet.

use anyhow::{bail, Result};
use clap::Subcommand;

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Not built yet.
    #[command(name = "todo-user", hide = true)]
    Placeholder,
}

/// Runs a subcommand.
pub fn run(_cmd: UserCmd) -> Result<()> {
    bail!("not implemented yet")
}
