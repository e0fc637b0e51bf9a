//! The real binary: first start, token commands, configuration errors, SIGTERM.
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_scim-bridge");

/// A command with a fresh database in `dir` and no config file from the working directory.
pub fn command(dir: &std::path::Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir)
        .env(
            "SCIM_BRIDGE__DATABASE__URL",
            format!("sqlite://{}/cli.db", dir.display()),
        )
        .env("SCIM_BRIDGE__SERVER__LISTEN", "127.0.0.1:0")
        .env("SCIM_BRIDGE__SERVER__ADMIN_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "warn");
    c
}

pub fn run(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = command(dir).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Starts `serve` and reads stdout up to the curl line (or EOF); returns the child and what it printed.
fn serve(dir: &std::path::Path) -> (Child, Vec<String>) {
    let mut child = command(dir)
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let done = line.trim_start().starts_with("curl");
        lines.push(line);
        if done {
            break;
        }
    }
    (child, lines)
}

fn sigterm(child: &Child) {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
}

#[tokio::test]
async fn first_start_prints_a_working_token_once_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, lines) = serve(dir.path());
    let token = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("scb_").map(|t| format!("scb_{t}")))
        .expect("a token line");
    let curl = lines.last().unwrap();
    let url = curl.split('\'').nth(3).unwrap().to_owned();
    let response = reqwest::Client::new()
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{url}");
    sigterm(&child);
    assert!(child.wait().unwrap().success(), "SIGTERM must end serve with success");

    // Second start: a token exists, so none is printed. Wait for the start-up log line, then stop.
    let mut second = command(dir.path())
        .env("RUST_LOG", "info")
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let stderr = BufReader::new(second.stderr.take().unwrap());
    // Keep draining stderr until the child exits: a closed pipe is not what we test here.
    let drain = std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if line.contains("serving SCIM") {
                let _ = started_tx.send(());
            }
        }
    });
    let started = started_rx.recv().is_ok();
    assert!(started, "the second start must serve");
    sigterm(&second);
    let out = second.wait_with_output().unwrap();
    drain.join().unwrap();
    assert!(out.status.success());
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("scb_"),
        "a token is printed only once"
    );
}

#[test]
fn token_create_list_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, token, _) = run(dir.path(), &["token", "create", "okta"]);
    assert!(
        ok && token.trim().starts_with("scb_") && token.trim().len() == 68,
        "{token}"
    );
    let (ok, _, err) = run(dir.path(), &["token", "create", "okta"]);
    assert!(
        !ok && err.contains("exists") && err.contains("token rotate okta") && err.contains("token revoke okta"),
        "{err}"
    );
    let (_, list, _) = run(dir.path(), &["token", "list"]);
    assert!(
        list.contains("okta") && list.contains("live") && !list.contains(token.trim()),
        "{list}"
    );
    let (ok, _, err) = run(dir.path(), &["token", "create", "ops", "--scope", "admin"]);
    assert!(ok && err.contains("(admin scope)"), "{err}");
    let (_, list, _) = run(dir.path(), &["token", "list"]);
    let scopes: Vec<&str> = list
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert_eq!(scopes, ["scim", "admin"], "{list}");
    let (ok, _, _) = run(dir.path(), &["token", "revoke", "okta"]);
    assert!(ok);
    let (_, list, _) = run(dir.path(), &["token", "list"]);
    assert!(list.contains("revoked"), "{list}");
    let (ok, _, err) = run(dir.path(), &["token", "revoke", "okta"]);
    assert!(!ok && err.contains("no live token"), "{err}");

    // A revoked name is free again; an expiring token says when.
    let (ok, again, err) = run(dir.path(), &["token", "create", "okta", "--expires", "90d"]);
    assert!(
        ok && again.trim() != token.trim() && err.contains(", expires 20"),
        "{err}"
    );
    let (_, list, _) = run(dir.path(), &["token", "list"]);
    let okta: Vec<&str> = list.lines().filter(|l| l.starts_with("okta ")).collect();
    assert_eq!(okta.len(), 2, "{list}");
    assert!(okta[0].contains("revoked") && okta[0].contains("never"), "{list}");
    let expires = |line: &str| line.split_whitespace().nth(4).unwrap().to_owned();
    assert!(
        okta[1].trim_end().ends_with("live") && expires(okta[1]).starts_with("20"),
        "{list}"
    );
    let (ok, _, err) = run(dir.path(), &["token", "create", "x", "--expires", "soon"]);
    assert!(!ok && err.contains("--expires"), "{err}");
}

#[test]
fn token_rotate_prints_a_new_secret_once_and_the_old_one_works_until_the_grace_ends() {
    let dir = tempfile::tempdir().unwrap();
    let (_, old, _) = run(dir.path(), &["token", "create", "okta"]);
    let (ok, new, err) = run(dir.path(), &["token", "rotate", "okta", "--grace", "2h"]);
    assert!(
        ok && new.trim().starts_with("scb_") && new.trim() != old.trim(),
        "{new} {err}"
    );
    assert!(
        err.contains("has a new secret") && err.contains("The old secret works until 20"),
        "{err}"
    );
    assert!(!err.contains("scb_"), "the secret goes to stdout only: {err}");
    let (_, list, _) = run(dir.path(), &["token", "list"]);
    let okta: Vec<&str> = list.lines().filter(|l| l.starts_with("okta ")).collect();
    assert_eq!(okta.len(), 2, "{list}");
    assert!(okta[0].contains("replaced, works until it expires"), "{list}");
    assert!(okta[1].trim_end().ends_with("live"), "{list}");
    assert!(!list.contains(old.trim()) && !list.contains(new.trim()), "{list}");

    let (ok, _, _) = run(dir.path(), &["token", "rotate", "okta", "--grace", "0s"]);
    assert!(ok);
    let (_, list, _) = run(dir.path(), &["token", "list"]);
    let states: Vec<&str> = list
        .lines()
        .filter(|l| l.starts_with("okta "))
        .map(|l| l.rsplit("  ").next().unwrap().trim())
        .collect();
    assert_eq!(
        states,
        ["replaced, works until it expires", "replaced", "live"],
        "a grace of 0s stops the old secret now: {list}"
    );
    let (ok, _, err) = run(dir.path(), &["token", "rotate", "nobody"]);
    assert!(!ok && err.contains("no live token named 'nobody'"), "{err}");
}

#[test]
fn configuration_mistakes_fail_at_start_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = run(dir.path(), &["--config", "nowhere.toml", "token", "list"]);
    assert!(!ok && err.contains("nowhere.toml does not exist"), "{err}");
    std::fs::write(
        dir.path().join("scim-bridge.toml"),
        "[server]\nlisten = \"127.0.0.1:0\"\nbase_pth = \"/x\"\n",
    )
    .unwrap();
    let (ok, _, err) = run(dir.path(), &["token", "list"]);
    assert!(!ok && err.contains("base_pth"), "{err}");
    let (ok, _, err) = command(dir.path())
        .env("SCIM_BRIDGE__SERVER__LISTEN", "not-an-address")
        .args(["--config", "/dev/null", "token", "list"])
        .output()
        .map(|o| (o.status.success(), (), String::from_utf8_lossy(&o.stderr).into_owned()))
        .unwrap();
    assert!(!ok && err.contains("server.listen"), "{err}");
    let stderr_of = |cmd: &mut Command| {
        let out = cmd.output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (ok, err) = stderr_of(
        command(dir.path())
            .env("SCIM_BRIDGE__SERVER__ADMIN_LISTEN", "console")
            .args(["--config", "/dev/null", "token", "list"]),
    );
    assert!(
        !ok && err.contains("server.admin_listen 'console'") && err.contains("'same' or 'off'"),
        "{err}"
    );
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (ok, err) = stderr_of(
        command(dir.path())
            .env(
                "SCIM_BRIDGE__SERVER__ADMIN_LISTEN",
                taken.local_addr().unwrap().to_string(),
            )
            .args(["--config", "/dev/null", "serve"]),
    );
    assert!(!ok && err.contains("for the console (server.admin_listen"), "{err}");
}

/// Regression: a server whose stderr reader went away used to exit 101 on its next log line.
#[test]
fn a_closed_stderr_does_not_take_the_server_down() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), &["token", "create", "first"]);
    let mut child = command(dir.path())
        .env("RUST_LOG", "info")
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let started = stderr
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains("serving SCIM"));
    assert!(started);
    // The reader is gone now: the shutdown log lines meet a closed pipe.
    sigterm(&child);
    assert!(child.wait().unwrap().success());
}

/// Regression: `serve | head -1`, or an init system that closed standard output, used to kill the
/// first start at its token lines (println! panics on a closed pipe).
#[test]
fn a_closed_stdout_at_first_start_does_not_take_the_server_down() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = command(dir.path())
        .env("RUST_LOG", "info")
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    for line in stderr.lines().map_while(Result::ok) {
        let started = line.contains("serving SCIM");
        seen.push(line);
        if started {
            break;
        }
    }
    let log = seen.join("\n");
    assert!(log.contains("serving SCIM"), "{log}");
    assert!(log.contains("the first token could not be printed"), "{log}");
    assert!(!log.contains("scb_"), "no secret in the log: {log}");
    assert!(child.try_wait().unwrap().is_none(), "still serving");
    sigterm(&child);
    child.wait().unwrap();
}

/// The reproduction: in the wrong folder (no configuration, no database) every operator
/// command used to create `scim-bridge.db` and report an empty, healthy bridge.
#[test]
fn a_command_run_in_the_wrong_folder_names_what_it_looked_for_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let wrong_folder = || {
        let mut c = Command::new(BIN);
        c.current_dir(dir.path())
            .env_remove("SCIM_BRIDGE__DATABASE__URL")
            .env("RUST_LOG", "warn");
        c
    };
    let database = dir.path().join("scim-bridge.db");
    for args in [
        &["lookup", "alice@example.com"][..],
        &["sync", "status"],
        &["sync", "retry"],
        &["token", "list"],
        &["check"],
    ] {
        let out = wrong_folder().args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let text = format!("{}{err}", String::from_utf8_lossy(&out.stdout));
        assert!(!out.status.success(), "{args:?}: {text}");
        assert!(
            err.lines()
                .next()
                .unwrap_or_default()
                .starts_with("scim-bridge: configuration none"),
            "{args:?}: the first line says which configuration: {err}"
        );
        let looked_in = format!("(looked in {})", dir.path().canonicalize().unwrap().display());
        assert!(
            text.contains(&format!("no database at {}", database.display())) || text.contains(&looked_in),
            "{args:?}: {text}"
        );
        assert!(!database.exists(), "{args:?} created a database");
    }
    let out = wrong_folder().arg("init").output().unwrap();
    assert!(out.status.success() && database.exists(), "{out:?}");
    let out = wrong_folder().args(["sync", "status"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    let canonical = dir.path().canonicalize().unwrap().join("scim-bridge.db");
    assert!(
        err.contains(&format!("database {}", database.display()))
            || err.contains(&format!("database {}", canonical.display())),
        "{err}"
    );
}

/// Starts `serve` on the database in `dir` (a token exists, so nothing is printed) and waits
/// until it serves.
fn serve_quietly(dir: &std::path::Path) -> Child {
    let mut child = command(dir)
        .env("RUST_LOG", "info")
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if line.contains("serving SCIM") {
                let _ = started_tx.send(());
            }
        }
    });
    started_rx.recv().expect("serve starts");
    child
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_backup_taken_while_serving_restores_with_the_server_stopped_and_keeps_what_it_replaced() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), &["token", "create", "okta"]);
    run(dir.path(), &["token", "create", "entra"]);
    let mut server = serve_quietly(dir.path());
    let backup = dir.path().join("nightly.db");
    let (ok, out, err) = run(dir.path(), &["backup", backup.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(
        out.contains("0 users, 0 groups, 2 tokens") && out.contains("integrity checked") && out.contains("secrets key"),
        "{out}"
    );
    assert_eq!(mode(&backup), 0o600, "a backup holds hashed tokens and users' data");
    let (ok, _, err) = run(dir.path(), &["backup", backup.to_str().unwrap()]);
    assert!(!ok && err.contains("exists: a backup never overwrites"), "{err}");

    run(dir.path(), &["token", "create", "after-the-backup"]);
    let (ok, _, err) = run(dir.path(), &["restore", backup.to_str().unwrap()]);
    assert!(!ok && err.contains("a server is running"), "{err}");
    sigterm(&server);
    assert!(server.wait().unwrap().success());

    let (ok, _, err) = run(dir.path(), &["restore", dir.path().join("cli.db").to_str().unwrap()]);
    assert!(!ok && err.contains("is the database itself"), "{err}");
    let not_a_database = dir.path().join("notes.txt");
    std::fs::write(&not_a_database, "hello").unwrap();
    let (ok, _, err) = run(dir.path(), &["restore", not_a_database.to_str().unwrap()]);
    assert!(!ok && err.contains("not a scim-bridge database"), "{err}");
    let (_, list, _) = run(dir.path(), &["token", "list"]);
    assert!(
        list.contains("after-the-backup"),
        "a refused restore changes nothing: {list}"
    );

    let (ok, out, err) = run(dir.path(), &["restore", backup.to_str().unwrap()]);
    assert!(
        ok && out.contains("2 tokens") && out.contains("is kept at"),
        "{out} {err}"
    );
    let (_, list, _) = run(dir.path(), &["token", "list"]);
    assert!(
        list.contains("okta") && list.contains("entra") && !list.contains("after-the-backup"),
        "{list}"
    );
    assert_eq!(mode(&dir.path().join("cli.db")), 0o600);
    let kept: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("cli.db.before-restore-") && !n.ends_with("-wal") && !n.ends_with("-shm"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let replaced = format!("sqlite://{}", dir.path().join(&kept[0]).display());
    let listed = command(dir.path())
        .env("SCIM_BRIDGE__DATABASE__URL", &replaced)
        .args(["token", "list"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains("after-the-backup"),
        "the replaced database is whole"
    );
    let mut again = serve_quietly(dir.path());
    sigterm(&again);
    assert!(again.wait().unwrap().success(), "the restored database serves");
}

#[test]
fn on_postgresql_backup_names_pg_dump_without_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path())
        .env(
            "SCIM_BRIDGE__DATABASE__URL",
            "postgres://bridge:s3cret@db.example.com/bridge",
        )
        .args(["backup", "x.dump"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("pg_dump --format=custom --file='x.dump' 'postgres://bridge@db.example.com/bridge'"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
}

#[test]
fn the_packaged_configuration_starts_as_shipped_and_with_its_example_target() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/scim-bridge.toml");
    let (ok, _, err) = run(dir.path(), &["--config", shipped, "init"]);
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(shipped).unwrap();
    let credentials = "/run/credentials/scim-bridge.service/";
    assert!(text.contains(credentials));
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s3cret\n").unwrap();
    let example: String = text
        .lines()
        .skip_while(|l| !l.starts_with("# [[target]]"))
        .map(|l| {
            l.trim_start_matches("# ")
                .replace(&format!("{credentials}cyberark_user"), secret.to_str().unwrap())
        })
        .map(|l| l.replace(&format!("{credentials}cyberark_password"), secret.to_str().unwrap()))
        .collect::<Vec<_>>()
        .join("\n");
    let uncommented = dir.path().join("with-target.toml");
    std::fs::write(
        &uncommented,
        text.replace(text.split("# [[target]]").nth(1).unwrap(), "") + "\n" + &example,
    )
    .unwrap();
    let (ok, _, err) = run(dir.path(), &["--config", uncommented.to_str().unwrap(), "init"]);
    assert!(ok, "{err}\n{}", std::fs::read_to_string(&uncommented).unwrap());
}

#[test]
fn the_database_url_can_come_from_a_file_so_its_password_is_never_in_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let url_file = dir.path().join("database_url");
    std::fs::write(&url_file, format!("sqlite://{}/from-file.db\n", dir.path().display())).unwrap();
    let out = command(dir.path())
        .env("SCIM_BRIDGE__DATABASE__URL_FILE", &url_file)
        .args(["token", "create", "okta"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        dir.path().join("from-file.db").exists() && !dir.path().join("cli.db").exists(),
        "{err}"
    );
    let missing = command(dir.path())
        .env("SCIM_BRIDGE__DATABASE__URL_FILE", dir.path().join("nowhere"))
        .args(["token", "list"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success() && err.contains("database.url"), "{err}");
}
