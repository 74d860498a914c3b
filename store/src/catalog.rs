//! The built-in service catalog (`GET /v1/service-catalog`): templates that help a human or an
//! agent write a service rule for a well-known API. Fixed data, in the reference's order.

use serde::Serialize;

/// One catalog template.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct CatalogEntry {
    /// Stable identifier (`stripe`).
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Host or wildcard pattern the service rule would use.
    pub host: &'static str,
    /// One-line description.
    pub description: &'static str,
    /// Suggested auth type.
    pub auth_type: &'static str,
    /// Suggested credential key.
    pub suggested_credential_key: &'static str,
}

const fn entry(
    id: &'static str,
    name: &'static str,
    host: &'static str,
    description: &'static str,
    auth_type: &'static str,
    suggested_credential_key: &'static str,
) -> CatalogEntry {
    CatalogEntry {
        id,
        name,
        host,
        description,
        auth_type,
        suggested_credential_key,
    }
}

/// The 20 templates, in the order the API returns them.
pub const CATALOG: [CatalogEntry; 20] = [
    entry(
        "stripe",
        "Stripe",
        "api.stripe.com",
        "Payment processing API",
        "bearer",
        "STRIPE_KEY",
    ),
    entry(
        "github",
        "GitHub",
        "api.github.com",
        "GitHub REST API",
        "bearer",
        "GITHUB_TOKEN",
    ),
    entry(
        "openai",
        "OpenAI",
        "api.openai.com",
        "OpenAI / ChatGPT API",
        "bearer",
        "OPENAI_API_KEY",
    ),
    entry(
        "anthropic",
        "Anthropic",
        "api.anthropic.com",
        "Claude API",
        "api-key",
        "ANTHROPIC_API_KEY",
    ),
    entry(
        "slack",
        "Slack",
        "slack.com",
        "Slack Web API",
        "bearer",
        "SLACK_TOKEN",
    ),
    entry(
        "twilio",
        "Twilio",
        "api.twilio.com",
        "Communication APIs (SMS, voice, email)",
        "basic",
        "TWILIO_AUTH_TOKEN",
    ),
    entry(
        "sendgrid",
        "SendGrid",
        "api.sendgrid.com",
        "Email delivery API",
        "bearer",
        "SENDGRID_API_KEY",
    ),
    entry(
        "aws-s3",
        "AWS S3",
        "s3.amazonaws.com",
        "Amazon S3 object storage",
        "custom",
        "AWS_SECRET_ACCESS_KEY",
    ),
    entry(
        "cloudflare",
        "Cloudflare",
        "api.cloudflare.com",
        "Cloudflare API",
        "bearer",
        "CLOUDFLARE_API_TOKEN",
    ),
    entry(
        "datadog",
        "Datadog",
        "api.datadoghq.com",
        "Monitoring and analytics",
        "api-key",
        "DATADOG_API_KEY",
    ),
    entry(
        "pagerduty",
        "PagerDuty",
        "api.pagerduty.com",
        "Incident management",
        "bearer",
        "PAGERDUTY_TOKEN",
    ),
    entry(
        "linear",
        "Linear",
        "api.linear.app",
        "Project management and issue tracking",
        "bearer",
        "LINEAR_API_KEY",
    ),
    entry(
        "jira",
        "Jira",
        "*.atlassian.net",
        "Atlassian Jira project tracking",
        "basic",
        "JIRA_API_TOKEN",
    ),
    entry(
        "notion",
        "Notion",
        "api.notion.com",
        "Notion workspace API",
        "bearer",
        "NOTION_TOKEN",
    ),
    entry(
        "vercel",
        "Vercel",
        "api.vercel.com",
        "Vercel deployment platform",
        "bearer",
        "VERCEL_TOKEN",
    ),
    entry(
        "supabase",
        "Supabase",
        "*.supabase.co",
        "Supabase backend-as-a-service",
        "bearer",
        "SUPABASE_KEY",
    ),
    entry(
        "resend",
        "Resend",
        "api.resend.com",
        "Email API for developers",
        "bearer",
        "RESEND_API_KEY",
    ),
    entry(
        "postmark",
        "Postmark",
        "api.postmarkapp.com",
        "Transactional email service",
        "api-key",
        "POSTMARK_SERVER_TOKEN",
    ),
    entry(
        "sentry",
        "Sentry",
        "sentry.io",
        "Error tracking and performance monitoring",
        "bearer",
        "SENTRY_AUTH_TOKEN",
    ),
    entry(
        "shopify",
        "Shopify",
        "*.myshopify.com",
        "Shopify e-commerce API",
        "api-key",
        "SHOPIFY_ACCESS_TOKEN",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::is_credential_key;
    use crate::services::validate_host;

    #[test]
    fn shape_and_order() {
        let json = serde_json::to_value(CATALOG).unwrap();
        assert_eq!(
            json[0],
            serde_json::json!({"id":"stripe","name":"Stripe","host":"api.stripe.com",
                "description":"Payment processing API","auth_type":"bearer",
                "suggested_credential_key":"STRIPE_KEY"})
        );
        let ids: Vec<&str> = CATALOG.iter().map(|e| e.id).collect();
        assert_eq!(ids.first(), Some(&"stripe"));
        assert_eq!(ids.last(), Some(&"shopify"));
        assert_eq!(ids[12], "jira");
    }

    #[test]
    fn entries_pass_our_own_rules() {
        let mut ids = std::collections::HashSet::new();
        for e in CATALOG {
            assert!(ids.insert(e.id), "duplicate id {}", e.id);
            assert_eq!(validate_host(e.host, false), Ok(()), "{}", e.host);
            assert!(is_credential_key(e.suggested_credential_key));
            assert!(["bearer", "basic", "api-key", "custom"].contains(&e.auth_type));
        }
    }
}
