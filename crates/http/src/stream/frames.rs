//! Server-Sent Events frames, rendered once per event and shared by every stream it goes to.

use axum::body::Bytes;
use domain::model::{LiveEventId, PostId, UserId};

/// One rendered frame and the position it carries (`None`: it moves no client's
/// `Last-Event-ID`).
#[derive(Clone, Debug)]
pub(crate) struct Frame {
    pub id: Option<LiveEventId>,
    pub bytes: Bytes,
}

/// An event with an id; `json` is one line (compact JSON has no newline).
pub(crate) fn event(id: LiveEventId, kind: &str, json: &str) -> Frame {
    Frame {
        id: Some(id),
        bytes: Bytes::from(format!("id: {id}\nevent: {kind}\ndata: {json}\n\n")),
    }
}

/// A post's frame, the Post object already rendered.
pub(crate) fn post(id: LiveEventId, post_json: &str) -> Frame {
    event(id, "post", post_json)
}

pub(crate) fn delete(id: LiveEventId, post: PostId, author: UserId) -> Frame {
    event(
        id,
        "delete",
        &format!(r#"{{"id":"{post}","authorId":"{author}"}}"#),
    )
}

/// The stream is live from `id` on.
pub(crate) fn ready(id: LiveEventId, heartbeat_seconds: u64) -> Frame {
    event(
        id,
        "ready",
        &format!(r#"{{"heartbeatSeconds":{heartbeat_seconds}}}"#),
    )
}

/// The events since the client's position cannot all be replayed.
pub(crate) fn reset() -> Frame {
    Frame {
        id: None,
        bytes: Bytes::from_static(b"event: reset\ndata: {}\n\n"),
    }
}

/// A named event without an id (it moves no client's position): proxies see traffic, and a
/// client that hears nothing for twice the period knows its connection is dead (a comment
/// would do for proxies, but `EventSource` hides comments from scripts).
pub(crate) fn heartbeat() -> Bytes {
    Bytes::from_static(b"event: heartbeat\ndata: {}\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_one_event_each_with_their_id() {
        let id = LiveEventId::new(17, 2);
        let f = post(id, r#"{"id":"p"}"#);
        assert_eq!(f.id, Some(id));
        assert_eq!(
            &f.bytes[..],
            b"id: 17-2\nevent: post\ndata: {\"id\":\"p\"}\n\n"
        );
        let r = ready(id, 15);
        assert_eq!(
            &r.bytes[..],
            b"id: 17-2\nevent: ready\ndata: {\"heartbeatSeconds\":15}\n\n"
        );
        assert_eq!(reset().id, None);
        assert_eq!(&heartbeat()[..], b"event: heartbeat\ndata: {}\n\n");
    }
}
