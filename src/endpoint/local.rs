//! Which hosts are this machine (loopback) or its link (link-local), decided here alone:
//! plain HTTP is allowed to loopback, the node-local credentials agents may be asked over
//! plain HTTP on either, neither is ever proxied, and a watch's database on loopback needs
//! no TLS.
//!
//! A host is judged by what it says, never by what it resolves to: `localhost` (any case,
//! with or without the final dot, as RFC 6761 reserves it) and the loopback and link-local
//! addresses, IPv4-mapped ones included. A name that merely resolves to one
//! (`127.0.0.1.nip.io`) is resolved elsewhere, by a server that could answer otherwise.

use std::net::{IpAddr, Ipv6Addr};

use url::Host;

/// The hosts [`node_local`] accepts, in `NO_PROXY`'s words (names, addresses and CIDR
/// blocks), for the proxy settings; a test holds the two to agreement.
pub(crate) const NEVER_PROXIED: &str = "localhost,localhost.,127.0.0.0/8,::1,\
     ::ffff:127.0.0.0/104,169.254.0.0/16,::ffff:169.254.0.0/112,fe80::/10,fd00:ec2::/32";

/// Whether `url` names this machine: `localhost` or a loopback address. Unparsable text is
/// not.
pub fn is_loopback(url: &str) -> bool {
    url::Url::parse(url)
        .ok()
        .is_some_and(|url| url.host().is_some_and(|host| loopback(&host)))
}

/// Whether a bare host name or address (`::1` or `[::1]`, `localhost`) is this machine.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))] // the fleet's database URLs
pub(crate) fn loopback_name(name: &str) -> bool {
    match name.trim_matches(['[', ']']).parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => loopback(&Host::Ipv4(ip)),
        Ok(IpAddr::V6(ip)) => loopback(&Host::Ipv6(ip)),
        Err(_) => loopback(&Host::Domain(name)),
    }
}

/// Whether `host` is this machine.
pub(crate) fn loopback(host: &Host<&str>) -> bool {
    match ip(host) {
        Some(ip) => ip.is_loopback(),
        None => matches!(host, Host::Domain(name) if is_localhost(name)),
    }
}

/// Whether `host` is this machine or its link: loopback, link-local (169.254.0.0/16,
/// fe80::/10), or the fd00:ec2::/32 block where cloud agents answer on IPv6.
pub(crate) fn node_local(host: &Host<&str>) -> bool {
    let agents = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0);
    loopback(host)
        || match ip(host) {
            Some(IpAddr::V4(ip)) => ip.is_link_local(),
            Some(IpAddr::V6(ip)) => {
                ip.is_unicast_link_local() || ip.segments()[..2] == agents.segments()[..2]
            }
            None => false,
        }
}

/// The address a host names, IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`) as IPv4.
fn ip(host: &Host<&str>) -> Option<IpAddr> {
    match host {
        Host::Domain(_) => None,
        Host::Ipv4(ip) => Some(IpAddr::V4(*ip)),
        Host::Ipv6(ip) => Some(ip.to_ipv4_mapped().map_or(IpAddr::V6(*ip), IpAddr::V4)),
    }
}

fn is_localhost(name: &str) -> bool {
    name.strip_suffix('.')
        .unwrap_or(name)
        .eq_ignore_ascii_case("localhost")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Hosts as a URL gives them, whether each is loopback, and whether node-local.
    pub(crate) const TABLE: &[(&str, bool, bool)] = &[
        ("localhost", true, true),
        ("LOCALHOST", true, true),
        ("localhost.", true, true),
        ("127.0.0.1", true, true),
        ("127.0.0.2", true, true),
        ("[::1]", true, true),
        ("[::ffff:127.0.0.1]", true, true),
        ("169.254.169.254", false, true),
        ("[::ffff:169.254.169.254]", false, true),
        ("[fe80::1]", false, true),
        ("[fd00:ec2::254]", false, true),
        ("127.0.0.1.nip.io", false, false),
        ("localhost.example.com", false, false),
        ("mylocalhost", false, false),
        ("10.0.0.1", false, false),
        ("[fd00:ec3::1]", false, false),
        ("[::ffff:10.0.0.1]", false, false),
        ("iam.cn-north-4.myhuaweicloud.com", false, false),
    ];

    #[test]
    fn each_host_is_judged_by_what_it_says() {
        for (host, is_loopback_host, is_node_local) in TABLE {
            let url = format!("http://{host}:8080/path");
            let parsed = url::Url::parse(&url).unwrap();
            let parsed_host = parsed.host().unwrap();
            assert_eq!(loopback(&parsed_host), *is_loopback_host, "{host}");
            assert_eq!(is_loopback(&url), *is_loopback_host, "{host}");
            assert_eq!(node_local(&parsed_host), *is_node_local, "{host}");
            assert_eq!(loopback_name(host), *is_loopback_host, "{host}");
        }
        assert!(loopback_name("::1") && loopback_name("::ffff:127.0.0.1"));
        assert!(!is_loopback("not a url"));
    }
}
