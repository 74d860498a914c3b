//! Parsing `/proxy/<host>[:port]/<path>?<query>` from the raw request target.
//!
//! The host is validated before anything else (reference §4.15 step 3, plus non-ASCII), and
//! the rest of the target is kept as raw bytes so the upstream receives the agent's path and
//! query byte for byte, percent-encoding included.

use crate::reply::Reject;

const PREFIX: &[u8] = b"/proxy";

/// Where the agent wants to go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `host[:port]` exactly as the agent wrote it (messages, hints).
    pub raw: String,
    /// The host without the port (matching, DNS, SNI).
    pub host: String,
    /// The port to dial (443 when absent or empty).
    pub port: u16,
    /// Origin-form request target for the upstream: the agent's path and query, starting with `/`.
    pub path: Vec<u8>,
}

impl Target {
    /// The `Host` header value: the host, plus the port unless it is the default 443.
    pub fn host_header(&self) -> String {
        if self.port == 443 {
            return self.host.clone();
        }
        // `raw` already reads `host:port` unless the agent wrote the port with leading zeros.
        match self.raw.rsplit_once(':') {
            Some((_, digits)) if !digits.starts_with('0') => self.raw.clone(),
            _ => format!("{}:{}", self.host, self.port),
        }
    }
}

/// What a request target asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// Not under `/proxy/`: this port serves nothing else.
    Elsewhere,
    /// A proxy request with a valid target.
    Proxy(Target),
    /// A proxy request whose target host is missing or invalid.
    Invalid(Reject),
}

/// Splits a raw request target (origin-form) into the proxy target.
pub fn parse(raw: &[u8]) -> Route {
    let Some(rest) = raw.strip_prefix(PREFIX) else {
        return Route::Elsewhere;
    };
    let rest = match rest.first() {
        None | Some(b'?') => return Route::Invalid(missing_host()),
        Some(b'/') => &rest[1..],
        Some(_) => return Route::Elsewhere,
    };
    let end = rest
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(rest.len());
    let (host, tail) = rest.split_at(end);
    if host.is_empty() {
        return Route::Invalid(missing_host());
    }
    let Some((name, port)) = validate_host(host) else {
        return Route::Invalid(invalid_host());
    };
    let mut path = Vec::with_capacity(tail.len() + 1);
    if tail.first() != Some(&b'/') {
        path.push(b'/');
    }
    path.extend_from_slice(tail);
    Route::Proxy(Target {
        raw: String::from_utf8_lossy(host).into_owned(),
        host: name.to_owned(),
        port,
        path,
    })
}

/// Reference host rules: after the last `:` only digits (possibly none); before it a non-empty
/// name without `@ ? # / \ space %`, control characters or (our addition) non-ASCII bytes.
fn validate_host(raw: &[u8]) -> Option<(&str, u16)> {
    let text = std::str::from_utf8(raw).ok()?;
    let (name, port) = match text.rfind(':') {
        Some(i) => {
            let digits = &text[i + 1..];
            if !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let port = if digits.is_empty() {
                443
            } else {
                digits.parse::<u16>().ok()?
            };
            (&text[..i], port)
        }
        None => (text, 443),
    };
    let bad = |b: u8| {
        matches!(b, b'@' | b'?' | b'#' | b'/' | b'\\' | b' ' | b'%') || !(0x20..0x7f).contains(&b)
    };
    if name.is_empty() || name.bytes().any(bad) {
        return None;
    }
    Some((name, port))
}

fn missing_host() -> Reject {
    Reject::coded(400, "bad_request", "Missing target host in proxy URL")
}

fn invalid_host() -> Reject {
    Reject::coded(400, "bad_request", "Invalid target host")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn target(raw: &str) -> Target {
        match parse(raw.as_bytes()) {
            Route::Proxy(t) => t,
            other => panic!("{raw}: {other:?}"),
        }
    }

    fn invalid(raw: &str) -> String {
        match parse(raw.as_bytes()) {
            Route::Invalid(r) => {
                let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                v["message"].as_str().unwrap().to_owned()
            }
            other => panic!("{raw}: {other:?}"),
        }
    }

    #[test]
    fn splits_host_path_and_query_byte_exact() {
        let t = target("/proxy/api.github.com/repos/a%2Fb/x%20y?q=%2F&x=1");
        assert_eq!(t.host, "api.github.com");
        assert_eq!(t.port, 443);
        assert_eq!(t.raw, "api.github.com");
        assert_eq!(t.path, b"/repos/a%2Fb/x%20y?q=%2F&x=1");
        assert_eq!(t.host_header(), "api.github.com");

        let t = target("/proxy/localhost:8443");
        assert_eq!((t.host.as_str(), t.port), ("localhost", 8443));
        assert_eq!(t.path, b"/");
        assert_eq!(t.host_header(), "localhost:8443");

        let t = target("/proxy/h.example:443?x=1");
        assert_eq!(t.path, b"/?x=1");
        assert_eq!(t.raw, "h.example:443");
        assert_eq!(t.host_header(), "h.example");

        let t = target("/proxy/h.example:08080/x");
        assert_eq!(t.host_header(), "h.example:8080");

        let t = target("/proxy/h.example:/a//b/../c");
        assert_eq!(t.port, 443);
        assert_eq!(t.path, b"/a//b/../c");
    }

    #[test]
    fn rejects_bad_hosts() {
        for raw in [
            "/proxy/user@host/x",
            "/proxy/ho%2Fst/x",
            "/proxy/host:abc/x",
            "/proxy/host:99999/x",
            "/proxy/:443/x",
            "/proxy/ho\\st/x",
            "/proxy/ho#st/x",
            "/proxy/ho\x01st/x",
            "/proxy/hö/x",
        ] {
            assert_eq!(invalid(raw), "Invalid target host", "{raw}");
        }
        for raw in ["/proxy", "/proxy/", "/proxy//x", "/proxy/?x=1", "/proxy?x"] {
            assert_eq!(invalid(raw), "Missing target host in proxy URL", "{raw}");
        }
    }

    #[test]
    fn other_paths_are_elsewhere() {
        for raw in ["/", "/v1/status", "/proxyx/a", "/health", "*"] {
            assert_eq!(parse(raw.as_bytes()), Route::Elsewhere, "{raw}");
        }
    }

    proptest! {
        #[test]
        fn never_panics_and_keeps_the_tail(raw in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut input = b"/proxy/".to_vec();
            input.extend_from_slice(&raw);
            if let Route::Proxy(t) = parse(&input) {
                prop_assert!(t.path.starts_with(b"/"));
                prop_assert!(input.ends_with(t.path.strip_prefix(b"/").unwrap_or(&t.path)));
                prop_assert!(!t.host.is_empty());
                prop_assert!(t.host.bytes().all(|b| (0x21..0x7f).contains(&b) && b != b'%' && b != b'@'));
            }
        }

        #[test]
        fn arbitrary_targets_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&raw);
        }
    }
}
