//! Reloading the configuration without a restart (README "Reloading the configuration"): SIGHUP
//! to the real binary and the console's Reload button read the file and the `*_file` secrets
//! again; a fixed secret ends the credentials wait at once, targets are added, removed, switched
//! from observe to write and re-scoped, every change is logged by name and never by value, and a
//! broken file leaves the running configuration in place.
use crate::console::{admin_token, no_redirects, session_cookie, sign_in};
use crate::crash::{create_token, serve, signal, wait_until, Client};
use crate::fake_vendors::{FakeVendor, Vendor, VAULT_PASSWORD};
use crate::helpers::*;
use crate::plan::person;
use crate::targets::target_for;
use reqwest::header::COOKIE;
use scim_bridge::config::{TargetKind, TargetMode, TargetSettings};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `bridge.toml` in `dir`: listening on a free port, the database `reload.db` beside it.
fn write_config(dir: &Path, database_url: &str, targets: &[TargetSettings]) -> PathBuf {
    #[derive(serde::Serialize)]
    struct File<'a> {
        server: toml::Table,
        database: toml::Table,
        target: &'a [TargetSettings],
    }
    let mut server = toml::Table::new();
    server.insert("listen".into(), "127.0.0.1:0".into());
    let mut database = toml::Table::new();
    database.insert("url".into(), database_url.into());
    let text = toml::to_string(&File {
        server,
        database,
        target: targets,
    })
    .unwrap();
    let path = dir.join("bridge.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn logons(fake: &FakeVendor) -> usize {
    fake.calls().iter().filter(|c| c.ends_with("/Logon/")).count()
}

fn writes(fake: &FakeVendor) -> usize {
    fake.calls()
        .iter()
        .filter(|c| !crate::plan::is_read(c) && !c.ends_with("/Logon/") && !c.ends_with("/Logoff/"))
        .count()
}

fn logged(log: &std::sync::Mutex<Vec<String>>, what: &str) -> bool {
    log.lock().unwrap().iter().any(|l| l.contains(what))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_ends_the_credentials_wait_adds_switches_and_removes_targets_and_keeps_running_on_a_broken_file() {
    let (vault_server, vault) = FakeVendor::start(Vendor::Cyberark).await;
    let (eloqua_server, eloqua) = FakeVendor::start(Vendor::Eloqua).await;
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("reload.db").display());
    let cyberark = target_for(TargetKind::Cyberark, &vault_server.uri(), dir.path());
    let password_file = dir.path().join("vault.pass");
    std::fs::write(&password_file, "Wrong-Vault-Pass-1\n").unwrap();
    let config = write_config(dir.path(), &database, std::slice::from_ref(&cyberark));
    let token = create_token(&config);
    let mut server = serve(&config);
    let client = Client {
        http: reqwest::Client::new(),
        base: server.base.clone(),
        token,
    };
    let refused = r#"scim_bridge_target_state{target="cyberark",state="credentials_refused"} 1"#;
    let metrics_say = |line: &'static str| {
        let client = &client;
        async move { client.metrics().await.is_some_and(|m| m.contains(line)) }
    };
    for _ in 0..600 {
        if metrics_say(refused).await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(metrics_say(refused).await, "the probe at start met the wrong password");
    for name in ["ann", "bob", "cat"] {
        client.send(reqwest::Method::POST, "/Users", Some(person(name))).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(logons(&vault), 1, "the rows wait for the wait: {:?}", vault.calls());

    // The password is fixed in its file; SIGHUP signs in at once, not after auth_retry_secs (300 s).
    std::fs::write(&password_file, format!("{VAULT_PASSWORD}\n")).unwrap();
    signal(&server.child, "-HUP");
    wait_until("the users to reach the vault", || vault.users().len() == 3).await;
    assert!(logged(&server.log, "target 'cyberark': a secret's content changed"));
    assert!(logged(&server.log, "the vendor takes the bridge's credentials again"));

    // A broken file: refused, the running configuration stays and keeps working.
    std::fs::write(&config, "[[target]\nname = ").unwrap();
    signal(&server.child, "-HUP");
    wait_until("the refusal to be logged", || logged(&server.log, "reload refused")).await;
    client.send(reqwest::Method::POST, "/Users", Some(person("dan"))).await;
    wait_until("dan to reach the vault", || vault.users().len() == 4).await;

    // Eloqua added in observe mode: the four users are queued at once and only planned.
    let mut observed = target_for(TargetKind::Eloqua, &eloqua_server.uri(), dir.path());
    observed.mode = TargetMode::Observe;
    write_config(dir.path(), &database, &[cyberark.clone(), observed.clone()]);
    signal(&server.child, "-HUP");
    wait_until("eloqua to be added", || logged(&server.log, "target 'eloqua' added")).await;
    let planned = || async {
        let out = crate::crash::bridge(&config).args(["sync", "status"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let mut status = String::new();
    for _ in 0..300 {
        status = planned().await;
        if status.contains("eloqua: 4 row(s) planned in observe mode") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(status.contains("eloqua: 4 row(s) planned in observe mode"), "{status}");
    assert_eq!(writes(&eloqua), 0, "observe mode writes nothing: {:?}", eloqua.calls());

    // Eloqua switched to write, CyberArk removed: the plans are carried out; CyberArk is not called.
    let writing = TargetSettings {
        mode: TargetMode::Write,
        ..observed.clone()
    };
    write_config(dir.path(), &database, &[writing]);
    signal(&server.child, "-HUP");
    wait_until("the plans to be carried out", || eloqua.users().len() == 4).await;
    assert!(logged(&server.log, "target 'eloqua': `mode` changed"));
    assert!(logged(&server.log, "target 'cyberark' removed"));
    let vault_calls = vault.calls().len();
    client.send(reqwest::Method::POST, "/Users", Some(person("eve"))).await;
    wait_until("eve to reach eloqua", || eloqua.users().len() == 5).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        vault.calls()[vault_calls..]
            .iter()
            .filter(|c| c.contains("/API/Users"))
            .count(),
        0,
        "a removed target is not called: {:?}",
        &vault.calls()[vault_calls..]
    );

    let log = server.log.lock().unwrap().join("\n");
    for secret in ["Wrong-Vault-Pass-1", VAULT_PASSWORD, "Eloqua-Pass-1"] {
        assert!(!log.contains(secret), "a secret in the log: {log}");
    }
    drop(log);
    signal(&server.child, "-TERM");
    assert!(server.child.wait().unwrap().success());
}

/// The page text of a console form post.
async fn post_reload(app: &TestApp, cookie: &str, csrf: &str) -> (u16, String) {
    let response = no_redirects()
        .post(format!("{}/admin/reload", app.console))
        .header(COOKIE, cookie)
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn the_console_reload_button_needs_the_csrf_token_applies_a_new_target_and_scope_and_refuses_an_inline_secret() {
    let (vault_server, vault) = FakeVendor::start(Vendor::Cyberark).await;
    let (eloqua_server, eloqua) = FakeVendor::start(Vendor::Eloqua).await;
    let dir = tempfile::tempdir().unwrap();
    let cyberark = target_for(TargetKind::Cyberark, &vault_server.uri(), dir.path());
    let mut file = PathBuf::new();
    let app = spawn_app_with(|s| {
        file = write_config(dir.path(), &s.database.url, std::slice::from_ref(&cyberark));
        s.file = Some(file.clone());
        s.target = vec![cyberark.clone()];
    })
    .await;
    for name in ["fay", "gus"] {
        app.create_user(&person(name)).await;
    }
    let mut engineer = person("hal");
    engineer["title"] = "Accountant".into();
    app.create_user(&engineer).await;
    app.drain_sync().await;
    assert_eq!(vault.users().len(), 3);

    let signed_in = sign_in(&app, &admin_token(&app).await).await;
    let cookie = session_cookie(&signed_in);
    let html = no_redirects()
        .get(format!("{}/admin", app.console))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Reload configuration"), "{html}");
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    let eloqua_target = TargetSettings {
        scope: Some(r#"title eq "Engineer""#.into()),
        ..target_for(TargetKind::Eloqua, &eloqua_server.uri(), dir.path())
    };
    write_config(
        dir.path(),
        &app.database_url,
        &[cyberark.clone(), eloqua_target.clone()],
    );
    let (status, _) = post_reload(&app, &cookie, "forged").await;
    assert_eq!(status, 403, "a forged form is refused");
    app.drain_sync().await;
    assert!(eloqua.calls().is_empty(), "nothing was reloaded by the forged form");

    let (status, page) = post_reload(&app, &cookie, &csrf).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("target &#39;eloqua&#39; added") || page.contains("target 'eloqua' added"),
        "{page}"
    );
    app.drain_sync().await;
    assert_eq!(eloqua.users().len(), 2, "the two engineers: {:?}", eloqua.calls());
    let targets_page = no_redirects()
        .get(format!("{}/admin", app.console))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(targets_page.contains("<h2>eloqua</h2>"), "{targets_page}");

    // The scope edited: the accountant is queued now, not at its next change.
    let widened = TargetSettings {
        scope: Some(r#"title eq "Engineer" or title eq "Accountant""#.into()),
        ..eloqua_target.clone()
    };
    write_config(dir.path(), &app.database_url, &[cyberark.clone(), widened]);
    let (status, page) = post_reload(&app, &cookie, &csrf).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("`scope` changed"), "{page}");
    app.drain_sync().await;
    assert_eq!(eloqua.users().len(), 3, "{:?}", eloqua.calls());

    // A secret written inline: refused without repeating it; both targets stay.
    let text = std::fs::read_to_string(&file).unwrap();
    let password_table = format!(
        "[target.password]\nfile = {:?}\n",
        dir.path().join("vault.pass").display().to_string()
    );
    let inline = text.replacen(&password_table, "", 1).replacen(
        "name = \"cyberark\"\n",
        "name = \"cyberark\"\npassword = \"Inline-Vault-S3cret\"\n",
        1,
    );
    assert_ne!(inline, text, "the file names the vault's password file");
    std::fs::write(&file, inline).unwrap();
    let (status, page) = post_reload(&app, &cookie, &csrf).await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("not reloaded"), "{page}");
    assert!(!page.contains("Inline-Vault-S3cret"), "{page}");
    app.create_user(&person("ida")).await;
    app.drain_sync().await;
    assert_eq!(vault.users().len(), 4, "cyberark still runs: {:?}", vault.calls());
    assert_eq!(eloqua.users().len(), 4, "eloqua still runs: {:?}", eloqua.calls());
}
