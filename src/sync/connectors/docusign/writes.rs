//! The steps DocuSign takes in bulk, one call per `batch_size` users: create and re-open
//! (`POST …/users`), update (`PUT …/users`, the seed call) and close (`DELETE …/users`), each user
//! answered by its own `errorDetails`.
use super::wire::{NewUsers, NewUsersAnswer, Profile, ProfileUpdate, UserItem, UserRef, Users, UsersAnswer};
use super::Docusign;
use crate::sync::reconcile::{Step, StepKind};
use crate::sync::vendor::{Applied, Applying};
use crate::sync::ConnectorError;
use reqwest::Method;

const ALREADY_EXISTS: &str = "USER_ALREADY_EXISTS_IN_ACCOUNT";
/// The per-user code for a userId the account does not have (GUESS: DocuSign's error list).
const INVALID_USERID: &str = "INVALID_USERID";

type Outcomes = Vec<Result<Applied, ConnectorError>>;

impl Docusign {
    /// Steps of one kind for several users, a call per `batch_size` of them.
    pub(super) async fn bulk_step(&self, kind: StepKind, steps: &[(&Step, Applying<'_, ()>)]) -> Outcomes {
        if kind == StepKind::Entitle {
            return self.entitle_many(steps).await;
        }
        let mut outcomes = Vec::with_capacity(steps.len());
        for chunk in steps.chunks(self.batch_size_of()) {
            let at: Vec<Applying<'_, ()>> = chunk.iter().map(|(_, at)| *at).collect();
            let answered = self.one_call(kind, &at).await;
            if at.len() > 1 && refused_whole(&answered) {
                // One user's bad value refuses the whole call: each is sent alone, so only that
                // user's row fails with DocuSign's words.
                for one in &at {
                    outcomes.extend(self.one_call(kind, std::slice::from_ref(one)).await);
                }
            } else {
                outcomes.extend(answered);
            }
        }
        outcomes
    }

    /// One bulk call of `kind` for `at`.
    async fn one_call(&self, kind: StepKind, at: &[Applying<'_, ()>]) -> Outcomes {
        match kind {
            StepKind::Create => self.create(at).await,
            StepKind::Activate => self.reopen(at).await,
            StepKind::Update => self.update(at).await,
            StepKind::Deactivate => self.close(at).await,
            StepKind::Entitle => at
                .iter()
                .map(|_| Err(ConnectorError::permanent(None, "group steps go one call per group")))
                .collect(),
            StepKind::Adopt | StepKind::Delete => at
                .iter()
                .map(|_| Err(ConnectorError::permanent(None, "DocuSign never deletes a user")))
                .collect(),
        }
    }

    fn batch_size_of(&self) -> usize {
        self.settings.batch_size.max(1)
    }

    /// `POST …/users` with the new users; a user DocuSign already has (USER_ALREADY_EXISTS_IN_ACCOUNT
    /// inside the 201) was made meanwhile: it is looked up and adopted.
    async fn create(&self, at: &[Applying<'_, ()>]) -> Outcomes {
        let answers = self.post_new_users(at).await;
        let mut outcomes = Vec::with_capacity(at.len());
        for (at, answer) in at.iter().zip(answers) {
            outcomes.push(match answer {
                Ok(user_id) => {
                    if let Some(user) = at.user {
                        self.learn(&user.email).await;
                    }
                    Ok(Applied::Id(user_id))
                }
                // The listing said nobody had the e-mail; it is looked up now.
                Err(Refused::Item(code)) if code.starts_with(ALREADY_EXISTS) => {
                    if let Some(user) = at.user {
                        self.learn(&user.email).await;
                    }
                    Ok(Applied::Taken(Refused::Item(code).into_error(201)))
                }
                Err(refused) => Err(refused.into_error(201)),
            });
        }
        outcomes
    }

    /// Re-opens closed users by posting them again with the same userName and e-mail (GUESS); if
    /// DocuSign answers with another userId, that one is linked. "Already exists" is read back:
    /// done only if DocuSign holds the user open now (re-opened by hand); still closed, the row
    /// fails saying so, rather than the link recording an activation that did not happen.
    async fn reopen(&self, at: &[Applying<'_, ()>]) -> Outcomes {
        let answers = self.post_new_users(at).await;
        let mut outcomes = Vec::with_capacity(at.len());
        for (at, answer) in at.iter().zip(answers) {
            outcomes.push(match answer {
                Ok(new_id) => Ok(Applied::Id(new_id)),
                Err(Refused::Item(code)) if code.starts_with(ALREADY_EXISTS) => self.open_now(at, &code).await,
                Err(refused) => Err(refused.into_error(201)),
            });
        }
        outcomes
    }

    /// After "already exists" on a re-open: whether DocuSign holds the user open.
    async fn open_now(&self, at: &Applying<'_, ()>, code: &str) -> Result<Applied, ConnectorError> {
        let Some(user) = at.user else {
            return Err(Refused::Item(code.to_owned()).into_error(201));
        };
        match self.find(&user.email).await? {
            Some(found) if !found.user.is_closed() => Ok(Applied::Done),
            _ => Err(ConnectorError::permanent(
                Some(201),
                format!(
                    "DocuSign keeps the user closed ({code}): re-open them in DocuSign's admin \
                     (Users → Reactivate); the bridge cannot (docs/vendors/docusign.md)"
                ),
            )),
        }
    }

    /// `POST …/users` for the users' profiles: each one's new userId or what refused it.
    async fn post_new_users(&self, at: &[Applying<'_, ()>]) -> Vec<Result<String, Refused>> {
        let ids = match self.profile_ids(at).await {
            Ok(ids) => ids,
            Err(e) => return at.iter().map(|_| Err(Refused::Call(e.clone()))).collect(),
        };
        let profiles: Vec<Option<Profile>> = at
            .iter()
            .map(|a| a.user.map(|u| Self::with_profile_id(Profile::of(u), &ids)))
            .collect();
        let sent: Vec<&Profile> = profiles.iter().flatten().collect();
        let answer = async {
            let url = self.users_url().await?;
            let body = NewUsers { new_users: sent.clone() };
            self.call_json::<NewUsersAnswer>(Method::POST, &url, Some(&body), "create users")
                .await
        };
        let mut answers = match answer.await {
            Err(e) => return profiles.iter().map(|_| Err(Refused::Call(e.clone()))).collect(),
            Ok(answer) => answer.new_users,
        };
        profiles
            .iter()
            .enumerate()
            .map(|(n, profile)| {
                let Some(profile) = profile else {
                    return Err(Refused::Unreadable);
                };
                let at = answers.iter().position(|a| a.has_email(&profile.email));
                let item = match at {
                    Some(at) => answers.remove(at),
                    None if n < answers.len() && answers[n].email.is_none() => answers[n].clone(),
                    None => return Err(Refused::Unreadable),
                };
                match (item.error(), item.user_id) {
                    (Some(error), _) => Err(Refused::Item(error)),
                    (None, Some(id)) => Ok(id),
                    (None, None) => Err(Refused::Unreadable),
                }
            })
            .collect()
    }

    /// The seed call: `PUT …/users` with each user's userId and profile.
    async fn update(&self, at: &[Applying<'_, ()>]) -> Outcomes {
        let ids = match self.profile_ids(at).await {
            Ok(ids) => ids,
            Err(e) => return at.iter().map(|_| Err(e.clone())).collect(),
        };
        let profiles: Vec<(Option<&str>, Option<Profile>)> = at
            .iter()
            .map(|a| (a.id, a.user.map(|u| Self::with_profile_id(Profile::of(u), &ids))))
            .collect();
        let users: Vec<ProfileUpdate> = profiles
            .iter()
            .filter_map(|(id, profile)| {
                Some(ProfileUpdate {
                    user_id: (*id)?,
                    profile: profile.as_ref()?,
                })
            })
            .collect();
        let answers = self.bulk(Method::PUT, &Users { users }, "update users").await;
        let mut outcomes = Vec::with_capacity(at.len());
        for a in at {
            outcomes.push(match item_outcome(&answers, a.id) {
                Ok(()) => self.email_taken_up(a).await,
                Err(refused @ Refused::Item(_)) if refused.code_is(INVALID_USERID) => {
                    Ok(Applied::Vanished(refused.into_error(200)))
                }
                Err(refused) => Err(refused.into_error(200)),
            });
        }
        outcomes
    }

    /// After an update that changed the e-mail: whether DocuSign holds the new one. DocuSign
    /// documents that only the user can change their own e-mail unless the account uses SSO, so
    /// an accepted PUT may leave the old one: the row then says so, rather than the link recording
    /// an e-mail DocuSign does not have (GUESS on what the PUT answers, docs/vendors/docusign.md).
    async fn email_taken_up(&self, at: &Applying<'_, ()>) -> Result<Applied, ConnectorError> {
        let (Some(user), Some(old)) = (at.user, at.key) else {
            return Ok(Applied::Done);
        };
        if old.eq_ignore_ascii_case(&user.email) {
            return Ok(Applied::Done);
        }
        match self.find(&user.email).await? {
            Some(found) if found.user.user_id.as_deref() == at.id => Ok(Applied::Done),
            _ => Err(ConnectorError::permanent(
                Some(200),
                format!(
                    "DocuSign keeps the e-mail {old}: only the user can change it (from their DocuSign profile) \
                     unless the account uses SSO; the other fields were updated, and `sync retry` takes the \
                     new e-mail up once DocuSign has it (docs/vendors/docusign.md)"
                ),
            )),
        }
    }

    /// `DELETE …/users` with the users to close. A user already closed counts as done (GUESS: the
    /// per-item code for it is undocumented, so any code naming CLOSED).
    async fn close(&self, at: &[Applying<'_, ()>]) -> Outcomes {
        let users: Vec<UserRef> = at.iter().filter_map(|a| Some(UserRef { user_id: a.id? })).collect();
        let answers = self.bulk(Method::DELETE, &Users { users }, "close users").await;
        at.iter()
            .map(|a| match item_outcome(&answers, a.id) {
                Ok(()) => Ok(Applied::Done),
                Err(Refused::Item(code)) if code.to_ascii_uppercase().contains("CLOSED") => Ok(Applied::Done),
                Err(refused @ Refused::Item(_)) if refused.code_is(INVALID_USERID) => {
                    Ok(Applied::Vanished(refused.into_error(200)))
                }
                Err(refused) => Err(refused.into_error(200)),
            })
            .collect()
    }

    async fn bulk<T: serde::Serialize>(
        &self,
        method: Method,
        body: &T,
        what: &str,
    ) -> Result<UsersAnswer, ConnectorError> {
        let url = self.users_url().await?;
        self.call_json(method, &url, Some(body), what).await
    }
}

/// Whether the call as a whole was refused as malformed (400 for every item alike), not item by item.
fn refused_whole(outcomes: &Outcomes) -> bool {
    let mut errors = outcomes.iter().map(|o| match o {
        Err(ConnectorError::Permanent {
            status: Some(400),
            detail,
        }) => Some(detail),
        _ => None,
    });
    match errors.next().flatten() {
        Some(first) => errors.all(|e| e == Some(first)),
        None => false,
    }
}

/// Why DocuSign did not do what an item asked.
enum Refused {
    /// The whole call failed.
    Call(ConnectorError),
    /// The item's own `errorDetails`, as `CODE: message`.
    Item(String),
    /// The answer did not mention the item.
    Unreadable,
}

impl Refused {
    /// The item's own error code is `code`.
    fn code_is(&self, code: &str) -> bool {
        matches!(self, Self::Item(item) if item.starts_with(code))
    }

    fn into_error(self, status: u16) -> ConnectorError {
        match self {
            Self::Call(e) => e,
            Self::Item(code) => ConnectorError::permanent(Some(status), code),
            Self::Unreadable => ConnectorError::permanent(None, "the answer does not mention this user"),
        }
    }
}

/// An item's share of a bulk answer: the call's error, or its own `errorDetails` by userId.
fn item_outcome(answer: &Result<UsersAnswer, ConnectorError>, user_id: Option<&str>) -> Result<(), Refused> {
    let answer = answer.as_ref().map_err(|e| Refused::Call(e.clone()))?;
    let own = answer.users.iter().find(|u| u.user_id.as_deref() == user_id);
    match own.and_then(UserItem::error) {
        Some(error) => Err(Refused::Item(error)),
        None => Ok(()),
    }
}
