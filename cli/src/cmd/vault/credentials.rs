//! Not built yet.

use anyhow::{bail, Result};
use clap::Subcommand;

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum CredentialCmd {
    /// Not built yet.
    #[command(name = "todo-credentials", hide = true)]
    Placeholder,
}

/// Runs a subcommand.
pub fn run(_cmd: CredentialCmd, _vault: Option<&str>) -> Result<()> {
    bail!("not implemented yet")
}
