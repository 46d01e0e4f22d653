//! `HTTP_MAX_CONNECTIONS` against the open-file limit (`ulimit -n`): each connection is a file
//! descriptor, and a process out of them cannot accept, open a database file or connect to
//! Redis. The soft limit is raised as far as the hard limit allows (as Go's runtime does);
//! an explicit cap that still does not fit stops start-up, and the default cap shrinks to fit.

/// `HTTP_MAX_CONNECTIONS`'s default where the open-file limit allows it.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// Descriptors kept for everything but client connections: database pools, Redis, SQLite's
/// files, the listener, the runtime and log output.
pub const HEADROOM: u64 = 256;

/// What to do about the limit: the connection cap, and the soft limit to set first if any.
#[derive(Debug, PartialEq, Eq)]
pub struct Plan {
    pub cap: usize,
    pub raise_to: Option<u64>,
}

/// `soft`/`hard` are the current limits (`None`: unlimited).
pub fn plan(
    requested: Option<usize>,
    soft: Option<u64>,
    hard: Option<u64>,
) -> Result<Plan, String> {
    let cap = requested.unwrap_or(DEFAULT_MAX_CONNECTIONS);
    let need = cap as u64 + HEADROOM;
    let Some(soft) = soft else {
        return Ok(Plan {
            cap,
            raise_to: None,
        });
    };
    if soft >= need {
        return Ok(Plan {
            cap,
            raise_to: None,
        });
    }
    let reachable = hard.map_or(need, |h| h.min(need)).max(soft);
    let raise_to = (reachable > soft).then_some(reachable);
    if reachable >= need {
        return Ok(Plan { cap, raise_to });
    }
    match requested {
        Some(n) => Err(format!(
            "HTTP_MAX_CONNECTIONS={n} needs {need} open files ({HEADROOM} kept for the rest) but \
             the open-file limit (ulimit -n) can only be {reachable}: raise it or lower \
             HTTP_MAX_CONNECTIONS"
        )),
        None if reachable > HEADROOM => Ok(Plan {
            cap: (reachable - HEADROOM) as usize,
            raise_to,
        }),
        None => Err(format!(
            "the open-file limit (ulimit -n) can only be {reachable}: more than {HEADROOM} are \
             needed to serve any connection (HTTP_MAX_CONNECTIONS); raise it"
        )),
    }
}

/// Fits the cap to this process's limit, raising the soft limit if that helps. The error is
/// one line naming `HTTP_MAX_CONNECTIONS`.
pub fn fit(requested: Option<usize>) -> Result<usize, String> {
    let cap = fit_raising(requested)?;
    if requested.is_none() && cap < DEFAULT_MAX_CONNECTIONS {
        // The operator did not ask for this number: say where it comes from.
        tracing::warn!(
            max_connections = cap,
            "the open-file limit (ulimit -n) lowers HTTP_MAX_CONNECTIONS from its default 10000"
        );
    }
    Ok(cap)
}

#[cfg(unix)]
fn fit_raising(requested: Option<usize>) -> Result<usize, String> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let planned = plan(requested, limit.current, limit.maximum)?;
    let Some(raise_to) = planned.raise_to else {
        return Ok(planned.cap);
    };
    let raised = Rlimit {
        current: Some(raise_to),
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => {
            tracing::info!(
                open_files = raise_to,
                "raised the open-file limit for HTTP_MAX_CONNECTIONS"
            );
            Ok(planned.cap)
        }
        // Some systems cap the soft limit below the hard one (macOS's kern.maxfilesperproc):
        // plan again with what there is.
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
            Ok(plan(requested, limit.current, limit.current)?.cap)
        }
    }
}

#[cfg(not(unix))]
fn fit_raising(requested: Option<usize>) -> Result<usize, String> {
    Ok(requested.unwrap_or(DEFAULT_MAX_CONNECTIONS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_with_room_is_left_alone() {
        let p = plan(None, Some(1 << 20), Some(1 << 20)).unwrap();
        assert_eq!(
            p,
            Plan {
                cap: 10_000,
                raise_to: None
            }
        );
        let p = plan(Some(50), Some(1024), Some(1024)).unwrap();
        assert_eq!(
            p,
            Plan {
                cap: 50,
                raise_to: None
            }
        );
        assert_eq!(plan(None, None, None).unwrap().cap, 10_000);
    }

    #[test]
    fn the_soft_limit_is_raised_only_as_far_as_needed() {
        let p = plan(None, Some(1024), Some(1 << 20)).unwrap();
        assert_eq!(
            p,
            Plan {
                cap: 10_000,
                raise_to: Some(10_256)
            }
        );
        let p = plan(Some(2000), Some(1024), None).unwrap();
        assert_eq!(
            p,
            Plan {
                cap: 2000,
                raise_to: Some(2256)
            }
        );
    }

    #[test]
    fn the_default_shrinks_to_fit_and_an_explicit_cap_that_cannot_fit_is_refused() {
        let p = plan(None, Some(1024), Some(4096)).unwrap();
        assert_eq!(
            p,
            Plan {
                cap: 4096 - 256,
                raise_to: Some(4096)
            }
        );
        let p = plan(None, Some(1024), Some(1024)).unwrap();
        assert_eq!(
            p,
            Plan {
                cap: 768,
                raise_to: None
            }
        );

        let e = plan(Some(5000), Some(1024), Some(4096)).unwrap_err();
        assert!(
            e.starts_with("HTTP_MAX_CONNECTIONS=5000 ") && !e.contains('\n'),
            "{e}"
        );
        assert!(e.contains("4096"), "{e}");
        let e = plan(None, Some(200), Some(200)).unwrap_err();
        assert!(e.contains("HTTP_MAX_CONNECTIONS"), "{e}");
    }
}
