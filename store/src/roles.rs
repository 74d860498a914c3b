//! Instance roles (`owner`/`member`) and vault roles (`proxy` < `member` < `admin`).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Role of a user or agent across the whole instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstanceRole {
    /// May manage every user, agent and vault (but has no implicit vault access).
    Owner,
    /// Sees only what its vault grants allow.
    Member,
}

impl InstanceRole {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Member => "member",
        }
    }
}

impl FromStr for InstanceRole {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "owner" => Ok(Self::Owner),
            "member" => Ok(Self::Member),
            _ => Err(()),
        }
    }
}

impl fmt::Display for InstanceRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Role within one vault. Ordered: `Proxy < Member < Admin`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VaultRole {
    /// May proxy requests and raise proposals.
    Proxy,
    /// May also read and manage credentials and services, and review proposals.
    Member,
    /// May also manage the vault's people and agents.
    Admin,
}

impl VaultRole {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Proxy => "proxy",
            Self::Member => "member",
            Self::Admin => "admin",
        }
    }
}

impl FromStr for VaultRole {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "proxy" => Ok(Self::Proxy),
            "member" => Ok(Self::Member),
            "admin" => Ok(Self::Admin),
            _ => Err(()),
        }
    }
}

impl fmt::Display for VaultRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_roles_are_ordered() {
        assert!(VaultRole::Proxy < VaultRole::Member && VaultRole::Member < VaultRole::Admin);
        assert_eq!("admin".parse(), Ok(VaultRole::Admin));
        assert!("Admin".parse::<VaultRole>().is_err());
        assert!("".parse::<InstanceRole>().is_err());
    }
}
