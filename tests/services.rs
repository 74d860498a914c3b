//! Service rules end to end: `/v1/vaults/{name}/services` (JSON), `agent-vault vault service`
//! (YAML), credential usage, the catalog, and who may change what.

use std::io::Write;
use std::process::Stdio;

use serde_json::{json, Value};

use crate::credentials::{cli, cli_err, cli_ok, scoped_session};
use crate::support::{Options, Server};

/// One service of each auth type, as the API returns them (absent description → `null`).
fn four_services() -> Value {
    json!([
        { "host": "api.stripe.com", "description": "Stripe API",
          "auth": { "type": "bearer", "token": "STRIPE_KEY" } },
        { "host": "*.atlassian.net", "description": null,
          "auth": { "type": "basic", "username": "JIRA_USER", "password": "JIRA_API_TOKEN" } },
        { "host": "api.anthropic.com", "description": "Claude",
          "auth": { "type": "api-key", "key": "ANTHROPIC_API_KEY", "header": "x-api-key",
                    "prefix": "Key " } },
        { "host": "s3.amazonaws.com", "description": null,
          "auth": { "type": "custom", "headers": {
              "Authorization": "AWS {{ AWS_KEY }}:{{AWS_SECRET}}", "X-Static": "v1" } } }
    ])
}

fn services_url(server: &Server, vault: &str) -> String {
    server.url(&format!("/v1/vaults/{vault}/services"))
}

#[test]
fn json_round_trip_of_all_auth_types() {
    let server = Server::start();
    let owner = server.register_owner();
    let http = server.http();
    let url = services_url(&server, "default");

    let r = http.get(&url).bearer(&owner.token).send();
    assert_eq!(
        (r.status, r.json),
        (200, json!({ "vault": "default", "services": [] }))
    );

    // Description omitted on input comes back as null.
    let mut input = four_services();
    input[1].as_object_mut().unwrap().remove("description");
    let r = http
        .put(&url, json!({ "services": input }))
        .bearer(&owner.token)
        .send();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json, json!({ "vault": "default", "services_count": 4 }));
    let r = http.get(&url).bearer(&owner.token).send();
    assert_eq!(
        r.json,
        json!({ "vault": "default", "services": four_services() })
    );

    // PUT replaces the whole list; null clears it.
    let r = http
        .put(&url, json!({ "services": [four_services()[0]] }))
        .bearer(&owner.token)
        .send();
    assert_eq!(r.json["services_count"], 1);
    let r = http.get(&url).bearer(&owner.token).send();
    assert_eq!(r.json["services"], json!([four_services()[0]]));
    let r = http
        .put(&url, json!({ "services": null }))
        .bearer(&owner.token)
        .send();
    assert_eq!(r.json, json!({ "vault": "default", "services_count": 0 }));

    let r = http
        .put(&url, json!({ "services": four_services() }))
        .bearer(&owner.token)
        .send();
    assert_eq!(r.status, 200);
    let r = http.delete(&url).bearer(&owner.token).send();
    assert_eq!(
        (r.status, r.json),
        (200, json!({ "vault": "default", "cleared": true }))
    );
    let r = http.get(&url).bearer(&owner.token).send();
    assert_eq!(r.json["services"], json!([]));

    let r = http
        .get(&services_url(&server, "nope"))
        .bearer(&owner.token)
        .send();
    assert_eq!(
        (r.status, r.json),
        (404, json!({ "error": "Vault \"nope\" not found" }))
    );
}

#[test]
fn every_validation_rule_has_its_message() {
    let server = Server::start();
    let owner = server.register_owner();
    let http = server.http();
    let url = services_url(&server, "default");
    let bearer = json!({ "type": "bearer", "token": "TOKEN" });
    let svc = |host: &str, auth: Value| json!({ "host": host, "auth": auth });
    let cases: Vec<(Value, &str)> = vec![
        (json!([{ "auth": bearer }]), "service 0: host is required"),
        (
            json!([svc("a.example.com", bearer.clone()), svc("", bearer.clone())]),
            "service 1: host is required",
        ),
        (
            json!([svc("a.example.com", json!({}))]),
            "service 0: auth: type is required (supported: bearer, basic, api-key, custom)",
        ),
        (
            json!([svc("a.example.com", json!({ "type": "oauth" }))]),
            "service 0: auth: unsupported type \"oauth\" (supported: bearer, basic, api-key, custom)",
        ),
        (
            json!([svc("a.example.com", json!({ "type": "bearer" }))]),
            "service 0: auth: \"token\" is required for bearer auth",
        ),
        (
            json!([svc("a.example.com", json!({ "type": "bearer", "token": "T", "username": "U" }))]),
            "service 0: auth: unexpected field \"username\" for bearer auth (only token)",
        ),
        (
            json!([svc("a.example.com", json!({ "type": "bearer", "token": "lower" }))]),
            "service 0: auth: token \"lower\" must be UPPER_SNAKE_CASE (e.g. STRIPE_KEY)",
        ),
        (
            json!([svc("a.example.com", json!({ "type": "basic", "password": "P" }))]),
            "service 0: auth: \"username\" is required for basic auth",
        ),
        (
            json!([svc("a.example.com", json!({ "type": "basic", "username": "U", "key": "K" }))]),
            "service 0: auth: unexpected field \"key\" for basic auth (only username, password)",
        ),
        (
            json!([svc("a.example.com", json!({ "type": "basic", "username": "U", "password": "p-w" }))]),
            "service 0: auth: password \"p-w\" must be UPPER_SNAKE_CASE (e.g. STRIPE_KEY)",
        ),
        (
            json!([svc("a.example.com", json!({ "type": "api-key", "header": "X-Key" }))]),
            "service 0: auth: \"key\" is required for api-key auth",
        ),
        (
            json!([svc("a.example.com", json!({ "type": "api-key", "key": "K", "token": "T" }))]),
            "service 0: auth: unexpected field \"token\" for api-key auth (only key, header, prefix)",
        ),
        (
            json!([svc("a.example.com", json!({ "type": "api-key", "key": "9K" }))]),
            "service 0: auth: key \"9K\" must be UPPER_SNAKE_CASE (e.g. STRIPE_KEY)",
        ),
        (
            json!([svc("a.example.com", json!({ "type": "custom" }))]),
            "service 0: auth: \"headers\" is required for custom auth",
        ),
        (
            json!([svc("a.example.com", json!({ "type": "custom", "headers": { "X-A": "v" }, "token": "T" }))]),
            "service 0: auth: unexpected field \"token\" for custom auth (only headers)",
        ),
        (
            json!([svc("a.example.com", json!({ "type": "custom", "headers": { "X Bad": "v" } }))]),
            "service 0: auth: invalid header name \"X Bad\" — only letters, digits, and hyphens allowed",
        ),
        (
            json!([svc("a.example.com", json!({ "type": "custom", "headers": { "X-Key": "{{ lower }}" } }))]),
            "service 0: auth: invalid credential key \"lower\" in header \"X-Key\" — must be UPPER_SNAKE_CASE",
        ),
        (
            json!([svc("10.0.0.1", bearer.clone())]),
            "service 0: host \"10.0.0.1\" must be a hostname, not an IP address",
        ),
        (
            json!([svc("*.com", bearer.clone())]),
            "service 0: host \"*.com\": wildcard must have at least two domain levels (e.g. *.example.com)",
        ),
        (
            json!([svc("localhost", bearer.clone())]),
            "service 0: host \"localhost\" is a local/internal name and is not allowed (set AGENT_VAULT_DEV_MODE=true to override)",
        ),
        (
            json!([svc("user@evil.com", bearer.clone())]),
            "service 0: host \"user@evil.com\" contains invalid character '@'",
        ),
    ];
    for (services, msg) in cases {
        let r = http
            .put(&url, json!({ "services": services }))
            .bearer(&owner.token)
            .send();
        assert_eq!(r.status, 400, "{services}: {}", r.text);
        assert_eq!(
            r.json,
            json!({ "error": format!("Invalid services: {msg}") }),
            "{services}"
        );
    }
    // Malformed documents.
    let r = http.put(&url, json!({})).bearer(&owner.token).send();
    assert_eq!(r.status, 400);
    assert!(r.s("error").starts_with("Invalid services: "), "{}", r.text);
    let r = http
        .put(&url, json!({ "services": "x" }))
        .bearer(&owner.token)
        .send();
    assert!(r.s("error").starts_with("Invalid services: "), "{}", r.text);
    let r = http
        .put(&url, json!({ "services": [{ "host": 5 }] }))
        .bearer(&owner.token)
        .send();
    assert!(
        r.s("error").starts_with("Invalid services: service 0: "),
        "{}",
        r.text
    );
    let r = http
        .request("PUT", &url)
        .body("{not json")
        .bearer(&owner.token)
        .send();
    assert_eq!(
        (r.status, r.json),
        (400, json!({ "error": "Invalid request body" }))
    );
    // Rejected PUTs store nothing.
    let r = http.get(&url).bearer(&owner.token).send();
    assert_eq!(r.json["services"], json!([]));
}

#[test]
fn dev_mode_allows_local_hosts() {
    let server = Server::start_with(Options {
        env: vec![("AGENT_VAULT_DEV_MODE".into(), "true".into())],
        ..Options::default()
    });
    let owner = server.register_owner();
    let r = server
        .http()
        .put(
            &services_url(&server, "default"),
            json!({ "services": [{ "host": "localhost", "auth": { "type": "bearer", "token": "T" } }] }),
        )
        .bearer(&owner.token)
        .send();
    assert_eq!(r.status, 200, "{}", r.text);
}

#[test]
fn roles_read_and_write() {
    let server = Server::start();
    let owner = server.register_owner();
    let http = server.http();
    let url = services_url(&server, "default");
    let body = json!({ "services": [four_services()[0]] });

    let proxy = scoped_session(&server, &owner, "default", "proxy");
    let r = http.get(&url).bearer(&proxy).send();
    assert_eq!(r.status, 200, "{}", r.text);
    let r = http.put(&url, body.clone()).bearer(&proxy).send();
    assert_eq!(
        (r.status, r.json),
        (403, json!({ "error": "Member role required" }))
    );
    let r = http.delete(&url).bearer(&proxy).send();
    assert_eq!(r.status, 403);

    // Vault members manage services (DESIGN §6 fix 7).
    let member = scoped_session(&server, &owner, "default", "member");
    let r = http.put(&url, body).bearer(&member).send();
    assert_eq!(r.status, 200, "{}", r.text);
    let r = http.delete(&url).bearer(&member).send();
    assert_eq!(r.status, 200, "{}", r.text);

    let r = http.get(&url).send();
    assert_eq!(r.status, 401);
}

#[test]
fn credential_usage_and_deleting_a_referenced_credential() {
    let server = Server::start();
    let owner = server.register_owner();
    let http = server.http();
    let r = http
        .put(
            &services_url(&server, "default"),
            json!({ "services": four_services() }),
        )
        .bearer(&owner.token)
        .send();
    assert_eq!(r.status, 200, "{}", r.text);
    let r = http
        .post(
            &server.url("/v1/credentials"),
            json!({ "credentials": { "AWS_SECRET": "s", "STRIPE_KEY": "k" } }),
        )
        .bearer(&owner.token)
        .send();
    assert_eq!(r.status, 200);

    let usage = |key: &str| {
        http.get(&server.url(&format!(
            "/v1/vaults/default/services/credential-usage?key={key}"
        )))
        .bearer(&owner.token)
        .send()
    };
    assert_eq!(
        usage("STRIPE_KEY").json,
        json!({ "services": [{ "host": "api.stripe.com", "description": "Stripe API" }] })
    );
    assert_eq!(
        usage("AWS_SECRET").json,
        json!({ "services": [{ "host": "s3.amazonaws.com" }] })
    );
    assert_eq!(
        usage("JIRA_API_TOKEN").json,
        json!({ "services": [{ "host": "*.atlassian.net" }] })
    );
    assert_eq!(usage("UNUSED").json, json!({ "services": [] }));
    let r = http
        .get(&server.url("/v1/vaults/default/services/credential-usage"))
        .bearer(&owner.token)
        .send();
    assert_eq!(
        (r.status, r.json),
        (
            400,
            json!({ "error": "Missing required query parameter: key" })
        )
    );

    // Deleting a credential a service still uses is allowed; usage still reports the service.
    let r = http
        .delete(&server.url("/v1/credentials"))
        .json(json!({ "keys": ["STRIPE_KEY"] }))
        .bearer(&owner.token)
        .send();
    assert_eq!(
        (r.status, r.json),
        (200, json!({ "deleted": ["STRIPE_KEY"] }))
    );
    assert_eq!(
        usage("STRIPE_KEY").json,
        json!({ "services": [{ "host": "api.stripe.com", "description": "Stripe API" }] })
    );
}

#[test]
fn catalog_api_and_cli() {
    let server = Server::start();
    server.register_owner();
    let r = server.http().get(&server.url("/v1/service-catalog")).send();
    assert_eq!(r.status, 200);
    let list = r.json["services"].as_array().expect("services");
    assert_eq!(list.len(), 20);
    assert_eq!(
        list[0],
        json!({ "id": "stripe", "name": "Stripe", "host": "api.stripe.com",
                "description": "Payment processing API", "auth_type": "bearer",
                "suggested_credential_key": "STRIPE_KEY" })
    );
    assert_eq!(list[19]["id"], "shopify");

    let out = cli_ok(&server, &["catalog", "--address", &server.admin]);
    let header = out.lines().nth(1).unwrap_or_default();
    for col in ["ID", "NAME", "HOST", "AUTH TYPE", "SUGGESTED KEY"] {
        assert!(header.contains(col), "{out}");
    }
    assert!(
        out.contains("│ jira ") && out.contains("*.atlassian.net"),
        "{out}"
    );
    let out = cli_ok(&server, &["catalog", "--json", "--address", &server.admin]);
    let parsed: Value = serde_json::from_str(&out).expect("catalog --json is JSON");
    assert_eq!(parsed, r.json);
}

const YAML_FILE: &str = "\
services:
  - host: api.stripe.com
    description: Stripe API
    auth:
      type: bearer
      token: STRIPE_KEY
  - host: '*.atlassian.net'
    auth:
      type: basic
      username: JIRA_USER
      password: JIRA_API_TOKEN
  - host: api.anthropic.com
    description: Claude
    auth:
      type: api-key
      key: ANTHROPIC_API_KEY
      header: x-api-key
      prefix: 'Key '
  - host: s3.amazonaws.com
    auth:
      type: custom
      headers:
        Authorization: 'AWS {{ AWS_KEY }}:{{AWS_SECRET}}'
        X-Static: v1
";

fn set_from_stdin(server: &Server, args: &[&str], input: &str) -> std::process::Output {
    let mut child = server
        .cli()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run agent-vault");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().expect("agent-vault")
}

#[test]
fn cli_yaml_round_trip_is_idempotent() {
    let server = Server::start();
    let owner = server.register_owner();
    server.login_cli(&owner);
    let http = server.http();
    let get = || {
        http.get(&services_url(&server, "default"))
            .bearer(&owner.token)
            .send()
            .json
    };

    let file = server.home.join("services.yaml");
    std::fs::write(&file, YAML_FILE).expect("write yaml");
    let file = file.to_string_lossy().into_owned();
    let out = cli_ok(&server, &["vault", "service", "set", "-f", &file]);
    assert_eq!(out, "✓ Services updated for vault \"default\"\n");
    assert_eq!(
        get(),
        json!({ "vault": "default", "services": four_services() })
    );

    // `list` prints YAML that `set -f -` applies again without changing anything.
    let listed = cli_ok(&server, &["vault", "service", "list"]);
    assert!(listed.starts_with("vault: default\n"), "{listed}");
    assert!(listed.contains("token: STRIPE_KEY"), "{listed}");
    let out = set_from_stdin(&server, &["vault", "service", "set", "-f", "-"], &listed);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        get(),
        json!({ "vault": "default", "services": four_services() })
    );
    let out = cli_ok(&server, &["vault", "service", "set", "-f", &file]);
    assert_eq!(out, "✓ Services updated for vault \"default\"\n");
    assert_eq!(cli_ok(&server, &["vault", "service", "list"]), listed);

    // --vault picks the target; the file's own `vault:` key does not.
    let r = http
        .post(&server.url("/v1/vaults"), json!({ "name": "staging" }))
        .bearer(&owner.token)
        .send();
    assert!(r.status == 200 || r.status == 201, "{}", r.text);
    let out = set_from_stdin(
        &server,
        &["vault", "service", "set", "-f", "-", "--vault", "staging"],
        &listed,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let staging = cli_ok(&server, &["vault", "service", "list", "--vault", "staging"]);
    assert_eq!(
        staging,
        listed.replacen("vault: default", "vault: staging", 1)
    );
}

#[test]
fn cli_errors_name_the_line_and_field() {
    let server = Server::start();
    let owner = server.register_owner();
    server.login_cli(&owner);

    let bad_rule = "services:\n  - host: a.example.com\n    auth: {type: bearer, token: A}\n  - host: b.example.com\n    auth:\n      type: bearer\n      token: not_upper\n";
    let out = set_from_stdin(&server, &["vault", "service", "set", "-f", "-"], bad_rule);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 4: service 1: auth: token \"not_upper\" must be UPPER_SNAKE_CASE"),
        "{err}"
    );
    let bad_type =
        "services:\n  - host: a.example.com\n    auth:\n      type: bearer\n      token: [A]\n";
    let out = set_from_stdin(&server, &["vault", "service", "set", "-f", "-"], bad_type);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains('5') && err.contains("token"), "{err}");
    let err = cli_err(
        &server,
        &["vault", "service", "set", "-f", "/nonexistent.yaml"],
    );
    assert!(err.contains("/nonexistent.yaml"), "{err}");

    // Server-side rules (local names outside dev mode) come back verbatim.
    let local = "services:\n  - host: localhost\n    auth: {type: bearer, token: A}\n";
    let out = set_from_stdin(&server, &["vault", "service", "set", "-f", "-"], local);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Invalid services: service 0: host \"localhost\" is a local/internal name"),
        "{err}"
    );

    // No terminal: no interactive builder.
    let err = cli_err(&server, &["vault", "service", "set"]);
    assert!(
        err.contains("interactive mode requires a terminal. Use -f to apply services from a file"),
        "{err}"
    );
}

#[test]
fn cli_clear_asks_unless_yes() {
    let server = Server::start();
    let owner = server.register_owner();
    server.login_cli(&owner);
    let http = server.http();
    let url = services_url(&server, "default");
    let r = http
        .put(&url, json!({ "services": four_services() }))
        .bearer(&owner.token)
        .send();
    assert_eq!(r.status, 200);

    // Without a terminal the confirmation is "no".
    let out = cli(&server, &["vault", "service", "clear"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Aborted."));
    assert_eq!(
        http.get(&url).bearer(&owner.token).send().json["services"],
        four_services()
    );

    let out = cli_ok(&server, &["vault", "service", "clear", "--yes"]);
    assert_eq!(out, "✓ Cleared all services from vault \"default\"\n");
    assert_eq!(
        http.get(&url).bearer(&owner.token).send().json["services"],
        json!([])
    );
    let out = cli_ok(&server, &["vault", "service", "list"]);
    assert_eq!(out, "vault: default\nservices: []\n");
}

#[test]
fn cli_interactive_builder_on_a_terminal() {
    let server = Server::start();
    let owner = server.register_owner();
    server.login_cli(&owner);
    let typed = [
        "api.example.com", // host
        "Example API",     // description
        "4",               // custom
        "X-Api-Key",       // header name
        "4",               // {{ KEY }}
        "EXAMPLE_KEY",     // credential
        "n",               // another header?
        "y",               // another service?
        "api.stripe.com",
        "",
        "bearer",
        "STRIPE_KEY",
        "n", // another service?
        "y", // apply?
    ]
    .join("\n")
        + "\n";
    let out = server.on_terminal("vault service set", &typed);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("✓ Services updated for vault \"default\""),
        "{shown}"
    );
    assert!(
        shown.contains("no credential \"EXAMPLE_KEY\" in this vault yet"),
        "{shown}"
    );
    let r = server
        .http()
        .get(&services_url(&server, "default"))
        .bearer(&owner.token)
        .send();
    assert_eq!(
        r.json["services"],
        json!([
            { "host": "api.example.com", "description": "Example API",
              "auth": { "type": "custom", "headers": { "X-Api-Key": "{{ EXAMPLE_KEY }}" } } },
            { "host": "api.stripe.com", "description": null,
              "auth": { "type": "bearer", "token": "STRIPE_KEY" } }
        ])
    );

    // With services present it asks whether to append; "replace" starts over.
    let typed = "replace\nhooks.slack.com\n\n2\nSLACK_USER\nn\nn\ny\n";
    let out = server.on_terminal("vault service set", typed);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let r = server
        .http()
        .get(&services_url(&server, "default"))
        .bearer(&owner.token)
        .send();
    assert_eq!(
        r.json["services"],
        json!([{ "host": "hooks.slack.com", "description": null,
                 "auth": { "type": "basic", "username": "SLACK_USER" } }])
    );
}
