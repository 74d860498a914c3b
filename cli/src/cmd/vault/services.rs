//! `agent-vault vault service`: show, replace and clear a vault's service rules.
//!
//! Rules travel as YAML (`{vault, services: [...]}`, the same field names as the JSON API) so
//! a file can be kept in a repository and applied idempotently with `set -f`. Files are
//! parsed into the store's own types and checked with the server's rules before anything is
//! sent, and errors point at the line of the offending service. Without `-f` on a terminal,
//! `set` walks the person through building rules one question at a time.

use std::collections::BTreeMap;
use std::io::Read;

use anyhow::{anyhow, bail, Context, Result};
use clap::Subcommand;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use av_store::services::{validate_services, Auth, Service};

use crate::client::{seg, Client};
use crate::output;
use crate::prompt;
use crate::state;

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum ServiceCmd {
    /// Print the vault's services as YAML.
    List,
    /// Replace the vault's services from a YAML file (`-f -` reads stdin); without `-f`,
    /// build them interactively.
    Set {
        /// YAML file with `services: [...]`, or `-` for stdin.
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: Option<String>,
    },
    /// Remove every service from the vault.
    Clear {
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

/// Runs a subcommand.
pub fn run(cmd: ServiceCmd, vault: Option<&str>) -> Result<()> {
    let vault = state::resolve_vault(vault);
    match cmd {
        ServiceCmd::List => list(&Client::logged_in(None)?, &vault),
        ServiceCmd::Set { file: Some(file) } => {
            let text = read_input(&file)?;
            let services = parse_file(&text).map_err(|e| anyhow!("{file}: {e}"))?;
            put(&Client::logged_in(None)?, &vault, &services)
        }
        ServiceCmd::Set { file: None } => {
            if !prompt::stdin_is_tty() {
                bail!("interactive mode requires a terminal. Use -f to apply services from a file");
            }
            interactive(&Client::logged_in(None)?, &vault)
        }
        ServiceCmd::Clear { yes } => clear(&Client::logged_in(None)?, &vault, yes),
    }
}

fn services_path(vault: &str) -> String {
    format!("/v1/vaults/{}/services", seg(vault))
}

/// The YAML document `vault service list` prints.
#[derive(Serialize)]
struct ListDoc<'a> {
    vault: &'a str,
    services: Vec<YamlService<'a>>,
}

/// A service as shown in YAML: fields in reading order (host, description, auth), and an
/// absent description left out rather than printed as `null`.
#[derive(Serialize)]
struct YamlService<'a> {
    host: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    auth: &'a Auth,
}

fn to_yaml(vault: &str, services: &[Service]) -> Result<String> {
    let doc = ListDoc {
        vault,
        services: services
            .iter()
            .map(|s| YamlService {
                host: &s.host,
                description: s.description.as_deref(),
                auth: &s.auth,
            })
            .collect(),
    };
    serde_saphyr::to_string(&doc).map_err(|e| anyhow!("cannot render YAML: {e}"))
}

fn fetch(client: &Client, vault: &str) -> Result<Vec<Service>> {
    let res = client.get(&services_path(vault))?;
    let services = match res.get("services") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => serde_json::from_value(v.clone())
            .context("the server returned services this CLI cannot read")?,
    };
    Ok(services)
}

fn list(client: &Client, vault: &str) -> Result<()> {
    print!("{}", to_yaml(vault, &fetch(client, vault)?)?);
    Ok(())
}

fn read_input(file: &str) -> Result<String> {
    if file == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read services from stdin")?;
        Ok(text)
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))
    }
}

/// A services file. Its `vault` key, if any, is ignored: the vault comes from `--vault` and
/// the usual resolution, so one file can be applied to several vaults.
#[derive(Deserialize)]
struct ServicesFile {
    services: Vec<serde_saphyr::Spanned<Service>>,
}

/// Parses and checks a services file. Errors name the line: YAML and type errors as the
/// parser reports them, rule violations as `line N: service I: ...`.
fn parse_file(text: &str) -> Result<Vec<Service>> {
    let doc: ServicesFile = serde_saphyr::from_str(text).map_err(|e| anyhow!("{e}"))?;
    let lines: Vec<u64> = doc.services.iter().map(|s| s.referenced.line()).collect();
    let services: Vec<Service> = doc.services.into_iter().map(|s| s.value).collect();
    // Local names (`localhost`) are allowed here; only the server knows whether it runs in
    // dev mode, and it checks again.
    if let Err(e) = validate_services(&services, true) {
        let line = e
            .strip_prefix("service ")
            .and_then(|rest| rest.split(':').next())
            .and_then(|i| i.parse::<usize>().ok())
            .and_then(|i| lines.get(i))
            .filter(|l| **l > 0);
        return Err(match line {
            Some(l) => anyhow!("line {l}: {e}"),
            None => anyhow!("{e}"),
        });
    }
    Ok(services)
}

fn put(client: &Client, vault: &str, services: &[Service]) -> Result<()> {
    client.put(&services_path(vault), &json!({ "services": services }))?;
    output::success(&format!("Services updated for vault {vault:?}"));
    Ok(())
}

fn clear(client: &Client, vault: &str, yes: bool) -> Result<()> {
    if !yes && !prompt::confirm(&format!("Remove all services from vault {vault:?}?"), false)? {
        println!("Aborted.");
        return Ok(());
    }
    client.delete(&services_path(vault), None)?;
    output::success(&format!("Cleared all services from vault {vault:?}"));
    Ok(())
}

/// Asks for a non-empty line.
fn required(question: &str) -> Result<String> {
    loop {
        let answer = prompt::line(question)?.trim().to_string();
        if !answer.is_empty() {
            return Ok(answer);
        }
        eprintln!("A value is required.");
    }
}

/// Asks for a credential key, offering the vault's keys; warns about keys not stored yet.
fn credential_key(question: &str, known: &[String]) -> Result<String> {
    if !known.is_empty() {
        eprintln!("Credentials in this vault: {}", known.join(", "));
    }
    loop {
        let key = required(question)?;
        if !av_store::names::is_credential_key(&key) {
            eprintln!("Credential keys are UPPER_SNAKE_CASE (e.g. STRIPE_KEY).");
            continue;
        }
        if !known.contains(&key) {
            eprintln!(
                "Warning: no credential {key:?} in this vault yet; set it with `agent-vault vault credential set {key}=...`."
            );
        }
        return Ok(key);
    }
}

/// Asks for one custom header (name and value template).
fn custom_header(known: &[String]) -> Result<(String, String)> {
    let name = loop {
        let n = required("Header name (e.g. Authorization, X-Api-Key): ")?;
        if av_store::services::is_header_name(&n) {
            break n;
        }
        eprintln!("Header names may contain only letters, digits and hyphens.");
    };
    let forms = [
        "Bearer {{ KEY }}",
        "token {{ KEY }}",
        "Basic {{ KEY }}",
        "{{ KEY }}",
        "custom template",
    ];
    let form = prompt::choose("Header value:", &forms, 0)?;
    let value = if form == 4 {
        required("Template (credentials as {{ KEY }}): ")?
    } else {
        let key = credential_key("Credential key: ", known)?;
        forms[form].replace("KEY", &key)
    };
    Ok((name, value))
}

/// Asks for one service.
fn build_service(known: &[String], existing: &[Service]) -> Result<Service> {
    let host = loop {
        let host = required("Host (e.g. api.stripe.com or *.example.com): ")?;
        match av_store::services::validate_host(&host, true) {
            Ok(()) => break host,
            Err(e) => eprintln!("{e}"),
        }
    };
    if existing.iter().any(|s| s.host == host) {
        eprintln!("Warning: {host:?} already has a service; the first matching service wins.");
    }
    let description = prompt::line("Description (optional): ")?.trim().to_string();
    let kinds = ["bearer", "basic", "api-key", "custom"];
    let kind = prompt::choose("Auth method:", &kinds, 0)?;
    let mut auth = Auth {
        kind: kinds[kind].to_string(),
        ..Auth::default()
    };
    match kinds[kind] {
        "bearer" => auth.token = credential_key("Token credential key: ", known)?,
        "basic" => {
            auth.username = credential_key("Username credential key: ", known)?;
            if prompt::confirm("Does it need a password credential?", true)? {
                auth.password = credential_key("Password credential key: ", known)?;
            }
        }
        "api-key" => {
            auth.key = credential_key("API key credential key: ", known)?;
            auth.header = prompt::line("Header [Authorization]: ")?.trim().to_string();
            auth.prefix =
                prompt::line("Prefix put before the value (optional, e.g. \"Bearer \"): ")?
                    .trim_start()
                    .to_string();
        }
        _ => {
            let mut headers = BTreeMap::new();
            loop {
                let (name, value) = custom_header(known)?;
                headers.insert(name, value);
                if !prompt::confirm("Add another header?", false)? {
                    break;
                }
            }
            auth.headers = headers;
        }
    }
    let service = Service {
        host,
        description: (!description.is_empty()).then_some(description),
        auth,
    };
    validate_services(std::slice::from_ref(&service), true).map_err(|e| anyhow!("{e}"))?;
    Ok(service)
}

/// The interactive builder of `vault service set`.
fn interactive(client: &Client, vault: &str) -> Result<()> {
    let current = fetch(client, vault)?;
    let known: Vec<String> = client
        .get(&format!("/v1/credentials?vault={}", seg(vault)))
        .ok()
        .and_then(|v| serde_json::from_value(v["keys"].clone()).ok())
        .unwrap_or_default();
    eprintln!("Configuring services for vault {vault:?}.");
    let mut services = if current.is_empty() {
        Vec::new()
    } else {
        let keep = prompt::choose(
            &format!(
                "Vault {vault:?} has {} service(s). Add to them or replace them?",
                current.len()
            ),
            &["append", "replace"],
            0,
        )?;
        if keep == 0 {
            current
        } else {
            Vec::new()
        }
    };
    loop {
        match build_service(&known, &services) {
            Ok(s) => services.push(s),
            Err(e) => eprintln!("Error: {e}"),
        }
        if !prompt::confirm("Add another service?", false)? {
            break;
        }
    }
    eprintln!("\n{}", to_yaml(vault, &services)?);
    if !prompt::confirm(&format!("Apply these services to vault {vault:?}?"), true)? {
        println!("Aborted.");
        return Ok(());
    }
    put(client, vault, &services)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_TYPES: &str = "\
vault: ignored
services:
  - host: api.stripe.com
    description: Stripe
    auth:
      type: bearer
      token: STRIPE_KEY
  - host: '*.atlassian.net'
    auth:
      type: basic
      username: JIRA_USER
      password: JIRA_API_TOKEN
  - host: api.anthropic.com
    auth:
      type: api-key
      key: ANTHROPIC_API_KEY
      header: x-api-key
      prefix: 'Key '
  - host: s3.amazonaws.com
    auth:
      type: custom
      headers:
        X-Amz-Token: '{{ AWS_TOKEN }}'
        Authorization: 'AWS {{AWS_KEY}}'
";

    #[test]
    fn all_auth_types_round_trip_through_yaml() {
        let services = parse_file(ALL_TYPES).unwrap();
        assert_eq!(services.len(), 4);
        assert_eq!(services[0].description.as_deref(), Some("Stripe"));
        assert_eq!(services[2].auth.prefix, "Key ");
        assert_eq!(services[3].auth.headers["Authorization"], "AWS {{AWS_KEY}}");
        let yaml = to_yaml("v", &services).unwrap();
        assert!(!yaml.contains("null"), "{yaml}");
        assert_eq!(parse_file(&yaml).unwrap(), services);
    }

    #[test]
    fn errors_name_the_line() {
        let text = "services:\n  - host: a.example.com\n    auth: {type: bearer, token: A}\n  - host: b.example.com\n    auth:\n      type: bearer\n      token: lower\n";
        let e = parse_file(text).unwrap_err().to_string();
        assert!(
            e.starts_with("line 4: service 1: auth: token \"lower\""),
            "{e}"
        );
        let e = parse_file("services:\n  - host: a.example.com\n    auth: [1]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains('3'), "{e}");
        let e = parse_file("nothing: here\n").unwrap_err().to_string();
        assert!(e.contains("services"), "{e}");
    }
}
