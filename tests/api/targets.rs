//! `[[target]]` tables for the tests and benchmarks, written as an operator writes them and read
//! through the same parser as `serve` (so the tests also exercise the config format).
use crate::fake_vendors::{FakeVendor, Vendor, DOCUSIGN_ACCOUNT, ESIGN_API_KEY, ESIGN_SALT};
use scim_bridge::config::{TargetKind, TargetSettings};
use std::path::Path;

pub const W365_KEY: &str = "C7656554-85A2-4AFD-BAB7-18C71593C4D2";
pub const DOCUSIGN_KEY: &str = include_str!("../../src/sync/connectors/docusign/test_key.pem");

/// One `[[target]]` table from its TOML text.
pub fn parse_target(text: &str) -> TargetSettings {
    toml::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// A file holding `value`, named for a `*_file` key.
pub fn secret_file(dir: &Path, name: &str, value: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("{value}\n")).unwrap();
    path.display().to_string()
}

/// A target of `kind` at the fake's `uri`, its secrets written into `dir`; `extra` adds lines.
pub fn target_with(kind: TargetKind, uri: &str, dir: &Path, extra: &str) -> TargetSettings {
    let name = format!("{kind:?}").to_lowercase();
    let vendor = match kind {
        TargetKind::Workspace365 => format!(
            "base_url = \"{uri}/Provisioning\"\nenvironment = \"example\"\nprovisioning_key_file = {:?}",
            secret_file(dir, "w365.key", W365_KEY)
        ),
        TargetKind::Esign => format!(
            "base_url = \"{uri}/\"\napi_key_file = {:?}\nsalt_file = {:?}",
            secret_file(dir, "esign.key", ESIGN_API_KEY),
            secret_file(dir, "esign.salt", ESIGN_SALT)
        ),
        TargetKind::Cyberark => format!(
            "base_url = \"{uri}/PasswordVault\"\nusername_file = {:?}\npassword_file = {:?}",
            secret_file(dir, "vault.user", "svc-scim"),
            secret_file(dir, "vault.pass", crate::fake_vendors::VAULT_PASSWORD)
        ),
        TargetKind::Docusign => format!(
            "oauth_base_url = \"{uri}\"\nintegration_key = \"ik-1\"\nuser_id = \"admin-guid\"\naccount_id = \"{DOCUSIGN_ACCOUNT}\"\nprivate_key_file = {:?}",
            secret_file(dir, "docusign.pem", DOCUSIGN_KEY)
        ),
        TargetKind::Eloqua => format!(
            "login_url = \"{uri}\"\ncompany = \"ACME\"\nusername_file = {:?}\npassword_file = {:?}",
            secret_file(dir, "eloqua.user", "svc-scim"),
            secret_file(dir, "eloqua.pass", "Eloqua-Pass-1")
        ),
    };
    parse_target(&format!("name = \"{name}\"\nkind = \"{name}\"\n{vendor}\n{extra}"))
}

/// `target` with `on_delete = "delete"` (the default is `deactivate`): for the tests of deletion.
pub fn deleting(target: TargetSettings) -> TargetSettings {
    TargetSettings {
        on_delete: Some(scim_bridge::config::OnDelete::Delete),
        ..target
    }
}

/// A target of `kind` at the fake's `uri`, its secrets written into `dir`.
pub fn target_for(kind: TargetKind, uri: &str, dir: &Path) -> TargetSettings {
    target_with(kind, uri, dir, "")
}

/// A Workspace365 target named `name` at `base_url` (ending in `/Provisioning`).
pub fn w365_target(name: &str, scope: Option<&str>, base_url: &str) -> TargetSettings {
    let dir = std::env::temp_dir();
    let key = secret_file(&dir, "scim-bridge-tests-w365.key", W365_KEY);
    let scope = scope.map(|s| format!("scope = {s:?}\n")).unwrap_or_default();
    parse_target(&format!(
        "name = \"{name}\"\nkind = \"workspace365\"\nbase_url = \"{base_url}\"\nenvironment = \"example\"\nprovisioning_key_file = {key:?}\n{scope}"
    ))
}

/// The stateful fakes of eSign, CyberArk, DocuSign and Eloqua, and a target at each (secrets in `dir`).
pub async fn four_fakes(dir: &Path) -> (Vec<wiremock::MockServer>, Vec<FakeVendor>, Vec<TargetSettings>) {
    let (mut servers, mut fakes, mut targets) = (Vec::new(), Vec::new(), Vec::new());
    for (vendor, kind) in [
        (Vendor::Esign, TargetKind::Esign),
        (Vendor::Cyberark, TargetKind::Cyberark),
        (Vendor::Docusign, TargetKind::Docusign),
        (Vendor::Eloqua, TargetKind::Eloqua),
    ] {
        let (server, fake) = FakeVendor::start(vendor).await;
        targets.push(target_for(kind, &server.uri(), dir));
        servers.push(server);
        fakes.push(fake);
    }
    (servers, fakes, targets)
}
