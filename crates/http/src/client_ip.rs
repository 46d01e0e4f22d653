//! Who the client is, believing forwarding headers only from proxies we were told to trust.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap};
use ipnet::IpNet;

/// `TRUSTED_PROXIES`: addresses or CIDR ranges whose `X-Forwarded-For` / `X-Real-IP` we believe.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses a comma list such as `127.0.0.1, 10.0.0.0/8, ::1`.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let net = IpNet::from_str(item)
                .or_else(|_| IpAddr::from_str(item).map(IpNet::from))
                .map_err(|_| format!("{item:?} is not an IP address or CIDR range"))?;
            nets.push(net);
        }
        Ok(TrustedProxies(nets))
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The client's address: the peer, unless the peer is a trusted proxy. Then
    /// `X-Forwarded-For` is walked strictly from the right, each entry having been appended by
    /// the hop to its right: trusted proxies are passed over, and the first entry that is not a
    /// trusted proxy is the client. An entry that does not parse ends the walk too (what lies
    /// left of it was written by nobody we trust); the client is then the trusted hop that
    /// passed it on, so a forger shares that proxy's budget instead of choosing a key. With no
    /// `X-Forwarded-For`, `X-Real-IP`; with every entry a trusted proxy, the left-most.
    pub fn client_ip(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer.ip());
        if !self.trusts(peer) {
            return peer;
        }
        let entries: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .flat_map(|v| v.to_str().map_or(vec![""], |v| v.split(',').collect()))
            .map(str::trim)
            .collect();
        if entries.is_empty() {
            return headers
                .get("x-real-ip")
                .and_then(|v| v.to_str().ok())
                .and_then(|s| IpAddr::from_str(s.trim()).ok())
                .map_or(peer, canonical);
        }
        let mut hop = peer;
        for entry in entries.iter().rev() {
            let Ok(ip) = IpAddr::from_str(entry) else {
                return hop;
            };
            let ip = canonical(ip);
            if !self.trusts(ip) {
                return ip;
            }
            hop = ip;
        }
        hop
    }

    /// The rate-limit key of the client: its address, or for IPv6 its /64. One subscriber is
    /// usually given a whole /64, so keying per /128 would hand each client 2^64 budgets.
    pub fn client_key(&self, peer: SocketAddr, headers: &HeaderMap) -> ClientKey {
        match self.client_ip(peer, headers) {
            IpAddr::V4(v4) => ClientKey::V4(v4),
            IpAddr::V6(v6) => ClientKey::V6Net(Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
        }
    }
}

impl TrustedProxies {
    /// [`TrustedProxies::client_key`] of a request, from its peer address (which the server
    /// records as `ConnectInfo`; a request without one, in a test harness, is the unspecified
    /// address) and its headers.
    pub fn request_client_key(&self, extensions: &Extensions, headers: &HeaderMap) -> ClientKey {
        let peer = extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0), |c| {
                c.0
            });
        self.client_key(peer, headers)
    }
}

/// What the rate limiter keys an anonymous client by; its `Display` is the key text
/// (`ip:198.51.100.7`, `ip:2001:db8:1:2::/64`), written without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientKey {
    V4(Ipv4Addr),
    /// The /64 network, host bits zero.
    V6Net(Ipv6Addr),
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientKey::V4(a) => write!(f, "ip:{a}"),
            ClientKey::V6Net(a) => write!(f, "ip:{a}/64"),
        }
    }
}

/// `::ffff:1.2.3.4` and `1.2.3.4` are one client.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(xff).unwrap());
        h
    }

    #[test]
    fn untrusted_peers_cannot_forge_their_address() {
        let proxies = TrustedProxies::parse("").unwrap();
        let peer: SocketAddr = "203.0.113.9:5000".parse().unwrap();
        assert_eq!(proxies.client_ip(peer, &headers("1.1.1.1")), peer.ip());
    }

    #[test]
    fn trusted_proxy_forwards_the_rightmost_untrusted_address() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1").unwrap();
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let ip = proxies.client_ip(peer, &headers("6.6.6.6, 198.51.100.7, 10.1.2.3"));
        assert_eq!(ip, "198.51.100.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn real_ip_is_used_without_forwarded_for() {
        let proxies = TrustedProxies::parse("127.0.0.1").unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-real-ip", HeaderValue::from_static("198.51.100.8"));
        let ip = proxies.client_ip("127.0.0.1:1".parse().unwrap(), &h);
        assert_eq!(ip, "198.51.100.8".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn an_entry_that_does_not_parse_ends_the_walk_at_the_trusted_hop() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1").unwrap();
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        // The client forged "6.6.6.6, garbage": the walk must not go on into its values.
        let ip = proxies.client_ip(peer, &headers("6.6.6.6, garbage, 10.1.2.3"));
        assert_eq!(ip, "10.1.2.3".parse::<IpAddr>().unwrap());
        let ip = proxies.client_ip(peer, &headers("6.6.6.6, not-an-ip"));
        assert_eq!(ip, peer.ip());
        // An empty entry is no address either.
        let ip = proxies.client_ip(peer, &headers("6.6.6.6,,10.1.2.3"));
        assert_eq!(ip, "10.1.2.3".parse::<IpAddr>().unwrap());
        // Every hop trusted: the left-most is the client.
        let ip = proxies.client_ip(peer, &headers("10.9.9.9, 10.1.2.3"));
        assert_eq!(ip, "10.9.9.9".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_slash_64() {
        let proxies = TrustedProxies::parse("").unwrap();
        let key = |a: &str| {
            proxies
                .client_key(a.parse().unwrap(), &HeaderMap::new())
                .to_string()
        };
        assert_eq!(
            key("[2001:db8:1:2:aaaa::1]:1"),
            key("[2001:db8:1:2:ffff::9]:2")
        );
        assert_eq!(key("[2001:db8:1:2::1]:1"), "ip:2001:db8:1:2::/64");
        assert_ne!(key("[2001:db8:1:2::1]:1"), key("[2001:db8:1:3::1]:1"));
        assert_eq!(key("198.51.100.7:1"), "ip:198.51.100.7");
        // An IPv4-mapped address is the IPv4 client, not a /64.
        assert_eq!(key("[::ffff:198.51.100.7]:1"), "ip:198.51.100.7");
    }

    #[test]
    fn bad_entries_are_reported() {
        assert!(TrustedProxies::parse("10.0.0.0/8, nonsense").is_err());
        assert!(TrustedProxies::parse("::1, 192.168.0.0/16").is_ok());
    }
}
