//! Entitlements (docs/entitlements.md): a target's ordered rules turn the SCIM groups a user is a
//! direct member of into what the vendor grants them: vendor groups (DocuSign groups, CyberArk vault
//! groups, Eloqua security groups) and one single-valued grant (DocuSign's permission profile,
//! Workspace365's administrator flag). Pure: the store says which groups a user is in, this says
//! what that grants, and `decide` compares it with what the vendor holds.
use super::mapping::FieldSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Arc;

/// What a vendor lets rules grant (`Vendor::GRANTS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantKinds {
    /// The rule key that names vendor groups (`vault_groups`), and the vendor's word for one.
    pub groups: Option<GroupKey>,
    /// The single-valued grant, when the vendor has one.
    pub single: Option<Single>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupKey {
    pub key: &'static str,
    /// How `sync plan` names one: `+ vault group Auditors`.
    pub noun: &'static str,
}

/// A single-valued grant: the rule key, and the vendor field it sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Single {
    pub key: &'static str,
    pub field: &'static str,
    /// A user no rule matches (and no default names) has the field cleared where the bridge set
    /// it (Workspace365's administrator flag goes back to false). Where the vendor has no "none"
    /// (every DocuSign user has a permission profile) it is left as it is.
    pub clears: bool,
    /// An administrator's right: clearing it where the bridge set it counts as a removal for the
    /// removal guard.
    pub admin: bool,
}

impl GrantKinds {
    pub const NONE: Self = Self {
        groups: None,
        single: None,
    };

    /// The rule keys this vendor takes, for messages.
    fn keys(self) -> Vec<&'static str> {
        self.groups
            .map(|g| g.key)
            .into_iter()
            .chain(self.single.map(|s| s.key))
            .collect()
    }
}

/// One `[[target.entitlement]]` table, as the file writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// The SCIM group, by displayName or id; followed by id (a rename changes nothing).
    pub group: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub administrator: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vault_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<String>,
    /// Its vendor groups are administrators' rights: revoking one counts as a removal for the
    /// removal guard.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub guarded: bool,
}

/// `[target.entitlement_default]`: the single-valued grant of a user no rule gives one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub administrator: Option<bool>,
}

/// The single-valued keys as the tables spell them, with their value as text.
fn singles(permission_profile: &Option<String>, administrator: Option<bool>) -> [(&'static str, Option<String>); 2] {
    [
        ("permission_profile", permission_profile.clone()),
        ("administrator", administrator.map(|a| a.to_string())),
    ]
}

impl RuleConfig {
    fn group_lists(&self) -> [(&'static str, &[String]); 3] {
        [
            ("groups", &self.groups),
            ("vault_groups", &self.vault_groups),
            ("security_groups", &self.security_groups),
        ]
    }
}

/// A target's rules, checked against its vendor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entitlements {
    rules: Vec<Rule>,
    default_single: Option<String>,
    single: Option<(Single, &'static FieldSpec)>,
    noun: &'static str,
    managed: Arc<BTreeSet<String>>,
    guarded: Arc<BTreeSet<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    group: String,
    single: Option<String>,
    groups: Vec<String>,
}

/// What the rules grant one user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Granted {
    /// The single-valued grant: `None` leaves the field out (nothing to say); `Some("")` clears
    /// it where the bridge set it.
    pub single: Option<String>,
    /// The vendor groups the user belongs in, of those the rules name.
    pub groups: BTreeSet<String>,
}

/// The vendor groups a user should be in, and the ones the bridge manages at this target (those a
/// rule names): it adds and removes only those.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Memberships {
    pub wanted: BTreeSet<String>,
    pub managed: Arc<BTreeSet<String>>,
    /// The vendor's word for a group, for `sync plan`.
    pub noun: &'static str,
    /// The managed groups that are administrators' rights (`guarded = true`).
    pub guarded: Arc<BTreeSet<String>>,
    /// The field of an administrator's flag the rules set (Workspace365's `IsAdministrator`).
    pub guarded_field: Option<&'static str>,
}

impl Memberships {
    pub fn is_managed(&self) -> bool {
        !self.managed.is_empty()
    }

    /// The guarded groups of `held` the user no longer belongs in.
    pub fn revoked_guarded<'h>(&self, held: &'h BTreeSet<String>) -> Vec<&'h String> {
        held.iter()
            .filter(|g| self.guarded.contains(*g) && !self.wanted.contains(*g))
            .collect()
    }
}

impl Entitlements {
    /// The rules of a target whose vendor grants `kinds` (its fields `fields`), in file order.
    /// A key the vendor does not take, an empty name or a rule granting nothing is refused.
    pub fn compile(
        kinds: GrantKinds,
        fields: &'static [FieldSpec],
        rules: &[RuleConfig],
        default: Option<&DefaultConfig>,
    ) -> Result<Self, String> {
        if rules.is_empty() && default.is_none() {
            return Ok(Self::default());
        }
        if kinds == GrantKinds::NONE {
            return Err("entitlement: this vendor documents no roles or groups the bridge can set".into());
        }
        let takes = kinds.keys().join(", ");
        let single = match kinds.single {
            Some(s) => Some((
                s,
                fields
                    .iter()
                    .find(|f| f.name == s.field)
                    .ok_or_else(|| format!("entitlement: the vendor has no field {}", s.field))?,
            )),
            None => None,
        };
        let mut compiled = Vec::with_capacity(rules.len());
        let mut managed = BTreeSet::new();
        let mut guarded = BTreeSet::new();
        for (n, rule) in rules.iter().enumerate() {
            let at = format!("entitlement #{} (group \"{}\")", n + 1, rule.group);
            if rule.group.trim().is_empty() {
                return Err(format!("entitlement #{}: `group` must name a SCIM group", n + 1));
            }
            let mut chosen_single = None;
            for (key, value) in singles(&rule.permission_profile, rule.administrator) {
                match (value, kinds.single) {
                    (None, _) => {}
                    (Some(v), Some(s)) if s.key == key => chosen_single = Some(checked_name(&at, key, v)?),
                    (Some(_), _) => return Err(format!("{at}: this vendor takes no `{key}` (it takes {takes})")),
                }
            }
            let mut groups = Vec::new();
            for (key, names) in rule.group_lists() {
                match (names.is_empty(), kinds.groups) {
                    (true, _) => {}
                    (false, Some(g)) if g.key == key => {
                        for name in names {
                            groups.push(checked_name(&at, key, name.clone())?);
                        }
                    }
                    (false, _) => return Err(format!("{at}: this vendor takes no `{key}` (it takes {takes})")),
                }
            }
            if chosen_single.is_none() && groups.is_empty() {
                return Err(format!("{at}: grants nothing (give {takes})"));
            }
            managed.extend(groups.iter().cloned());
            if rule.guarded {
                guarded.extend(groups.iter().cloned());
            }
            compiled.push(Rule {
                group: rule.group.trim().to_owned(),
                single: chosen_single,
                groups,
            });
        }
        let mut default_single = None;
        if let Some(default) = default {
            for (key, value) in singles(&default.permission_profile, default.administrator) {
                match (value, kinds.single) {
                    (None, _) => {}
                    (Some(v), Some(s)) if s.key == key => {
                        default_single = Some(checked_name("entitlement_default", key, v)?);
                    }
                    (Some(_), _) => {
                        return Err(format!(
                            "entitlement_default: this vendor takes no `{key}` (it takes {})",
                            kinds.single.map_or("nothing", |s| s.key)
                        ))
                    }
                }
            }
        }
        Ok(Self {
            rules: compiled,
            default_single,
            single,
            noun: kinds.groups.map_or("group", |g| g.noun),
            managed: Arc::new(managed),
            guarded: Arc::new(guarded),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.default_single.is_none()
    }

    /// The SCIM groups the rules name (displayName or id), as written.
    pub fn scim_groups(&self) -> Vec<String> {
        let mut refs: Vec<String> = self.rules.iter().map(|r| r.group.clone()).collect();
        refs.dedup();
        refs
    }

    /// The vendor groups the rules name: the only ones the bridge adds or removes.
    pub fn managed_groups(&self) -> &BTreeSet<String> {
        &self.managed
    }

    /// The single-valued grants the rules and the default name (DocuSign's profiles to resolve).
    pub fn single_values(&self) -> BTreeSet<String> {
        self.rules
            .iter()
            .filter_map(|r| r.single.clone())
            .chain(self.default_single.clone())
            .collect()
    }

    /// The vendor field the single-valued grant sets, when a rule or the default sets it.
    pub fn single_field(&self) -> Option<&'static FieldSpec> {
        let used = self.rules.iter().any(|r| r.single.is_some()) || self.default_single.is_some();
        self.single.filter(|_| used).map(|(_, spec)| spec)
    }

    /// What the rules grant a user who is a direct member of the groups `member_of` names (their
    /// ids and the names the bridge recorded for them). The first matching rule that sets the
    /// single-valued grant wins, in file order; vendor groups add up.
    pub fn grant(&self, member_of: &[String]) -> Granted {
        let matches = |rule: &&Rule| member_of.iter().any(|m| m == &rule.group);
        let matching: Vec<&Rule> = self.rules.iter().filter(matches).collect();
        let single = matching
            .iter()
            .find_map(|r| r.single.clone())
            .or_else(|| self.default_single.clone());
        let single = match (single, self.single_field(), self.single) {
            (Some(value), _, _) => Some(value),
            (None, Some(_), Some((s, _))) if s.clears => Some(String::new()),
            _ => None,
        };
        Granted {
            single,
            groups: matching.iter().flat_map(|r| r.groups.iter().cloned()).collect(),
        }
    }

    /// The memberships a grant asks of the vendor.
    pub fn memberships(&self, granted: &Granted) -> Memberships {
        Memberships {
            wanted: granted.groups.clone(),
            managed: self.managed.clone(),
            noun: self.noun,
            guarded: self.guarded.clone(),
            guarded_field: self
                .single
                .filter(|(s, _)| s.admin)
                .and_then(|_| self.single_field())
                .map(|f| f.name),
        }
    }

    /// What the rules grant a member of `member_of`, as `lookup` and the console say it:
    /// `permission profile Sender; group Senders, group Auditors`; `None` without rules.
    pub fn describe(&self, member_of: &[String]) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let granted = self.grant(member_of);
        let single = match (self.single, granted.single.as_deref()) {
            (Some((s, _)), Some("")) => Some(format!("{} cleared where the bridge set it", s.key.replace('_', " "))),
            (Some((s, _)), Some(value)) => Some(format!("{} {value}", s.key.replace('_', " "))),
            _ => None,
        };
        let groups = granted.groups.iter().map(|g| format!("{} {g}", self.noun));
        let parts: Vec<String> = single.into_iter().chain(groups).collect();
        Some(if parts.is_empty() {
            "nothing".to_owned()
        } else {
            parts.join("; ")
        })
    }

    /// The rules in one line, for noticing that they changed between starts.
    pub fn canonical(&self) -> String {
        if self.is_empty() {
            return String::new();
        }
        let rules: Vec<String> = self
            .rules
            .iter()
            .map(|r| format!("{}={:?}/{}", r.group, r.single, r.groups.join(",")))
            .collect();
        format!("{};default={:?}", rules.join(";"), self.default_single)
    }
}

fn checked_name(at: &str, key: &str, name: String) -> Result<String, String> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(format!("{at}: `{key}` names an empty value"));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    static FIELDS: [FieldSpec; 1] = [FieldSpec::new("permissionProfileName", None, None)];
    const DOCUSIGN: GrantKinds = GrantKinds {
        groups: Some(GroupKey {
            key: "groups",
            noun: "group",
        }),
        single: Some(Single {
            key: "permission_profile",
            field: "permissionProfileName",
            clears: false,
            admin: false,
        }),
    };

    fn rule(group: &str, profile: Option<&str>, groups: &[&str]) -> RuleConfig {
        RuleConfig {
            group: group.into(),
            permission_profile: profile.map(Into::into),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            ..RuleConfig::default()
        }
    }

    fn names(refs: &[&str]) -> Vec<String> {
        refs.iter().map(|r| (*r).to_owned()).collect()
    }

    #[test]
    fn the_first_matching_rule_sets_the_profile_and_groups_add_up() {
        let rules = [
            rule("Admins", Some("Account Administrator"), &["Admins"]),
            rule("Senders", Some("Sender"), &["Senders"]),
            rule("Everyone", None, &["All staff"]),
        ];
        let default = DefaultConfig {
            permission_profile: Some("DS Viewer".into()),
            ..DefaultConfig::default()
        };
        let e = Entitlements::compile(DOCUSIGN, &FIELDS, &rules, Some(&default)).unwrap();
        let both = e.grant(&names(&["Senders", "g-1", "Admins", "Everyone"]));
        assert_eq!(both.single.as_deref(), Some("Account Administrator"));
        assert_eq!(
            both.groups.iter().map(String::as_str).collect::<Vec<_>>(),
            ["Admins", "All staff", "Senders"]
        );
        let nobody = e.grant(&names(&["Unmapped"]));
        assert_eq!(nobody.single.as_deref(), Some("DS Viewer"));
        assert!(nobody.groups.is_empty());
        assert_eq!(e.managed_groups().len(), 3);
    }

    #[test]
    fn without_a_default_a_profile_nobody_grants_is_left_alone_and_a_flag_is_cleared() {
        let e = Entitlements::compile(DOCUSIGN, &FIELDS, &[rule("Senders", Some("Sender"), &[])], None).unwrap();
        assert_eq!(e.grant(&[]).single, None);
        static W365: [FieldSpec; 1] = [FieldSpec::new("IsAdministrator", None, None)];
        let admin = GrantKinds {
            groups: None,
            single: Some(Single {
                key: "administrator",
                field: "IsAdministrator",
                clears: true,
                admin: true,
            }),
        };
        let rules = [RuleConfig {
            group: "W365 Admins".into(),
            administrator: Some(true),
            ..RuleConfig::default()
        }];
        let e = Entitlements::compile(admin, &W365, &rules, None).unwrap();
        assert_eq!(e.grant(&names(&["W365 Admins"])).single.as_deref(), Some("true"));
        assert_eq!(e.grant(&[]).single.as_deref(), Some(""));
    }

    #[test]
    fn mistakes_are_named() {
        let err = |rules: &[RuleConfig], kinds| Entitlements::compile(kinds, &FIELDS, rules, None).unwrap_err();
        assert!(err(&[rule("A", None, &[])], DOCUSIGN).contains("grants nothing (give groups, permission_profile)"));
        let vault = RuleConfig {
            group: "A".into(),
            vault_groups: vec!["Auditors".into()],
            ..RuleConfig::default()
        };
        assert!(err(&[vault], DOCUSIGN).contains("this vendor takes no `vault_groups`"));
        assert!(err(&[rule("A", Some("Sender"), &[])], GrantKinds::NONE).contains("documents no roles or groups"));
        assert!(err(&[rule(" ", Some("Sender"), &[])], DOCUSIGN).contains("`group` must name"));
        assert!(err(&[rule("A", Some(" "), &[])], DOCUSIGN).contains("empty value"));
    }
}
