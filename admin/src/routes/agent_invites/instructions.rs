//! The text an agent reads after redeeming an invite (DESIGN §6 fix 3): real admin and proxy
//! addresses, one section per vault role it actually holds, nothing it cannot use.

use std::fmt::Write;

use av_store::roles::VaultRole;

/// Everything the instructions mention.
pub struct Context<'a> {
    /// Admin base URL.
    pub admin: &'a str,
    /// `<proxy base>/proxy`.
    pub proxy_url: &'a str,
    /// The agent's name.
    pub agent_name: &'a str,
    /// Its vaults and roles there.
    pub vaults: &'a [(String, VaultRole)],
    /// RFC 3339 expiry of the token, `None` when it never expires.
    pub token_expires_at: Option<&'a str>,
}

/// Builds the instructions.
pub fn render(c: &Context<'_>) -> String {
    let admin = c.admin;
    let proxy = c.proxy_url;
    let example_vault = c
        .vaults
        .first()
        .map(|(v, _)| v.as_str())
        .unwrap_or("<vault>");
    let top = c.vaults.iter().map(|(_, r)| *r).max();
    let mut s = String::new();
    let _ = write!(
        s,
        "You are \"{name}\", a persistent agent of Agent Vault, an HTTP proxy that attaches \
credentials to your requests so you never see them.\n\n\
Before saying you cannot reach an external service (GitHub, Stripe, Slack, ...), ALWAYS check \
Agent Vault with /discover. If the service is not there, raise a proposal (below) instead of \
asking for credentials.\n\n\
## Token\n\
Send `Authorization: Bearer <av_agent_token>` (the token from this response) on every request. ",
        name = c.agent_name
    );
    match c.token_expires_at {
        Some(t) => {
            let _ = write!(
                s,
                "It expires at {t}; after that, ask your operator for a new invite.\n\n"
            );
        }
        None => s.push_str("It does not expire; your operator may rotate or revoke it.\n\n"),
    }
    s.push_str(
        "Your token is instance-level: pick the vault of each request with the `X-Vault: <vault name>` header.\n\n## Your vaults\n",
    );
    if c.vaults.is_empty() {
        s.push_str(
            "None yet. Ask your operator to run `agent-vault vault agent add <your name> --vault <vault>`.\n",
        );
    }
    for (v, r) in c.vaults {
        let what = match r {
            VaultRole::Proxy => "proxy requests, raise proposals",
            VaultRole::Member => {
                "proxy requests, raise proposals, manage credentials and services, review proposals"
            }
            VaultRole::Admin => "everything a member can, plus manage the vault's agents and users",
        };
        let _ = writeln!(s, "- `{v}` (role {r}): {what}");
    }
    let _ = write!(
        s,
        "\n## Quick start\n\
1. Discover what is available:\n\
   GET {admin}/discover\n\
   Authorization: Bearer <av_agent_token>\n\
   X-Vault: {example_vault}\n\
   The answer lists `services` (hosts you may call) and `available_credentials` (key names only).\n\
2. Call a service through the proxy (credentials are injected for you):\n\
   <METHOD> {proxy}/<target_host>/<path>?<query>\n\
   Authorization: Bearer <av_agent_token>\n\
   X-Vault: {example_vault}\n\
   e.g. GET {proxy}/api.github.com/user\n\
3. Need a service or credential that is not there? Raise a proposal:\n\
   POST {admin}/v1/proposals\n\
   Authorization: Bearer <av_agent_token>\n\
   X-Vault: {example_vault}\n\
   Content-Type: application/json\n\
   {{\"services\":[{{\"action\":\"set\",\"host\":\"api.stripe.com\",\"description\":\"Stripe API\",\
\"auth\":{{\"type\":\"bearer\",\"token\":\"STRIPE_KEY\"}}}}],\
\"credentials\":[{{\"action\":\"set\",\"key\":\"STRIPE_KEY\",\"description\":\"Stripe secret key\",\
\"obtain\":\"https://dashboard.stripe.com/apikeys\"}}],\
\"message\":\"why you need it\",\"user_message\":\"what the human should do\"}}\n\
   Auth types: bearer {{token}}, basic {{username, password}}, api-key {{key, header, prefix}}, \
custom {{headers: {{\"Name\": \"prefix {{{{ KEY }}}}\"}}}}.\n\
   Give the human the returned `approval_url`, then poll GET {admin}/v1/proposals/<id> (same \
headers) every 3 s for 30 s, then every 10 s, for at most 10 minutes. Once `status` is \
`applied`, retry your request; `rejected` means stop and tell the human.\n"
    );
    if top >= Some(VaultRole::Member) {
        let _ = write!(
            s,
            "\n## Member capabilities (vaults where you are member or admin)\n\
- List credentials: GET {admin}/v1/credentials?vault=<vault> (add `&reveal=true` for values)\n\
- Set credentials: POST {admin}/v1/credentials {{\"vault\":\"<vault>\",\"credentials\":{{\"KEY\":\"value\"}}}}\n\
- Delete credentials: DELETE {admin}/v1/credentials {{\"vault\":\"<vault>\",\"keys\":[\"KEY\"]}}\n\
- Services: GET/PUT {admin}/v1/vaults/<vault>/services\n\
- Review proposals: GET {admin}/v1/admin/proposals?vault=<vault>, \
POST {admin}/v1/admin/proposals/<id>/approve {{\"vault\":\"<vault>\"}} or .../reject {{\"vault\":\"<vault>\",\"reason\":\"...\"}}\n\
- Add agents with role proxy: POST {admin}/v1/vaults/<vault>/agents {{\"name\":\"agent-name\",\"role\":\"proxy\"}}\n"
        );
    }
    if top == Some(VaultRole::Admin) {
        let _ = write!(
            s,
            "\n## Admin capabilities (vaults where you are admin)\n\
- Agents: GET/POST {admin}/v1/vaults/<vault>/agents, POST .../agents/<name>/role {{\"role\":\"proxy|member|admin\"}}, DELETE .../agents/<name>\n\
- Invite agents: POST {admin}/v1/agents/invites {{\"name\":\"new-agent\",\"vaults\":[{{\"vault_name\":\"<vault>\",\"vault_role\":\"proxy\"}}]}}\n\
- Users: GET/POST {admin}/v1/vaults/<vault>/users {{\"email\":\"...\",\"role\":\"member\"}}; \
invite people with POST {admin}/v1/users/invites {{\"email\":\"...\",\"vaults\":[{{\"vault_name\":\"<vault>\",\"vault_role\":\"member\"}}]}}\n"
        );
    }
    let _ = write!(
        s,
        "\n## Errors\n\
- 400: missing `X-Vault` header or malformed request\n\
- 401: token invalid, expired or revoked — ask your operator for a new invite\n\
- 403 `forbidden`: no access to that vault, or no service for that host (raise a proposal; \
the answer's `proposal_hint` says how)\n\
- 404: unknown vault or object\n\
- 421 `wrong_port`: proxy requests go to {proxy}\n\
- 429: rate limited or too many pending proposals — wait and retry\n\
- 502 `credential_not_found` / `upstream_error`, 504: the upstream or a credential is missing — \
tell the human\n\n\
## Full reference\n\
GET {admin}/v1/skills/http\n\n\
## Rules\n\
- Never print, log or ask for credential values; the proxy injects them.\n\
- Only call hosts listed by /discover; propose anything else.\n"
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_follow_the_roles() {
        let proxy_only = [("default".to_string(), VaultRole::Proxy)];
        let c = Context {
            admin: "http://a:1",
            proxy_url: "http://p:2/proxy",
            agent_name: "bot",
            vaults: &proxy_only,
            token_expires_at: None,
        };
        let t = render(&c);
        assert!(t.contains("GET http://a:1/discover"));
        assert!(t.contains("http://p:2/proxy/<target_host>/<path>"));
        assert!(t.contains("X-Vault: default"));
        assert!(!t.contains("Member capabilities"));
        assert!(!t.contains("Admin capabilities"));
        let admin = [("pay".to_string(), VaultRole::Admin)];
        let t = render(&Context {
            vaults: &admin,
            ..c
        });
        assert!(t.contains("Member capabilities") && t.contains("Admin capabilities"));
    }
}
