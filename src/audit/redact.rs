//! What a logged body may not show: any member named like a password or secret, and the value of
//! a PATCH operation whose path names one, are replaced by `REDACTED`. A body that is not JSON is
//! not kept at all (it cannot be redacted with certainty).
use serde_json::Value;

pub const REDACTED: &str = "[redacted]";

/// Member names whose values are never logged (compared case-insensitively, URN prefixes ignored).
const SECRET_NAMES: [&str; 5] = ["password", "secret", "token", "client_secret", "authorization"];

/// `body` as the log keeps it: redacted JSON, cut to `limit` bytes; `None` when empty.
pub fn redacted_body(body: &[u8], limit: usize) -> Option<String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(mut json) => {
            redact(&mut json);
            json.to_string()
        }
        Err(_) => format!("(not JSON, {} bytes: not kept)", body.len()),
    };
    Some(cut(text, limit))
}

/// Replaces every secret in `value`, at any depth.
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(members) => {
            let names_secret_path = members.get("path").and_then(Value::as_str).is_some_and(is_secret_path);
            for (name, member) in members.iter_mut() {
                if is_secret_name(name) || (names_secret_path && name == "value") {
                    *member = Value::String(REDACTED.to_owned());
                } else {
                    redact(member);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

fn is_secret_name(name: &str) -> bool {
    let last = name.rsplit(':').next().unwrap_or(name);
    SECRET_NAMES.iter().any(|s| last.eq_ignore_ascii_case(s))
}

/// A PATCH path naming a secret: `password`, `urn:…:User:password`, `x.password`.
fn is_secret_path(path: &str) -> bool {
    let last = path.rsplit([':', '.']).next().unwrap_or(path);
    let last = last.split('[').next().unwrap_or(last).trim();
    is_secret_name(last)
}

fn cut(mut text: String, limit: usize) -> String {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(" … (cut)");
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn passwords_are_redacted_wherever_they_are() {
        let cases = [
            (
                json!({"userName": "a", "password": "hunter2"}),
                json!({"userName": "a", "password": REDACTED}),
            ),
            (
                json!({"Operations": [{"op": "replace", "path": "password", "value": "hunter2"}]}),
                json!({"Operations": [{"op": "replace", "path": "password", "value": REDACTED}]}),
            ),
            (
                json!({"Operations": [{"op": "Replace", "value": {"Password": "hunter2", "active": true}}]}),
                json!({"Operations": [{"op": "Replace", "value": {"Password": REDACTED, "active": true}}]}),
            ),
            (
                json!({"Operations": [{"method": "POST", "data": {"urn:ietf:params:scim:schemas:core:2.0:User:password": "x"}}]}),
                json!({"Operations": [{"method": "POST", "data": {"urn:ietf:params:scim:schemas:core:2.0:User:password": REDACTED}}]}),
            ),
            (
                json!({"Operations": [{"op": "add", "path": "urn:ietf:params:scim:schemas:core:2.0:User:password", "value": "x"}]}),
                json!({"Operations": [{"op": "add", "path": "urn:ietf:params:scim:schemas:core:2.0:User:password", "value": REDACTED}]}),
            ),
            (
                json!({"Operations": [{"op": "replace", "path": "title", "value": "Boss"}]}),
                json!({"Operations": [{"op": "replace", "path": "title", "value": "Boss"}]}),
            ),
        ];
        for (mut body, redacted) in cases {
            redact(&mut body);
            assert_eq!(body, redacted);
        }
    }

    #[test]
    fn a_body_that_is_not_json_is_not_kept_and_a_long_one_is_cut() {
        assert_eq!(
            redacted_body(b"password=hunter2", 100).as_deref(),
            Some("(not JSON, 16 bytes: not kept)")
        );
        assert_eq!(redacted_body(b"  ", 100), None);
        let long = redacted_body(json!({"title": "é".repeat(100)}).to_string().as_bytes(), 21).unwrap();
        assert!(long.ends_with(" … (cut)"), "{long}");
        assert!(!long.contains("hunter2"));
    }
}
