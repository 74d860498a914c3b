//! In-memory sliding-window rate limits (per client IP or per email), as in the reference:
//! only admitted attempts are recorded, and the key map is capped so a flood of distinct keys
//! cannot grow memory without bound.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MAX_KEYS: usize = 10_000;

/// A sliding-window limiter: at most `max` admissions per key within `window`.
#[derive(Debug)]
pub struct Limiter {
    max: usize,
    window: Duration,
    hits: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Limiter {
    /// A limiter admitting `max` attempts per `window`.
    pub fn new(max: usize, window: Duration) -> Self {
        Limiter {
            max,
            window,
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// The reference's standard window: `max` per 5 minutes.
    pub fn per_5min(max: usize) -> Self {
        Self::new(max, Duration::from_secs(300))
    }

    /// Admits (and records) one attempt for `key`, or refuses it.
    pub fn allow(&self, key: &str) -> bool {
        let now = Instant::now();
        let mut hits = self.hits.lock().unwrap_or_else(|p| p.into_inner());
        if hits.len() >= MAX_KEYS && !hits.contains_key(key) {
            let window = self.window;
            hits.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < window));
            if hits.len() >= MAX_KEYS {
                if let Some(k) = hits.keys().next().cloned() {
                    hits.remove(&k);
                }
            }
        }
        let q = hits.entry(key.to_string()).or_default();
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            q.pop_front();
        }
        if q.len() >= self.max {
            return false;
        }
        q.push_back(now);
        true
    }
}

/// A failure counter per key that only a success resets (verification and reset codes).
#[derive(Debug, Default)]
pub struct FailureCounter {
    counts: Mutex<HashMap<String, u32>>,
}

impl FailureCounter {
    /// Current failures for `key`.
    pub fn get(&self, key: &str) -> u32 {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.get(key).copied().unwrap_or(0)
    }
    /// Records one failure.
    pub fn fail(&self, key: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if counts.len() >= MAX_KEYS && !counts.contains_key(key) {
            if let Some(k) = counts.keys().next().cloned() {
                counts.remove(&k);
            }
        }
        *counts.entry(key.to_string()).or_insert(0) += 1;
    }
    /// Clears `key` after a success.
    pub fn reset(&self, key: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.remove(key);
    }
}

/// A trusted proxy network (`AGENT_VAULT_TRUSTED_PROXIES` entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `10.0.0.0/8`, `::1/128` or a bare IP (a /32 or /128).
    pub fn parse(s: &str) -> Option<Cidr> {
        let s = s.trim();
        let (ip, prefix) = match s.split_once('/') {
            Some((ip, p)) => (ip.parse::<IpAddr>().ok()?, p.parse::<u8>().ok()?),
            None => {
                let ip = s.parse::<IpAddr>().ok()?;
                (ip, if ip.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if ip.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { addr: ip, prefix })
    }

    /// Whether `ip` lies inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn masked(bits: u128, prefix: u8, width: u8) -> u128 {
            if prefix == 0 {
                0
            } else {
                bits >> (width - prefix)
            }
        }
        match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                masked(u32::from(a) as u128, self.prefix, 32)
                    == masked(u32::from(b) as u128, self.prefix, 32)
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                masked(u128::from(a), self.prefix, 128) == masked(u128::from(b), self.prefix, 128)
            }
            _ => false,
        }
    }
}

/// The client IP used as a rate-limit key: the peer address, or, when the peer is a trusted
/// proxy, the right-most non-empty `X-Forwarded-For` entry.
pub fn client_ip(peer: Option<SocketAddr>, xff: Option<&str>, trusted: &[Cidr]) -> String {
    let Some(peer) = peer else {
        return "unknown".into();
    };
    if trusted.iter().any(|c| c.contains(peer.ip())) {
        if let Some(ip) = xff.and_then(|h| h.split(',').map(str::trim).rfind(|s| !s.is_empty())) {
            return ip.to_string();
        }
    }
    peer.ip().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_admits_up_to_max_then_refuses() {
        let l = Limiter::per_5min(2);
        assert!(l.allow("a"));
        assert!(l.allow("a"));
        assert!(!l.allow("a"));
        assert!(l.allow("b"));
    }

    #[test]
    fn limiter_window_slides() {
        let l = Limiter::new(1, Duration::from_millis(30));
        assert!(l.allow("a"));
        assert!(!l.allow("a"));
        std::thread::sleep(Duration::from_millis(40));
        assert!(l.allow("a"));
    }

    #[test]
    fn limiter_key_map_is_capped() {
        let l = Limiter::per_5min(1);
        for i in 0..(MAX_KEYS + 10) {
            l.allow(&i.to_string());
        }
        assert!(l.hits.lock().unwrap().len() <= MAX_KEYS);
    }

    #[test]
    fn cidrs_and_client_ip() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains("10.1.2.3".parse().unwrap()));
        assert!(!c.contains("11.1.2.3".parse().unwrap()));
        assert!(Cidr::parse("1.2.3.4/33").is_none());
        assert!(Cidr::parse("nonsense").is_none());
        let any = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(any.contains("8.8.8.8".parse().unwrap()));
        let peer: SocketAddr = "10.0.0.1:5555".parse().unwrap();
        assert_eq!(
            client_ip(Some(peer), Some("1.1.1.1, 2.2.2.2"), &[c]),
            "2.2.2.2"
        );
        assert_eq!(client_ip(Some(peer), Some("1.1.1.1"), &[]), "10.0.0.1");
        assert_eq!(client_ip(Some(peer), Some(" , "), &[c]), "10.0.0.1");
    }

    #[test]
    fn failure_counter() {
        let f = FailureCounter::default();
        f.fail("x");
        f.fail("x");
        assert_eq!(f.get("x"), 2);
        f.reset("x");
        assert_eq!(f.get("x"), 0);
    }
}
