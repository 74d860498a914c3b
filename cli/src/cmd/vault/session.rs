//! `agent-vault vault run|token|discover`: giving a local process a vault-scoped session, and
//! what an agent holding such a session (or an agent token) may use.
//!
//! `vault run` replaces the CLI process with the command (`exec`), so the command owns the
//! terminal, receives signals directly, and its exit code is the exit code the caller sees.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::client::{error_message, Client};
use crate::cmd::agent::parse_duration;
use crate::output::{self, Table};
use crate::{prompt, state};

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum SessionCmd {
    /// Run a command (your agent) with a temporary vault-scoped session in its environment.
    Run(RunArgs),
    /// Print a vault-scoped session token.
    Token(MintArgs),
    /// Show the services and credential names available to this session.
    Discover {
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
}

/// How to mint the session.
#[derive(Args, Debug)]
pub struct MintArgs {
    /// Vault role of the session: proxy, member or admin (default proxy; at most your own).
    #[arg(long)]
    role: Option<String>,
    /// Session lifetime in seconds or as a duration like 2h (300s to 7d; default 24h).
    #[arg(long)]
    ttl: Option<String>,
    /// Admin address (default: the logged-in server).
    #[arg(long)]
    address: Option<String>,
}

/// `vault run` arguments.
#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    mint: MintArgs,
    /// The command to run, after `--`.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<String>,
}

/// Runs a subcommand.
pub fn run(cmd: SessionCmd, vault: Option<&str>) -> Result<()> {
    match cmd {
        SessionCmd::Run(args) => run_command(args, vault),
        SessionCmd::Token(args) => {
            let minted = mint(&args, vault)?;
            print!("{}", minted.token);
            std::io::stdout().flush()?;
            Ok(())
        }
        SessionCmd::Discover { json } => discover(vault, json),
    }
}

/// A minted scoped session.
struct Minted {
    token: String,
    address: String,
    vault: String,
    proxy_url: String,
}

/// `vault run`/`vault token` vault order: `--vault`, `./agent-vault.json`, the `vault use`
/// context, then the vaults you have access to (one: that one; several: ask, or `default`
/// without a terminal).
fn run_vault(api: &Client, flag: Option<&str>) -> Result<String> {
    if let Some(v) = flag
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .or_else(state::project_vault)
        .or_else(state::context_vault)
    {
        return Ok(v);
    }
    let Ok(body) = api.get("/v1/vaults") else {
        return Ok("default".into());
    };
    let names: Vec<String> = body["vaults"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v.get("role").is_some())
        .map(|v| output::s(v, "name").to_string())
        .collect();
    match names.len() {
        0 => Ok("default".into()),
        1 => Ok(names[0].clone()),
        _ if prompt::stdin_is_tty() => {
            eprintln!("Which vault?");
            for (i, n) in names.iter().enumerate() {
                eprintln!("  {}) {n}", i + 1);
            }
            let answer = prompt::line("Vault number: ")?;
            answer
                .trim()
                .parse::<usize>()
                .ok()
                .and_then(|i| names.get(i.checked_sub(1)?))
                .cloned()
                .ok_or_else(|| anyhow!("no such vault: {answer:?}"))
        }
        _ if names.iter().any(|n| n == "default") => Ok("default".into()),
        _ => bail!("you have access to several vaults; pick one with --vault"),
    }
}

fn mint(args: &MintArgs, vault: Option<&str>) -> Result<Minted> {
    let api = Client::logged_in(args.address.as_deref())?;
    if let Some(r) = &args.role {
        if !matches!(r.as_str(), "proxy" | "member" | "admin") {
            bail!("role must be 'proxy', 'member' or 'admin'");
        }
    }
    let vault = run_vault(&api, vault)?;
    let mut req = json!({ "vault": vault });
    if let Some(r) = args.role.as_deref().filter(|r| !r.is_empty()) {
        req["vault_role"] = json!(r);
    }
    if let Some(t) = &args.ttl {
        req["ttl_seconds"] = json!(parse_duration(t)?);
    }
    let body = api
        .post("/v1/sessions", &req)
        .context("failed to create scoped session")?;
    Ok(Minted {
        token: output::s(&body, "token").to_string(),
        address: api.address.clone(),
        vault,
        proxy_url: output::s(&body, "proxy_url").to_string(),
    })
}

/// Finds a command the way `exec` will: a path as given, else the first match on `PATH`.
fn which(cmd: &str) -> Option<PathBuf> {
    let is_exec = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if cmd.contains('/') {
        let p = PathBuf::from(cmd);
        return is_exec(&p).then_some(p);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(cmd))
            .find(|p| is_exec(p))
    })
}

fn run_command(args: RunArgs, vault: Option<&str>) -> Result<()> {
    let Some((program, rest)) = args.command.split_first() else {
        bail!("no command given: usage: agent-vault vault run [--vault V] [--role R] [--ttl S] -- <command> [args...]");
    };
    // Fail on an unknown command before a session is minted for nothing.
    let path = which(program).ok_or_else(|| anyhow!("command not found: {program}"))?;
    let minted = mint(&args.mint, vault)?;
    offer_skills(program, &minted.address);
    eprintln!(
        "agent-vault: connected to vault {:?}. Starting {program}...\n",
        minted.vault
    );
    let err = std::process::Command::new(path)
        .arg0(program)
        .args(rest)
        .env("AGENT_VAULT_ADDR", &minted.address)
        .env("AGENT_VAULT_SESSION_TOKEN", &minted.token)
        .env("AGENT_VAULT_TOKEN", &minted.token)
        .env("AGENT_VAULT_VAULT", &minted.vault)
        .env("AGENT_VAULT_PROXY_URL", &minted.proxy_url)
        .exec();
    Err(anyhow!("cannot start {program}: {err}"))
}

/// For known agent CLIs (Claude Code, Cursor, Codex), offers to install the Agent Vault
/// skills where that agent looks for them, when they are missing and someone can answer.
fn offer_skills(program: &str, address: &str) {
    let base = Path::new(program)
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or(program);
    let (label, dir) = match base {
        "claude" => ("Claude Code", ".claude"),
        "cursor" | "agent" => ("Cursor", ".cursor"),
        "codex" => ("Codex", ".agents"),
        _ => return,
    };
    let Some(home) = std::env::var_os("HOME") else {
        return;
    };
    let root = PathBuf::from(home).join(dir).join("skills");
    let files = [
        ("agent-vault-cli", "/v1/skills/cli"),
        ("agent-vault-http", "/v1/skills/http"),
    ];
    if files
        .iter()
        .all(|(name, _)| root.join(name).join("SKILL.md").exists())
        || !prompt::stdin_is_tty()
    {
        return;
    }
    if !prompt::confirm(&format!("Install Agent Vault skills for {label}?"), true).unwrap_or(false)
    {
        return;
    }
    for (name, route) in files {
        let result = fetch_text(address, route).and_then(|text| {
            let d = root.join(name);
            std::fs::create_dir_all(&d).map_err(|e| e.to_string())?;
            let _ =
                std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o750));
            state::write_private(&d.join("SKILL.md"), text.as_bytes()).map_err(|e| e.to_string())
        });
        if let Err(e) = result {
            eprintln!("agent-vault: could not install the {name} skill: {e}");
        }
    }
}

/// The text body of a GET (the skills are markdown, not JSON).
fn fetch_text(address: &str, route: &str) -> Result<String, String> {
    let url = format!("{}{route}", address.trim_end_matches('/'));
    ureq::get(&url)
        .call()
        .map_err(|e| e.to_string())?
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())
}

fn discover(vault: Option<&str>, json: bool) -> Result<()> {
    let api = Client::agent_session()?;
    // Agent tokens pick their vault with X-Vault; scoped sessions ignore it.
    let x_vault = vault
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .or_else(|| {
            std::env::var("AGENT_VAULT_VAULT")
                .ok()
                .filter(|s| !s.is_empty())
        });
    let headers: Vec<(&str, &str)> = x_vault
        .as_deref()
        .map(|v| vec![("x-vault", v)])
        .unwrap_or_default();
    let (status, body) = api.send("GET", "/discover", None, &headers)?;
    if status >= 400 {
        bail!("{}", error_message(status, &body));
    }
    if json {
        output::json(&body);
        return Ok(());
    }
    println!("Vault: {}", output::s(&body, "vault"));
    println!("Proxy: {}", output::s(&body, "proxy_url"));
    println!();
    let mut t = Table::new(&["HOST", "DESCRIPTION"]);
    for s in body["services"].as_array().into_iter().flatten() {
        t.row(vec![
            output::s(s, "host").into(),
            output::s(s, "description").into(),
        ]);
    }
    if t.is_empty() {
        println!("No services configured.");
    } else {
        t.print();
    }
    println!();
    let keys: Vec<&str> = body["available_credentials"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if keys.is_empty() {
        println!("No credentials stored.");
    } else {
        println!("Credentials:");
        for k in keys {
            println!("  {k}");
        }
    }
    Ok(())
}
