//! `agent-vault vault credential` (alias `creds`): set, get, list and delete the credentials
//! of the resolved vault. `get` prints the bare value so it can be piped; nothing else ever
//! prints a value unless `list --reveal` is asked for.

use std::io::Write;

use anyhow::{bail, Result};
use clap::Subcommand;
use serde_json::{json, Map, Value};

use crate::client::{seg, Client};
use crate::output::{self, Table};
use crate::state;

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum CredentialCmd {
    /// Store one or more credentials (KEY=VALUE; an existing key is overwritten).
    Set {
        /// KEY=VALUE pairs (split at the first `=`).
        #[arg(required = true, value_name = "KEY=VALUE")]
        pairs: Vec<String>,
    },
    /// Print one credential's value (no trailing newline).
    Get {
        /// Credential key.
        key: String,
    },
    /// List credential keys.
    List {
        /// Show the values too.
        #[arg(long)]
        reveal: bool,
    },
    /// Delete one or more credentials.
    Delete {
        /// Credential keys.
        #[arg(required = true, value_name = "KEY")]
        keys: Vec<String>,
    },
}

/// Runs a subcommand.
pub fn run(cmd: CredentialCmd, vault: Option<&str>) -> Result<()> {
    let vault = state::resolve_vault(vault);
    let client = Client::logged_in(None)?;
    match cmd {
        CredentialCmd::Set { pairs } => set(&client, &vault, &pairs),
        CredentialCmd::Get { key } => get(&client, &vault, &key),
        CredentialCmd::List { reveal } => list(&client, &vault, reveal),
        CredentialCmd::Delete { keys } => delete(&client, &vault, &keys),
    }
}

/// Splits `KEY=VALUE` at the first `=`.
fn parse_pair(arg: &str) -> Result<(&str, &str)> {
    match arg.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k, v)),
        _ => bail!("invalid format {arg:?}, expected KEY=VALUE"),
    }
}

fn set(client: &Client, vault: &str, pairs: &[String]) -> Result<()> {
    let mut creds = Map::new();
    for arg in pairs {
        let (k, v) = parse_pair(arg)?;
        creds.insert(k.to_string(), Value::String(v.to_string()));
    }
    let res = client.post(
        "/v1/credentials",
        &json!({ "vault": vault, "credentials": creds }),
    )?;
    for key in res["set"].as_array().into_iter().flatten() {
        if let Some(k) = key.as_str() {
            output::success(&format!("Set credential {k:?} in vault {vault:?}"));
        }
    }
    Ok(())
}

fn get(client: &Client, vault: &str, key: &str) -> Result<()> {
    let res = client.get(&format!(
        "/v1/credentials?vault={}&reveal=true&key={}",
        seg(vault),
        seg(key)
    ))?;
    let value = res["credentials"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["key"] == key))
        .and_then(|c| c["value"].as_str());
    match value {
        Some(v) => {
            let mut out = std::io::stdout().lock();
            out.write_all(v.as_bytes())?;
            out.flush()?;
            Ok(())
        }
        None => bail!("Credential {key:?} not found"),
    }
}

fn list(client: &Client, vault: &str, reveal: bool) -> Result<()> {
    let mut path = format!("/v1/credentials?vault={}", seg(vault));
    if reveal {
        path.push_str("&reveal=true");
    }
    let res = client.get(&path)?;
    let keys: Vec<&str> = res["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if keys.is_empty() {
        println!("No credentials found in vault {vault:?}.");
        return Ok(());
    }
    let mut table = if reveal {
        Table::new(&["KEY", "VALUE"])
    } else {
        Table::new(&["KEY"])
    };
    if reveal {
        for c in res["credentials"].as_array().into_iter().flatten() {
            table.row(vec![
                output::s(c, "key").into(),
                output::s(c, "value").into(),
            ]);
        }
    } else {
        for k in keys {
            table.row(vec![k.to_string()]);
        }
    }
    table.print();
    Ok(())
}

fn delete(client: &Client, vault: &str, keys: &[String]) -> Result<()> {
    let res = client.delete(
        "/v1/credentials",
        Some(&json!({ "vault": vault, "keys": keys })),
    )?;
    for key in res["deleted"].as_array().into_iter().flatten() {
        if let Some(k) = key.as_str() {
            output::success(&format!("Deleted credential {k:?} from vault {vault:?}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_split_at_first_equals() {
        assert_eq!(parse_pair("A=b=c").unwrap(), ("A", "b=c"));
        assert_eq!(parse_pair("A=").unwrap(), ("A", ""));
        assert_eq!(
            parse_pair("=x").unwrap_err().to_string(),
            "invalid format \"=x\", expected KEY=VALUE"
        );
        assert!(parse_pair("NOEQUALS").is_err());
    }
}
