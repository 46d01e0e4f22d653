//! What `REDIS_URL` names: one server or a cluster.
//!
//! Accepted forms (documented in `docs/OPERATIONS.md`):
//! - `redis://[user:password@]host:port[/db]` — one server (or a proxy in front of several);
//! - `redis+cluster://[user:password@]host:port,host:port,...` — a Redis Cluster, given by any
//!   of its nodes (the client discovers the rest);
//! - `redis://host:port,redis://host:port,...` — the same cluster written as a list of URLs.

use redis::IntoConnectionInfo;

/// A parsed, checked `REDIS_URL`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedisTarget {
    Single(String),
    /// Seed nodes, each as a `redis://` URL.
    Cluster(Vec<String>),
}

impl RedisTarget {
    /// Checks the syntax only (no connection is made, so an unreachable Redis never stops
    /// start-up). The error says what is wrong, without echoing a password.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if let Some(rest) = raw.strip_prefix("redis+cluster://") {
            let (auth, hosts) = match rest.rsplit_once('@') {
                Some((auth, hosts)) => (format!("{auth}@"), hosts),
                None => (String::new(), rest),
            };
            let nodes = hosts
                .trim_end_matches('/')
                .split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(|h| format!("redis://{auth}{h}"))
                .collect::<Vec<_>>();
            return Self::cluster(nodes);
        }
        if raw.contains(',') {
            let nodes = raw.split(',').map(|u| u.trim().to_owned()).collect();
            return Self::cluster(nodes);
        }
        check_node(raw)?;
        Ok(RedisTarget::Single(raw.to_owned()))
    }

    fn cluster(nodes: Vec<String>) -> Result<Self, String> {
        if nodes.is_empty() {
            return Err("a cluster URL needs at least one host:port".into());
        }
        for node in &nodes {
            check_node(node)?;
        }
        Ok(RedisTarget::Cluster(nodes))
    }

    /// The URLs a subscriber may connect to: pub/sub messages published on any node of a
    /// cluster reach subscribers on every node, so any one of them will do.
    pub fn nodes(&self) -> &[String] {
        match self {
            RedisTarget::Single(url) => std::slice::from_ref(url),
            RedisTarget::Cluster(nodes) => nodes,
        }
    }
}

fn check_node(url: &str) -> Result<(), String> {
    if !url.starts_with("redis://") {
        let scheme = url.split("://").next().unwrap_or_default();
        return Err(format!(
            "unsupported scheme {scheme:?}; use redis://host:port or redis+cluster://host:port,host:port (TLS is not in this build)"
        ));
    }
    url.into_connection_info()
        .map(|_| ())
        .map_err(|e| format!("not a valid Redis URL ({})", e.kind_name()))
}

trait KindName {
    fn kind_name(&self) -> String;
}

impl KindName for redis::RedisError {
    /// Only the error's category: its detail could quote the URL, password included.
    fn kind_name(&self) -> String {
        format!("{:?}", self.kind())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_cluster_forms() {
        assert_eq!(
            RedisTarget::parse("redis://127.0.0.1:6379").unwrap(),
            RedisTarget::Single("redis://127.0.0.1:6379".into())
        );
        let c = RedisTarget::parse("redis+cluster://u:p@10.0.0.1:7000,10.0.0.2:7001/").unwrap();
        assert_eq!(
            c.nodes(),
            ["redis://u:p@10.0.0.1:7000", "redis://u:p@10.0.0.2:7001"]
        );
        let l = RedisTarget::parse("redis://a:7000, redis://b:7001").unwrap();
        assert_eq!(l.nodes().len(), 2);
    }

    #[test]
    fn bad_urls_are_refused() {
        for bad in [
            "localhost:6379",
            "http://x",
            "rediss://x:1",
            "redis+cluster://",
            "redis://:bad:port:x",
        ] {
            assert!(RedisTarget::parse(bad).is_err(), "{bad}");
        }
    }
}
