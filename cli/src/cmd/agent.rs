//! `agent-vault agent ...`: agents as instance-level identities — inviting them with a
//! ready-to-paste prompt, listing, inspecting, renaming, re-roling, rotating and deleting them,
//! and managing their pending invites.

use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use av_store::names::{is_slug, AGENT_NAME_INVALID};

use crate::client::{seg, Client};
use crate::output::{self, Table};

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum AgentCmd {
    /// Invite an agent: prints a prompt to paste into its chat (or manage invites:
    /// `invite list`, `invite revoke`).
    Invite(InviteArgs),
    /// List all agents you can see, with pending invites.
    List {
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show an agent: vaults, status, active tokens.
    Info {
        /// Agent name.
        name: String,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change an agent's instance role (owners only).
    SetRole {
        /// Agent name.
        name: String,
        /// New instance role: owner or member.
        #[arg(long)]
        role: String,
    },
    /// Delete (revoke) an agent: all its tokens stop working at once.
    Delete {
        /// Agent name.
        name: String,
    },
    /// Rename an agent (its vault access is kept).
    Rename {
        /// Current name.
        name: String,
        /// New name.
        new_name: String,
    },
    /// Rotate an agent's token: prints a prompt with a 15-minute rotation invite.
    Rotate {
        /// Agent name.
        name: String,
    },
}

/// `agent invite <name>` or one of its subcommands.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct InviteArgs {
    #[command(subcommand)]
    command: Option<InviteCmd>,
    /// Name the agent will get (3-64 characters: a-z, 0-9, -).
    #[arg(required = true)]
    name: Option<String>,
    /// Instance role: owner or member.
    #[arg(long, default_value = "member")]
    role: String,
    /// Pre-assign a vault as NAME or NAME:ROLE (role proxy, member or admin; default proxy;
    /// repeatable).
    #[arg(long = "vault", value_name = "NAME[:ROLE]")]
    vaults: Vec<String>,
    /// How long the invite stays valid (e.g. 15m, 2h, 7d; max 7d).
    #[arg(long, default_value = "15m")]
    invite_ttl: String,
    /// Lifetime of the agent token it mints (e.g. 30d is capped at 7d; default: no expiry).
    #[arg(long)]
    session_ttl: Option<String>,
    /// Admin address to print in the invite URL (default: the logged-in server).
    #[arg(long)]
    address: Option<String>,
    /// Print only the invite token.
    #[arg(long)]
    token_only: bool,
}

/// `agent invite` subcommands.
#[derive(Subcommand, Debug)]
pub enum InviteCmd {
    /// List agent invites you can manage.
    List {
        /// Only invites with this status (pending, redeemed, revoked, expired).
        #[arg(long)]
        status: Option<String>,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a pending invite by its full token, its last 8+ characters, or its id.
    Revoke {
        /// Token, token suffix (as `agent invite list` shows it) or invite id.
        token_suffix: String,
    },
}

/// Runs a subcommand.
pub fn run(cmd: AgentCmd) -> Result<()> {
    let api = Client::logged_in(None)?;
    match cmd {
        AgentCmd::Invite(args) => match args.command {
            Some(InviteCmd::List { status, json }) => invite_list(&api, status, json),
            Some(InviteCmd::Revoke { token_suffix }) => invite_revoke(&api, &token_suffix),
            None => invite(&api, args),
        },
        AgentCmd::List { json } => list(&api, json),
        AgentCmd::Info { name, json } => info(&api, &name, json),
        AgentCmd::SetRole { name, role } => {
            if !matches!(role.as_str(), "owner" | "member") {
                bail!("role must be 'owner' or 'member'");
            }
            let body = api.post(
                &format!("/v1/agents/{}/role", seg(&name)),
                &json!({ "role": role }),
            )?;
            output::success(&format!(
                "Agent {name:?} role changed from {} to {}.",
                output::s(&body, "old_role"),
                output::s(&body, "new_role")
            ));
            Ok(())
        }
        AgentCmd::Delete { name } => {
            api.delete(&format!("/v1/agents/{}", seg(&name)), None)?;
            output::success(&format!("Agent {name:?} deleted."));
            Ok(())
        }
        AgentCmd::Rename { name, new_name } => {
            api.post(
                &format!("/v1/agents/{}/rename", seg(&name)),
                &json!({ "name": new_name }),
            )?;
            output::success(&format!("Agent renamed from {name:?} to {new_name:?}."));
            Ok(())
        }
        AgentCmd::Rotate { name } => {
            let body = api.post(&format!("/v1/agents/{}/rotate", seg(&name)), &json!({}))?;
            println!(
                "Rotation invite created for agent {name:?} (expires in {}).",
                output::s(&body, "expires_in")
            );
            print_prompt(
                "Paste the following into the agent's chat:",
                output::s(&body, "prompt"),
            );
            Ok(())
        }
    }
}

/// Parses `15m`, `2h`, `7d`, `90s`, `1h30m` or plain seconds (also used by `vault run --ttl`).
pub fn parse_duration(s: &str) -> Result<i64> {
    let bad = || anyhow::anyhow!("invalid duration {s:?} (use e.g. 15m, 2h, 7d)");
    if let Ok(n) = s.parse::<i64>() {
        return if n > 0 { Ok(n) } else { Err(bad()) };
    }
    let mut total: i64 = 0;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        let n: i64 = num.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        num.clear();
    }
    if !num.is_empty() || total <= 0 {
        return Err(bad());
    }
    Ok(total)
}

/// `2h` when at least an hour (rounded), else minutes (rounded, at least 1).
fn format_duration(seconds: i64) -> String {
    if seconds >= 3600 {
        format!("{}h", (seconds + 1800) / 3600)
    } else {
        format!("{}m", ((seconds + 30) / 60).max(1))
    }
}

/// Parses the repeatable `--vault NAME[:ROLE]` flags.
fn vault_specs(specs: &[String]) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for spec in specs {
        let (name, role) = spec.split_once(':').unwrap_or((spec, "proxy"));
        if name.is_empty() || role.contains(':') {
            bail!("invalid --vault {spec:?}, expected NAME or NAME:ROLE");
        }
        if !matches!(role, "proxy" | "member" | "admin") {
            bail!("invalid role {role:?} in --vault {spec:?} (must be proxy, member or admin)");
        }
        out.push(json!({ "vault_name": name, "vault_role": role }));
    }
    Ok(out)
}

fn invite(api: &Client, args: InviteArgs) -> Result<()> {
    let Some(name) = args.name else {
        bail!("an agent name is required");
    };
    if !is_slug(&name) {
        bail!(AGENT_NAME_INVALID);
    }
    if !matches!(args.role.as_str(), "owner" | "member") {
        bail!("role must be 'owner' or 'member'");
    }
    let ttl = parse_duration(&args.invite_ttl)?;
    if ttl > 604_800 {
        bail!("--invite-ttl can be at most 7d");
    }
    let vaults = vault_specs(&args.vaults)?;
    let mut req = json!({ "name": name, "role": args.role, "ttl_seconds": ttl });
    if !vaults.is_empty() {
        req["vaults"] = json!(vaults);
    }
    if let Some(s) = &args.session_ttl {
        req["session_ttl_seconds"] = json!(parse_duration(s)?);
    }
    let body = api.post("/v1/agents/invites", &req)?;
    let token = output::s(&body, "token");
    if args.token_only {
        print!("{token}");
        std::io::stdout().flush()?;
        return Ok(());
    }
    let address = args
        .address
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| api.address.clone());
    let url = format!("{}/invite/{token}", address.trim_end_matches('/'));
    let dur = format_duration(ttl);
    println!("Agent invite created for {name:?} (expires in {dur}).");
    let prompt = format!(
        "You are invited to register as a persistent agent with Agent Vault, a local HTTP proxy that lets you call external APIs without seeing their credentials. To accept, make the following HTTP request:\n\n\
POST {url}\n\
Content-Type: application/json\n\n\
{{}}\n\n\
The response contains your agent token and instructions for using Agent Vault.\n\n\
This invite expires in {dur} and can only be used once."
    );
    print_prompt("Paste the following into your agent:", &prompt);
    Ok(())
}

/// Prints a prompt framed by `---` lines and copies it to the clipboard when one exists.
fn print_prompt(header: &str, prompt: &str) {
    println!("{header}\n\n---\n\n{prompt}\n---");
    if copy_to_clipboard(prompt) {
        println!("\n(Copied to clipboard)");
    }
}

/// Tries pbcopy (macOS), xclip, then xsel (with a display); false when none worked.
fn copy_to_clipboard(text: &str) -> bool {
    let has_display =
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    let candidates: &[(&str, &[&str])] = if cfg!(target_os = "macos") {
        &[("pbcopy", &[])]
    } else if has_display {
        &[
            ("xclip", &["-selection", "clipboard"]),
            ("xsel", &["--clipboard", "--input"]),
        ]
    } else {
        &[]
    };
    candidates.iter().any(|(cmd, args)| {
        let Ok(mut child) = Command::new(cmd)
            .args(*args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        else {
            return false;
        };
        let written = child
            .stdin
            .take()
            .is_some_and(|mut s| s.write_all(text.as_bytes()).is_ok());
        child.wait().is_ok_and(|s| s.success()) && written
    })
}

fn list(api: &Client, json: bool) -> Result<()> {
    let body = api.get("/v1/agents")?;
    if json {
        output::json(&body);
        return Ok(());
    }
    let mut t = Table::new(&["NAME", "ROLE", "STATUS", "VAULTS", "CREATED"]);
    for a in body["agents"].as_array().into_iter().flatten() {
        t.row(vec![
            output::s(a, "name").into(),
            output::s(a, "role").into(),
            output::s(a, "status").into(),
            output::grants(&a["vaults"], |n, r| format!("{n}:{r}")),
            output::when(a, "created_at"),
        ]);
    }
    if t.is_empty() {
        println!("No agents found.");
    } else {
        t.print();
    }
    Ok(())
}

fn info(api: &Client, name: &str, json: bool) -> Result<()> {
    let a = api.get(&format!("/v1/agents/{}", seg(name)))?;
    if json {
        output::json(&a);
        return Ok(());
    }
    println!("Agent:          {}", output::s(&a, "name"));
    println!("Role:           {}", output::s(&a, "role"));
    println!("Status:         {}", output::s(&a, "status"));
    println!("Created:        {}", output::when(&a, "created_at"));
    println!("Updated:        {}", output::when(&a, "updated_at"));
    if a.get("revoked_at").is_some() {
        println!("Revoked:        {}", output::when(&a, "revoked_at"));
    }
    println!(
        "Active tokens:  {}",
        a["active_tokens"].as_i64().unwrap_or(0)
    );
    if a.get("token_expires_at").is_some() {
        println!("Token expires:  {}", output::when(&a, "token_expires_at"));
    }
    let vaults: Vec<&Value> = a["vaults"].as_array().into_iter().flatten().collect();
    if vaults.is_empty() {
        println!("Vaults:         none");
    } else {
        println!("Vaults:");
        for g in vaults {
            println!(
                "  - {} ({})",
                output::s(g, "vault_name"),
                output::s(g, "vault_role")
            );
        }
    }
    Ok(())
}

fn invite_list(api: &Client, status: Option<String>, json: bool) -> Result<()> {
    let path = match status.filter(|s| !s.is_empty()) {
        Some(s) => format!("/v1/agents/invites?status={}", seg(&s)),
        None => "/v1/agents/invites".into(),
    };
    let body = api.get(&path)?;
    if json {
        output::json(&body);
        return Ok(());
    }
    let mut t = Table::new(&[
        "ID", "NAME", "ROLE", "STATUS", "VAULTS", "TOKEN", "CREATED", "EXPIRES",
    ]);
    for i in body["invites"].as_array().into_iter().flatten() {
        let name = if i["rotation"] == true {
            format!("{} (rotation)", output::s(i, "agent_name"))
        } else {
            output::s(i, "agent_name").to_string()
        };
        t.row(vec![
            i["id"].as_i64().map(|n| n.to_string()).unwrap_or_default(),
            name,
            output::s(i, "agent_role").into(),
            output::s(i, "status").into(),
            output::grants(&i["vaults"], |n, r| format!("{n}:{r}")),
            format!("…{}", output::s(i, "token_suffix")),
            output::when(i, "created_at"),
            output::when(i, "expires_at"),
        ]);
    }
    if t.is_empty() {
        println!("No invites found.");
    } else {
        t.print();
    }
    Ok(())
}

fn invite_revoke(api: &Client, arg: &str) -> Result<()> {
    let arg = arg.trim().trim_start_matches('…');
    let path = if !arg.is_empty() && arg.len() < 8 && arg.bytes().all(|b| b.is_ascii_digit()) {
        format!("/v1/agents/invites/by-id/{arg}")
    } else if arg.len() >= 8 {
        format!("/v1/agents/invites/{}", seg(arg))
    } else {
        bail!("give the invite's token, its last 8+ characters, or its id");
    };
    api.delete(&path, None)
        .context("failed to revoke the invite")?;
    output::success("Invite revoked.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15m").ok(), Some(900));
        assert_eq!(parse_duration("1h30m").ok(), Some(5400));
        assert_eq!(parse_duration("7d").ok(), Some(604_800));
        assert_eq!(parse_duration("300").ok(), Some(300));
        assert!(parse_duration("15").is_ok());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("0m").is_err());
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("-5m").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
        assert_eq!(format_duration(900), "15m");
        assert_eq!(format_duration(5400), "2h");
        assert_eq!(format_duration(20), "1m");
    }

    #[test]
    fn vault_flags() {
        let v = vault_specs(&["default".into(), "payments:member".into()]).expect("valid");
        assert_eq!(v[0]["vault_role"], "proxy");
        assert_eq!(v[1]["vault_role"], "member");
        assert!(vault_specs(&[":proxy".into()]).is_err());
        assert!(vault_specs(&["a:b:c".into()]).is_err());
        assert!(vault_specs(&["default:owner".into()]).is_err());
        assert!(vault_specs(&["default:".into()]).is_err());
    }
}
