//! `agent-vault vault proposal ...`: agents raise proposals (`create`), people look at them
//! (`list`, `show`) and decide (`approve`, `reject`, or `review` to walk the pending ones).
//!
//! `create` is agent-side: it uses the agent's session (`AGENT_VAULT_SESSION_TOKEN` +
//! `AGENT_VAULT_ADDR`, else the saved login) and names the vault in `X-Vault`, which agent
//! tokens need and scoped sessions ignore. Everything else is the reviewer's side and uses
//! the saved login.

use std::collections::BTreeMap;
use std::io::Read;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Map, Value};

use crate::client::{error_message, seg, Client};
use crate::output::{self, s, when, Table};
use crate::{prompt, state};

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum ProposalCmd {
    /// Propose a service and/or credentials (agent side).
    Create(Box<CreateArgs>),
    /// List the vault's proposals.
    List {
        /// Only proposals with this status (pending, applied, rejected, expired).
        #[arg(long)]
        status: Option<String>,
    },
    /// Show one proposal.
    Show {
        /// Proposal number.
        id: i64,
    },
    /// Approve a pending proposal, supplying credential values.
    Approve {
        /// Proposal number.
        id: i64,
        /// Credential values as KEY=VALUE (others are prompted for).
        values: Vec<String>,
        /// Do not ask for confirmation; accept values the agent supplied.
        #[arg(short, long)]
        yes: bool,
    },
    /// Reject a pending proposal.
    Reject {
        /// Proposal number.
        id: i64,
        /// Why (shown to the agent).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Walk through pending proposals interactively.
    Review,
}

/// Auth types `create` can express with flags (custom auth needs `-f`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthType {
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// HTTP basic auth.
    Basic,
    /// A key in a header, with an optional prefix.
    ApiKey,
}

/// `vault proposal create` flags.
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Host of the service to add (e.g. api.stripe.com or *.github.com).
    #[arg(long)]
    host: Option<String>,
    /// Description of the service.
    #[arg(long)]
    description: Option<String>,
    /// How the credential is injected.
    #[arg(long, value_enum)]
    auth_type: Option<AuthType>,
    /// Credential key holding the bearer token.
    #[arg(long)]
    token_key: Option<String>,
    /// Credential key holding the basic-auth username.
    #[arg(long)]
    username_key: Option<String>,
    /// Credential key holding the basic-auth password.
    #[arg(long)]
    password_key: Option<String>,
    /// Credential key holding the API key.
    #[arg(long)]
    api_key_key: Option<String>,
    /// Header carrying the API key (default Authorization).
    #[arg(long)]
    api_key_header: Option<String>,
    /// Prefix put before the API key (e.g. "Token ").
    #[arg(long)]
    api_key_prefix: Option<String>,
    /// A credential the human should supply: KEY or KEY=description (repeatable).
    #[arg(long = "credential")]
    credentials: Vec<String>,
    /// Message for developers (why the access is needed).
    #[arg(short, long)]
    message: Option<String>,
    /// Message shown to the human who approves.
    #[arg(long)]
    user_message: Option<String>,
    /// Read the whole proposal from a JSON file (`-` for stdin).
    #[arg(short = 'f', long = "file")]
    file: Option<String>,
    /// Print the server's JSON answer.
    #[arg(long)]
    json: bool,
}

/// Runs a subcommand.
pub fn run(cmd: ProposalCmd, vault: Option<&str>) -> Result<()> {
    let vault = state::resolve_vault(vault);
    match cmd {
        ProposalCmd::Create(args) => create(*args, &vault),
        ProposalCmd::List { status } => list(&vault, status.as_deref()),
        ProposalCmd::Show { id } => {
            let client = Client::logged_in(None)?;
            print_proposal(&fetch(&client, &vault, id)?);
            Ok(())
        }
        ProposalCmd::Approve { id, values, yes } => {
            let client = Client::logged_in(None)?;
            let overrides = parse_values(&values)?;
            let p = fetch(&client, &vault, id)?;
            ensure_pending(&p, id)?;
            print_proposal(&p);
            if !yes && !prompt::confirm(&format!("Approve proposal #{id}?"), false)? {
                println!("Aborted.");
                return Ok(());
            }
            let values = collect_values(&p, overrides, yes)?;
            approve(&client, &vault, id, values)
        }
        ProposalCmd::Reject { id, reason } => {
            let client = Client::logged_in(None)?;
            reject(&client, &vault, id, reason.as_deref().unwrap_or(""))
        }
        ProposalCmd::Review => review(&vault),
    }
}

/// Builds the request body of `create` from `-f` or from the flags.
fn create_body(args: &CreateArgs) -> Result<Value> {
    if let Some(file) = &args.file {
        if args.host.is_some() || !args.credentials.is_empty() {
            bail!("-f cannot be combined with --host or --credential");
        }
        let text = if file == "-" {
            let mut t = String::new();
            std::io::stdin().read_to_string(&mut t)?;
            t
        } else {
            std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?
        };
        let mut body: Value =
            serde_json::from_str(&text).with_context(|| format!("invalid JSON in {file}"))?;
        let obj = body
            .as_object_mut()
            .ok_or_else(|| anyhow!("{file} must contain a JSON object"))?;
        if let Some(m) = &args.message {
            obj.insert("message".into(), json!(m));
        }
        if let Some(m) = &args.user_message {
            obj.insert("user_message".into(), json!(m));
        }
        return Ok(body);
    }
    if args.auth_type.is_some() && args.host.is_none() {
        bail!("--auth-type requires --host");
    }
    let mut slots = Vec::new();
    let mut first_key = None;
    for c in &args.credentials {
        let (key, description) = match c.split_once('=') {
            Some((k, d)) => (k.trim(), d.trim()),
            None => (c.trim(), ""),
        };
        first_key.get_or_insert_with(|| key.to_string());
        let mut slot = json!({"action": "set", "key": key});
        if !description.is_empty() {
            slot["description"] = json!(description);
        }
        slots.push(slot);
    }
    let mut services = Vec::new();
    if let Some(host) = &args.host {
        let pick = |flag: &Option<String>, name: &str| -> Result<String> {
            flag.clone()
                .or_else(|| first_key.clone())
                .ok_or_else(|| anyhow!("{name} (or a --credential) is required"))
        };
        let auth = match args.auth_type.unwrap_or(AuthType::Bearer) {
            AuthType::Bearer => {
                json!({"type": "bearer", "token": pick(&args.token_key, "--token-key")?})
            }
            AuthType::Basic => {
                let mut a = json!({"type": "basic", "username": pick(&args.username_key, "--username-key")?});
                if let Some(p) = &args.password_key {
                    a["password"] = json!(p);
                }
                a
            }
            AuthType::ApiKey => {
                let mut a =
                    json!({"type": "api-key", "key": pick(&args.api_key_key, "--api-key-key")?});
                if let Some(h) = &args.api_key_header {
                    a["header"] = json!(h);
                }
                if let Some(p) = &args.api_key_prefix {
                    a["prefix"] = json!(p);
                }
                a
            }
        };
        let mut svc = json!({"action": "set", "host": host, "auth": auth});
        if let Some(d) = &args.description {
            svc["description"] = json!(d);
        }
        services.push(svc);
    }
    if services.is_empty() && slots.is_empty() {
        bail!("nothing to propose: pass --host and/or --credential, or -f <file.json>");
    }
    let mut body = Map::new();
    body.insert("services".into(), Value::Array(services));
    body.insert("credentials".into(), Value::Array(slots));
    if let Some(m) = &args.message {
        body.insert("message".into(), json!(m));
    }
    if let Some(m) = &args.user_message {
        body.insert("user_message".into(), json!(m));
    }
    Ok(Value::Object(body))
}

fn create(args: CreateArgs, vault: &str) -> Result<()> {
    let body = create_body(&args)?;
    let client = Client::agent_session()?;
    let (status, res) = client.send("POST", "/v1/proposals", Some(&body), &[("x-vault", vault)])?;
    if status >= 400 {
        bail!("{}", error_message(status, &res));
    }
    if args.json {
        output::json(&res);
    } else {
        output::success(&format!(
            "Proposal #{} created in vault {:?}.",
            res.get("id").and_then(Value::as_i64).unwrap_or(0),
            s(&res, "vault")
        ));
        println!("Approve at: {}", s(&res, "approval_url"));
    }
    Ok(())
}

fn list(vault: &str, status: Option<&str>) -> Result<()> {
    let client = Client::logged_in(None)?;
    let mut path = format!("/v1/admin/proposals?vault={}", seg(vault));
    if let Some(st) = status.filter(|s| !s.is_empty()) {
        path += &format!("&status={}", seg(st));
    }
    let res = client.get(&path)?;
    let mut table = Table::new(&["#", "STATUS", "CREATED", "MESSAGE"]);
    for p in res["proposals"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        table.row(vec![
            p["id"].to_string(),
            s(p, "status").to_string(),
            when(p, "created_at"),
            truncate(s(p, "message"), 60),
        ]);
    }
    if table.is_empty() {
        println!("No proposals in vault {vault:?}.");
    } else {
        table.print();
    }
    Ok(())
}

/// One line of at most `max` characters.
fn truncate(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() <= max && line.len() == text.trim_end().len() {
        return line.to_string();
    }
    let mut out: String = line.chars().take(max.saturating_sub(3)).collect();
    out.push_str("...");
    out
}

/// A proposal as the admin API returns it, with its JSON arrays parsed.
struct Proposal {
    id: i64,
    raw: Value,
    services: Vec<Value>,
    credentials: Vec<Value>,
}

fn fetch(client: &Client, vault: &str, id: i64) -> Result<Proposal> {
    let raw = client.get(&format!("/v1/admin/proposals/{id}?vault={}", seg(vault)))?;
    let parse = |field: &str| -> Vec<Value> {
        serde_json::from_str::<Vec<Value>>(s(&raw, field)).unwrap_or_default()
    };
    Ok(Proposal {
        id,
        services: parse("services_json"),
        credentials: parse("credentials_json"),
        raw,
    })
}

fn ensure_pending(p: &Proposal, id: i64) -> Result<()> {
    match s(&p.raw, "status") {
        "pending" => Ok(()),
        other => bail!("proposal #{id} is already {other}"),
    }
}

fn auth_type(svc: &Value) -> &str {
    svc.get("auth").map(|a| s(a, "type")).unwrap_or("")
}

fn print_proposal(p: &Proposal) {
    let r = &p.raw;
    println!("Proposal #{}", p.id);
    println!("  Status:   {}", s(r, "status"));
    println!("  Created:  {}", when(r, "created_at"));
    if !s(r, "reviewed_at").is_empty() {
        println!("  Reviewed: {}", when(r, "reviewed_at"));
    }
    if !s(r, "message").is_empty() {
        println!("  Message:  {}", s(r, "message"));
    }
    if !s(r, "user_message").is_empty() {
        println!("  For you:  {}", s(r, "user_message"));
    }
    if !s(r, "review_note").is_empty() {
        println!("  Note:     {}", s(r, "review_note"));
    }
    if !p.services.is_empty() {
        println!("\nProposed services:");
        for svc in &p.services {
            let desc = match s(svc, "description") {
                "" => String::new(),
                d => format!(" — {d}"),
            };
            if s(svc, "action") == "delete" {
                println!("  - {}{desc}", s(svc, "host"));
            } else {
                println!("  + {} ({}){desc}", s(svc, "host"), auth_type(svc));
            }
        }
    }
    if !p.credentials.is_empty() {
        println!("\nCredentials:");
        for c in &p.credentials {
            let marker = if s(c, "action") == "delete" { '-' } else { '+' };
            let mut line = format!("  {marker} {}", s(c, "key"));
            if !s(c, "description").is_empty() {
                line += &format!(" — {}", s(c, "description"));
            }
            if c.get("has_value").and_then(Value::as_bool) == Some(true) {
                line += " [agent-provided]";
            }
            println!("{line}");
            if !s(c, "obtain").is_empty() {
                println!("      obtain: {}", s(c, "obtain"));
            }
            if !s(c, "obtain_instructions").is_empty() {
                println!("      {}", s(c, "obtain_instructions"));
            }
        }
    }
    println!();
}

fn parse_values(args: &[String]) -> Result<BTreeMap<String, String>> {
    args.iter()
        .map(|a| {
            a.split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| anyhow!("invalid argument {a:?}: expected KEY=VALUE"))
        })
        .collect()
}

/// The values to send for a proposal's set slots: given ones, agent values the reviewer
/// accepts (not sent: the server uses its stored copy), and prompted ones.
fn collect_values(
    p: &Proposal,
    mut given: BTreeMap<String, String>,
    yes: bool,
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for slot in p.credentials.iter().filter(|c| s(c, "action") == "set") {
        let key = s(slot, "key");
        if let Some(v) = given.remove(key) {
            out.insert(key.to_string(), v);
            continue;
        }
        let agent_supplied = slot.get("has_value").and_then(Value::as_bool) == Some(true);
        if agent_supplied && (yes || prompt::confirm(&format!("{key}: accept agent value?"), true)?)
        {
            continue;
        }
        if !prompt::stdin_is_tty() {
            bail!("missing value for {key} (pass {key}=VALUE)");
        }
        out.insert(
            key.to_string(),
            prompt::password(&format!("Value for {key}: "))?,
        );
    }
    Ok(out)
}

fn approve(client: &Client, vault: &str, id: i64, values: BTreeMap<String, String>) -> Result<()> {
    client.post(
        &format!("/v1/admin/proposals/{id}/approve"),
        &json!({"vault": vault, "credentials": values}),
    )?;
    output::success(&format!(
        "Proposal #{id} approved and applied to vault {vault:?}."
    ));
    Ok(())
}

fn reject(client: &Client, vault: &str, id: i64, reason: &str) -> Result<()> {
    client.post(
        &format!("/v1/admin/proposals/{id}/reject"),
        &json!({"vault": vault, "reason": reason}),
    )?;
    output::success(&format!("Proposal #{id} rejected."));
    Ok(())
}

fn review(vault: &str) -> Result<()> {
    if !prompt::stdin_is_tty() {
        bail!("vault proposal review needs an interactive terminal");
    }
    let client = Client::logged_in(None)?;
    let res = client.get(&format!(
        "/v1/admin/proposals?vault={}&status=pending",
        seg(vault)
    ))?;
    let mut ids: Vec<i64> = res["proposals"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p["id"].as_i64())
        .collect();
    ids.sort_unstable();
    if ids.is_empty() {
        println!("No pending proposals in vault {vault:?}.");
        return Ok(());
    }
    let (mut approved, mut rejected, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
    for id in ids {
        let p = fetch(&client, vault, id)?;
        if s(&p.raw, "status") != "pending" {
            continue;
        }
        print_proposal(&p);
        let choice = prompt::line("[a]pprove, [r]eject, [s]kip, [q]uit? ")?;
        match choice.trim().to_ascii_lowercase().as_str() {
            "a" | "approve" => {
                let values = collect_values(&p, BTreeMap::new(), false)?;
                match approve(&client, vault, id, values) {
                    Ok(()) => approved.push(id),
                    Err(e) => output::error(&e),
                }
            }
            "r" | "reject" => {
                let reason = prompt::line("Reason (optional): ")?;
                match reject(&client, vault, id, reason.trim()) {
                    Ok(()) => rejected.push(id),
                    Err(e) => output::error(&e),
                }
            }
            "q" | "quit" => break,
            _ => skipped.push(id),
        }
    }
    let fmt = |v: &[i64]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.iter()
                .map(|i| format!("#{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    println!("\nApproved: {}", fmt(&approved));
    println!("Rejected: {}", fmt(&rejected));
    println!("Skipped:  {}", fmt(&skipped));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        args: CreateArgs,
    }

    fn body(argv: &[&str]) -> Result<Value> {
        let mut full = vec!["t"];
        full.extend_from_slice(argv);
        create_body(&T::parse_from(full).args)
    }

    #[test]
    fn flags_build_one_service_and_slots() {
        let b = body(&[
            "--host",
            "api.example.com",
            "--credential",
            "EX_KEY=The key",
            "-m",
            "why",
        ])
        .unwrap();
        assert_eq!(
            b,
            json!({"services":[{"action":"set","host":"api.example.com",
                    "auth":{"type":"bearer","token":"EX_KEY"}}],
                   "credentials":[{"action":"set","key":"EX_KEY","description":"The key"}],
                   "message":"why"})
        );
        let b = body(&[
            "--host",
            "h.example.com",
            "--auth-type",
            "api-key",
            "--api-key-key",
            "K",
            "--api-key-header",
            "X-Key",
            "--api-key-prefix",
            "Token ",
        ])
        .unwrap();
        assert_eq!(
            b["services"][0]["auth"],
            json!({"type":"api-key","key":"K","header":"X-Key","prefix":"Token "})
        );
    }

    #[test]
    fn flag_misuse_is_refused() {
        assert!(body(&["--auth-type", "basic"]).is_err());
        assert!(body(&[]).is_err());
        assert!(body(&["-f", "x.json", "--host", "a.example.com"]).is_err());
        assert!(body(&["--host", "a.example.com"]).is_err());
    }

    #[test]
    fn values_parse() {
        let v = parse_values(&["A=1".into(), "B=x=y".into()]).unwrap();
        assert_eq!(v["B"], "x=y");
        assert!(parse_values(&["nokey".into()]).is_err());
        assert!(parse_values(&["=v".into()]).is_err());
    }

    #[test]
    fn truncates_long_messages() {
        assert_eq!(truncate("short", 60), "short");
        assert_eq!(truncate(&"x".repeat(70), 10), "xxxxxxx...");
        assert_eq!(truncate("a\nb", 60), "a...");
    }
}
