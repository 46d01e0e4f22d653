//! OpenAPI links: which response hands out the ids and names other operations take. A client
//! reads them as "what can I do next"; schemathesis's stateful phase follows them, so that a
//! follow, an unfollow or a revocation is tried on something that exists rather than only on
//! made-up ids (which all answer 404).

use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::RefOr;
use utoipa::Modify;

/// (path, method in lower case, status) of a response.
type From = (&'static str, &'static str, &'static str);
/// (link name, target operationId, [(target parameter, runtime expression)]).
type To = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const USER_ID: &[(&str, &str)] = &[("id", "$response.body#/user/id")];
const SIGNUP_LINKS: &[To] = &[
    ("GetUser", "get_user", USER_ID),
    (
        "GetUserByUsername",
        "by_username",
        &[("username", "$response.body#/user/username")],
    ),
    ("Follow", "follow", USER_ID),
    ("Followers", "followers", USER_ID),
    ("Following", "following", USER_ID),
    ("Posts", "user_posts", USER_ID),
];

const LINKS: &[(From, &[To])] = &[
    (("/auth/signup", "post", "201"), SIGNUP_LINKS),
    (
        ("/users/{id}", "get", "200"),
        &[("Follow", "follow", &[("id", "$response.body#/id")])],
    ),
    (
        ("/users/follow/{id}", "post", "201"),
        &[
            (
                "Unfollow",
                "unfollow",
                &[("id", "$response.body#/followingId")],
            ),
            (
                "FollowedUser",
                "get_user",
                &[("id", "$response.body#/followingId")],
            ),
        ],
    ),
    (
        ("/posts", "post", "201"),
        &[
            ("GetPost", "get_post", &[("id", "$response.body#/id")]),
            ("DeletePost", "delete_post", &[("id", "$response.body#/id")]),
            (
                "AuthorPosts",
                "user_posts",
                &[("id", "$response.body#/authorId")],
            ),
        ],
    ),
    (
        ("/users/me/api-keys", "post", "201"),
        &[("Revoke", "revoke_api_key", &[("id", "$response.body#/id")])],
    ),
];

pub struct Links;

impl Modify for Links {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for ((path, method, status), links) in LINKS {
            let response = openapi
                .paths
                .paths
                .get_mut(*path)
                .and_then(|item| match *method {
                    "get" => item.get.as_mut(),
                    "post" => item.post.as_mut(),
                    _ => None,
                })
                .and_then(|op| op.responses.responses.get_mut(*status));
            // A link table that names a response the document lacks is caught by the test of
            // this module; at run time the document is served without it.
            let Some(RefOr::T(response)) = response else {
                continue;
            };
            for (name, operation_id, parameters) in *links {
                let link = parameters
                    .iter()
                    .fold(
                        LinkBuilder::new().operation_id(*operation_id),
                        |b, (param, expression)| b.parameter(*param, *expression),
                    )
                    .build();
                response.links.insert((*name).to_owned(), link.into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use utoipa::OpenApi;

    use super::*;
    use crate::openapi::ApiDoc;

    /// Every link starts at a response the document has and names an operation it has, and
    /// operation ids are unique (a link by id would otherwise be ambiguous).
    #[test]
    fn links_join_responses_and_operations_that_exist() {
        let doc: serde_json::Value =
            serde_json::from_str(&ApiDoc::openapi().to_json().unwrap()).unwrap();
        let mut ids = HashSet::new();
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                if let Some(id) = op["operationId"].as_str() {
                    assert!(ids.insert(id.to_owned()), "operationId {id} twice");
                }
            }
        }
        for ((path, method, status), links) in LINKS {
            let response = &doc["paths"][path][method]["responses"][status];
            for (name, operation_id, _) in *links {
                assert!(ids.contains(*operation_id), "{operation_id}");
                assert!(
                    response["links"][name].is_object(),
                    "{method} {path} {status} has no link {name}"
                );
            }
        }
    }
}
