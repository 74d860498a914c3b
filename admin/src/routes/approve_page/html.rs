//! The approval page's HTML: one small, self-contained document per answer (inline CSS, no
//! scripts, so the strict CSP holds), laid out for a phone first. Every piece of text that
//! came from an agent or a database is escaped here; secrets are never part of any input.

use serde_json::Value;

pub use crate::html::esc;

const STYLE: &str = "
*{box-sizing:border-box}
body{margin:0;background:#f4f5f7;color:#1d2330;font:16px/1.5 -apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif}
main{max-width:640px;margin:0 auto;padding:16px}
header .dot{width:10px;height:10px;border-radius:50%;background:#1f7a3a}
header{display:flex;align-items:center;gap:8px;margin:8px 0 16px;color:#5b6474;font-weight:600;font-size:14px;letter-spacing:.02em;text-transform:uppercase}
.card{background:#fff;border:1px solid #dfe3ea;border-radius:12px;padding:16px 18px;margin:0 0 14px}
h1{font-size:22px;line-height:1.3;margin:0 0 6px}
h2{font-size:15px;margin:0 0 10px;color:#5b6474;text-transform:uppercase;letter-spacing:.03em}
.muted{color:#5b6474;font-size:14px}
.msg{white-space:pre-wrap;word-wrap:break-word;font-size:17px;margin:8px 0 0}
ul.items{list-style:none;margin:0;padding:0}
ul.items li{border-top:1px solid #eef0f4;padding:10px 0}
ul.items li:first-child{border-top:0;padding-top:0}
.tag{display:inline-block;font-size:12px;font-weight:700;border-radius:6px;padding:1px 7px;margin-right:6px;vertical-align:1px}
.add{background:#e3f4e8;color:#17692f}.del{background:#fde8e8;color:#a02020}
code{font:14px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f1f3f6;border-radius:4px;padding:1px 5px;word-break:break-all}
label{display:block;font-weight:600;margin:12px 0 4px}
input[type=password],input[type=email],input[type=text]{width:100%;font-size:16px;padding:11px 12px;border:1px solid #c4cad4;border-radius:8px;background:#fff}
.check{display:flex;align-items:center;gap:8px;font-weight:400;margin-top:8px}
.check input{width:20px;height:20px}
.buttons{display:flex;gap:12px;margin-top:18px}
button{flex:1;font-size:17px;font-weight:600;padding:13px 10px;border-radius:10px;border:0;cursor:pointer}
.allow{background:#1f7a3a;color:#fff}.deny{background:#fff;color:#a02020;border:1px solid #e2b4b4}
.primary{background:#2453c7;color:#fff}
.error{background:#fdecec;border-color:#f1b8b8;color:#8a1c1c}
.ok{background:#e9f6ee;border-color:#b5dfc2}
details summary{cursor:pointer;color:#5b6474;font-size:14px}
a{color:#2453c7}
";

/// A whole page around `body`.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<meta name=\"referrer\" content=\"no-referrer\">\
<title>{} · Agent Vault</title><style>{STYLE}</style></head>\
<body><main><header><span class=\"dot\"></span>Agent Vault</header>{body}</main></body></html>\n",
        esc(title)
    )
}

/// A page that only says something (invalid, expired or decided links; results).
pub fn notice(title: &str, text: &str, class: &str) -> String {
    page(
        title,
        &format!(
            "<section class=\"card {class}\" id=\"notice\"><h1>{}</h1><p>{}</p></section>",
            esc(title),
            esc(text)
        ),
    )
}

/// Who is looking at the page.
pub enum Viewer {
    /// No valid login session: show the inline login form.
    Anonymous,
    /// Logged in but without a member/admin grant on the vault.
    NoPermission(String),
    /// May approve: show the decision form with this CSRF token.
    Reviewer {
        /// The reviewer's email.
        email: String,
        /// Form token bound to the session and the proposal.
        csrf: String,
    },
}

/// What the review page shows.
pub struct Review<'a> {
    /// Proposal number.
    pub id: i64,
    /// Vault name.
    pub vault: &'a str,
    /// The raising agent's name (`""` for a vault-scoped session).
    pub agent: &'a str,
    /// Human-facing message.
    pub user_message: &'a str,
    /// Developer-facing message.
    pub message: &'a str,
    /// Requested services (stored JSON array).
    pub services: &'a Value,
    /// Credential slots (stored JSON array).
    pub credentials: &'a Value,
    /// The approval token (carried in forms).
    pub token: &'a str,
    /// When it was raised, for people (UTC).
    pub created_at: &'a str,
    /// Who is looking.
    pub viewer: Viewer,
    /// An error to show above the form.
    pub error: Option<&'a str>,
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// An `obtain` link, only for http(s) URLs.
fn obtain_link(url: &str) -> String {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        format!(
            " <a href=\"{0}\" target=\"_blank\" rel=\"noopener noreferrer\">Get it here ↗</a>",
            esc(url)
        )
    } else {
        String::new()
    }
}

/// What an auth config injects, in words (credential names only, never values).
fn auth_summary(auth: &Value) -> String {
    let code = |k: &str| format!("<code>{}</code>", esc(s(auth, k)));
    match s(auth, "type") {
        "bearer" => format!("Bearer token from {}", code("token")),
        "basic" => {
            if s(auth, "password").is_empty() {
                format!("Basic auth with {}", code("username"))
            } else {
                format!(
                    "Basic auth with {} / {}",
                    code("username"),
                    code("password")
                )
            }
        }
        "api-key" => {
            let header = match s(auth, "header") {
                "" => "Authorization",
                h => h,
            };
            format!("{} in header <code>{}</code>", code("key"), esc(header))
        }
        "custom" => {
            let names: Vec<String> = auth
                .get("headers")
                .and_then(Value::as_object)
                .map(|h| {
                    h.keys()
                        .map(|k| format!("<code>{}</code>", esc(k)))
                        .collect()
                })
                .unwrap_or_default();
            format!("Custom headers {}", names.join(", "))
        }
        other => format!("Auth type <code>{}</code>", esc(other)),
    }
}

fn services_card(services: &Value) -> String {
    let items: Vec<String> = services
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|svc| {
            let host = esc(s(svc, "host"));
            let desc = match s(svc, "description") {
                "" => String::new(),
                d => format!("<div class=\"muted\">{}</div>", esc(d)),
            };
            if s(svc, "action") == "delete" {
                format!("<li><span class=\"tag del\">REMOVE</span><code>{host}</code>{desc}</li>")
            } else {
                let auth = svc.get("auth").map(auth_summary).unwrap_or_default();
                format!(
                    "<li><span class=\"tag add\">ALLOW</span><code>{host}</code>{desc}\
                     <div class=\"muted\">{auth}</div></li>"
                )
            }
        })
        .collect();
    if items.is_empty() {
        return String::new();
    }
    format!(
        "<section class=\"card\" id=\"services\"><h2>Services</h2><ul class=\"items\">{}</ul></section>",
        items.join("")
    )
}

/// One credential slot: its explanation, plus inputs when the viewer may approve.
fn slot_item(slot: &Value, inputs: bool) -> String {
    let key = s(slot, "key");
    let k = esc(key);
    let mut out = String::from("<li>");
    if s(slot, "action") == "delete" {
        out += &format!("<span class=\"tag del\">DELETE</span><code>{k}</code>");
        if !s(slot, "description").is_empty() {
            out += &format!("<div class=\"muted\">{}</div>", esc(s(slot, "description")));
        }
        out += "</li>";
        return out;
    }
    let has_value = slot.get("has_value").and_then(Value::as_bool) == Some(true);
    out += &format!("<span class=\"tag add\">SET</span><code>{k}</code>");
    if !s(slot, "description").is_empty() {
        out += &format!("<div>{}</div>", esc(s(slot, "description")));
    }
    let instructions = s(slot, "obtain_instructions");
    let link = obtain_link(s(slot, "obtain"));
    if !instructions.is_empty() || !link.is_empty() {
        out += &format!("<div class=\"muted\">{}{link}</div>", esc(instructions));
    }
    if inputs {
        let placeholder = if has_value {
            "Leave empty to use the agent's value"
        } else {
            "Paste the value"
        };
        out += &format!(
            "<label for=\"v_{k}\">Value for {k}</label>\
             <input type=\"password\" id=\"v_{k}\" name=\"v_{k}\" autocomplete=\"off\" \
             spellcheck=\"false\" placeholder=\"{placeholder}\">"
        );
        if has_value {
            out += &format!(
                "<label class=\"check\"><input type=\"checkbox\" id=\"a_{k}\" name=\"a_{k}\" \
                 value=\"1\" checked> Use the agent's value</label>"
            );
        }
    } else if has_value {
        out += "<div class=\"muted\">The agent supplied a value.</div>";
    }
    out += "</li>";
    out
}

fn login_form(r: &Review<'_>, note: &str) -> String {
    format!(
        "<section class=\"card\" id=\"login\"><h2>Sign in to review</h2>\
         <p class=\"muted\">{}</p>\
         <form method=\"post\" action=\"/approve/{}/login\">\
         <input type=\"hidden\" name=\"token\" value=\"{}\">\
         <label for=\"email\">Email</label>\
         <input type=\"email\" id=\"email\" name=\"email\" autocomplete=\"username\" required>\
         <label for=\"password\">Password</label>\
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
         <div class=\"buttons\"><button type=\"submit\" class=\"primary\" id=\"login-submit\">Sign in</button></div>\
         </form></section>",
        esc(note),
        r.id,
        esc(r.token)
    )
}

/// The review page: what is asked, and the login or decision form.
pub fn review(r: &Review<'_>) -> String {
    let who = if r.agent.is_empty() {
        "An agent session".to_string()
    } else {
        format!("Agent <strong>{}</strong>", esc(r.agent))
    };
    let mut body = format!(
        "<section class=\"card\" id=\"summary\"><h1>{who} is asking for access</h1>\
         <div class=\"muted\">Vault <code>{}</code> · request #{} · {}</div>",
        esc(r.vault),
        r.id,
        esc(r.created_at)
    );
    if !r.user_message.is_empty() {
        body += &format!(
            "<p class=\"msg\" id=\"user-message\">{}</p>",
            esc(r.user_message)
        );
    }
    if !r.message.is_empty() {
        body += &format!(
            "<details><summary>Technical details from the agent</summary><p class=\"msg muted\">{}</p></details>",
            esc(r.message)
        );
    }
    body += "</section>";
    if let Some(e) = r.error {
        body += &format!(
            "<section class=\"card error\" id=\"error\" role=\"alert\">{}</section>",
            esc(e)
        );
    }
    body += &services_card(r.services);
    let can_decide = matches!(r.viewer, Viewer::Reviewer { .. });
    let slots: Vec<String> = r
        .credentials
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|slot| slot_item(slot, can_decide))
        .collect();
    let slots_card = if slots.is_empty() {
        String::new()
    } else {
        format!(
            "<section class=\"card\" id=\"credentials\"><h2>Credentials</h2><ul class=\"items\">{}</ul></section>",
            slots.join("")
        )
    };
    match &r.viewer {
        Viewer::Anonymous => {
            body += &slots_card;
            body += &login_form(
                r,
                "Sign in with your Agent Vault account to allow or deny this request.",
            );
        }
        Viewer::NoPermission(email) => {
            body += &slots_card;
            body += &format!(
                "<section class=\"card error\" id=\"no-permission\">You are signed in as <strong>{}</strong>, \
                 who cannot review requests in vault <code>{}</code> (a member or admin role is needed).</section>",
                esc(email),
                esc(r.vault)
            );
            body += &login_form(r, "Sign in as someone else:");
        }
        Viewer::Reviewer { email, csrf } => {
            body += &format!(
                "<form method=\"post\" action=\"/approve/{}\" id=\"decision\">\
                 <input type=\"hidden\" name=\"token\" value=\"{}\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{}\">{slots_card}\
                 <section class=\"card\"><label for=\"reason\">Reason if you deny (optional)</label>\
                 <input type=\"text\" id=\"reason\" name=\"reason\" autocomplete=\"off\">\
                 <div class=\"buttons\">\
                 <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"deny\" id=\"deny\">Deny</button>\
                 <button type=\"submit\" name=\"decision\" value=\"allow\" class=\"allow\" id=\"allow\">Allow</button>\
                 </div><p class=\"muted\">Signed in as {}.</p></section></form>",
                r.id,
                esc(r.token),
                esc(csrf),
                esc(email)
            );
        }
    }
    page(&format!("Request #{}", r.id), &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn only_http_links_are_rendered() {
        assert!(
            obtain_link("https://example.com/keys").contains("href=\"https://example.com/keys\"")
        );
        assert!(obtain_link("javascript:alert(1)").is_empty());
        assert!(obtain_link("data:text/html,x").is_empty());
    }

    #[test]
    fn review_page_escapes_agent_text_and_has_no_values() {
        let services = json!([{"action":"set","host":"api.example.com","description":"<b>x</b>",
            "auth":{"type":"bearer","token":"EX_KEY"}}]);
        let credentials = json!([{"action":"set","key":"EX_KEY","description":"d",
            "obtain":"javascript:alert(1)","has_value":true}]);
        let html = review(&Review {
            id: 3,
            vault: "default",
            agent: "<script>",
            user_message: "please <img src=x>",
            message: "",
            services: &services,
            credentials: &credentials,
            token: "av_appr_abc",
            created_at: "2026-01-01T00:00:00Z",
            viewer: Viewer::Reviewer {
                email: "a@b.c".into(),
                csrf: "f".into(),
            },
            error: None,
        });
        assert!(!html.contains("<script>"));
        assert!(!html.contains("<img"));
        assert!(!html.contains("javascript:"));
        assert!(html.contains("name=\"v_EX_KEY\""));
        assert!(html.contains("name=\"a_EX_KEY\""));
        assert!(html.contains("id=\"allow\""));
    }
}
