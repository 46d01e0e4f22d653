//! The responses every operation of a kind can give, added to each operation's own: a handler's
//! annotation lists what its logic answers (201, "Cannot follow yourself", 409, …), and this
//! adds what the layers around it answer — the extractors' 400/413/415, authentication's 401,
//! the rate limiter's 429 and headers, the 503s of overload, timeouts and a failed dependency —
//! so no operation can forget one. A status the annotation already lists keeps its description
//! (the common causes are appended) and gains the common headers.

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::{Ref, RefOr, Response, ResponseBuilder};
use utoipa::Modify;

pub struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                complete(operation);
            }
        }
    }
}

/// What about an operation decides which common responses it has.
struct Traits {
    /// Probes and `/metrics`: never rate limited, never shed.
    open: bool,
    authenticated: bool,
    body: bool,
    path_parameters: bool,
    page: bool,
}

impl Traits {
    fn of(op: &Operation) -> Traits {
        let parameters = op.parameters.iter().flatten().filter_map(|p| match p {
            RefOr::T(p) => Some(p),
            RefOr::Ref(_) => None,
        });
        let (mut path_parameters, mut page) = (false, false);
        for p in parameters {
            path_parameters |= p.parameter_in == ParameterIn::Path;
            page |= p.parameter_in == ParameterIn::Query && p.name == "limit";
        }
        Traits {
            open: op.tags.iter().flatten().any(|t| t == "health"),
            authenticated: op
                .security
                .iter()
                .flatten()
                .any(|requirement| requirement != &Default::default()),
            body: op.request_body.is_some(),
            path_parameters,
            page,
        }
    }
}

fn complete(op: &mut Operation) {
    let t = Traits::of(op);
    let responses = &mut op.responses.responses;

    let mut bad_request = Vec::new();
    if t.body {
        bad_request.push(
            "the body is missing, is not a JSON object, is malformed, has a field of the wrong \
             JSON type, or a field breaks a rule (`details` names each)",
        );
    }
    if t.page {
        bad_request.push("`limit` is not an integer from 1 to 100, or `cursor` is not one this server returned (`details[0].field` says which)");
    }
    if t.path_parameters {
        bad_request.push("a path segment is not valid percent-encoded UTF-8");
    }
    if !bad_request.is_empty() {
        let causes = format!("`ValidationError`: {}.", bad_request.join("; "));
        add_error(responses, "400", &causes);
    }
    if t.authenticated {
        add_error(
            responses,
            "401",
            "`UnauthorizedError`: no credential, or a token that is malformed, forged, expired \
             or issued before a logout, or an API key that is malformed, unknown or revoked, or \
             both a token and a key.",
        );
    }
    if t.body {
        add_error(
            responses,
            "413",
            "`PayloadTooLargeError`: the body is over 64 KiB.",
        );
        add_error(
            responses,
            "415",
            "`UnsupportedMediaTypeError`: a body whose `Content-Type` is not JSON \
             (`application/json` or `application/*+json`).",
        );
    }
    if !t.open {
        add_error(
            responses,
            "429",
            "`RateLimitError`: a rate limit was hit; retry after `Retry-After` seconds.",
        );
    }
    add_error(
        responses,
        "503",
        "`ServiceUnavailableError`: a dependency is down, the server is shutting down or \
         overloaded (then with `Retry-After`), or the request was not answered within the \
         server's request timeout.",
    );

    for (status, response) in responses.iter_mut() {
        if let RefOr::T(response) = response {
            if response.description.trim().is_empty() {
                response.description = default_description(status).to_owned();
            }
            add_headers(status, response, &t);
        }
    }
}

/// For a response its annotation gave no words (OpenAPI requires a description).
fn default_description(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "Created",
        "204" => "Done; no body",
        "403" => "`ForbiddenError`: authenticated, but not allowed to do this.",
        "404" => {
            "`NotFoundError`: no such resource (an id this server could not have issued \
                  included)."
        }
        "409" => "`ConflictError`",
        _ => "See the error body's `type` and `error`.",
    }
}

fn error_body() -> RefOr<Schema> {
    Ref::from_schema_name("ErrorBody").into()
}

/// Adds the error response, or for one the annotation already has, appends `causes` to its
/// description and makes sure its JSON body can be the error body.
fn add_error(
    responses: &mut std::collections::BTreeMap<String, RefOr<Response>>,
    status: &str,
    causes: &str,
) {
    let Some(RefOr::T(existing)) = responses.get_mut(status) else {
        let response = ResponseBuilder::new()
            .description(causes)
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(error_body())).build(),
            )
            .build();
        responses.insert(status.to_owned(), response.into());
        return;
    };
    let own = existing.description.trim_end().trim_end_matches('.');
    existing.description = if own.is_empty() {
        causes.to_owned()
    } else {
        format!("{own}. Also {causes}")
    };
    match existing.content.get_mut("application/json") {
        None => {
            existing.content.insert(
                "application/json".to_owned(),
                ContentBuilder::new()
                    .schema(Some(error_body()))
                    .build()
                    .into(),
            );
        }
        Some(RefOr::T(content)) => {
            // A probe's own 503 body (`HealthReport`, `Readiness`), or the error body of a
            // timeout: either.
            let is_error_body = matches!(&content.schema, Some(RefOr::Ref(r))
                if r.ref_location.ends_with("/ErrorBody"));
            if !is_error_body {
                let either = content
                    .schema
                    .take()
                    .into_iter()
                    .fold(OneOfBuilder::new(), OneOfBuilder::item)
                    .item(error_body())
                    .build();
                content.schema = Some(Schema::OneOf(either).into());
            }
        }
        Some(RefOr::Ref(_)) => {}
    }
}

fn integer_header(description: &str) -> Header {
    HeaderBuilder::new()
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0)),
        ))
        .description(Some(description))
        .build()
}

fn string_header(description: &str) -> Header {
    HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .description(Some(description))
        .build()
}

/// utoipa's `Header` has no `required` field (it is in OpenAPI 3.1's Header Object); it goes in
/// with the extensions, which are written out as they are.
fn required(mut header: Header) -> Header {
    header
        .extensions
        .get_or_insert_with(Default::default)
        .insert("required".to_owned(), serde_json::Value::Bool(true));
    header
}

fn add_headers(status: &str, response: &mut Response, t: &Traits) {
    let headers = &mut response.headers;
    headers.insert(
        "X-Request-Id".to_owned(),
        required(string_header(
            "The request's id: the caller's own `X-Request-Id` when it is at most 128 \
             characters of `[A-Za-z0-9._-]`, else one the server made. Also in the log line.",
        ))
        .into(),
    );
    if !t.open {
        let limited = status == "429";
        let mark = |h: Header| if limited { required(h) } else { h };
        headers.insert(
            "RateLimit-Limit".to_owned(),
            mark(integer_header("Requests the budget allows per window.")).into(),
        );
        headers.insert(
            "RateLimit-Remaining".to_owned(),
            mark(integer_header("Requests left in the budget.")).into(),
        );
        headers.insert(
            "RateLimit-Reset".to_owned(),
            mark(integer_header("Seconds until the budget is full again.")).into(),
        );
        headers.insert(
            "RateLimit-Policy".to_owned(),
            string_header("The route's policy: `<limit>;w=<window seconds>`.").into(),
        );
    }
    let retry = integer_header("Whole seconds to wait before retrying; at least 1.");
    match status {
        "429" => {
            headers.insert("Retry-After".to_owned(), required(retry).into());
        }
        "503" => {
            headers.insert("Retry-After".to_owned(), retry.into());
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use utoipa::OpenApi;

    use crate::openapi::ApiDoc;

    fn operations() -> Vec<(String, Value)> {
        let doc: Value = serde_json::from_str(&ApiDoc::openapi().to_json().unwrap()).unwrap();
        let mut ops = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                ops.push((format!("{method} {path}"), op.clone()));
            }
        }
        ops
    }

    fn is_error_body(response: &Value) -> bool {
        let schema = &response["content"]["application/json"]["schema"];
        let error = |s: &Value| s["$ref"] == "#/components/schemas/ErrorBody";
        error(schema)
            || schema["oneOf"]
                .as_array()
                .is_some_and(|a| a.iter().any(error))
    }

    /// Each kind of operation lists what the layers around its handler can answer, with the
    /// error body and the headers that come with it.
    #[test]
    fn every_operation_lists_the_statuses_of_the_layers_around_it() {
        for (name, op) in operations() {
            let responses = &op["responses"];
            let has = |status: &str| responses.get(status).is_some_and(is_error_body);
            let secured = op["security"].as_array().is_some_and(|s| {
                s.iter()
                    .any(|r| r.as_object().is_some_and(|r| !r.is_empty()))
            });
            let open = op["tags"][0] == "health";
            assert!(has("503"), "{name}: 503");
            assert!(has("401") || !secured, "{name}: 401");
            assert_eq!(has("429"), !open, "{name}: 429 iff rate limited");
            if op.get("requestBody").is_some() {
                for status in ["400", "413", "415"] {
                    assert!(has(status), "{name}: {status}");
                }
            }
            if op["parameters"].as_array().is_some_and(|p| !p.is_empty()) {
                assert!(has("400"), "{name}: 400 for its parameters");
            }
            if !open {
                let retry = &responses["429"]["headers"]["Retry-After"];
                assert_eq!(retry["required"], true, "{name}: {retry}");
            }
            for (status, response) in responses.as_object().unwrap() {
                assert!(
                    !response["description"]
                        .as_str()
                        .unwrap_or_default()
                        .is_empty(),
                    "{name} {status}: no description"
                );
                let id = &response["headers"]["X-Request-Id"];
                assert_eq!(id["required"], true, "{name} {status}: {id}");
            }
        }
    }

    /// A probe's own 503 body stays, and a timeout's error body is allowed beside it.
    #[test]
    fn a_probe_503_is_its_report_or_the_error_body() {
        let (_, health) = operations()
            .into_iter()
            .find(|(name, _)| name == "get /health")
            .unwrap();
        let one_of = &health["responses"]["503"]["content"]["application/json"]["schema"]["oneOf"];
        assert_eq!(one_of[0]["$ref"], "#/components/schemas/HealthReport");
        assert_eq!(one_of[1]["$ref"], "#/components/schemas/ErrorBody");
    }
}
