//! Response compression: tower-http's `Compression`, entered only for a response it would
//! actually compress.
//!
//! tower-http wraps every response's body in its `CompressionBody`, which holds each encoder's
//! state inline: 5,824 bytes, moved through each layer above it and then boxed, for every
//! response, compressed or not. The profile of a warm page showed those copies as the largest
//! symbol of ours (`memmove` under the edge layer). Here a response is handed on as it is when
//! tower-http would have sent it unencoded anyway, which is decided by the same rules:
//!
//! - the response does not qualify (already encoded, a range, or the predicate says no: small,
//!   an image, an event stream): sent as it is;
//! - it qualifies but the request has no `Accept-Encoding`: sent as it is, with the
//!   `Vary: accept-encoding` tower-http adds to every response it could have compressed;
//! - otherwise tower-http's `Compression` runs on the finished response, choosing the encoding
//!   from the request's `Accept-Encoding` as always.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service, ServiceExt};
use tower_http::compression::predicate::Predicate;
use tower_http::compression::Compression;

#[derive(Clone, Debug)]
pub struct CompressLayer<P> {
    predicate: P,
}

impl<P> CompressLayer<P> {
    /// Compresses what `predicate` allows (tower-http's `compress_when`).
    pub fn new(predicate: P) -> Self {
        CompressLayer { predicate }
    }
}

impl<S, P: Clone> Layer<S> for CompressLayer<P> {
    type Service = Compress<S, P>;

    fn layer(&self, inner: S) -> Compress<S, P> {
        Compress {
            inner,
            predicate: self.predicate.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Compress<S, P> {
    inner: S,
    predicate: P,
}

impl<S, B, P> Service<Request<B>> for Compress<S, P>
where
    S: Service<Request<B>, Response = Response<Body>, Error = Infallible>,
    P: Predicate + Send + Sync + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = CompressFuture<S::Future, P>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        CompressFuture {
            accept: req.headers().get(header::ACCEPT_ENCODING).cloned(),
            predicate: Some(self.predicate.clone()),
            state: State::Inner {
                fut: self.inner.call(req),
            },
        }
    }
}

type Encoding = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Inner { #[pin] fut: F },
        Encoding { fut: Encoding },
    }
}

pin_project! {
    pub struct CompressFuture<F, P> {
        accept: Option<HeaderValue>,
        predicate: Option<P>,
        #[pin]
        state: State<F>,
    }
}

/// What tower-http checks before compressing a response.
fn qualifies<P: Predicate>(predicate: &P, res: &Response<Body>) -> bool {
    !res.headers().contains_key(header::CONTENT_ENCODING)
        && !res.headers().contains_key(header::CONTENT_RANGE)
        && predicate.should_compress(res)
}

fn add_vary_accept_encoding(res: &mut Response<Body>) {
    let named = res.headers().get_all(header::VARY).iter().any(|v| {
        v.as_bytes()
            .split(|b| *b == b',')
            .any(|name| name.trim_ascii().eq_ignore_ascii_case(b"accept-encoding"))
    });
    if !named {
        res.headers_mut()
            .append(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
}

/// tower-http's compression of an already finished response, for the request's
/// `Accept-Encoding`.
fn encode<P>(res: Response<Body>, accept: HeaderValue, predicate: P) -> Encoding
where
    P: Predicate + Send + Sync + 'static,
{
    let mut res = Some(res);
    let finished = tower::service_fn(move |_: Request<()>| {
        // Called once: this service answers one request.
        let res = res.take().unwrap_or_default();
        std::future::ready(Ok::<_, Infallible>(res))
    });
    let mut req = Request::new(());
    req.headers_mut().insert(header::ACCEPT_ENCODING, accept);
    let compression = Compression::new(finished).compress_when(predicate);
    Box::pin(async move {
        match compression.oneshot(req).await {
            Ok(res) => res.map(Body::new),
            Err(never) => match never {},
        }
    })
}

impl<F, P> Future for CompressFuture<F, P>
where
    F: Future<Output = Result<Response<Body>, Infallible>>,
    P: Predicate + Send + Sync + 'static,
{
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let fut = match this.state.as_mut().project() {
                StateProj::Encoding { fut } => return fut.as_mut().poll(cx).map(Ok),
                StateProj::Inner { fut } => {
                    let Ok(mut res) = ready!(fut.poll(cx));
                    let Some(predicate) = this.predicate.take() else {
                        return Poll::Ready(Ok(res));
                    };
                    if !qualifies(&predicate, &res) {
                        return Poll::Ready(Ok(res));
                    }
                    let Some(accept) = this.accept.take() else {
                        add_vary_accept_encoding(&mut res);
                        return Poll::Ready(Ok(res));
                    };
                    encode(res, accept, predicate)
                }
            };
            this.state.set(State::Encoding { fut });
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;
    use tower::service_fn;
    use tower_http::compression::predicate::{DefaultPredicate, SizeAbove};

    use super::*;

    type When = tower_http::compression::predicate::And<DefaultPredicate, SizeAbove>;
    type Headers = &'static [(&'static str, &'static str)];

    fn when() -> When {
        DefaultPredicate::new().and(SizeAbove::new(1024))
    }

    /// A handler answering `body` with `headers`.
    fn answering(
        body: &'static str,
        headers: Headers,
    ) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send> + Clone
    {
        service_fn(move |_: Request<Body>| async move {
            let mut res = Response::new(Body::from(body));
            for (name, value) in headers {
                res.headers_mut()
                    .append(*name, HeaderValue::from_static(value));
            }
            Ok::<_, Infallible>(res)
        })
    }

    async fn parts(res: Response<Body>) -> (Vec<(String, String)>, Vec<u8>) {
        let mut headers: Vec<(String, String)> = res
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        headers.sort();
        let body = to_bytes(res.into_body(), 1 << 20).await.unwrap();
        (headers, body.to_vec())
    }

    /// Whatever the request and response, the answer is tower-http's own: same headers, same
    /// bytes (the encoders are deterministic).
    #[tokio::test]
    async fn answers_exactly_as_tower_http_compression_does() {
        let big: &'static str = "x".repeat(4096).leak();
        let json = &[("content-type", "application/json")][..];
        let cases: Vec<(&str, Headers, Option<&str>)> = vec![
            ("{}", json, None),
            ("{}", json, Some("gzip")),
            (big, json, None),
            (big, json, Some("gzip")),
            (big, json, Some("br;q=0.5, zstd")),
            (big, json, Some("identity")),
            (big, json, Some("gzip;q=0")),
            (big, &[("content-type", "image/png")], Some("gzip")),
            (big, &[("content-type", "text/event-stream")], Some("gzip")),
            (big, &[("content-encoding", "br")], Some("gzip")),
            (big, &[("content-range", "bytes 0-1/2")], None),
            (big, &[("vary", "origin")], None),
            (big, &[("vary", "Accept-Encoding")], Some("gzip")),
            (big, &[("vary", "origin, accept-encoding")], None),
        ];
        let mut seen = Vec::new();
        for (body, headers, accept) in cases {
            let request = || {
                let mut req = Request::new(Body::empty());
                if let Some(a) = accept {
                    req.headers_mut()
                        .insert(header::ACCEPT_ENCODING, HeaderValue::from_static(a));
                }
                req
            };
            let ours = CompressLayer::new(when())
                .layer(answering(body, headers))
                .oneshot(request())
                .await
                .unwrap();
            let theirs = Compression::new(answering(body, headers))
                .compress_when(when())
                .oneshot(request())
                .await
                .unwrap()
                .map(Body::new);
            let case = format!("{} bytes, {headers:?}, accept {accept:?}", body.len());
            assert_eq!(ours.status(), theirs.status(), "{case}");
            let (ours, theirs) = (parts(ours).await, parts(theirs).await);
            assert_eq!(ours, theirs, "{case}");
            seen.push((body.len(), headers, accept, ours.0));
        }
        // The cases cover both ways: encoded, and sent as it is but marked as varying.
        let header = |h: &[(String, String)], name: &str| {
            h.iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .collect::<Vec<_>>()
        };
        let encoded = &seen[3].3;
        assert_eq!(header(encoded, "content-encoding"), ["gzip"]);
        let plain = &seen[2].3;
        assert!(header(plain, "content-encoding").is_empty());
        assert_eq!(header(plain, "vary"), ["accept-encoding"]);
        assert!(header(&seen[0].3, "vary").is_empty(), "small: not varying");
    }
}
