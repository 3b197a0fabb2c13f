//! The shapes of the handlers' answers (text, JSON) and the query-string check they share.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

// Static header values: from a `&str`, every response would copy and re-validate them.
pub(crate) fn text_plain() -> HeaderValue {
    HeaderValue::from_static("text/plain; charset=utf-8")
}

pub(crate) fn application_json() -> HeaderValue {
    HeaderValue::from_static("application/json")
}

pub(crate) fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (status, [(header::CONTENT_TYPE, text_plain())], body.into()).into_response()
}

pub(crate) fn json(status: StatusCode, body: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, application_json())], bytes).into_response(),
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode JSON: {e}\n"),
        ),
    }
}

/// Query parameters, checked against the names an endpoint knows; anything else is a 400
/// (the `Err` message) so a typo is an error rather than a silently different answer.
pub fn query_params(raw: Option<&str>, known: &[&str]) -> Result<Vec<(String, String)>, String> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    for (k, _) in &pairs {
        if !known.contains(&k.as_str()) {
            let shown: String = k.chars().take(64).flat_map(char::escape_default).collect();
            return Err(format!(
                "unknown query parameter \"{shown}\" (known: {})\n",
                known.join(", ")
            ));
        }
    }
    Ok(pairs)
}
