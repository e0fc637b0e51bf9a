//! `scim-bridge check --target T --canary EMAIL`: one throw-away user taken through its whole life
//! at a live tenant, through the same connector and reconciler as `serve`, read back after every
//! step, and always cleaned up (docs/vendors/README.md, "The canary run").
use super::inspect::known_target;
use super::PlanFormat;
use crate::config::{Settings, TargetSettings};
use crate::sync::connectors::Connector;
use crate::sync::reconcile::{ReadBack, Step};
use crate::sync::target::{OnDelete, TargetMode};
use crate::sync::{ConnectorError, Desired, Link, UserState};
use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

/// The stages of the canary's life, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Stage {
    Create,
    Update,
    Rename,
    Deactivate,
    Reactivate,
    Remove,
}

impl Stage {
    fn word(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Rename => "rename",
            Self::Deactivate => "deactivate",
            Self::Reactivate => "reactivate",
            Self::Remove => "remove",
        }
    }
}

/// What a read-back must show after a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Found, in this state, holding the wanted fields.
    Holds { active: bool },
    /// Deleted: not found.
    Gone,
    /// Kept by the vendor, deactivated (`on_delete = "deactivate"`, or a vendor that cannot delete).
    KeptInactive,
}

/// How a read-back compares with what a stage expects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", content = "detail", rename_all = "lowercase")]
enum Verdict {
    Confirmed,
    /// Nothing contradicts it, but the vendor does not let all of it be read (what not).
    Unreadable(String),
    Contradicted(String),
}

/// Compares a read-back with what a stage expects (pure): `wanted` fields, and the vendor groups
/// entitlement rules put the user in (`groups`).
fn verdict(expect: Expect, read: &ReadBack, wanted: &BTreeMap<String, String>, groups: &BTreeSet<String>) -> Verdict {
    match expect {
        Expect::Gone if read.found => Verdict::Contradicted("the user is still there".into()),
        Expect::Gone => Verdict::Confirmed,
        Expect::KeptInactive if read.active == Some(true) => Verdict::Contradicted("the user is still active".into()),
        Expect::KeptInactive if read.found && read.active.is_none() => {
            Verdict::Unreadable("found; its state cannot be read".into())
        }
        Expect::KeptInactive => Verdict::Confirmed,
        Expect::Holds { .. } if !read.found => Verdict::Contradicted("not found under its key".into()),
        Expect::Holds { active } => {
            let mut unread = Vec::new();
            match read.active {
                Some(held) if held != active => {
                    return Verdict::Contradicted(format!("active is {held}, expected {active}"));
                }
                Some(_) => {}
                None => unread.push("its state"),
            }
            match &read.fields {
                Some(held) => {
                    let differ: Vec<String> = wanted
                        .iter()
                        .filter(|(field, to)| held.get(*field).map_or("", String::as_str) != to.as_str())
                        .map(|(field, to)| {
                            format!(
                                "{field} is {:?}, expected {to:?}",
                                held.get(field).cloned().unwrap_or_default()
                            )
                        })
                        .collect();
                    if !differ.is_empty() {
                        return Verdict::Contradicted(differ.join("; "));
                    }
                }
                None => unread.push("its fields"),
            }
            match (&read.groups, groups.is_empty()) {
                (_, true) => {}
                (Some(held), false) => {
                    let missing: Vec<&str> = groups
                        .iter()
                        .filter(|g| !held.iter().any(|h| h.eq_ignore_ascii_case(g)))
                        .map(String::as_str)
                        .collect();
                    if !missing.is_empty() {
                        return Verdict::Contradicted(format!("not in the group(s) granted: {}", missing.join(", ")));
                    }
                }
                (None, false) => unread.push("its groups"),
            }
            match unread.is_empty() {
                true => Verdict::Confirmed,
                false => Verdict::Unreadable(format!("found; {} cannot be read", unread.join(" and "))),
            }
        }
    }
}

/// One stage as carried out.
#[derive(Debug, Serialize)]
struct Outcome {
    stage: Stage,
    /// What the reconciler did (as `sync plan` words it), or nothing when skipped.
    actions: String,
    /// The vendor's words: its error, or what it noted.
    answer: Option<String>,
    ok: bool,
    read_back: Option<ReadBack>,
    #[serde(flatten)]
    verdict: Verdict,
    ms: u128,
}

/// What one of the connector's GUESSes turned out to be on this tenant.
#[derive(Debug, Serialize)]
struct Finding {
    guess: &'static str,
    answer: String,
}

#[derive(Debug, Serialize)]
struct Report {
    target: String,
    kind: &'static str,
    email: String,
    check: String,
    stages: Vec<Outcome>,
    findings: Vec<Finding>,
    cleaned_up: bool,
}

/// The canary's SCIM user at one stage of its life.
fn document(email: &str, updated: bool, active: bool) -> Value {
    let (given, title, department) = match updated {
        false => ("Canary", "Canary", "Canary tests"),
        true => ("Canary-updated", "Canary (updated)", "Canary tests (updated)"),
    };
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": email,
        "displayName": format!("{given} Scim-Bridge"),
        "name": {"givenName": given, "familyName": "Scim-Bridge"},
        "emails": [{"value": email, "type": "work", "primary": true}],
        "title": title,
        "active": active,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": department},
    })
}

/// The address the rename moves the canary to: `local.renamed@domain`.
fn renamed(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => format!("{local}.renamed@{domain}"),
        None => format!("{email}.renamed"),
    }
}

/// Refuses what would make the canary dangerous: a target in observe mode, a malformed address.
fn refuse(target: &TargetSettings, email: &str) -> anyhow::Result<()> {
    if target.mode == TargetMode::Observe {
        bail!(
            "target '{}' is in observe mode: the canary writes to the vendor, so it runs only at a target in `mode = \"write\"`",
            target.name
        );
    }
    let valid = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !email.contains(char::is_whitespace)
    });
    if !valid {
        bail!("'{email}' is not an e-mail address");
    }
    Ok(())
}

/// The canary run; exits non-zero when a stage failed, a read-back contradicted it, or the
/// clean-up did not happen.
pub(super) async fn canary(
    settings: &Settings,
    target: &str,
    email: &str,
    format: PlanFormat,
    yes: bool,
) -> anyhow::Result<()> {
    known_target(settings, target)?;
    let Some(target) = settings.target.iter().find(|t| t.name == target) else {
        return Ok(());
    };
    refuse(target, email)?;
    refuse_a_scim_user(settings, &[email, &renamed(email)]).await?;
    let mapping = target.mapping(settings.user_schema()?)?;
    let entitlements = target.entitlements()?;
    let http = target.http_client()?;
    let connector = Connector::build(target, http, Default::default(), Default::default(), None)?;
    let run = Run {
        connector: &connector,
        mapping: &mapping,
        entitlements: &entitlements,
        member_of: entitlements.scim_groups().into_iter().take(1).collect(),
        format,
    };
    let result = run.all(target, email, yes).await;
    connector.shutdown().await;
    let report = result?;
    if format == PlanFormat::Json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_findings(&report);
    }
    // A refused rename is what the tenant answered (a finding), not a failure of the run.
    let failed = report
        .stages
        .iter()
        .filter(|s| (!s.ok && s.stage != Stage::Rename) || matches!(s.verdict, Verdict::Contradicted(_)))
        .count();
    match (report.cleaned_up, failed) {
        (false, _) => bail!(
            "the canary was NOT cleaned up: remove {} at '{}' by hand",
            report.email,
            report.target
        ),
        (true, 0) => Ok(()),
        (true, n) => bail!("{n} stage(s) failed or were contradicted by the read-back"),
    }
}

/// A SCIM user with one of the canary's addresses (before and after its rename) would be
/// reconciled by `serve` while the canary changes it.
async fn refuse_a_scim_user(settings: &Settings, addresses: &[&str]) -> anyhow::Result<()> {
    let Ok(store) = crate::app::open_store(settings).await else {
        eprintln!("scim-bridge: no database read, so a SCIM user with the canary's address is not ruled out");
        return Ok(());
    };
    for email in addresses {
        let found = store.lookup(email, 0).await?.filter(|u| u.deleted_at.is_none());
        if let Some(user) = found {
            store.close().await;
            bail!(
                "'{email}' is a SCIM user here ({}): the bridge itself reconciles it; pick an address no IdP sends",
                user.id
            );
        }
    }
    store.close().await;
    Ok(())
}

struct Run<'a> {
    connector: &'a Connector,
    mapping: &'a crate::sync::mapping::Mapping,
    /// The target's entitlement rules: the canary is taken as a member of the first rule's SCIM
    /// group (`member_of`), so that one grant is checked too.
    entitlements: &'a crate::sync::entitlements::Entitlements,
    member_of: Vec<String>,
    format: PlanFormat,
}

impl Run<'_> {
    fn user(&self, email: &str, updated: bool, active: bool) -> anyhow::Result<UserState> {
        let document = serde_json::from_value(document(email, updated, active)).context("the canary's document")?;
        let user = crate::sync::desired::user_state("canary", &document, self.mapping);
        Ok(crate::sync::desired::entitled(user, self.entitlements, &self.member_of))
    }

    async fn all(&self, target: &TargetSettings, email: &str, yes: bool) -> anyhow::Result<Report> {
        let check = self.connector.check().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        self.say(&format!("ok    check        {check}"));
        if let Some(grant) = self.entitlements.describe(&self.member_of) {
            let group = self.member_of.first().map_or("-", String::as_str);
            self.say(&format!("      grants       as a member of \"{group}\": {grant}"));
        }
        let first = self.user(email, false, true)?;
        let before = self
            .connector
            .read_back(&first)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if before.found && !yes {
            bail!(
                "the tenant already has {email} ({}): the canary would change it and then remove it; run again with --yes to use it anyway, or pick an address it does not have",
                before.id.as_deref().or(before.key.as_deref()).unwrap_or("?")
            );
        }
        let mut report = Report {
            target: target.name.clone(),
            kind: target.kind().name(),
            email: email.to_owned(),
            check: check.to_owned(),
            stages: Vec::new(),
            findings: Vec::new(),
            cleaned_up: false,
        };
        let mut link: Option<Link> = None;
        let mut current = first.clone();
        let updated = self.user(email, true, true)?;
        let new_address = renamed(email);
        let moved = self.user(&new_address, true, true)?;
        let plan = [
            (Stage::Create, first, Expect::Holds { active: true }),
            (Stage::Update, updated, Expect::Holds { active: true }),
            (Stage::Rename, moved, Expect::Holds { active: true }),
        ];
        let mut failed = false;
        for (stage, user, expect) in plan {
            if stage == Stage::Rename && self.taken(&new_address).await {
                self.skip(&mut report, stage, format!("the tenant already has {new_address}"));
                continue;
            }
            let outcome = self
                .stage(stage, Desired::Present(user.clone()), &user, &mut link, expect)
                .await;
            let ok = outcome.ok;
            report.stages.push(outcome);
            if ok {
                current = user;
            } else if stage != Stage::Rename {
                failed = true;
                break;
            }
        }
        if !failed {
            for (stage, active) in [(Stage::Deactivate, false), (Stage::Reactivate, true)] {
                let user = UserState {
                    active,
                    ..current.clone()
                };
                let outcome = self
                    .stage(
                        stage,
                        Desired::Present(user.clone()),
                        &user,
                        &mut link,
                        Expect::Holds { active },
                    )
                    .await;
                let ok = outcome.ok;
                report.stages.push(outcome);
                if !ok {
                    break;
                }
            }
        }
        let (removal, expect) = match target.on_delete() {
            OnDelete::Delete if target.kind().rules().removal == crate::sync::reconcile::Removal::Delete => {
                (Desired::Absent, Expect::Gone)
            }
            _ => (Desired::Retired, Expect::KeptInactive),
        };
        let removed = self.stage(Stage::Remove, removal, &current, &mut link, expect).await;
        report.cleaned_up = removed.ok && !matches!(removed.verdict, Verdict::Contradicted(_));
        report.stages.push(removed);
        report.findings = findings(&report, &new_address);
        Ok(report)
    }

    async fn taken(&self, email: &str) -> bool {
        match self.user(email, true, true) {
            Ok(user) => self.connector.read_back(&user).await.is_ok_and(|r| r.found),
            Err(_) => false,
        }
    }

    fn skip(&self, report: &mut Report, stage: Stage, why: String) {
        self.say(&format!("--    {:<12} skipped: {why}", stage.word()));
        report.stages.push(Outcome {
            stage,
            actions: String::new(),
            answer: None,
            ok: true,
            read_back: None,
            verdict: Verdict::Unreadable(format!("skipped: {why}")),
            ms: 0,
        });
    }

    /// Carries out one stage through the reconciler, then reads the user back under `user`'s keys.
    async fn stage(
        &self,
        stage: Stage,
        desired: Desired,
        user: &UserState,
        link: &mut Option<Link>,
        expect: Expect,
    ) -> Outcome {
        let started = Instant::now();
        let result = self
            .connector
            .reconcile_batch(&[(desired, link.clone())])
            .await
            .pop()
            .unwrap_or_else(|| Err(ConnectorError::permanent(None, "the reconciler answered nothing").into()));
        let (ok, actions, answer) = match result {
            Ok(reconciled) => {
                let answer = reconciled.operator_note();
                let actions = Step::describe_all(&reconciled.steps);
                *link = Some(reconciled.link).filter(|l| l.state != crate::sync::LinkState::Gone);
                (true, actions, answer)
            }
            Err(e) => (false, String::new(), Some(e.to_string())),
        };
        let wanted = self.connector.wanted(user);
        let groups = user.groups.wanted.clone();
        let read = match ok {
            true => Some(self.connector.read_back(user).await),
            false => None,
        };
        let (read_back, verdict) = match read {
            None => (None, Verdict::Unreadable("not read back: the stage failed".into())),
            Some(Ok(read)) => {
                let verdict = verdict(expect, &read, &wanted, &groups);
                (Some(read), verdict)
            }
            Some(Err(e)) => (None, Verdict::Contradicted(format!("the read-back failed: {e}"))),
        };
        let outcome = Outcome {
            stage,
            actions,
            answer,
            ok,
            read_back,
            verdict,
            ms: started.elapsed().as_millis(),
        };
        self.say(&line(&outcome));
        outcome
    }

    fn say(&self, text: &str) {
        if self.format == PlanFormat::Text {
            println!("{text}");
        }
    }
}

/// One stage as a line of text, with its read-back.
fn line(outcome: &Outcome) -> String {
    let status = match (&outcome.verdict, outcome.ok) {
        (_, false) => "FAIL",
        (Verdict::Contradicted(_), true) => "FAIL",
        (Verdict::Unreadable(_), true) => "ok?",
        (Verdict::Confirmed, true) => "ok",
    };
    let mut text = format!(
        "{status:<5} {:<12} {} ({} ms)",
        outcome.stage.word(),
        outcome.actions,
        outcome.ms
    );
    if let Some(answer) = &outcome.answer {
        text.push_str(&format!("\n      vendor: {answer}"));
    }
    if let Some(read) = &outcome.read_back {
        text.push_str(&format!("\n      read back: {}", describe(read)));
    }
    match &outcome.verdict {
        Verdict::Confirmed => {}
        Verdict::Unreadable(what) | Verdict::Contradicted(what) => text.push_str(&format!("\n      {what}")),
    }
    text
}

fn describe(read: &ReadBack) -> String {
    if !read.found {
        return "not found".into();
    }
    let mut parts = vec![format!(
        "found id {} key {} active {}",
        read.id.as_deref().unwrap_or("-"),
        read.key.as_deref().unwrap_or("-"),
        read.active.map_or("not readable".to_owned(), |a| a.to_string())
    )];
    match &read.fields {
        Some(fields) => parts.extend(fields.iter().map(|(k, v)| format!("{k}={v:?}"))),
        None => parts.push("fields not readable".into()),
    }
    if let Some(status) = &read.status {
        parts.push(status.clone());
    }
    if let Some(groups) = read.groups.as_ref().filter(|g| !g.is_empty()) {
        parts.push(format!(
            "groups {}",
            groups.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if let Some(note) = &read.note {
        parts.push(format!("note: {note}"));
    }
    parts.join(", ")
}

/// What the stages tell of the connector's GUESSes on this tenant.
fn findings(report: &Report, new_address: &str) -> Vec<Finding> {
    let of = |stage: Stage| report.stages.iter().find(|s| s.stage == stage);
    let state = |o: &Outcome| {
        o.read_back
            .as_ref()
            .map_or("not read back".to_owned(), |r| match (r.found, r.active) {
                (false, _) => "not found".to_owned(),
                (true, Some(true)) => "active".to_owned(),
                (true, Some(false)) => "inactive".to_owned(),
                (true, None) => "found, state not readable".to_owned(),
            })
            + &r_note(o)
    };
    let mut out = vec![Finding {
        guess: "the read-only probe",
        answer: report.check.clone(),
    }];
    if let Some(o) = of(Stage::Create) {
        out.push(Finding {
            guess: "a created user, read back",
            answer: state(o),
        });
    }
    if let Some(o) = of(Stage::Rename) {
        let answer = match (o.ok, &o.verdict) {
            (false, _) => format!("refused: {}", o.answer.as_deref().unwrap_or("-")),
            (true, Verdict::Unreadable(why)) if o.actions.is_empty() => why.clone(),
            (true, Verdict::Contradicted(why)) => format!("the vendor said yes, but {why}"),
            (true, _) => format!("renamed in place: filed under {new_address} now"),
        };
        out.push(Finding {
            guess: "a change of e-mail/username",
            answer,
        });
    }
    if let Some(o) = of(Stage::Reactivate) {
        out.push(Finding {
            guess: "a re-activated user, read back",
            answer: state(o),
        });
    }
    if let Some(o) = of(Stage::Remove) {
        out.push(Finding {
            guess: "a removed user, read back",
            answer: state(o),
        });
    }
    out
}

/// The vendor's own word for the state read back, when it has one.
fn r_note(o: &Outcome) -> String {
    o.read_back
        .as_ref()
        .and_then(|r| r.status.as_deref())
        .map(|s| format!(" ({s})"))
        .unwrap_or_default()
}

fn print_findings(report: &Report) {
    println!("\nwhat this tenant answered");
    for f in &report.findings {
        println!("  {:<32} {}", f.guess, f.answer);
    }
    println!(
        "\n{}",
        match report.cleaned_up {
            true => format!(
                "cleaned up: {} is removed (or kept deactivated, per on_delete)",
                report.email
            ),
            false => format!("NOT cleaned up: remove {} at '{}' by hand", report.email, report.target),
        }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(found: bool, active: Option<bool>, fields: Option<&[(&str, &str)]>) -> ReadBack {
        ReadBack {
            found,
            id: Some("1".into()),
            key: Some("c@x.io".into()),
            active,
            fields: fields.map(|f| f.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()),
            note: None,
            status: None,
            groups: None,
        }
    }

    #[test]
    fn a_read_back_confirms_contradicts_or_cannot_tell() {
        let wanted: BTreeMap<String, String> = [("firstName".to_owned(), "Canary".to_owned())].into();
        let none = BTreeSet::new();
        let holds = Expect::Holds { active: true };
        let same = [("firstName", "Canary")];
        assert_eq!(
            verdict(holds, &read(true, Some(true), Some(&same)), &wanted, &none),
            Verdict::Confirmed
        );
        assert!(matches!(
            verdict(holds, &read(true, Some(true), Some(&[("firstName", "Old")])), &wanted, &none),
            Verdict::Contradicted(why) if why.contains("firstName is \"Old\"")
        ));
        assert!(matches!(
            verdict(holds, &read(true, Some(false), Some(&same)), &wanted, &none),
            Verdict::Contradicted(_)
        ));
        assert!(matches!(
            verdict(holds, &read(false, None, None), &wanted, &none),
            Verdict::Contradicted(_)
        ));
        assert!(matches!(
            verdict(holds, &read(true, None, None), &wanted, &none),
            Verdict::Unreadable(why) if why.contains("its state and its fields")
        ));
        assert_eq!(
            verdict(Expect::Gone, &read(false, None, None), &wanted, &none),
            Verdict::Confirmed
        );
        assert!(matches!(
            verdict(Expect::Gone, &read(true, Some(false), None), &wanted, &none),
            Verdict::Contradicted(_)
        ));
        assert_eq!(
            verdict(Expect::KeptInactive, &read(true, Some(false), None), &wanted, &none),
            Verdict::Confirmed
        );
        assert!(matches!(
            verdict(Expect::KeptInactive, &read(true, Some(true), None), &wanted, &none),
            Verdict::Contradicted(_)
        ));
    }

    #[test]
    fn a_group_the_rules_grant_must_be_read_back() {
        let wanted = BTreeMap::new();
        let groups: BTreeSet<String> = ["Auditors".to_owned()].into();
        let holds = Expect::Holds { active: true };
        let mut read = read(true, Some(true), Some(&[]));
        assert!(
            matches!(verdict(holds, &read, &wanted, &groups), Verdict::Unreadable(why) if why.contains("its groups"))
        );
        read.groups = Some(["Everyone".to_owned()].into());
        assert!(
            matches!(verdict(holds, &read, &wanted, &groups), Verdict::Contradicted(why) if why.contains("Auditors"))
        );
        read.groups = Some(["auditors".to_owned(), "Everyone".to_owned()].into());
        assert_eq!(verdict(holds, &read, &wanted, &groups), Verdict::Confirmed);
    }

    #[test]
    fn the_rename_goes_to_a_sibling_address() {
        assert_eq!(renamed("canary@example.com"), "canary.renamed@example.com");
    }
}
