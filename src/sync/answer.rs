//! Reading a vendor's answer the same way for every connector: a 2xx body as the typed struct the
//! call expects, any other status sorted into a `ConnectorError` (docs/vendors/README.md,
//! "Failures") with the vendor's own words, and the errors a connector raises before any call.
use super::client::{excerpt, VendorResponse};
use super::ConnectorError;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The classification of an answer the connector did not handle itself: 401 is a refused
/// credential; 408, 425, 429 and 5xx are worth retrying; any other status is a refusal.
pub fn classify(response: &VendorResponse) -> ConnectorError {
    failure(
        response,
        format!("HTTP {}: {}", response.status, excerpt(&response.body)),
    )
}

/// `classify` with `detail` in place of the body's start (a connector's reading of its vendor's
/// error object).
pub fn failure(response: &VendorResponse, detail: String) -> ConnectorError {
    match response.status {
        401 => ConnectorError::Auth { detail },
        408 | 425 | 429 | 500..=599 => ConnectorError::Transient {
            detail,
            retry_after: response.retry_after,
        },
        status => ConnectorError::permanent(Some(status), detail),
    }
}

/// A 2xx answer's body as `T` (an empty body reads as `null`, then as `{}`); any other answer
/// classified, `what` and the vendor's words (`words` of the body) in its detail.
pub fn expect_json<T: DeserializeOwned>(
    response: &VendorResponse,
    what: &str,
    words: impl FnOnce(&str) -> String,
) -> Result<T, ConnectorError> {
    if response.is_success() {
        return read_json(what, &response.body);
    }
    Err(failure(
        response,
        format!("{what}: HTTP {}: {}", response.status, words(&response.body)),
    ))
}

/// A 2xx body as `T`.
pub fn read_json<T: DeserializeOwned>(what: &str, body: &str) -> Result<T, ConnectorError> {
    let text = body.trim();
    if text.is_empty() {
        return serde_json::from_str("null")
            .or_else(|_| serde_json::from_str("{}"))
            .map_err(|_| unreadable(what, body));
    }
    serde_json::from_str(text).map_err(|_| unreadable(what, body))
}

/// A request body as JSON text.
pub fn to_json(body: &impl Serialize) -> Result<String, ConnectorError> {
    serde_json::to_string(body).map_err(|e| ConnectorError::permanent(None, format!("cannot encode the body: {e}")))
}

/// A vendor answer that is not the JSON it should be.
pub fn unreadable(what: &str, body: &str) -> ConnectorError {
    ConnectorError::permanent(None, format!("{what}: unexpected answer: {}", excerpt(body)))
}

/// A value over a vendor's field limit: refused before any call, naming the field.
pub fn check_length(field: &str, value: &str, limit: usize) -> Result<(), ConnectorError> {
    let length = value.chars().count();
    if length <= limit {
        return Ok(());
    }
    Err(ConnectorError::permanent(
        None,
        format!("{field} is {length} characters; the vendor takes at most {limit}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> VendorResponse {
        VendorResponse {
            status,
            body: body.into(),
            retry_after: None,
            headers: Default::default(),
        }
    }

    #[test]
    fn statuses_sort_into_transient_auth_and_permanent() {
        assert!(matches!(
            classify(&response(429, "x")),
            ConnectorError::Transient { .. }
        ));
        assert!(matches!(
            classify(&response(503, "x")),
            ConnectorError::Transient { .. }
        ));
        assert!(matches!(classify(&response(401, "x")), ConnectorError::Auth { .. }));
        assert!(matches!(
            classify(&response(422, "x")),
            ConnectorError::Permanent { status: Some(422), .. }
        ));
    }

    #[test]
    fn a_body_reads_as_its_struct_and_an_error_keeps_the_vendors_words() {
        #[derive(serde::Deserialize, Debug, PartialEq, Default)]
        struct Answer {
            #[serde(default)]
            id: Option<String>,
        }
        let ok: Answer = expect_json(&response(200, r#"{"id":"7"}"#), "get", |b| b.into()).unwrap();
        assert_eq!(ok.id.as_deref(), Some("7"));
        let empty: Answer = expect_json(&response(204, ""), "get", |b| b.into()).unwrap();
        assert_eq!(empty, Answer::default());
        let refused = expect_json::<Answer>(&response(409, "{}"), "add user", |_| "in use".into()).unwrap_err();
        assert_eq!(
            refused,
            ConnectorError::permanent(Some(409), "add user: HTTP 409: in use")
        );
        let garbled = expect_json::<Answer>(&response(200, "<html>"), "get", |b| b.into()).unwrap_err();
        assert_eq!(garbled.to_string(), "get: unexpected answer: <html>");
    }
}
