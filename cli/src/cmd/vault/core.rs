//! `agent-vault vault create|list|delete|rename|use|current|init`: vaults themselves, the
//! active vault (`vault use`) and the project binding `./agent-vault.json` (`vault init`).

use anyhow::{bail, Result};
use clap::Subcommand;
use serde_json::{json, Value};

use crate::client::{seg, Client};
use crate::output::{self, Table};
use crate::prompt;
use crate::state;

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum CoreCmd {
    /// Create a vault (you become its admin).
    Create {
        /// Vault name: 3-64 characters of a-z, 0-9 and '-'.
        name: String,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the vaults you can see.
    List {
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a vault with everything in it.
    Delete {
        /// Vault name.
        name: String,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Rename a vault.
    Rename {
        /// Current name.
        old: String,
        /// New name.
        new: String,
    },
    /// Make a vault the active one for later commands.
    Use {
        /// Vault name.
        name: String,
    },
    /// Print the vault commands act on.
    Current,
    /// Bind the current directory to a vault (writes ./agent-vault.json).
    Init {
        /// Overwrite an existing binding without asking.
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

/// Runs a subcommand.
pub fn run(cmd: CoreCmd, vault: Option<&str>) -> Result<()> {
    match cmd {
        CoreCmd::Create { name, json } => {
            let body = Client::logged_in(None)?.post("/v1/vaults", &json!({ "name": name }))?;
            if json {
                output::json(&body);
            } else {
                output::success(&format!(
                    "Created vault {:?} (id: {})",
                    output::s(&body, "name"),
                    output::s(&body, "id")
                ));
            }
            Ok(())
        }
        CoreCmd::List { json } => {
            let body = Client::logged_in(None)?.get("/v1/vaults")?;
            if json {
                output::json(&body);
                return Ok(());
            }
            let mut t = Table::new(&["ID", "NAME", "ROLE", "CREATED"]);
            for v in body["vaults"].as_array().into_iter().flatten() {
                let role = output::s(v, "role");
                t.row(vec![
                    output::s(v, "id").into(),
                    output::s(v, "name").into(),
                    if role.is_empty() { "-" } else { role }.into(),
                    output::when(v, "created_at"),
                ]);
            }
            if t.is_empty() {
                println!("No vaults found.");
            } else {
                t.print();
            }
            Ok(())
        }
        CoreCmd::Delete { name, yes } => delete(&name, yes),
        CoreCmd::Rename { old, new } => {
            Client::logged_in(None)?.post(
                &format!("/v1/vaults/{}/rename", seg(&old)),
                &json!({ "name": new }),
            )?;
            if state::context_vault().as_deref() == Some(old.as_str()) {
                state::set_context_vault(&new)?;
            }
            output::success(&format!("Vault renamed from {old:?} to {new:?}."));
            Ok(())
        }
        CoreCmd::Use { name } => {
            if name.trim().is_empty() {
                bail!("vault name is required");
            }
            state::set_context_vault(name.trim())?;
            output::success(&format!("Now using vault {:?}", name.trim()));
            Ok(())
        }
        CoreCmd::Current => {
            println!("{}", state::resolve_vault(vault));
            Ok(())
        }
        CoreCmd::Init { yes } => init(vault, yes),
    }
}

/// Deletes a vault after the person types its name (or with `--yes`).
fn delete(name: &str, yes: bool) -> Result<()> {
    if !yes {
        if !prompt::stdin_is_tty() {
            bail!("refusing to delete vault {name:?} without confirmation; pass --yes");
        }
        eprintln!("This deletes vault {name:?} with all its credentials, services and proposals.");
        let typed = prompt::line(&format!("Type the vault name ({name}) to confirm: "))?;
        if typed.trim() != name {
            println!("Aborted.");
            return Ok(());
        }
    }
    Client::logged_in(None)?.delete(&format!("/v1/vaults/{}", seg(name)), None)?;
    output::success(&format!("Deleted vault {name:?}"));
    Ok(())
}

fn init(flag: Option<&str>, yes: bool) -> Result<()> {
    let vault = match flag.filter(|s| !s.is_empty()) {
        Some(v) => v.to_string(),
        None => pick_vault()?,
    };
    if let Some(bound) = state::project_vault() {
        if bound == vault {
            println!("agent-vault.json already uses vault {vault:?}; nothing to do.");
            return Ok(());
        }
        if !yes
            && !prompt::confirm(
                &format!("agent-vault.json uses vault {bound:?}. Replace it with {vault:?}?"),
                false,
            )?
        {
            bail!("aborted (pass --yes to overwrite agent-vault.json)");
        }
    }
    let mut text = serde_json::to_string_pretty(&json!({ "vault": vault }))?;
    text.push('\n');
    state::write_private(std::path::Path::new("agent-vault.json"), text.as_bytes())?;
    output::success(&format!("Wrote agent-vault.json (vault: {vault})"));
    eprintln!("Commit agent-vault.json so everyone working here uses the same vault.");
    Ok(())
}

/// Picks one of the caller's vaults: the only one, or one chosen at the terminal.
fn pick_vault() -> Result<String> {
    let body = Client::logged_in(None)?.get("/v1/vaults")?;
    let names: Vec<String> = body["vaults"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v.get("membership").and_then(Value::as_str) != Some("implicit"))
        .map(|v| output::s(v, "name").to_string())
        .collect();
    match names.len() {
        0 => bail!("no vaults found"),
        1 => Ok(names[0].clone()),
        _ if !prompt::stdin_is_tty() => {
            bail!("you have several vaults; choose one with --vault")
        }
        _ => {
            for (i, n) in names.iter().enumerate() {
                eprintln!("  {}) {n}", i + 1);
            }
            let answer = prompt::line("Which vault? ")?;
            answer
                .trim()
                .parse::<usize>()
                .ok()
                .and_then(|i| names.get(i.wrapping_sub(1)).cloned())
                .or_else(|| names.iter().find(|n| *n == answer.trim()).cloned())
                .ok_or_else(|| anyhow::anyhow!("no such vault: {}", answer.trim()))
        }
    }
}
