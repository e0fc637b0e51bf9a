//! The operator console in a real browser: headless Chromium driven by chromedriver over WebDriver
//! (fantoccini). Ignored by a plain `cargo test`, since it needs Debian's `chromium` and
//! `chromium-driver`; `.ci/run` installs them and runs it with `--ignored`. Each page it visits
//! is kept as a screenshot in `target/console-screenshots/`.
use crate::helpers::*;
use fantoccini::{Client, ClientBuilder, Locator};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A chromedriver child process, killed when dropped.
struct Chromedriver {
    child: Child,
    url: String,
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_chromedriver() -> Chromedriver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let program = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let child = Command::new(&program)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} did not start ({e}): apt-get install chromium chromium-driver"));
    let driver = Chromedriver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..100 {
        if reqwest::get(format!("{}/status", driver.url)).await.is_ok() {
            return driver;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not answer at {}", driver.url);
}

async fn open_browser(driver: &Chromedriver) -> Client {
    let mut options = serde_json::json!({
        "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900"]
    });
    if let Ok(binary) = std::env::var("CHROMIUM") {
        options["binary"] = binary.into();
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".into(), options);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

/// Where the screenshots go: `target/console-screenshots/` (CI keeps them as artefacts).
fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The page as a desktop (1280×900) and as a phone (390×844) shows it. On the phone every
/// error cell (`td.bad`) must be on screen: tables stack into cards instead of scrolling sideways.
async fn keep_screenshot(browser: &Client, name: &str) {
    for (width, height, suffix) in [(1280, 900, ""), (390, 844, "-phone")] {
        browser.set_window_size(width, height).await.unwrap();
        let png = browser.screenshot().await.unwrap();
        std::fs::write(screenshot_dir().join(format!("{name}{suffix}.png")), png).unwrap();
    }
    let off_screen = browser
        .execute(
            "return [...document.querySelectorAll('td.bad')]
                 .filter(td => td.textContent.trim() !== '')
                 .filter(td => { const r = td.getBoundingClientRect(); return r.left < 0 || r.right > window.innerWidth + 1; })
                 .map(td => td.textContent.trim().slice(0, 60));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        off_screen,
        serde_json::json!([]),
        "{name}: error cells off-screen on a phone"
    );
    browser.set_window_size(1280, 900).await.unwrap();
}

/// The text of the first element `css` selects once it holds `needle` (a click's navigation may
/// still be under way when the click returns); panics with what it held after 10 s.
async fn shows(browser: &Client, css: &str, needle: &str) -> String {
    let mut seen = String::new();
    for _ in 0..100 {
        if let Ok(element) = browser.find(Locator::Css(css)).await {
            seen = element.text().await.unwrap_or_default();
            if seen.contains(needle) {
                return seen;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never showed {needle:?}; it held:\n{seen}");
}

/// Waits until the browser is at `path`.
async fn arrives_at(browser: &Client, path: &str) {
    let mut at = String::new();
    for _ in 0..100 {
        at = browser.current_url().await.unwrap().path().to_owned();
        if at == path {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the browser is at {at}, not {path}");
}

async fn sign_in_with(browser: &Client, app: &TestApp, token: &str) {
    browser.goto(&format!("{}/admin", app.console)).await.unwrap();
    let field = browser.find(Locator::Css("input[name=token]")).await.unwrap();
    field.send_keys(token).await.unwrap();
    browser
        .find(Locator::XPath("//button[text()='Sign in']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn click_button(browser: &Client, label: &str) {
    browser
        .find(Locator::XPath(&format!("//button[text()='{label}']")))
        .await
        .unwrap_or_else(|e| panic!("no button {label:?}: {e}"))
        .click()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromium-driver (apt-get); .ci/run runs it"]
async fn an_operator_signs_in_finds_a_user_retries_a_dead_row_and_signs_out_in_chromium() {
    // A Workspace365 that refuses the user's domain: the row goes dead with the vendor's words.
    let (vendor, target) = crate::console::refusing_w365().await;
    let app = spawn_app_with(|s| s.target = vec![target]).await;
    let id = app.create_user(&user("bo@example.com")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.drain_sync().await;
    assert_eq!(app.store.sync_rows().await.unwrap()[0].state, "dead");
    let admin = crate::console::admin_token(&app).await;

    let driver = start_chromedriver().await;
    let browser = open_browser(&driver).await;

    // The IdP's SCIM token does not open the console.
    sign_in_with(&browser, &app, &app.token).await;
    shows(&browser, "main", "a SCIM token cannot sign in").await;
    arrives_at(&browser, "/admin/login").await;
    keep_screenshot(&browser, "1-sign-in-refused").await;

    // The admin token does; the target card shows the dead row.
    sign_in_with(&browser, &app, &admin).await;
    arrives_at(&browser, "/admin").await;
    let card = shows(&browser, "div.cards section.card", "w365").await;
    assert!(
        card.contains("dead\n1") && card.contains("1 calls, 1 failed") && card.contains("last success\nnever"),
        "{card}"
    );
    keep_screenshot(&browser, "2-targets").await;

    // Users: found by e-mail, with the vendor's words for the failure.
    browser
        .find(Locator::LinkText("Users"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let search = browser.find(Locator::Css("input[name=q]")).await.unwrap();
    search.send_keys("bo@example.com").await.unwrap();
    click_button(&browser, "Find").await;
    let card = shows(&browser, "section.card", "The domain is not allowed").await;
    assert!(card.contains("w365 creating - dead"), "{card}");
    keep_screenshot(&browser, "3-users").await;

    // Dead rows: the row, Retry, the confirmation, and then the vendor takes it.
    browser
        .find(Locator::LinkText("Dead rows"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let list = shows(&browser, "table", "bo@example.com").await;
    assert!(list.contains("The domain is not allowed"), "{list}");
    keep_screenshot(&browser, "4-dead-rows").await;
    crate::console::fix_w365(&vendor).await;
    click_button(&browser, "Retry").await;
    shows(&browser, "main", "Make the row of user").await;
    assert_eq!(app.store.sync_rows().await.unwrap()[0].state, "dead", "asked first");
    keep_screenshot(&browser, "5-retry-confirmation").await;
    click_button(&browser, "Yes, retry").await;
    shows(&browser, "main", "No dead row.").await;
    arrives_at(&browser, "/admin/dead").await;
    app.drain_sync().await;
    assert!(
        app.store.sync_rows().await.unwrap().is_empty(),
        "the retried row succeeded"
    );

    // Events: the failure and then the success, newest first.
    browser
        .find(Locator::LinkText("Events"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let events = shows(&browser, "table", "The domain is not allowed").await;
    let newest = events.lines().nth(1).unwrap_or_default();
    assert!(newest.contains("w365 bo@example.com create ok"), "{events}");
    keep_screenshot(&browser, "6-events").await;

    // Requests: the IdP's refused PATCH, sent three times, is one problem with its count; its
    // request id leads to the vendor steps of the create.
    let refused = serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "emails[type eq \"work\"", "value": "x@example.com"}]});
    for _ in 0..3 {
        let response = app.patch(&format!("/Users/{id}"), &refused).await;
        assert_eq!(response.status(), 400);
    }
    let failed = scim_bridge::store::RequestFilter {
        failed: true,
        ..Default::default()
    };
    for _ in 0..100 {
        if app.store.requests_page(&failed, 10).await.unwrap().len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    browser
        .find(Locator::LinkText("Requests"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let repeated = shows(&browser, "section.card", "3 ×").await;
    assert!(repeated.contains("400 invalidPath"), "{repeated}");
    keep_screenshot(&browser, "7-requests").await;
    browser
        .find(Locator::Css("input[name=failed]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click_button(&browser, "Show").await;
    let failures = shows(&browser, "main > table", "invalidPath").await;
    assert!(!failures.contains("POST"), "{failures}");
    keep_screenshot(&browser, "8-requests-failed").await;
    browser
        .find(Locator::LinkText("Targets"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let card = shows(&browser, "div.cards section.card", "last success").await;
    assert!(card.contains("dead\n0") && card.contains("2 calls, 1 failed"), "{card}");
    assert!(!card.contains("never"), "{card}");

    // Sign out: the session is gone, and the console asks to sign in again.
    click_button(&browser, "Sign out").await;
    arrives_at(&browser, "/admin/login").await;
    browser.goto(&format!("{}/admin/events", app.console)).await.unwrap();
    arrives_at(&browser, "/admin/login").await;
    shows(&browser, "main", "Admin token").await;
    keep_screenshot(&browser, "9-signed-out").await;
    browser.close().await.unwrap();
}
