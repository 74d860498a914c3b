//! Not built yet.

use anyhow::{bail, Result};
use clap::Args;

/// `agent-vault server` flags.
#[derive(Args, Debug)]
pub struct ServerArgs {}

/// Runs the server.
pub fn run(_args: ServerArgs) -> Result<()> {
    bail!("not implemented yet")
}
