//! Not built yet.

use anyhow::{bail, Result};
use clap::Subcommand;

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum SessionCmd {
    /// Not built yet.
    #[command(name = "todo-session", hide = true)]
    Placeholder,
}

/// Runs a subcommand.
pub fn run(_cmd: SessionCmd, _vault: Option<&str>) -> Result<()> {
    bail!("not implemented yet")
}
