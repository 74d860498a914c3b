//! Not built yet.

use anyhow::{bail, Result};
use clap::Subcommand;

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum ServiceCmd {
    /// Not built yet.
    #[command(name = "todo-services", hide = true)]
    Placeholder,
}

/// Runs a subcommand.
pub fn run(_cmd: ServiceCmd, _vault: Option<&str>) -> Result<()> {
    bail!("not implemented yet")
}
