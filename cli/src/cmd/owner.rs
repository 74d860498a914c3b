//! Not built yet.

use anyhow::{bail, Result};
use clap::Subcommand;

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum OwnerCmd {
    /// Not built yet.
    #[command(name = "todo-owner", hide = true)]
    Placeholder,
}

/// Runs a subcommand.
pub fn run(_cmd: OwnerCmd) -> Result<()> {
    bail!("not implemented yet")
}
