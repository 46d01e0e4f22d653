//! One handle on Redis shared by the cache, the limiter and the probe: a lazily made
//! connection, a timeout on every call and the circuit breaker that makes degraded mode.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use domain::StoreError;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, RedisFuture, RedisResult, Value};

use crate::breaker::{Breaker, Permit};
use crate::target::RedisTarget;

/// Invalidations that could not reach Redis are kept to be replayed when it returns; beyond
/// this many, the oldest information is lost and the L1 TTL cap is the only backstop.
const MAX_PENDING: usize = 10_000;

/// Idle connections kept for blocking reads; more readers than this at once open (and then
/// close) their own.
const MAX_IDLE_BLOCKING: usize = 16;

/// Tuning for [`RedisShared`].
#[derive(Clone, Debug)]
pub struct RedisOptions {
    /// Prefix of every key and of the invalidation channel; must not contain `{` or `}`
    /// (they would change which cluster slot a key hashes to).
    pub key_prefix: String,
    /// Bound on each Redis call, connecting included.
    pub timeout: Duration,
    /// Consecutive failures that open the circuit breaker.
    pub breaker_threshold: u32,
    /// How long the breaker stays open before one call probes Redis again.
    pub breaker_cool_down: Duration,
    /// Longest a write waits for every instance to acknowledge its invalidation (never more
    /// than `timeout`); past it the write answers anyway, and the L1 TTL cap bounds staleness.
    pub ack_timeout: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            key_prefix: "ss:".into(),
            timeout: Duration::from_millis(250),
            breaker_threshold: 3,
            breaker_cool_down: Duration::from_secs(1),
            ack_timeout: Duration::from_millis(100),
        }
    }
}

/// A connection to one server or to a cluster; both are cheap clones of a multiplexed handle.
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// Why a call did not happen or did not succeed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The breaker is open (or a connection is being made): Redis was not asked.
    Skipped,
    Failed(String),
}

impl From<Failure> for StoreError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Skipped => StoreError::Unavailable("redis: degraded mode".into()),
            Failure::Failed(e) => StoreError::Unavailable(format!("redis: {e}")),
        }
    }
}

/// The shared Redis handle. Cheap to share behind an `Arc`.
pub struct RedisShared {
    target: RedisTarget,
    options: RedisOptions,
    /// A std mutex: held only to clone or store the handle, never across an `.await`.
    conn: Mutex<Option<Conn>>,
    /// One connection attempt at a time; callers that find one in progress skip Redis
    /// instead of queueing behind it.
    connecting: tokio::sync::Mutex<()>,
    breaker: Breaker,
    /// Connections for blocking reads (`XREADGROUP ... BLOCK`), one per read in flight: a
    /// blocked command holds up every later command on its connection, so it never goes over
    /// the shared one.
    blocking: Mutex<Vec<Conn>>,
    pending: Mutex<HashSet<String>>,
    /// Tells this instance's own invalidation messages from other instances'.
    pub(crate) instance: String,
}

impl RedisShared {
    /// No connection is made here: an unreachable Redis must not stop start-up.
    pub fn new(target: RedisTarget, options: RedisOptions) -> Self {
        let breaker = Breaker::new(options.breaker_threshold, options.breaker_cool_down);
        RedisShared {
            target,
            options,
            conn: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            breaker,
            blocking: Mutex::new(Vec::new()),
            pending: Mutex::new(HashSet::new()),
            instance: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    pub fn target(&self) -> &RedisTarget {
        &self.target
    }

    pub fn prefix(&self) -> &str {
        &self.options.key_prefix
    }

    pub fn timeout(&self) -> Duration {
        self.options.timeout
    }

    /// The pub/sub channel of cache invalidations.
    pub fn channel(&self) -> String {
        format!("{}invalidate", self.options.key_prefix)
    }

    /// The pub/sub channel on which instances acknowledge `instance`'s invalidations.
    pub fn ack_channel(&self, instance: &str) -> String {
        format!("{}invalidate-ack:{instance}", self.options.key_prefix)
    }

    /// How long a write waits for the acks of its invalidation.
    pub fn ack_timeout(&self) -> Duration {
        self.options.ack_timeout.min(self.options.timeout)
    }

    /// True while degraded (the breaker is open).
    pub fn is_degraded(&self) -> bool {
        self.breaker.is_open()
    }

    async fn connection(&self) -> Result<Conn, Failure> {
        if let Some(c) = self
            .conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Ok(c);
        }
        let Ok(_gate) = self.connecting.try_lock() else {
            return Err(Failure::Skipped);
        };
        let conn = self
            .connect()
            .await
            .map_err(|e| Failure::Failed(e.to_string()))?;
        *self.conn.lock().unwrap_or_else(PoisonError::into_inner) = Some(conn.clone());
        Ok(conn)
    }

    async fn connect(&self) -> RedisResult<Conn> {
        self.connect_with(Some(self.options.timeout)).await
    }

    /// A new connection whose replies may take `response` (`None`: as long as they take; the
    /// caller bounds the call).
    async fn connect_with(&self, response: Option<Duration>) -> RedisResult<Conn> {
        let t = self.options.timeout;
        match &self.target {
            RedisTarget::Single(url) => {
                // Lazy: the manager connects on first use and reconnects by itself after a
                // failure; our own timeout bounds every call, so its retries are kept short.
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(t))
                    .set_response_timeout(response)
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(100));
                let client = redis::Client::open(url.as_str())?;
                Ok(Conn::Single(ConnectionManager::new_lazy_with_config(
                    client, config,
                )?))
            }
            RedisTarget::Cluster(nodes) => {
                // The cluster client always bounds replies; a day is "unbounded" next to ours.
                let response = response.unwrap_or(Duration::from_secs(86_400));
                let client = ClusterClient::builder(nodes.clone())
                    .connection_timeout(t)
                    .response_timeout(response)
                    .retries(1)
                    .build()?;
                Ok(Conn::Cluster(client.get_async_connection().await?))
            }
        }
    }

    /// Runs one Redis operation under the breaker and the timeout.
    pub(crate) async fn call<T, F, Fut>(&self, op: F) -> Result<T, Failure>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let permit = self.breaker.permit();
        if permit == Permit::Denied {
            return Err(Failure::Skipped);
        }
        self.run(permit, op).await
    }

    async fn run<T, F, Fut>(&self, permit: Permit, op: F) -> Result<T, Failure>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let attempt = async {
            let conn = self.connection().await?;
            op(conn).await.map_err(|e| Failure::Failed(e.to_string()))
        };
        let result = tokio::time::timeout(self.options.timeout, attempt).await;
        self.settle(permit, result)
    }

    /// Runs one blocking Redis operation that may wait up to `wait` for data, under the
    /// breaker and a timeout of `wait` plus the usual one, on a connection of its own.
    pub(crate) async fn call_blocking<T, F, Fut>(&self, wait: Duration, op: F) -> Result<T, Failure>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let permit = self.breaker.permit();
        if permit == Permit::Denied {
            return Err(Failure::Skipped);
        }
        let idle = self
            .blocking
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let attempt = async {
            let conn = match idle {
                Some(c) => c,
                None => self
                    .connect_with(None)
                    .await
                    .map_err(|e| Failure::Failed(e.to_string()))?,
            };
            let out = op(conn.clone())
                .await
                .map_err(|e| Failure::Failed(e.to_string()))?;
            // Only a connection whose reply came back is reused: after an error or a timeout
            // a late reply could still be on its way.
            let mut idle = self.blocking.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < MAX_IDLE_BLOCKING {
                idle.push(conn);
            }
            Ok(out)
        };
        let result = tokio::time::timeout(self.options.timeout + wait, attempt).await;
        self.settle(permit, result)
    }

    /// Reports a call's outcome to the breaker and the metrics.
    fn settle<T>(
        &self,
        permit: Permit,
        result: Result<Result<T, Failure>, tokio::time::error::Elapsed>,
    ) -> Result<T, Failure> {
        let result = result.unwrap_or_else(|_| Err(Failure::Failed("timed out".into())));
        match &result {
            Ok(_) => self.breaker.success(),
            Err(Failure::Failed(e)) => {
                metrics::counter!("redis_errors_total").increment(1);
                tracing::debug!(error = %e, "redis call failed");
                self.breaker.failure(permit);
            }
            Err(Failure::Skipped) => {}
        }
        result
    }

    /// One PING, even while the breaker is open: health checks are how an idle instance
    /// notices that Redis is back, and a success closes the breaker.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let permit = match self.breaker.permit() {
            Permit::Denied => Permit::Probe,
            p => p,
        };
        self.run(permit, |mut c| async move {
            redis::cmd("PING").query_async::<()>(&mut c).await
        })
        .await
        .map_err(StoreError::from)
    }

    pub(crate) fn defer_invalidation(&self, keys: &[String]) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        for key in keys {
            if pending.len() >= MAX_PENDING {
                metrics::counter!("cache_invalidations_dropped_total").increment(1);
                break;
            }
            pending.insert(key.clone());
        }
    }

    pub(crate) fn take_pending(&self) -> Vec<String> {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.drain().collect()
    }

    pub(crate) fn has_pending(&self) -> bool {
        !self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }
}
