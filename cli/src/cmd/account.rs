//! Not built yet.

use anyhow::{bail, Result};
use clap::Subcommand;

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum AccountCmd {
    /// Not built yet.
    #[command(name = "todo-account", hide = true)]
    Placeholder,
}

/// Runs a subcommand.
pub fn run(_cmd: AccountCmd) -> Result<()> {
    bail!("not implemented yet")
}
