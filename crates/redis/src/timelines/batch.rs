//! Calls that touch many users' timelines: one command per user, in batches.

use futures::future::try_join_all;
use redis::{Cmd, ErrorKind, FromRedisValue, Script, ScriptInvocation, ServerErrorKind};

use crate::shared::Conn;

/// Users per pipeline of a push or a removal: large enough to amortise round trips, small
/// enough that one pipeline stays well inside the call timeout.
pub(super) const BATCH: usize = 256;

/// One script call per user. On one server, a pipeline. Unlike a single invocation, a
/// pipeline does not load a script the server lacks (restarted, or never asked): on NOSCRIPT
/// it loads it and runs the pipeline again, which is safe because every timeline script can
/// run twice to the same effect. On a cluster a pipeline must stay within one slot, and
/// users' keys are spread over all of them: the calls go out concurrently instead, each
/// loading its script if need be.
pub(super) async fn pipelined<T: FromRedisValue + Send>(
    c: &mut Conn,
    script: &Script,
    invocations: &[ScriptInvocation<'_>],
) -> redis::RedisResult<Vec<T>> {
    if let Conn::Cluster(_) = c {
        let calls = invocations.iter().map(|inv| {
            let mut c = c.clone();
            async move { inv.invoke_async(&mut c).await }
        });
        return try_join_all(calls).await;
    }
    let mut pipe = redis::pipe();
    for inv in invocations {
        pipe.invoke_script(inv);
    }
    match pipe.query_async(c).await {
        Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
            script.prepare_invoke().load_async(c).await?;
            pipe.query_async(c).await
        }
        other => other,
    }
}

/// One plain command per user: pipelined on one server, concurrent on a cluster (see
/// [`pipelined`]).
pub(super) async fn each(c: &mut Conn, cmds: &[Cmd]) -> redis::RedisResult<()> {
    if let Conn::Cluster(_) = c {
        let calls = cmds.iter().map(|cmd| {
            let mut c = c.clone();
            async move { cmd.query_async::<()>(&mut c).await }
        });
        return try_join_all(calls).await.map(drop);
    }
    let mut pipe = redis::pipe();
    for cmd in cmds {
        pipe.add_command(cmd.clone()).ignore();
    }
    pipe.query_async(c).await
}
