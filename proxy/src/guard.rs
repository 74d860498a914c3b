//! The network guard (reference §6.4): which upstream addresses the proxy may dial.
//!
//! Cloud metadata endpoints are always blocked; public mode also blocks private, loopback,
//! link-local and CGNAT ranges. IPv4-mapped IPv6 addresses are judged as their IPv4 form.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::NetworkMode;

/// Whether dialing `ip` is refused in `mode`.
pub fn blocked(ip: IpAddr, mode: NetworkMode) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => blocked_v4(v4, mode),
        IpAddr::V6(v6) => blocked_v6(v6, mode),
    }
}

fn blocked_v4(ip: Ipv4Addr, mode: NetworkMode) -> bool {
    if ip == Ipv4Addr::new(169, 254, 169, 254) {
        return true;
    }
    if mode == NetworkMode::Private {
        return false;
    }
    let [a, b, _, _] = ip.octets();
    a == 10
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || a == 127
        || (a == 169 && b == 254)
        || (a == 100 && (64..128).contains(&b))
        || ip == Ipv4Addr::UNSPECIFIED
}

fn blocked_v6(ip: Ipv6Addr, mode: NetworkMode) -> bool {
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        return true;
    }
    if mode == NetworkMode::Private {
        return false;
    }
    let first = ip.segments()[0];
    ip == Ipv6Addr::LOCALHOST || (first & 0xffc0) == 0xfe80 || (first & 0xfe00) == 0xfc00
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ip: &str, mode: NetworkMode) -> bool {
        blocked(ip.parse().unwrap(), mode)
    }

    #[test]
    fn reference_ranges() {
        use NetworkMode::{Private, Public};
        for ip in ["169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254"] {
            assert!(check(ip, Private) && check(ip, Public), "{ip}");
        }
        for ip in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "::1",
            "fe80::1",
            "fc00::1",
            "fdff::1",
            "0.0.0.0",
            "::ffff:10.0.0.1",
        ] {
            assert!(check(ip, Public), "{ip}");
            assert!(!check(ip, Private), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "0.1.2.3",
            "::",
            "2606:4700::1",
        ] {
            assert!(!check(ip, Public), "{ip}");
        }
    }
}
