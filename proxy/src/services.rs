//! A vault's services as the proxy holds them: the store's host index (O(1) matching, see
//! `av_store::hostmatch`) beside each rule's compiled auth, built once per services change.

use av_store::hostmatch::HostIndex;
use av_store::services::{CompiledAuth, Service};

/// The stored services JSON does not parse, or names an unsupported auth type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unparseable;

/// A vault's compiled services.
#[derive(Clone, Debug, Default)]
pub struct Services {
    auths: Vec<CompiledAuth>,
    index: HostIndex,
}

impl Services {
    /// Compiles the stored `services_json` (`null` = no services). `Err` when it does not
    /// parse or names an unsupported auth type (validation never stores one).
    pub fn parse(json: &str) -> Result<Services, Unparseable> {
        let stored: Option<Vec<Service>> = serde_json::from_str(json).map_err(|_| Unparseable)?;
        let stored = stored.unwrap_or_default();
        let auths = stored
            .iter()
            .map(|s| s.auth.compile().ok_or(Unparseable))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Services {
            index: HostIndex::build(&stored),
            auths,
        })
    }

    /// The auth of the service matching `host` (given without its port).
    pub fn find(&self, host: &str) -> Option<&CompiledAuth> {
        self.auths.get(self.index.lookup(host)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_through_the_store_index() {
        let s = Services::parse(
            r#"[{"host":"*.github.com","auth":{"type":"bearer","token":"A"}},
                {"host":"api.stripe.com","auth":{"type":"bearer","token":"C"}}]"#,
        )
        .unwrap();
        assert_eq!(
            s.find("api.github.com"),
            Some(&CompiledAuth::Bearer { token: "A".into() })
        );
        assert!(s.find("github.com").is_none());
        assert!(s.find("a.b.github.com").is_none());
        assert!(s.find("api.stripe.com").is_some());
        assert!(Services::parse("null").unwrap().find("a").is_none());
        assert!(Services::parse("{").is_err());
        assert!(Services::parse(r#"[{"host":"a","auth":{"type":"magic"}}]"#).is_err());
    }
}
