//! From a stored SCIM user to the state a vendor should hold.
use super::entitlements::Entitlements;
use super::mapping::Mapping;
use super::target::OnDelete;
use super::{Desired, UserState};
use crate::scim::resource::Document;
use serde_json::Value;

/// The vendor-facing view of a user with `mapping`'s fields. The e-mail is the primary one, else
/// the first, else `userName`.
pub fn user_state(resource_id: &str, document: &Document, mapping: &Mapping) -> UserState {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
    let emails = document
        .get("emails")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let primary = emails
        .iter()
        .find(|e| e.get("primary") == Some(&Value::Bool(true)))
        .or_else(|| emails.first());
    let user_name = text(document.get("userName"));
    let email = primary
        .and_then(|e| e.get("value"))
        .and_then(Value::as_str)
        .map_or_else(|| user_name.clone(), str::to_owned);
    let name = document.get("name");
    UserState {
        resource_id: resource_id.to_owned(),
        email,
        given_name: text(name.and_then(|n| n.get("givenName"))),
        family_name: text(name.and_then(|n| n.get("familyName"))),
        active: document.get("active").and_then(Value::as_bool).unwrap_or(true),
        password: None,
        is_administrator: false,
        fields: mapping.values(document),
        user_name,
        creatable: true,
        groups: Default::default(),
    }
}

/// The user with what `entitlements` grant a direct member of `member_of` (group ids and the
/// names the bridge recorded for them): the single-valued grant as its vendor field, and the
/// vendor groups.
pub fn entitled(user: UserState, entitlements: &Entitlements, member_of: &[String]) -> UserState {
    if entitlements.is_empty() {
        return user;
    }
    let granted = entitlements.grant(member_of);
    let fields = match (entitlements.single_field(), granted.single.clone()) {
        (Some(spec), Some(value)) => user.fields.with(spec, "entitlement rules", value),
        _ => user.fields,
    };
    UserState {
        fields,
        groups: std::sync::Arc::new(entitlements.memberships(&granted)),
        ..user
    }
}

/// What a target should hold for user `id`: its document if in scope; if not (or deleted),
/// removed, or with `on_delete = "deactivate"` kept deactivated (`Retired`). `None` when the user
/// is neither in scope nor at the vendor (nothing to create or remove).
pub fn desired_of(
    id: &str,
    document: Option<&Document>,
    in_scope: bool,
    linked: bool,
    on_delete: OnDelete,
    mapping: &Mapping,
    grants: (&Entitlements, &[String]),
) -> Option<Desired> {
    if !linked && !in_scope {
        return None;
    }
    Some(match (document, in_scope, on_delete) {
        (Some(document), true, _) => Desired::Present(entitled(user_state(id, document, mapping), grants.0, grants.1)),
        (_, _, OnDelete::Deactivate) => Desired::Retired,
        (_, _, OnDelete::Delete) => Desired::Absent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::user;
    use serde_json::json;

    #[test]
    fn a_user_out_of_scope_or_deleted_is_removed_or_retired_as_the_target_says() {
        let doc: Document = serde_json::from_value(json!({"userName": "u"})).unwrap();
        let none = Mapping::none(user());
        let d = |document, in_scope, linked, on_delete| {
            desired_of(
                "id",
                document,
                in_scope,
                linked,
                on_delete,
                &none,
                (&Entitlements::default(), &[]),
            )
        };
        assert!(matches!(
            d(Some(&doc), true, false, OnDelete::Delete),
            Some(Desired::Present(_))
        ));
        assert_eq!(d(Some(&doc), false, false, OnDelete::Delete), None);
        assert_eq!(d(None, false, true, OnDelete::Delete), Some(Desired::Absent));
        assert_eq!(d(Some(&doc), false, true, OnDelete::Delete), Some(Desired::Absent));
        assert_eq!(d(None, false, true, OnDelete::Deactivate), Some(Desired::Retired));
        assert_eq!(d(Some(&doc), false, true, OnDelete::Deactivate), Some(Desired::Retired));
    }

    #[test]
    fn the_primary_email_wins_then_the_first_then_the_user_name() {
        let doc = |v: Value| serde_json::from_value::<Document>(v).unwrap();
        let primary = doc(
            json!({"userName": "u", "emails": [{"value": "a@x"}, {"value": "b@x", "primary": true}], "name": {"givenName": "G"}}),
        );
        let state = user_state("id", &primary, &Mapping::none(user()));
        assert_eq!(
            (state.email.as_str(), state.given_name.as_str(), state.active),
            ("b@x", "G", true)
        );
        assert_eq!(
            user_state(
                "id",
                &doc(json!({"userName": "u", "emails": [{"value": "a@x"}]})),
                &Mapping::none(user())
            )
            .email,
            "a@x"
        );
        assert_eq!(
            user_state(
                "id",
                &doc(json!({"userName": "u", "active": false})),
                &Mapping::none(user())
            )
            .email,
            "u"
        );
    }
}
