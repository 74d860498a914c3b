//! `agent-vault catalog`: the server's built-in service templates, so people and agents can
//! start a service rule from a known host, auth type and credential key. Needs no login.

use anyhow::Result;
use clap::Args;

use crate::client::Client;
use crate::output::{self, Table};
use crate::state;

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
pub fn run(args: CatalogArgs) -> Result<()> {
    let address = state::resolve_address(args.address.as_deref());
    let res = Client::anonymous(&address).get("/v1/service-catalog")?;
    if args.json {
        output::json(&res);
        return Ok(());
    }
    let mut table = Table::new(&["ID", "NAME", "HOST", "AUTH TYPE", "SUGGESTED KEY"]);
    for t in res["services"].as_array().into_iter().flatten() {
        table.row(
            [
                "id",
                "name",
                "host",
                "auth_type",
                "suggested_credential_key",
            ]
            .iter()
            .map(|k| output::s(t, k).to_string())
            .collect(),
        );
    }
    table.print();
    Ok(())
}
