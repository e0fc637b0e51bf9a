//! A configuration error names the key and what is wrong, never the value: a secret pasted where
//! its source belongs must not reach a terminal or a log (issue: `unknown variant `C7656554-…``).
use crate::targets::target_for;
use scim_bridge::config::TargetKind;
use serde_json::Value;

const SECRET: &str = "C7656554-85A2-4AFD-BAB7-SECRETVALUE1";

/// Every key of `kind`'s table that names a secret (`{ env | file = … }` once read).
fn secret_keys(kind: TargetKind, dir: &std::path::Path) -> (toml::Table, Vec<String>) {
    let target = target_for(kind, "http://127.0.0.1:9", dir);
    let table: toml::Table = toml::Table::try_from(&target).unwrap();
    let as_json = serde_json::to_value(&target).unwrap();
    let keys = as_json
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| v.get("file").is_some() || v.get("env").is_some())
        .map(|(k, _)| k.clone())
        .collect();
    (table, keys)
}

/// What `scim-bridge check` prints (both streams) with `target` as the only target; it must fail.
fn check(dir: &std::path::Path, target: &toml::Table) -> String {
    let file = dir.join("scim-bridge.toml");
    let text = toml::to_string(&toml::Table::from_iter([(
        "target".to_owned(),
        toml::Value::Array(vec![toml::Value::Table(target.clone())]),
    )]))
    .unwrap();
    std::fs::write(&file, text).unwrap();
    let (ok, out, err) = crate::cli::run(dir, &["check"]);
    assert!(!ok, "{out}{err}");
    format!("{out}{err}")
}

#[test]
fn a_secret_written_inline_in_any_secret_key_of_any_vendor_is_named_by_key_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for kind in TargetKind::ALL.iter().copied() {
        let (table, keys) = secret_keys(kind, dir.path());
        assert!(!keys.is_empty(), "{kind}: every vendor has a secret");
        for key in keys {
            for spelled in [key.clone(), format!("{key}_env")] {
                let mut target = table.clone();
                target.remove(&key);
                target.insert(spelled.clone(), toml::Value::String(SECRET.into()));
                let message = check(dir.path(), &target);
                assert!(!message.contains("SECRETVALUE"), "{kind} {spelled}: {message}");
                assert!(message.contains(&key), "{kind} {spelled}: the key is named: {message}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 2 * TargetKind::ALL.len());
}

#[test]
fn a_refused_value_anywhere_in_the_file_is_not_repeated() {
    let dir = tempfile::tempdir().unwrap();
    let (mut table, _) = secret_keys(TargetKind::Workspace365, dir.path());
    for (key, value) in [("on_delete", Value::from(SECRET)), ("mode", Value::from(SECRET))] {
        let mut target = table.clone();
        target.insert(key.into(), toml::Value::try_from(value).unwrap());
        let message = check(dir.path(), &target);
        assert!(
            !message.contains("SECRETVALUE") && message.contains(key),
            "{key}: {message}"
        );
    }
    table.insert("create_in_office365".into(), toml::Value::String(SECRET.into()));
    let message = check(dir.path(), &table);
    assert!(
        !message.contains("SECRETVALUE") && message.contains("create_in_office365"),
        "{message}"
    );
}

/// A file that does not parse: TOML's error quotes the line it stopped on, which may hold a secret
/// pasted with its closing quote missing. The line and column are named, the text is not.
#[test]
fn a_parse_error_names_the_line_and_column_but_does_not_quote_the_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("scim-bridge.toml"),
        format!("[[target]]\nname = \"vault\"\nkind = \"cyberark\"\npassword = \"{SECRET}\n"),
    )
    .unwrap();
    let (ok, out, err) = crate::cli::run(dir.path(), &["check"]);
    assert!(!ok);
    let message = format!("{out}{err}");
    assert!(!message.contains("SECRETVALUE"), "{message}");
    assert!(message.contains("line 4, column"), "{message}");
}
