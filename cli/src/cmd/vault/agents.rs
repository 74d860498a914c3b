//! `agent-vault vault agent list|add|set-role|remove`: which agents may use a vault and with
//! which role. Agents whose invite is still pending can be pre-assigned.

use anyhow::{bail, Result};
use clap::Subcommand;
use serde_json::json;

use crate::client::{seg, Client};
use crate::output::{self, Table};
use crate::state;

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum AgentCmd {
    /// List the vault's agents (and pending pre-assignments).
    List {
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Give an agent (or a pending invite) access to the vault.
    Add {
        /// Agent name.
        name: String,
        /// Vault role: proxy, member or admin.
        #[arg(long, default_value = "proxy")]
        role: String,
    },
    /// Change an agent's role in the vault.
    SetRole {
        /// Agent name.
        name: String,
        /// New vault role: proxy, member or admin.
        #[arg(long)]
        role: String,
    },
    /// Take an agent's access to the vault away.
    Remove {
        /// Agent name.
        name: String,
    },
}

fn check_role(role: &str) -> Result<()> {
    if !matches!(role, "proxy" | "member" | "admin") {
        bail!("role must be 'proxy', 'member' or 'admin'");
    }
    Ok(())
}

/// Runs a subcommand.
pub fn run(cmd: AgentCmd, vault: Option<&str>) -> Result<()> {
    let v = state::resolve_vault(vault);
    let base = format!("/v1/vaults/{}/agents", seg(&v));
    let api = Client::logged_in(None)?;
    match cmd {
        AgentCmd::List { json } => {
            let body = api.get(&base)?;
            if json {
                output::json(&body);
                return Ok(());
            }
            let mut t = Table::new(&["NAME", "ROLE", "STATUS"]);
            for a in body["agents"].as_array().into_iter().flatten() {
                t.row(vec![
                    output::s(a, "name").into(),
                    output::s(a, "vault_role").into(),
                    output::s(a, "status").into(),
                ]);
            }
            if t.is_empty() {
                println!("No agents in vault {v:?}.");
            } else {
                t.print();
            }
        }
        AgentCmd::Add { name, role } => {
            check_role(&role)?;
            api.post(&base, &json!({ "name": name, "role": role }))?;
            output::success(&format!(
                "Agent {name:?} added to vault {v:?} with role {role:?}."
            ));
        }
        AgentCmd::SetRole { name, role } => {
            check_role(&role)?;
            api.post(
                &format!("{base}/{}/role", seg(&name)),
                &json!({ "role": role }),
            )?;
            output::success(&format!(
                "Agent {name:?} role in vault {v:?} set to {role:?}."
            ));
        }
        AgentCmd::Remove { name } => {
            api.delete(&format!("{base}/{}", seg(&name)), None)?;
            output::success(&format!("Agent {name:?} removed from vault {v:?}."));
        }
    }
    Ok(())
}
