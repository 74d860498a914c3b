//! Which service rule applies to a request host.
//!
//! Semantics (shared by the linear [`match_host`] and the indexed [`HostIndex`], which tests
//! prove equal): a `:port` suffix is removed from both sides (only when the text parses as
//! `host:port` or `[v6]:port`), ASCII case is ignored, an exact host wins over a wildcard, a
//! `*.parent` pattern matches exactly one extra label (non-empty, without `.` or `*`), and among
//! equal candidates the first declared service wins. No trailing-dot normalization: `a.com.`
//! does not match `a.com` (the proxy then refuses the request instead of guessing).
//!
//! The proxy uses [`HostIndex`] so the per-request cost is two hash lookups whatever the number
//! of services; [`match_host`] is the readable specification it is checked against.

use crate::services::Service;
use std::borrow::Cow;
use std::collections::HashMap;

/// Removes a `:port` suffix the way Go's `net.SplitHostPort` would accept it, leaving the text
/// unchanged when it is not `host:port` (e.g. a bare IPv6 literal or `a:b:c`).
pub fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // `[host]:port`; `[host]` alone has no port and is kept whole.
        if let Some(end) = rest.find(']') {
            let inner = &rest[..end];
            let after = &rest[end + 1..];
            if after.starts_with(':')
                && !after[1..].contains([':', '[', ']'])
                && !inner.contains('[')
            {
                return inner;
            }
        }
        return host;
    }
    match host.find(':') {
        Some(i)
            if !host[i + 1..].contains(':')
                && !host[..i].contains([']', '['])
                && !host[i + 1..].contains([']', '[']) =>
        {
            &host[..i]
        }
        _ => host,
    }
}

/// The matching key of a host: port removed, ASCII lowercase (borrowed when already lowercase).
pub fn normalize_host(host: &str) -> Cow<'_, str> {
    let host = strip_port(host);
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

/// Splits a normalized request host into its first label and the parent a wildcard would be
/// keyed by; `None` when no wildcard can match it.
fn wildcard_parts(host: &str) -> Option<(&str, &str)> {
    let (label, parent) = host.split_once('.')?;
    (!label.is_empty() && !label.contains('*')).then_some((label, parent))
}

/// The index of the service matching `request_host`, scanning in declaration order: every
/// exact pattern first, then every wildcard. O(n); see [`HostIndex`] for the proxy's path.
pub fn match_host(request_host: &str, services: &[Service]) -> Option<usize> {
    let host = normalize_host(request_host);
    if host.is_empty() {
        return None;
    }
    let patterns: Vec<Cow<'_, str>> = services.iter().map(|s| normalize_host(&s.host)).collect();
    if let Some(i) = patterns
        .iter()
        .position(|p| !p.starts_with("*.") && **p == *host)
    {
        return Some(i);
    }
    let (_, parent) = wildcard_parts(&host)?;
    patterns
        .iter()
        .position(|p| p.strip_prefix("*.") == Some(parent))
}

/// Services indexed by host for O(1) matching, with exactly [`match_host`]'s semantics.
#[derive(Clone, Debug, Default)]
pub struct HostIndex {
    exact: HashMap<String, usize>,
    wildcard: HashMap<String, usize>,
}

impl HostIndex {
    /// Indexes `services`; the values are positions in that slice.
    pub fn build(services: &[Service]) -> Self {
        Self::from_hosts(services.iter().map(|s| s.host.as_str()))
    }

    /// Indexes host patterns given in declaration order (for callers that keep services in
    /// their own compiled form); the values are positions in that order.
    pub fn from_hosts<'a>(hosts: impl IntoIterator<Item = &'a str>) -> Self {
        let hosts = hosts.into_iter();
        let mut index = HostIndex {
            exact: HashMap::with_capacity(hosts.size_hint().0),
            wildcard: HashMap::new(),
        };
        for (i, host) in hosts.enumerate() {
            let pattern = normalize_host(host);
            let (map, key) = match pattern.strip_prefix("*.") {
                Some(parent) => (&mut index.wildcard, parent.to_owned()),
                None => (&mut index.exact, pattern.into_owned()),
            };
            map.entry(key).or_insert(i);
        }
        index
    }

    /// The position of the service matching `request_host`, if any.
    pub fn lookup(&self, request_host: &str) -> Option<usize> {
        let host = normalize_host(request_host);
        if host.is_empty() {
            return None;
        }
        if let Some(&i) = self.exact.get(host.as_ref()) {
            return Some(i);
        }
        let (_, parent) = wildcard_parts(&host)?;
        self.wildcard.get(parent).copied()
    }

    /// True when no service is indexed.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.wildcard.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn svc(host: &str) -> Service {
        Service {
            host: host.to_owned(),
            ..Service::default()
        }
    }

    fn both(request: &str, services: &[Service]) -> Option<usize> {
        let linear = match_host(request, services);
        let indexed = HostIndex::build(services).lookup(request);
        assert_eq!(
            linear, indexed,
            "linear and indexed disagree on {request:?}"
        );
        linear
    }

    #[test]
    fn strip_port_cases() {
        let cases: &[(&str, &str)] = &[
            ("api.github.com", "api.github.com"),
            ("api.github.com:443", "api.github.com"),
            ("api.github.com:", "api.github.com"),
            ("api.github.com:abc", "api.github.com"),
            ("[::1]:443", "::1"),
            ("[::1]", "[::1]"),
            ("::1", "::1"),
            ("a:b:c", "a:b:c"),
            ("[::1]:4:4", "[::1]:4:4"),
            ("[a[b]:1", "[a[b]:1"),
            ("a]:1", "a]:1"),
            ("", ""),
            (":", ""),
            (":443", ""),
        ];
        for (input, want) in cases {
            assert_eq!(strip_port(input), *want, "{input:?}");
        }
    }

    #[test]
    fn table() {
        let services = vec![
            svc("api.github.com"),          // 0
            svc("*.github.com"),            // 1
            svc("API.Stripe.com"),          // 2
            svc("*.github.com"),            // 3 (shadowed by 1)
            svc("api.github.com"),          // 4 (shadowed by 0)
            svc("*.Example.ORG"),           // 5
            svc("legacy.example.com:8443"), // 6
            svc("*.co.uk"),                 // 7
        ];
        let cases: &[(&str, Option<usize>)] = &[
            ("api.github.com", Some(0)),
            ("API.GITHUB.COM", Some(0)),
            ("api.github.com:443", Some(0)),
            ("uploads.github.com", Some(1)),
            ("UPLOADS.github.com:8080", Some(1)),
            ("github.com", None),
            ("a.b.github.com", None),
            (".github.com", None),
            ("*.github.com", None),
            ("x*.github.com", None),
            ("api.stripe.com", Some(2)),
            ("www.example.org", Some(5)),
            ("example.org", None),
            ("legacy.example.com", Some(6)),
            ("legacy.example.com:1", Some(6)),
            ("bbc.co.uk", Some(7)),
            ("www.bbc.co.uk", None),
            // hostile
            ("", None),
            (".", None),
            ("..", None),
            ("...", None),
            ("api.github.com.", None),
            ("api..github.com", None),
            ("*.", None),
            ("*", None),
            (":443", None),
            ("[::1]:443", None),
            ("[::1]", None),
            ("::1", None),
            ("127.0.0.1", None),
            ("ápi.github.com", Some(1)),
            ("api.github.com\0", None),
            ("api.github.com/x", None),
            ("ａｐｉ.github.com", Some(1)),
        ];
        for (request, want) in cases {
            assert_eq!(both(request, &services), *want, "{request:?}");
        }
        let long = format!("{}.github.com", "a".repeat(100_000));
        assert_eq!(both(&long, &services), Some(1));
        let dots = ".".repeat(10_000);
        assert_eq!(both(&dots, &services), None);
    }

    #[test]
    fn exact_beats_earlier_wildcard() {
        let services = vec![svc("*.github.com"), svc("api.github.com")];
        assert_eq!(both("api.github.com", &services), Some(1));
        assert_eq!(both("raw.github.com", &services), Some(0));
    }

    #[test]
    fn degenerate_patterns() {
        // Patterns validation would refuse still behave predictably if stored by an old version.
        let services = vec![svc(""), svc("*"), svc("*."), svc("*..com")];
        assert_eq!(both("", &services), None);
        assert_eq!(both("*", &services), Some(1));
        assert_eq!(both("a.", &services), Some(2));
        assert_eq!(both("a..com", &services), Some(3));
        assert_eq!(both("anything", &[]), None);
        assert!(HostIndex::build(&[]).is_empty());
        let from_hosts = HostIndex::from_hosts(["*.a.com", "x.a.com"]);
        assert_eq!(from_hosts.lookup("x.a.com"), Some(1));
        assert_eq!(from_hosts.lookup("y.a.com"), Some(0));
    }

    proptest! {
        #[test]
        fn index_equals_linear(
            hosts in proptest::collection::vec("(\\*\\.)?[a-cA-C.]{0,6}(:[0-9]{1,2})?", 0..12),
            request in "[a-cA-C.*:\\[\\]0-9]{0,10}",
        ) {
            let services: Vec<Service> = hosts.iter().map(|h| svc(h)).collect();
            prop_assert_eq!(match_host(&request, &services), HostIndex::build(&services).lookup(&request));
        }

        #[test]
        fn never_panics(request in "\\PC{0,40}", host in "\\PC{0,40}") {
            let services = vec![svc(&host)];
            let _ = both(&request, &services);
        }

        #[test]
        fn matches_generated_hosts(label in "[a-z0-9]{1,10}", parent in "[a-z]{1,8}\\.[a-z]{2,4}", port in 1u16..) {
            let services = vec![svc(&format!("*.{parent}"))];
            let request = format!("{}.{}:{}", label.to_uppercase(), parent, port);
            prop_assert_eq!(both(&request, &services), Some(0));
        }
    }
}
