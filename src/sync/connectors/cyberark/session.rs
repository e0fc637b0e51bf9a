//! The PVWA session (`Logon`, `Logoff`, renewal when refused) and reading the vault's answers.
use super::wire::{Logon, Server, VaultError};
use super::{Cyberark, MINIMUM_VERSION};
use crate::sync::answer::{classify, expect_json, read_json, to_json, unreadable};
use crate::sync::client::{excerpt, VendorResponse};
use crate::sync::{ConnectorError, Secret};
use reqwest::Method;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Serialize;

impl Cyberark {
    /// `POST /API/auth/{method}/Logon/`: the session token, a bare JSON string.
    pub(super) async fn logon(&self) -> Result<(Secret, Option<std::time::Duration>), ConnectorError> {
        let body = Logon::new(&self.settings.username, &self.settings.password);
        let url = self.api(&format!("auth/{}/Logon/", self.settings.auth_method));
        let request = self
            .client
            .request(Method::POST, &url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .body(to_json(&body)?);
        let response = self.client.send(request).await?;
        if response.is_success() {
            let token =
                serde_json::from_str::<String>(&response.body).unwrap_or_else(|_| response.body.trim().to_owned());
            if token.is_empty() {
                return Err(unreadable("Logon", &response.body));
            }
            return Ok((Secret::new(token), None));
        }
        let code = VaultError::of(&response.body).error_code;
        match (response.status, code.as_deref()) {
            // A wrong user or password is not retried in a loop (PASWS013E), nor is a RADIUS challenge.
            (400 | 401 | 403, _) | (_, Some("PASWS013E" | "ITATS542I")) => Err(ConnectorError::refused(format!(
                "Logon refused: {}",
                vault_words(&response.body)
            ))),
            _ => Err(classify(&response)),
        }
    }

    /// `POST /API/Auth/Logoff` with the session token.
    pub(super) async fn logoff(&self, token: &Secret) -> Result<(), ConnectorError> {
        let request = self.authorized(Method::POST, &self.api("Auth/Logoff"), token, None);
        let response = self.client.send(request).await?;
        done(&response, "Logoff")
    }

    /// `GET /WebServices/PIMServices.svc/Server`'s `ExternalVersion`; `None` when the account may
    /// not read it (it needs vault administrator rights) or the call fails.
    pub(super) async fn version(&self, token: &Secret) -> Option<String> {
        let url = format!(
            "{}/WebServices/PIMServices.svc/Server",
            self.settings.base_url.trim_end_matches('/')
        );
        let response = self
            .client
            .send(self.authorized(Method::GET, &url, token, None))
            .await
            .ok()?;
        let server: Server = expect(&response, "server version").ok()?;
        server.external_version
    }

    /// A request with the session token, raw, and the body (or an explicit zero length).
    fn authorized(&self, method: Method, url: &str, token: &Secret, body: Option<&str>) -> reqwest::RequestBuilder {
        let request = self
            .client
            .request(method, url)
            .header("Authorization", token.expose())
            .header("Accept", "application/json");
        match body {
            Some(json) => request.header("Content-Type", "application/json").body(json.to_owned()),
            None => request.header("Content-Length", "0").body(Vec::new()),
        }
    }

    /// One call with the cached session; a refused session (401, `PASWS006E`) is renewed once.
    pub(super) async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<&impl Serialize>,
    ) -> Result<VendorResponse, ConnectorError> {
        let body = body.map(to_json).transpose()?;
        self.session
            .renewing(
                || self.logon(),
                |token| {
                    self.client
                        .send(self.authorized(method.clone(), url, &token, body.as_deref()))
                },
                |r| r.status == 401 || VaultError::of(&r.body).error_code.as_deref() == Some("PASWS006E"),
                "a new session was refused as well (401 / PASWS006E)",
            )
            .await
    }

    pub(super) async fn call_json<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &str,
        body: Option<&impl Serialize>,
        what: &str,
    ) -> Result<T, ConnectorError> {
        expect(&self.call(method, url, body).await?, what)
    }
}

/// A 2xx body as `T`; an error keeps the vault's code, and a 405 says what usually causes it.
pub(super) fn expect<T: DeserializeOwned>(response: &VendorResponse, what: &str) -> Result<T, ConnectorError> {
    if response.status == 405 {
        return Err(ConnectorError::permanent(
            Some(405),
            format!(
                "{what}: HTTP 405: {} (WebDAV publishing on the PVWA's IIS blocks PUT and DELETE)",
                vault_words(&response.body)
            ),
        ));
    }
    if response.is_success() {
        return read_json(what, &response.body);
    }
    expect_json(response, what, vault_words)
}

/// A 2xx answer whose body is not read (JSON or not); any other answer as `expect` sorts it.
pub(super) fn done(response: &VendorResponse, what: &str) -> Result<(), ConnectorError> {
    if response.is_success() {
        return Ok(());
    }
    expect::<IgnoredAny>(response, what).map(drop)
}

/// `PASWS041E: You are not authorized…`, with the `Details` the vault adds; else the body's start.
pub(super) fn vault_words(body: &str) -> String {
    VaultError::of(body).describe().unwrap_or_else(|| excerpt(body))
}

/// Why a PVWA version is too old for the bridge, if it is.
pub(super) fn too_old(version: &str) -> Option<String> {
    let mut parts = version.trim().trim_start_matches('v').split('.');
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    let (need_major, need_minor) = MINIMUM_VERSION;
    ((major, minor) < MINIMUM_VERSION).then(|| {
        format!(
            "the PVWA is version {version}; the bridge needs {need_major}.{need_minor} or later for the enable/ and disable/ routes (docs/vendors/cyberark.md)"
        )
    })
}
