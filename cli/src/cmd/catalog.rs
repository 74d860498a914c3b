//! Not built yet.

use anyhow::{bail, Result};
use clap::Args;

/// `catalog [--json] [--address A]`.
#[derive(Args, Debug)]
pub struct CatalogArgs {
    /// Print the raw JSON.
    #[arg(long)]
    pub json: bool,
    /// Server address.
    #[arg(long)]
    pub address: Option<String>,
}

/// Runs `catalog`.
pub fn run(_args: CatalogArgs) -> Result<()> {
    bail!("not implemented yet")
}
