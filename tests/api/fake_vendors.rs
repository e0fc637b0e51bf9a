//! Stateful fakes of eSign, CyberArk, DocuSign and Eloqua for end-to-end tests: each holds users as
//! the documented calls change them (docs/vendors/), refuses calls without the
//! credential it issued, and records every call.
use crate::weather::Faults;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wiremock::{MockServer, Request, Respond, ResponseTemplate};

pub const ESIGN_API_KEY: &str = "esign-encrypted-api-key";
pub const ESIGN_SALT: &str = "test123";
pub const VAULT_SESSION: &str = "vault-session-token";
pub const VAULT_PASSWORD: &str = "vault-pass";
pub const DOCUSIGN_ACCOUNT: &str = "acc-0001";
pub const ELOQUA_BASIC: &str = "Basic QUNNRVxzdmMtc2NpbTpFbG9xdWEtUGFzcy0x";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    Esign,
    Cyberark,
    Docusign,
    Eloqua,
}

#[derive(Default)]
pub struct State {
    /// Vendor id → the user as the vendor holds it.
    pub users: BTreeMap<String, Value>,
    /// "METHOD path" of every call, in arrival order.
    pub calls: Vec<String>,
    /// When each call arrived.
    pub arrivals: Vec<Instant>,
    /// Calls that break the vendor's contract as the bridge should use it: a create of a user the
    /// vendor already holds (the bridge looks up first).
    pub violations: Vec<String>,
    /// CyberArk: the bridge's password is wrong (Logon answers 403 `PASWS013E`, as a vault does,
    /// also to any password but `VAULT_PASSWORD`).
    pub refuse_logon: bool,
    /// DocuSign: a create with a closed user's e-mail re-opens it (the bridge's GUESS); `false`
    /// answers USER_ALREADY_EXISTS_IN_ACCOUNT and keeps the user closed, as one report says.
    pub docusign_reopens_by_post: bool,
    /// DocuSign: the account uses SSO, so an administrator's PUT may change a user's e-mail.
    pub docusign_sso: bool,
    /// The next create is carried out but answered 500, as when the answer is lost.
    pub lose_next_create_answer: bool,
    /// The vendor's groups as (id, name): CyberArk vault groups, DocuSign account groups, Eloqua
    /// security groups. A user's memberships live in its own record, as the vendor lists them.
    pub groups: Vec<(String, String)>,
    /// DocuSign's permission profiles as (id, name).
    pub profiles: Vec<(String, String)>,
    next: u64,
    uri: String,
}

#[derive(Clone)]
pub struct FakeVendor {
    pub vendor: Vendor,
    pub state: Arc<Mutex<State>>,
    weather: Arc<Mutex<Option<Arc<Faults>>>>,
    /// How long every answer waits.
    delay: Duration,
}

impl FakeVendor {
    pub async fn start(vendor: Vendor) -> (MockServer, Self) {
        Self::start_slow(vendor, Duration::ZERO).await
    }

    /// A fake whose every answer waits `delay`, so that calls overlap and `max_in_flight` sees it.
    pub async fn start_slow(vendor: Vendor, delay: Duration) -> (MockServer, Self) {
        let server = MockServer::start().await;
        let fake = Self {
            vendor,
            state: Arc::default(),
            weather: Arc::default(),
            delay,
        };
        {
            let mut state = fake.state.lock().unwrap();
            state.uri = server.uri();
            state.docusign_reopens_by_post = true;
            // The convergence suites rename e-mails, which DocuSign allows on SSO accounts only;
            // `vendor_truth` turns it off to show the other case.
            state.docusign_sso = true;
        }
        wiremock::Mock::given(wiremock::matchers::any())
            .respond_with(fake.clone())
            .mount(&server)
            .await;
        (server, fake)
    }

    pub fn users(&self) -> Vec<Value> {
        self.state.lock().unwrap().users.values().cloned().collect()
    }

    pub fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }

    /// From now on a share of calls fails as `faults` deals them (tests/api/weather.rs).
    pub fn set_weather(&self, faults: Arc<Faults>) {
        *self.weather.lock().unwrap() = Some(faults);
    }

    /// The most calls in flight at once (`start_slow` fakes only).
    pub fn max_in_flight(&self) -> usize {
        max_overlap(&self.state.lock().unwrap().arrivals, self.delay)
    }

    pub fn violations(&self) -> Vec<String> {
        self.state.lock().unwrap().violations.clone()
    }

    /// Puts a user in the vendor's store directly (one made before the bridge).
    pub fn seed(&self, id: &str, user: Value) {
        self.state.lock().unwrap().users.insert(id.to_owned(), user);
    }
}

/// Entitlements at the fakes (issue 30): the vendor's groups and profiles, and who holds which.
impl FakeVendor {
    /// (the field a user is found by, its list of groups, a group's name in that list).
    fn membership_keys(&self) -> (&'static str, &'static str, &'static str) {
        match self.vendor {
            Vendor::Cyberark => ("username", "groupsMembership", "groupName"),
            Vendor::Docusign => ("email", "groupList", "groupName"),
            Vendor::Eloqua => ("emailAddress", "securityGroups", "name"),
            Vendor::Esign => panic!("eSign has no groups"),
        }
    }

    /// A group the vendor has (made by hand in its portal); its id.
    pub fn add_group(&self, name: &str) -> String {
        let mut state = self.state.lock().unwrap();
        let id = (100 + state.groups.len()).to_string();
        state.groups.push((id.clone(), name.to_owned()));
        id
    }

    /// A group deleted by hand at the vendor (its members lose it too).
    pub fn delete_group(&self, name: &str) {
        let (_, list, named) = self.membership_keys();
        let mut state = self.state.lock().unwrap();
        state.groups.retain(|(_, n)| n != name);
        for user in state.users.values_mut() {
            if let Some(groups) = user[list].as_array_mut() {
                groups.retain(|g| g[named] != json!(name));
            }
        }
    }

    /// A DocuSign permission profile; the first one made is the account's default.
    pub fn add_profile(&self, name: &str) -> String {
        let mut state = self.state.lock().unwrap();
        let id = (200 + state.profiles.len()).to_string();
        state.profiles.push((id.clone(), name.to_owned()));
        id
    }

    /// The names of the groups the user filed under `key` is in, sorted.
    pub fn groups_of(&self, key: &str) -> Vec<String> {
        let (by, list, named) = self.membership_keys();
        let state = self.state.lock().unwrap();
        let user = state
            .users
            .values()
            .find(|u| u[by].as_str().is_some_and(|v| v.eq_ignore_ascii_case(key)))
            .unwrap_or_else(|| panic!("no user {key}"));
        let mut names: Vec<String> = user[list]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g[named].as_str().map(str::to_owned))
            .collect();
        names.sort();
        names
    }

    /// An administrator puts the user in a group by hand.
    pub fn grant_by_hand(&self, key: &str, group: &str) {
        let (by, list, named) = self.membership_keys();
        let mut state = self.state.lock().unwrap();
        let (id, name) = state.groups.iter().find(|(_, n)| n == group).cloned().expect("group");
        let user = state
            .users
            .values_mut()
            .find(|u| u[by].as_str().is_some_and(|v| v.eq_ignore_ascii_case(key)))
            .expect("user");
        let entry = match self.vendor {
            Vendor::Cyberark => json!({"groupID": id.parse::<u64>().unwrap(), named: name, "groupType": "Vault"}),
            Vendor::Docusign => json!({"groupId": id, named: name}),
            _ => json!({"type": "SecurityGroup", "id": id, named: name}),
        };
        let mut groups = user[list].as_array().cloned().unwrap_or_default();
        groups.push(entry);
        user[list] = json!(groups);
    }

    /// An administrator takes the user out of a group by hand.
    pub fn revoke_by_hand(&self, key: &str, group: &str) {
        let (by, list, named) = self.membership_keys();
        let mut state = self.state.lock().unwrap();
        let user = state
            .users
            .values_mut()
            .find(|u| u[by].as_str().is_some_and(|v| v.eq_ignore_ascii_case(key)))
            .expect("user");
        if let Some(groups) = user[list].as_array_mut() {
            groups.retain(|g| g[named] != json!(group));
        }
    }

    /// DocuSign: the permission profile the user with this e-mail has.
    pub fn profile_of(&self, email: &str) -> Option<String> {
        let state = self.state.lock().unwrap();
        let user = state
            .users
            .values()
            .find(|u| u["email"].as_str().is_some_and(|v| v.eq_ignore_ascii_case(email)))?;
        user["permissionProfileName"].as_str().map(str::to_owned)
    }
}

impl Respond for FakeVendor {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let weather = self.weather.lock().unwrap().clone();
        let Some(faults) = weather else {
            return self.answer(request).set_delay(self.delay);
        };
        match faults.roll() {
            None => self.answer(request),
            Some(fault) => match Faults::refusal(fault, self.vendor == Vendor::Docusign) {
                Some(refusal) => refusal,
                None => self.answer(request).set_delay(faults.hang()),
            },
        }
    }
}

impl FakeVendor {
    fn answer(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.state.lock().unwrap();
        state.calls.push(format!("{} {}", request.method, request.url.path()));
        state.arrivals.push(Instant::now());
        let body: Value = request.body_json().unwrap_or(Value::Null);
        let auth = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let query = |key: &str| {
            request
                .url
                .query_pairs()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let segments: Vec<&str> = request.url.path().trim_matches('/').split('/').collect();
        let call = Call {
            method: request.method.as_str(),
            segments: &segments,
            body,
            auth: &auth,
            query: &query,
        };
        match self.vendor {
            Vendor::Esign => esign(&mut state, call),
            Vendor::Cyberark => cyberark(&mut state, call),
            Vendor::Docusign => docusign(&mut state, call),
            Vendor::Eloqua => eloqua(&mut state, call),
        }
    }
}

struct Call<'a> {
    method: &'a str,
    segments: &'a [&'a str],
    body: Value,
    auth: &'a str,
    query: &'a dyn Fn(&str) -> String,
}

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

fn next_id(state: &mut State, prefix: &str) -> String {
    state.next += 1;
    format!("{prefix}{}", state.next)
}

/// Copies the string fields of `from` onto `user`.
fn merge(user: &mut Value, from: &Value, fields: &[&str]) {
    for field in fields {
        if let Some(v) = from.get(*field) {
            user[*field] = v.clone();
        }
    }
}

fn find_by<'a>(state: &'a mut State, field: &str, value: &str) -> Option<(&'a String, &'a mut Value)> {
    state
        .users
        .iter_mut()
        .find(|(_, u)| u[field].as_str().is_some_and(|v| v.eq_ignore_ascii_case(value)))
}

/// eSign: every call wants a token from gettoken; failures come inside 200 bodies.
fn esign(state: &mut State, call: Call<'_>) -> ResponseTemplate {
    const NAMES: [&str; 4] = ["Username", "FirstName", "LastName", "Company"];
    if let ["rest", "v1", "gettoken", salt] = call.segments {
        if *salt != ESIGN_SALT || call.auth != ESIGN_API_KEY {
            return ok(json!({"ReturnValue": "Error: Invalid API key"}));
        }
        return ok(json!({"ReturnValue": next_id(state, "token-")}));
    }
    // EncryptString: no token; the fake's ciphertext is recognisable.
    if let ["rest", "v1", "encrypt", plain, salt] = call.segments {
        return ok(json!({"ReturnValue": format!("enc({plain}/{salt})")}));
    }
    if !call.auth.starts_with("token-") || call.body.get("salt").is_some_and(|s| s != ESIGN_SALT) {
        return ok(json!({"Message": "Error: Invalid token"}));
    }
    let missing = || ok(json!({"Message": "Error: User with that systemUserId doesn't exist."}));
    let user = &call.body["user"];
    match (call.method, &call.segments[2..]) {
        ("GET", ["users"]) => {
            let name = (call.query)("username");
            let found: Vec<Value> = state
                .users
                .values()
                .filter(|u| u["Username"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(&name)))
                .cloned()
                .collect();
            ok(json!({"Users": found}))
        }
        // CreateUser requires `Password` encrypted (the vendor's example: `encryptedPassword`).
        ("POST", ["users"]) if !user["Password"].as_str().is_some_and(|p| p.starts_with("enc(")) => {
            ok(json!({"Message": "Error: The password could not be decrypted."}))
        }
        ("POST", ["users"]) => {
            let name = user["Username"].as_str().unwrap_or_default().to_owned();
            if find_by(state, "Username", &name).is_some() {
                state.violations.push(format!("eSign create of existing {name}"));
            }
            let id = next_id(state, "sys-");
            let mut stored = json!({"SystemUserId": id, "Active": true});
            merge(&mut stored, user, &NAMES);
            state.users.insert(id.clone(), stored.clone());
            if std::mem::take(&mut state.lose_next_create_answer) {
                return ResponseTemplate::new(500);
            }
            ok(json!({"Users": [stored]}))
        }
        ("PUT", ["users"]) => match state.users.get_mut(user["SystemUserId"].as_str().unwrap_or_default()) {
            Some(stored) => {
                merge(stored, user, &NAMES);
                ok(json!({"Users": [stored.clone()]}))
            }
            None => missing(),
        },
        ("PUT", ["users", "updateByUsername"]) => {
            let old = call.body["oldUsername"].as_str().unwrap_or_default().to_owned();
            match find_by(state, "Username", &old) {
                Some((_, stored)) => {
                    merge(stored, user, &NAMES);
                    ok(json!({"Users": [stored.clone()]}))
                }
                None => ok(json!({"Message": "Error: Username not found"})),
            }
        }
        ("PUT", ["users", "provisionUser"]) => {
            match state
                .users
                .get_mut(call.body["systemUserId"].as_str().unwrap_or_default())
            {
                Some(stored) => {
                    stored["Active"] = json!(call.body["userStatus"] == 1);
                    ok(json!({"Users": [stored.clone()]}))
                }
                None => missing(),
            }
        }
        _ => ResponseTemplate::new(404),
    }
}

/// CyberArk: Logon issues the session; users live under /API/Users.
fn cyberark(state: &mut State, call: Call<'_>) -> ResponseTemplate {
    let path = &call.segments[1..];
    if let ["API", "auth", "CyberArk", "Logon"] = path {
        if call.body["concurrentSession"] != true {
            return ResponseTemplate::new(400);
        }
        if state.refuse_logon || call.body["password"] != VAULT_PASSWORD {
            return ResponseTemplate::new(403).set_body_json(json!({"ErrorCode": "PASWS013E",
                "ErrorMessage": "Authentication failure for User [svc-scim]."}));
        }
        return ok(json!(VAULT_SESSION));
    }
    if call.auth != VAULT_SESSION {
        return ResponseTemplate::new(401)
            .set_body_json(json!({"ErrorCode": "PASWS006E", "ErrorMessage": "No Session token"}));
    }
    let not_found = || {
        ResponseTemplate::new(404)
            .set_body_json(json!({"ErrorCode": "ITATS003E", "ErrorMessage": "User was not found."}))
    };
    if let Some(answer) = vault_groups(state, &call, path) {
        return answer;
    }
    match (call.method, path) {
        ("POST", ["API", "Auth", "Logoff"]) => ResponseTemplate::new(200),
        ("GET", ["API", "Users"]) => {
            let search = (call.query)("search").to_lowercase();
            // A list item holds only what CyberArk documents for it (get-users-api): no
            // `enableUser`, `suspended`, `internet`, phones, address or expiry date.
            let found: Vec<Value> = state
                .users
                .values()
                .filter(|u| {
                    u["username"]
                        .as_str()
                        .is_some_and(|n| n.to_lowercase().contains(&search))
                })
                .map(vault_list_item)
                .collect();
            ok(json!({"Users": found, "Total": found.len()}))
        }
        ("POST", ["API", "Users"]) => {
            let name = call.body["username"].as_str().unwrap_or_default().to_owned();
            if find_by(state, "username", &name).is_some() {
                state.violations.push(format!("CyberArk create of existing {name}"));
            }
            state.next += 1;
            let id = state.next;
            let mut stored = call.body.clone();
            stored["id"] = json!(id);
            stored["suspended"] = json!(false);
            stored["source"] = json!("CyberArk");
            stored["componentUser"] = json!(false);
            stored.as_object_mut().unwrap().remove("initialPassword");
            state.users.insert(id.to_string(), stored.clone());
            if std::mem::take(&mut state.lose_next_create_answer) {
                return ResponseTemplate::new(500);
            }
            ResponseTemplate::new(201).set_body_json(stored)
        }
        (method, ["API", "Users", id, rest @ ..]) => {
            let echoed: Vec<&str> = VAULT_READ_ONLY
                .into_iter()
                .filter(|k| method == "PUT" && call.body.get(*k).is_some())
                .collect();
            if !echoed.is_empty() {
                state
                    .violations
                    .push(format!("CyberArk PUT echoing read-only {echoed:?}"));
                return ResponseTemplate::new(400).set_body_json(json!({"ErrorCode": "PASWS167E",
                    "ErrorMessage": format!("There are some invalid parameters: {echoed:?}")}));
            }
            let Some(stored) = state.users.get_mut(*id) else {
                return not_found();
            };
            match (method, rest) {
                ("GET", []) => ok(stored.clone()),
                // A Gen2 PUT replaces the user: what the body omits is cleared. The properties
                // the vault keeps itself stay; a body echoing them breaks the contract psPAS keeps.
                ("PUT", []) => {
                    let mut replaced = call.body.clone();
                    for key in VAULT_READ_ONLY {
                        if let Some(kept) = stored.get(key) {
                            replaced[key] = kept.clone();
                        }
                    }
                    *stored = replaced;
                    ok(stored.clone())
                }
                ("POST", ["enable"]) => {
                    stored["enableUser"] = json!(true);
                    ResponseTemplate::new(200)
                }
                ("POST", ["disable"]) => {
                    stored["enableUser"] = json!(false);
                    ResponseTemplate::new(200)
                }
                ("POST", ["Activate"]) => {
                    stored["suspended"] = json!(false);
                    ok(stored.clone())
                }
                ("DELETE", []) => {
                    state.users.remove(*id);
                    ResponseTemplate::new(200)
                }
                _ => ResponseTemplate::new(405),
            }
        }
        _ => ResponseTemplate::new(404),
    }
}

/// CyberArk's vault groups: `GET /API/UserGroups`, `POST /API/UserGroups/{id}/Members/` (409
/// `ITATS262E` for a member already there), `DELETE /API/UserGroups/{id}/Members/{name}/` (404 for
/// one not there). A member shows in the user's `groupsMembership`.
fn vault_groups(state: &mut State, call: &Call<'_>, path: &[&str]) -> Option<ResponseTemplate> {
    let group_missing = || {
        ResponseTemplate::new(404)
            .set_body_json(json!({"ErrorCode": "PASWS262E", "ErrorMessage": "Group was not found."}))
    };
    Some(match (call.method, path) {
        ("GET", ["API", "UserGroups"]) => {
            let value: Vec<Value> = state
                .groups
                .iter()
                .map(
                    |(id, name)| json!({"id": id.parse::<u64>().unwrap_or(0), "groupName": name, "groupType": "Vault"}),
                )
                .collect();
            ok(json!({"value": value, "count": value.len()}))
        }
        ("POST", ["API", "UserGroups", id, "Members"]) => {
            let Some((gid, gname)) = state.groups.iter().find(|(g, _)| g == id).cloned() else {
                return Some(group_missing());
            };
            let member = call.body["memberId"].as_str().unwrap_or_default().to_owned();
            if call.body["memberType"] != "Vault" {
                return Some(ResponseTemplate::new(400));
            }
            let Some((_, user)) = find_by(state, "username", &member) else {
                return Some(
                    ResponseTemplate::new(404)
                        .set_body_json(json!({"ErrorCode": "ITATS003E", "ErrorMessage": "User was not found."})),
                );
            };
            let list = user["groupsMembership"].as_array().cloned().unwrap_or_default();
            if list.iter().any(|g| g["groupName"] == json!(gname)) {
                return Some(
                    ResponseTemplate::new(409).set_body_json(json!({"ErrorCode": "ITATS262E",
                    "ErrorMessage": format!("Member {member} is already a member of group {gname}")})),
                );
            }
            let mut list = list;
            list.push(json!({"groupID": gid.parse::<u64>().unwrap_or(0), "groupName": gname, "groupType": "Vault"}));
            user["groupsMembership"] = json!(list);
            ResponseTemplate::new(201).set_body_json(json!({"memberId": member}))
        }
        ("DELETE", ["API", "UserGroups", id, "Members", member]) => {
            let Some((_, gname)) = state.groups.iter().find(|(g, _)| g == id).cloned() else {
                return Some(group_missing());
            };
            let member = urlencoding_decode(member);
            let Some((_, user)) = find_by(state, "username", &member) else {
                return Some(ResponseTemplate::new(404));
            };
            let mut list = user["groupsMembership"].as_array().cloned().unwrap_or_default();
            let before = list.len();
            list.retain(|g| g["groupName"] != json!(gname));
            if list.len() == before {
                return Some(
                    ResponseTemplate::new(404)
                        .set_body_json(json!({"ErrorCode": "ITATS003E", "ErrorMessage": "Member was not found."})),
                );
            }
            user["groupsMembership"] = json!(list);
            ResponseTemplate::new(200)
        }
        _ => return None,
    })
}

/// A path segment's `%XX` escapes undone.
fn urlencoding_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut n = 0;
    while n < bytes.len() {
        let hex = bytes
            .get(n + 1..n + 3)
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[n], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                n += 3;
            }
            (byte, _) => {
                out.push(byte);
                n += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a vault user holds that a PUT does not set (psPAS `Set-PASUser` strips them before its PUT).
const VAULT_READ_ONLY: [&str; 7] = [
    "id",
    "source",
    "componentUser",
    "groupsMembership",
    "lastSuccessfulLoginDate",
    "authenticationMethod",
    "suspended",
];

/// A user as `GET /API/Users` lists it: the fields CyberArk documents for an item only.
fn vault_list_item(user: &Value) -> Value {
    const ITEM: [&str; 8] = [
        "id",
        "username",
        "source",
        "userType",
        "componentUser",
        "groupsMembership",
        "vaultAuthorization",
        "location",
    ];
    let mut item = serde_json::Map::new();
    for key in ITEM {
        if let Some(value) = user.get(key) {
            item.insert(key.into(), value.clone());
        }
    }
    let details = &user["personalDetails"];
    item.insert(
        "personalDetails".into(),
        json!({"firstName": details["firstName"], "middleName": details["middleName"], "lastName": details["lastName"]}),
    );
    Value::Object(item)
}

/// DocuSign: the JWT grant and userinfo, then the account's users; closed users are re-opened by a
/// create with the same e-mail.
fn docusign(state: &mut State, call: Call<'_>) -> ResponseTemplate {
    const FIELDS: [&str; 8] = [
        "userName",
        "email",
        "firstName",
        "lastName",
        "middleName",
        "suffixName",
        "jobTitle",
        "title",
    ];
    match (call.method, call.segments) {
        ("POST", ["oauth", "token"]) => {
            return ok(json!({"access_token": "docusign-access", "token_type": "Bearer", "expires_in": 3600}))
        }
        ("GET", ["oauth", "userinfo"]) => {
            return ok(json!({"accounts": [{"account_id": DOCUSIGN_ACCOUNT, "base_uri": state.uri}]}))
        }
        _ => {}
    }
    if call.auth != "Bearer docusign-access" {
        return ResponseTemplate::new(401).set_body_json(json!({"errorCode": "USER_AUTHENTICATION_FAILED"}));
    }
    if let Some(answer) = docusign_groups(state, &call) {
        return answer;
    }
    let ["restapi", "v2.1", "accounts", DOCUSIGN_ACCOUNT, "users"] = call.segments else {
        return ResponseTemplate::new(404);
    };
    let additional = (call.query)("additional_info") == "true";
    let items = |key: &str| call.body[key].as_array().cloned().unwrap_or_default();
    match call.method {
        "GET" => {
            let email = (call.query)("email");
            if email.is_empty() {
                // The paged listing: `count` (at most 100) users from `start_position`.
                let count: usize = (call.query)("count").parse().unwrap_or(100).min(100);
                let start: usize = (call.query)("start_position").parse().unwrap_or(0);
                let page: Vec<Value> = state
                    .users
                    .values()
                    .skip(start)
                    .take(count)
                    .map(|u| docusign_listed(u, additional))
                    .collect();
                return ok(json!({"users": page, "resultSetSize": page.len().to_string(),
                    "totalSetSize": state.users.len().to_string(), "startPosition": start.to_string()}));
            }
            let found: Vec<Value> = state
                .users
                .values()
                .filter(|u| u["email"].as_str().is_some_and(|e| e.eq_ignore_ascii_case(&email)))
                .map(|u| docusign_listed(u, additional))
                .collect();
            ok(json!({"users": found}))
        }
        // One item DocuSign cannot read refuses the whole call (here: a `.invalid` e-mail).
        "POST" | "PUT"
            if items("newUsers")
                .iter()
                .chain(items("users").iter())
                .any(|u| u["email"].as_str().is_some_and(|e| e.ends_with(".invalid"))) =>
        {
            ResponseTemplate::new(400).set_body_json(
                json!({"errorCode": "INVALID_REQUEST_BODY", "message": "The request body is missing or improperly formatted."}),
            )
        }
        "POST" if items("newUsers").len() > 500 => ResponseTemplate::new(400)
            .set_body_json(json!({"errorCode": "INVALID_REQUEST_PARAMETER",
                   "message": "The maximum number of users you can create in one request is 500."})),
        "POST" => {
            let mut answers = Vec::new();
            for item in items("newUsers") {
                let email = item["email"].as_str().unwrap_or_default().to_owned();
                let reopen = state.docusign_reopens_by_post;
                let answer = match find_by(state, "email", &email) {
                    Some((_, stored)) if stored["userStatus"] == "Closed" && !reopen => {
                        json!({"email": email, "errorDetails": {"errorCode": "USER_ALREADY_EXISTS_IN_ACCOUNT",
                        "message": "Username and email combination already exists for this account."}})
                    }
                    Some((_, stored)) if stored["userStatus"] == "Closed" => {
                        stored["userStatus"] = json!("ActivationSent");
                        merge(stored, &item, &FIELDS);
                        stored.clone()
                    }
                    Some(_) => {
                        state.violations.push(format!("DocuSign create of existing {email}"));
                        json!({"email": email, "errorDetails": {"errorCode": "USER_ALREADY_EXISTS_IN_ACCOUNT",
                        "message": "Username and email combination already exists for this account."}})
                    }
                    None => {
                        let id = next_id(state, "ds-");
                        // A new user gets the account's default profile unless one is named.
                        let default = state.profiles.first().cloned().unwrap_or_default();
                        let mut stored = json!({"userId": id, "userStatus": "ActivationSent",
                            "permissionProfileId": default.0, "permissionProfileName": default.1, "groupList": []});
                        merge(&mut stored, &item, &FIELDS);
                        if let Err(refused) = set_profile(&state.profiles, &mut stored, &item) {
                            answers.push(refused);
                            continue;
                        }
                        state.users.insert(id, stored.clone());
                        stored
                    }
                };
                answers.push(answer);
            }
            if std::mem::take(&mut state.lose_next_create_answer) {
                return ResponseTemplate::new(500);
            }
            ResponseTemplate::new(201).set_body_json(json!({"newUsers": answers}))
        }
        "PUT" | "DELETE" => {
            let mut answers = Vec::new();
            for item in items("users") {
                let id = item["userId"].as_str().unwrap_or_default();
                let sso = state.docusign_sso;
                let profiles = state.profiles.clone();
                answers.push(match state.users.get_mut(id) {
                    // "Only users can change their own email address … unless SSO is enabled"
                    // (DocuSign support): without SSO the PUT is accepted and the e-mail stays.
                    Some(stored) if call.method == "PUT" => {
                        let email = stored["email"].clone();
                        if let Err(refused) = set_profile(&profiles, stored, &item) {
                            refused
                        } else {
                            merge(stored, &item, &FIELDS);
                            if !sso {
                                stored["email"] = email;
                            }
                            stored.clone()
                        }
                    }
                    Some(stored) => {
                        stored["userStatus"] = json!("Closed");
                        stored.clone()
                    }
                    None => json!({"userId": id, "errorDetails": {"errorCode": "INVALID_USERID", "message": "Invalid UserId."}}),
                });
            }
            ok(json!({"users": answers}))
        }
        _ => ResponseTemplate::new(405),
    }
}

/// A DocuSign user as a listing shows it: its groups and permission profile only with
/// `additional_info=true` (DocuSign: "the full list of user information").
fn docusign_listed(user: &Value, additional: bool) -> Value {
    let mut user = user.clone();
    if !additional {
        if let Some(fields) = user.as_object_mut() {
            for key in ["groupList", "permissionProfileId", "permissionProfileName"] {
                fields.remove(key);
            }
        }
    }
    user
}

/// A body's `permissionProfileId` set on `stored` (its name with it); an unknown id is the item's
/// error. A body naming the profile by name only is refused: DocuSign takes the id.
fn set_profile(profiles: &[(String, String)], stored: &mut Value, item: &Value) -> Result<(), Value> {
    if item.get("permissionProfileName").is_some() && item.get("permissionProfileId").is_none() {
        return Err(
            json!({"userId": item["userId"], "email": item["email"], "errorDetails": {"errorCode": "INVALID_REQUEST_PARAMETER",
            "message": "permissionProfileName is read-only; send permissionProfileId"}}),
        );
    }
    let Some(id) = item["permissionProfileId"].as_str() else {
        return Ok(());
    };
    match profiles.iter().find(|(p, _)| p == id) {
        Some((id, name)) => {
            stored["permissionProfileId"] = json!(id);
            stored["permissionProfileName"] = json!(name);
            Ok(())
        }
        None => Err(
            json!({"userId": item["userId"], "email": item["email"], "errorDetails": {"errorCode": "INVALID_PERMISSION_PROFILE_ID",
            "message": "The permission profile id is not valid."}}),
        ),
    }
}

/// DocuSign's account groups and permission profiles: `GET …/groups`, `GET …/permission_profiles`,
/// `PUT` and `DELETE …/groups/{groupId}/users` (each user answered, an error in its item). A
/// member shows in the user's `groupList`.
fn docusign_groups(state: &mut State, call: &Call<'_>) -> Option<ResponseTemplate> {
    let ["restapi", "v2.1", "accounts", DOCUSIGN_ACCOUNT, rest @ ..] = call.segments else {
        return None;
    };
    Some(match (call.method, rest) {
        ("GET", ["groups"]) => {
            let count: usize = (call.query)("count").parse().unwrap_or(100).min(100);
            let start: usize = (call.query)("start_position").parse().unwrap_or(0);
            let groups: Vec<Value> = state
                .groups
                .iter()
                .skip(start)
                .take(count)
                .map(|(id, name)| json!({"groupId": id, "groupName": name, "groupType": "customGroup"}))
                .collect();
            ok(json!({"groups": groups, "resultSetSize": groups.len().to_string()}))
        }
        ("GET", ["permission_profiles"]) => {
            let profiles: Vec<Value> = state
                .profiles
                .iter()
                .map(|(id, name)| json!({"permissionProfileId": id, "permissionProfileName": name}))
                .collect();
            ok(json!({"permissionProfiles": profiles}))
        }
        (method @ ("PUT" | "DELETE"), ["groups", gid, "users"]) => {
            let Some((gid, gname)) = state.groups.iter().find(|(g, _)| g == gid).cloned() else {
                return Some(
                    ResponseTemplate::new(400).set_body_json(json!({"errorCode": "INVALID_GROUP_ID",
                    "message": "The group id is not valid."})),
                );
            };
            let mut answers = Vec::new();
            for item in call.body["users"].as_array().cloned().unwrap_or_default() {
                let id = item["userId"].as_str().unwrap_or_default().to_owned();
                let Some(user) = state.users.get_mut(&id) else {
                    answers.push(json!({"userId": id, "errorDetails": {"errorCode": "INVALID_USERID", "message": "Invalid UserId."}}));
                    continue;
                };
                let mut list = user["groupList"].as_array().cloned().unwrap_or_default();
                let member = list.iter().any(|g| g["groupId"] == json!(gid));
                match (method, member) {
                    ("PUT", false) => list.push(json!({"groupId": gid, "groupName": gname})),
                    ("PUT", true) => {}
                    // GUESS (undocumented): removing a non-member is the item's error.
                    (_, false) => {
                        answers.push(json!({"userId": id, "errorDetails": {"errorCode": "USER_NOT_IN_GROUP", "message": "The user is not a member of the group."}}));
                        continue;
                    }
                    (_, true) => list.retain(|g| g["groupId"] != json!(gid)),
                }
                user["groupList"] = json!(list);
                answers.push(json!({"userId": id, "email": user["email"]}));
            }
            ok(json!({"users": answers}))
        }
        _ => return None,
    })
}

/// Eloqua: `/id` names this server as the API base; Basic auth on every call.
fn eloqua(state: &mut State, call: Call<'_>) -> ResponseTemplate {
    const FIELDS: [&str; 17] = [
        "federationId",
        "loginName",
        "emailAddress",
        "firstName",
        "lastName",
        "jobTitle",
        "phone",
        "cellPhone",
        "fax",
        "address1",
        "address2",
        "city",
        "state",
        "country",
        "zipCode",
        "department",
        "companyDisplayName",
    ];
    if call.auth != ELOQUA_BASIC {
        return ResponseTemplate::new(401).set_body_string("Not authenticated.");
    }
    match (call.method, call.segments) {
        ("GET", ["id"]) => ok(json!({"site": {"id": 1, "name": "ACME"}, "urls": {"base": state.uri}})),
        ("GET", ["api", "REST", "2.0", "system", "users"]) => {
            let search = (call.query)("search");
            let email = search
                .strip_prefix("emailAddress='")
                .and_then(|s| s.strip_suffix('\''))
                .unwrap_or_default()
                .to_owned();
            let found: Vec<Value> = state
                .users
                .values()
                .filter(|u| {
                    // No search: the listing (`sync plan` reads it for orphans).
                    search.is_empty()
                        || u["emailAddress"]
                            .as_str()
                            .is_some_and(|e| e.eq_ignore_ascii_case(&email))
                })
                .map(|u| match (call.query)("depth").as_str() {
                    "complete" => u.clone(),
                    // Below `depth=complete` a list item is partial (Oracle: "depth").
                    _ => json!({"type": "User", "id": u["id"], "name": u["name"], "emailAddress": u["emailAddress"]}),
                })
                .collect();
            ok(json!({"elements": found, "page": 1, "total": found.len()}))
        }
        ("GET", ["api", "REST", "2.0", "system", "security", "groups"]) => {
            let elements: Vec<Value> = state
                .groups
                .iter()
                .map(|(id, name)| json!({"type": "SecurityGroup", "id": id, "name": name, "depth": "minimal"}))
                .collect();
            ok(json!({"elements": elements, "page": 1, "pageSize": 1000, "total": elements.len()}))
        }
        // Oracle documents the body as an array of `SecurityGroupUser` (patchMethod, type, user);
        // the patchMethod values are the bridge's GUESS (`add`, `remove`): others are refused.
        ("PATCH", ["api", "REST", "2.0", "system", "security", "group", gid, "users"]) => {
            let Some((gid, gname)) = state.groups.iter().find(|(g, _)| g == gid).cloned() else {
                return ResponseTemplate::new(404);
            };
            let Some(items) = call.body.as_array() else {
                return ResponseTemplate::new(400).set_body_json(json!([{"type": "ObjectValidationError"}]));
            };
            let mut answers = Vec::new();
            for item in items {
                let uid = item["user"]["id"].as_str().unwrap_or_default().to_owned();
                let method = item["patchMethod"].as_str().unwrap_or_default().to_owned();
                if item["type"] != "SecurityGroupUser" || !matches!(method.as_str(), "add" | "remove") {
                    return ResponseTemplate::new(400)
                        .set_body_json(json!([{"type": "ObjectValidationError", "property": "patchMethod"}]));
                }
                let Some(user) = state.users.get_mut(&uid) else {
                    return ResponseTemplate::new(400)
                        .set_body_json(json!([{"type": "ObjectValidationError", "property": "user"}]));
                };
                let mut list = user["securityGroups"].as_array().cloned().unwrap_or_default();
                list.retain(|g| g["id"] != json!(gid));
                if method == "add" {
                    list.push(json!({"type": "SecurityGroup", "id": gid, "name": gname}));
                }
                user["securityGroups"] = json!(list);
                answers.push(json!({"type": "SecurityGroupUser", "patchMethod": method, "user": user.clone()}));
            }
            ok(json!(answers))
        }
        ("POST", ["api", "REST", "2.0", "system", "user"]) => {
            let email = call.body["emailAddress"].as_str().unwrap_or_default().to_owned();
            if find_by(state, "emailAddress", &email).is_some() {
                state.violations.push(format!("Eloqua create of existing {email}"));
                return ResponseTemplate::new(409).set_body_string("There was a conflict.");
            }
            let id = {
                state.next += 1;
                state.next.to_string()
            };
            let mut stored = json!({"type": "User", "id": id, "isDisabled": "False", "securityGroups": []});
            merge(&mut stored, &call.body, &FIELDS);
            state.users.insert(id, stored.clone());
            if std::mem::take(&mut state.lose_next_create_answer) {
                return ResponseTemplate::new(500);
            }
            ResponseTemplate::new(201).set_body_json(stored)
        }
        (method, ["api", "REST", "2.0", "system", "user", id, rest @ ..]) => {
            let Some(stored) = state.users.get_mut(*id) else {
                return ResponseTemplate::new(404);
            };
            match (method, rest) {
                ("GET", []) => ok(stored.clone()),
                // Whether a PUT keeps what its body omits is undocumented: the fake takes the
                // reading that destroys data (it clears it), so only a whole body keeps a field.
                ("PUT", []) => {
                    let mut replaced = call.body.clone();
                    replaced["id"] = stored["id"].clone();
                    replaced["type"] = json!("User");
                    replaced["isDisabled"] = stored["isDisabled"].clone();
                    *stored = replaced;
                    ok(stored.clone())
                }
                ("PUT", ["enabled"]) => {
                    let enabled = call.body["enabled"] == true;
                    stored["isDisabled"] = json!(if enabled { "False" } else { "True" });
                    ok(json!({"type": "UserEnabled", "enabled": if enabled { "True" } else { "False" }}))
                }
                ("DELETE", []) => {
                    state.users.remove(*id);
                    ResponseTemplate::new(200)
                }
                _ => ResponseTemplate::new(405),
            }
        }
        _ => ResponseTemplate::new(404),
    }
}

/// The most calls in flight at once at a fake whose every answer takes `delay`: calls that arrived
/// less than `delay` apart (less a little for timing) overlapped.
pub fn max_overlap(arrivals: &[Instant], delay: Duration) -> usize {
    let window = delay.saturating_sub(Duration::from_millis(20));
    (0..arrivals.len())
        .map(|i| {
            arrivals[i..]
                .iter()
                .take_while(|a| a.duration_since(arrivals[i]) < window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// The stateful fake of any registered vendor. Every match here is over the whole registry with no
/// fallback arm: a vendor added to `sync::connectors` does not compile here until it has a fake.
pub enum AnyFake {
    Vendor(FakeVendor),
    Workspace365(crate::fake_w365::FakeWorkspace365),
}

impl AnyFake {
    pub async fn start(kind: scim_bridge::config::TargetKind) -> (MockServer, Self) {
        use scim_bridge::config::TargetKind;
        let vendor = match kind {
            TargetKind::Workspace365 => {
                let (server, fake) = crate::fake_w365::FakeWorkspace365::start(Duration::ZERO).await;
                return (server, Self::Workspace365(fake));
            }
            TargetKind::Esign => Vendor::Esign,
            TargetKind::Cyberark => Vendor::Cyberark,
            TargetKind::Docusign => Vendor::Docusign,
            TargetKind::Eloqua => Vendor::Eloqua,
        };
        let (server, fake) = FakeVendor::start(vendor).await;
        (server, Self::Vendor(fake))
    }

    /// The users the vendor holds (Workspace365's as `email`, `firstName`, `lastName`, `active`).
    pub fn users(&self) -> Vec<Value> {
        match self {
            Self::Vendor(fake) => fake.users(),
            Self::Workspace365(fake) => fake
                .users()
                .into_iter()
                .map(|(email, u)| json!({"email": email, "firstName": u.first_name, "lastName": u.last_name, "active": u.active}))
                .collect(),
        }
    }

    pub fn calls(&self) -> Vec<String> {
        match self {
            Self::Vendor(fake) => fake.calls(),
            Self::Workspace365(fake) => fake.calls(),
        }
    }

    /// Calls the bridge should never make: a create of a user the vendor already holds.
    pub fn duplicate_creates(&self) -> usize {
        match self {
            Self::Vendor(fake) => fake.violations().len(),
            Self::Workspace365(fake) => fake.duplicate_creates(),
        }
    }

    pub fn count(&self, call: &str) -> usize {
        self.calls().iter().filter(|c| c.as_str() == call).count()
    }

    /// Puts a user in the vendor directly, in the vendor's own shape: filed under `key` (its
    /// e-mail, which is also its username), with vendor id `n`.
    pub fn seed_user(&self, n: u64, key: &str, first: &str, last: &str, active: bool) {
        let fake = match self {
            Self::Vendor(fake) => fake,
            Self::Workspace365(fake) => {
                let user = crate::fake_w365::VendorUser {
                    first_name: first.into(),
                    last_name: last.into(),
                    active,
                };
                fake.state.lock().unwrap().users.insert(key.into(), user);
                return;
            }
        };
        let id = n.to_string();
        let user = match fake.vendor {
            Vendor::Esign => {
                json!({"SystemUserId": id, "Username": key, "FirstName": first, "LastName": last, "Active": active})
            }
            Vendor::Cyberark => json!({"id": n, "username": key, "enableUser": active, "suspended": false,
                "source": "CyberArk", "componentUser": false, "userType": "EPVUser", "location": "\\",
                "personalDetails": {"firstName": first, "lastName": last}, "internet": {"businessEmail": key}}),
            Vendor::Docusign => json!({"userId": id, "email": key, "userName": format!("{first} {last}"),
                "firstName": first, "lastName": last, "userStatus": if active { "Active" } else { "Closed" }}),
            Vendor::Eloqua => json!({"type": "User", "id": id, "emailAddress": key, "loginName": key,
                "firstName": first, "lastName": last, "isDisabled": if active { "False" } else { "True" }}),
        };
        fake.seed(&id, user);
    }
}

/// A user as the contract suite (tests/api/contract.rs) reads it from any vendor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldUser {
    /// What the vendor files the user under (its username, else e-mail).
    pub key: String,
    pub given: String,
    pub active: bool,
    /// The value only the vendor sets (`AnyFake::seed_owned`) is still there.
    pub owned_kept: bool,
}

impl AnyFake {
    /// `seed_user`, plus a value the bridge does not map and must never clear: an administrator
    /// flag or permission made by hand at the vendor.
    pub fn seed_owned(&self, n: u64, key: &str, first: &str, last: &str, active: bool) {
        self.seed_user(n, key, first, last, active);
        let fake = match self {
            Self::Workspace365(fake) => {
                fake.state.lock().unwrap().administrators.insert(key.into());
                return;
            }
            Self::Vendor(fake) => fake,
        };
        let (field, value) = owned_value(fake.vendor);
        if let Some(user) = fake.state.lock().unwrap().users.get_mut(&n.to_string()) {
            user[field] = value;
        }
    }

    /// Every user the vendor holds, as the contract reads it.
    pub fn held(&self) -> Vec<HeldUser> {
        let fake = match self {
            Self::Workspace365(fake) => {
                let state = fake.state.lock().unwrap();
                return state
                    .users
                    .iter()
                    .map(|(email, u)| HeldUser {
                        key: email.clone(),
                        given: u.first_name.clone(),
                        active: u.active,
                        owned_kept: state.administrators.contains(email),
                    })
                    .collect();
            }
            Self::Vendor(fake) => fake,
        };
        let (field, value) = owned_value(fake.vendor);
        let text = |u: &Value, path: &[&str]| {
            path.iter()
                .fold(u, |v, k| &v[*k])
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        fake.users()
            .iter()
            .map(|u| {
                let (key, given, active) = match fake.vendor {
                    Vendor::Esign => (text(u, &["Username"]), text(u, &["FirstName"]), u["Active"] == true),
                    Vendor::Cyberark => (
                        text(u, &["username"]),
                        text(u, &["personalDetails", "firstName"]),
                        u["enableUser"] == true,
                    ),
                    Vendor::Docusign => (
                        text(u, &["email"]),
                        text(u, &["firstName"]),
                        u["userStatus"] != "Closed",
                    ),
                    Vendor::Eloqua => (
                        text(u, &["emailAddress"]),
                        text(u, &["firstName"]),
                        u["isDisabled"] == "False",
                    ),
                };
                HeldUser {
                    key,
                    given,
                    active,
                    owned_kept: u[field] == value,
                }
            })
            .collect()
    }

    /// An administrator deactivates (or re-activates) the user filed under `key` in the vendor's
    /// own portal.
    pub fn set_active_by_hand(&self, key: &str, active: bool) {
        let fake = match self {
            Self::Workspace365(fake) => {
                if let Some(user) = fake.state.lock().unwrap().users.get_mut(key) {
                    user.active = active;
                }
                return;
            }
            Self::Vendor(fake) => fake,
        };
        let mut state = fake.state.lock().unwrap();
        let (field, on, off) = match fake.vendor {
            Vendor::Esign => ("Username", json!(true), json!(false)),
            Vendor::Cyberark => ("username", json!(true), json!(false)),
            Vendor::Docusign => ("email", json!("Active"), json!("Closed")),
            Vendor::Eloqua => ("emailAddress", json!("False"), json!("True")),
        };
        let flag = match fake.vendor {
            Vendor::Esign => "Active",
            Vendor::Cyberark => "enableUser",
            Vendor::Docusign => "userStatus",
            Vendor::Eloqua => "isDisabled",
        };
        if let Some((_, user)) = find_by(&mut state, field, key) {
            user[flag] = if active { on } else { off };
        }
    }

    /// The next create is carried out but answered 500, as when its answer is lost.
    pub fn lose_next_create_answer(&self) {
        match self {
            Self::Vendor(fake) => fake.state.lock().unwrap().lose_next_create_answer = true,
            Self::Workspace365(fake) => fake.state.lock().unwrap().lose_next_create_answer = true,
        }
    }
}

/// The field and value `seed_owned` puts where only the vendor sets it.
fn owned_value(vendor: Vendor) -> (&'static str, Value) {
    match vendor {
        Vendor::Esign => ("Title", json!("Managing Broker")),
        Vendor::Cyberark => ("vaultAuthorization", json!(["AuditUsers", "AddUpdateUsers"])),
        Vendor::Docusign => ("permissionProfileName", json!("Account Administrator")),
        Vendor::Eloqua => ("productPermissions", json!([{"productCode": "SecureHypersites"}])),
    }
}

impl AnyFake {
    /// The value at `path` (dotted, e.g. `personalDetails.title`) of the user filed under `key`;
    /// `None` where the vendor holds nothing there (or, Workspace365, cannot be read).
    pub fn field(&self, key: &str, path: &str) -> Option<String> {
        let Self::Vendor(fake) = self else { return None };
        let mut state = fake.state.lock().unwrap();
        let (_, user) = find_by(&mut state, key_field(fake.vendor), key)?;
        let value = path.split('.').fold(&*user, |v, k| &v[k]);
        value.as_str().filter(|v| !v.is_empty()).map(str::to_owned)
    }

    /// Sets `path` of the user filed under `key` by hand, as in the vendor's portal.
    pub fn set_field(&self, key: &str, path: &str, value: &str) {
        let Self::Vendor(fake) = self else { return };
        let mut state = fake.state.lock().unwrap();
        if let Some((_, user)) = find_by(&mut state, key_field(fake.vendor), key) {
            let target = path.split('.').fold(user, |v, k| &mut v[k]);
            *target = json!(value);
        }
    }
}

/// The field a vendor files users under in the fakes.
fn key_field(vendor: Vendor) -> &'static str {
    match vendor {
        Vendor::Esign => "Username",
        Vendor::Cyberark => "username",
        Vendor::Docusign => "email",
        Vendor::Eloqua => "emailAddress",
    }
}
