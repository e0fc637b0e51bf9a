//! Reloading the configuration while `serve` runs (README "Reloading the configuration"): on
//! SIGHUP or the console's Reload button the file and the targets' `*_file` secrets are read again;
//! targets added, removed or changed (settings or secrets) take effect at once, each change is
//! logged by name (never a value), and a file that does not load leaves the running one in place.
//! Only `[[target]]` tables are applied: any other section that changed is named as needing a
//! restart. `*_env` secrets cannot change: a process's environment is fixed when it starts.
use crate::config::{Settings, TargetSettings};
use crate::http::ConsoleTargets;
use crate::scim::schema::ResourceSchema;
use crate::store::Store;
use crate::sync::worker::TargetSet;
use arc_swap::ArcSwap;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A reload that was refused: the running configuration stays. The message names keys and files,
/// never a value.
#[derive(Debug, thiserror::Error)]
#[error("the configuration was not reloaded, the running one stays: {0}")]
pub struct ReloadError(String);

/// What a reload changed, a line each, and the sections that changed but wait for a restart.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reloaded {
    pub changes: Vec<String>,
    pub need_restart: Vec<String>,
}

/// How one target differs between the running configuration and the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetChange {
    Added(String),
    Removed(String),
    /// The keys whose value changed (names only), and whether a secret's content changed.
    Changed {
        target: String,
        keys: Vec<String>,
        secrets: bool,
    },
}

impl std::fmt::Display for TargetChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Added(name) => write!(f, "target '{name}' added"),
            Self::Removed(name) => write!(f, "target '{name}' removed (its queued rows wait)"),
            Self::Changed { target, keys, secrets } => {
                let mut what: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
                if *secrets {
                    what.push("a secret's content".into());
                }
                write!(f, "target '{target}': {} changed", what.join(", "))
            }
        }
    }
}

/// The running configuration and what a reload replaces.
pub struct Reloader {
    running: tokio::sync::Mutex<Running>,
    store: Store,
    schema: &'static ResourceSchema,
    worker: TargetSet,
    console: ConsoleTargets,
    checked: Arc<ArcSwap<Vec<TargetSettings>>>,
}

struct Running {
    settings: Settings,
    /// Each target's secrets as read when it was built (a fingerprint, never the values).
    secrets: BTreeMap<String, u64>,
}

impl Reloader {
    pub fn new(
        settings: &Settings,
        store: Store,
        worker: TargetSet,
        console: ConsoleTargets,
        checked: Arc<ArcSwap<Vec<TargetSettings>>>,
    ) -> Result<Self, crate::config::ConfigError> {
        Ok(Self {
            running: tokio::sync::Mutex::new(Running {
                secrets: fingerprints(&settings.target),
                settings: settings.clone(),
            }),
            store,
            schema: settings.user_schema()?,
            worker,
            console,
            checked,
        })
    }

    /// Reads the file again and applies what changed in its targets. One reload at a time.
    pub async fn reload(&self) -> Result<Reloaded, ReloadError> {
        let mut running = self.running.lock().await;
        let file = running.settings.file.clone();
        let next = Settings::load(file.as_deref()).map_err(|e| ReloadError(e.to_string()))?;
        let secrets = fingerprints(&next.target);
        let changes = target_changes(&running.settings.target, &next.target, &running.secrets, &secrets);
        let need_restart = sections_changed(&running.settings, &next);
        for section in &need_restart {
            tracing::warn!(
                section,
                "reload: this section changed; it takes effect at the next restart"
            );
        }
        if changes.is_empty() {
            tracing::info!("reload: no target changed");
            return Ok(Reloaded {
                changes: Vec::new(),
                need_restart,
            });
        }
        let rebuild: BTreeSet<String> = changes
            .iter()
            .filter_map(|c| match c {
                TargetChange::Changed { target, .. } => Some(target.clone()),
                _ => None,
            })
            .collect();
        let secrets_kept: BTreeSet<String> = changes
            .iter()
            .filter_map(|c| match c {
                TargetChange::Changed {
                    target, secrets: false, ..
                } => Some(target.clone()),
                _ => None,
            })
            .collect();
        // Everything that can fail is done before anything is replaced.
        let scopes = crate::app::target_scopes(&next, self.schema, &self.store)
            .await
            .map_err(|e| ReloadError(format!("{e:#}")))?;
        let built = self
            .worker
            .prepare(&next.target, &rebuild)
            .map_err(|e| ReloadError(e.to_string()))?;
        let names: Vec<String> = next.target.iter().map(|t| t.name.clone()).collect();
        self.store
            .record_target_names(&names)
            .await
            .map_err(|e| ReloadError(e.to_string()))?;
        self.store.replace_targets(scopes);
        self.worker.install(built, &secrets_kept).await;
        self.console.store(Arc::new(crate::app::console_targets(&next.target)));
        self.checked.store(Arc::new(next.target.clone()));
        let lines: Vec<String> = changes.iter().map(ToString::to_string).collect();
        for line in &lines {
            tracing::info!(change = %line, "reload: applied");
        }
        let mut applied = running.settings.clone();
        applied.target = next.target;
        // Applied already: a failure here is the backfill's, which `sync resync` redoes.
        if let Err(e) = crate::app::take_up_scopes(&self.store, &applied).await {
            tracing::error!(error = %format!("{e:#}"), "reload: cannot queue the users a new or changed scope touches; run `scim-bridge sync resync --target T`");
        }
        *running = Running {
            settings: applied,
            secrets,
        };
        Ok(Reloaded {
            changes: lines,
            need_restart,
        })
    }
}

/// How the targets of `next` differ from `running`'s, in `next`'s order then the removed ones.
pub fn target_changes(
    running: &[TargetSettings],
    next: &[TargetSettings],
    running_secrets: &BTreeMap<String, u64>,
    next_secrets: &BTreeMap<String, u64>,
) -> Vec<TargetChange> {
    let mut changes = Vec::new();
    for target in next {
        let Some(before) = running.iter().find(|r| r.name == target.name) else {
            changes.push(TargetChange::Added(target.name.clone()));
            continue;
        };
        let keys = keys_changed(&table(before), &table(target));
        let secrets = running_secrets.get(&target.name) != next_secrets.get(&target.name);
        if !keys.is_empty() || secrets {
            changes.push(TargetChange::Changed {
                target: target.name.clone(),
                keys,
                secrets,
            });
        }
    }
    for gone in running.iter().filter(|r| !next.iter().any(|n| n.name == r.name)) {
        changes.push(TargetChange::Removed(gone.name.clone()));
    }
    changes
}

/// The sections other than `[[target]]` that differ (applied only at a restart).
fn sections_changed(running: &Settings, next: &Settings) -> Vec<String> {
    let without_targets = |s: &Settings| {
        let mut value = serde_json::to_value(s).unwrap_or(Value::Null);
        if let Value::Object(table) = &mut value {
            table.remove("target");
        }
        value
    };
    keys_changed(&without_targets(running), &without_targets(next))
}

fn table(target: &TargetSettings) -> Value {
    serde_json::to_value(target).unwrap_or(Value::Null)
}

/// The top-level keys whose values differ between two tables.
fn keys_changed(before: &Value, after: &Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let (before, after) = (
        before.as_object().unwrap_or(&empty),
        after.as_object().unwrap_or(&empty),
    );
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .cloned()
        .collect()
}

/// Each target's secrets' fingerprint, read now.
fn fingerprints(targets: &[TargetSettings]) -> BTreeMap<String, u64> {
    targets
        .iter()
        .map(|t| (t.name.clone(), crate::secrets::fingerprint(&table(t))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(toml: &str) -> TargetSettings {
        let value: toml::Value = toml::from_str(toml).unwrap();
        TargetSettings::deserialize(value).unwrap()
    }

    use serde::Deserialize;

    const W365: &str = r#"name = "w365"
kind = "workspace365"
base_url = "https://w365.example/Provisioning"
environment = "example"
provisioning_key_env = "W365_KEY"
"#;

    fn secrets(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(n, f)| (n.to_string(), *f)).collect()
    }

    #[test]
    fn added_removed_and_changed_targets_are_named_with_their_keys_never_values() {
        let running = vec![target(W365), target(&W365.replace("\"w365\"", "\"old\""))];
        let changed = target(&format!("{W365}mode = \"observe\"\nscope = 'title eq \"x\"'\n"));
        let next = vec![changed, target(&W365.replace("\"w365\"", "\"new\""))];
        let changes = target_changes(
            &running,
            &next,
            &secrets(&[("w365", 1), ("old", 1)]),
            &secrets(&[("w365", 1), ("new", 1)]),
        );
        assert_eq!(
            changes,
            vec![
                TargetChange::Changed {
                    target: "w365".into(),
                    keys: vec!["mode".into(), "scope".into()],
                    secrets: false
                },
                TargetChange::Added("new".into()),
                TargetChange::Removed("old".into()),
            ]
        );
        assert_eq!(changes[0].to_string(), "target 'w365': `mode`, `scope` changed");
    }

    #[test]
    fn a_secret_whose_content_changed_is_a_change_and_an_unchanged_target_is_none() {
        let running = vec![target(W365)];
        let next = vec![target(W365)];
        assert_eq!(
            target_changes(&running, &next, &secrets(&[("w365", 1)]), &secrets(&[("w365", 1)])),
            vec![]
        );
        let changes = target_changes(&running, &next, &secrets(&[("w365", 1)]), &secrets(&[("w365", 2)]));
        assert_eq!(changes[0].to_string(), "target 'w365': a secret's content changed");
    }
}
