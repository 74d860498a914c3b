//! Timestamps. Stored as UTC `YYYY-MM-DD HH:MM:SS` so SQL compares them lexically;
//! rendered as RFC 3339 UTC (`2026-04-15T10:00:00Z`) in every API response.

use chrono::{DateTime, NaiveDateTime, Utc};

const DB_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// Now, in the stored format.
pub fn now() -> String {
    Utc::now().format(DB_FORMAT).to_string()
}

/// Now plus `seconds` (may be negative), in the stored format.
pub fn in_seconds(seconds: i64) -> String {
    (Utc::now() + chrono::Duration::seconds(seconds))
        .format(DB_FORMAT)
        .to_string()
}

/// A stored timestamp as RFC 3339 UTC. Text that is not a stored timestamp is returned as is.
pub fn rfc3339(stored: &str) -> String {
    match NaiveDateTime::parse_from_str(stored, DB_FORMAT) {
        Ok(t) => t.and_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => stored.to_string(),
    }
}

/// An optional stored timestamp as RFC 3339.
pub fn rfc3339_opt(stored: Option<&str>) -> Option<String> {
    stored.map(rfc3339)
}

/// Parses a stored timestamp.
pub fn parse(stored: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(stored, DB_FORMAT)
        .ok()
        .map(|t| t.and_utc())
}

/// Seconds since the Unix epoch of a stored timestamp (for in-memory expiry checks).
pub fn unix(stored: &str) -> Option<i64> {
    parse(stored).map(|t| t.timestamp())
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> i64 {
    Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_rfc3339() {
        assert_eq!(rfc3339("2026-04-15 10:00:00"), "2026-04-15T10:00:00Z");
        assert_eq!(rfc3339("garbage"), "garbage");
    }

    #[test]
    fn stored_format_sorts_like_time() {
        let a = in_seconds(-10);
        let b = now();
        let c = in_seconds(10);
        assert!(a < b && b < c);
        assert_eq!(unix(&b).map(|t| (t - unix_now()).abs() <= 1), Some(true));
    }
}
