//! Schemas (RFC 7643 §7): the compiled-in definitions from `scim-schemas/`, and the resolution of
//! attribute paths against them (names are case-insensitive, RFC 7643 §2.1).
use super::error::ScimError;
use super::filter::AttrPath;
use serde::Deserialize;
use std::sync::LazyLock;

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

pub const USER_SCHEMA_JSON: &str = include_str!("../../scim-schemas/User.json");
pub const ENTERPRISE_USER_SCHEMA_JSON: &str = include_str!("../../scim-schemas/EnterpriseUser.json");
pub const GROUP_SCHEMA_JSON: &str = include_str!("../../scim-schemas/Group.json");
pub const RESOURCE_TYPES_JSON: &str = include_str!("../../scim-schemas/ResourceTypes.json");
pub const SERVICE_PROVIDER_CONFIG_JSON: &str = include_str!("../../scim-schemas/ServiceProviderConfig.json");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Mutability {
    ReadOnly,
    #[default]
    ReadWrite,
    Immutable,
    WriteOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Returned {
    Always,
    Never,
    #[default]
    Default,
    Request,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Uniqueness {
    #[default]
    None,
    Server,
    Global,
}

/// One attribute definition (RFC 7643 §7, "attributes"); what is left out takes the defaults of
/// RFC 7643 §2.2 (single-valued, readWrite, returned by default, not required, caseExact false).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeDef {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: AttrType,
    #[serde(default)]
    pub multi_valued: bool,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub case_exact: bool,
    #[serde(default)]
    pub mutability: Mutability,
    #[serde(default)]
    pub returned: Returned,
    #[serde(default)]
    pub uniqueness: Uniqueness,
    #[serde(default)]
    pub sub_attributes: Vec<AttributeDef>,
}

impl AttributeDef {
    pub fn sub(&self, name: &str) -> Option<&AttributeDef> {
        self.sub_attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    fn common(name: &str, case_exact: bool, mutability: Mutability, returned: Returned) -> Self {
        Self {
            name: name.to_owned(),
            kind: AttrType::String,
            multi_valued: false,
            required: false,
            case_exact,
            mutability,
            returned,
            uniqueness: Uniqueness::None,
            sub_attributes: Vec::new(),
        }
    }
}

/// A schema document: its URN and attributes.
#[derive(Debug, Clone, Deserialize)]
pub struct SchemaDef {
    pub id: String,
    pub attributes: Vec<AttributeDef>,
}

impl SchemaDef {
    pub fn attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// Where an attribute lives in a resource document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location<'s> {
    /// A top-level key (core schema or common attribute).
    Core,
    /// Inside the object keyed by this extension's URN.
    Extension(&'s str),
}

/// An attribute path resolved against a resource type.
#[derive(Debug, Clone, Copy)]
pub struct Resolved<'s> {
    pub location: Location<'s>,
    pub attr: &'s AttributeDef,
    pub sub: Option<&'s AttributeDef>,
}

impl<'s> Resolved<'s> {
    /// The definition the path finally designates (the sub-attribute when there is one).
    pub fn leaf(&self) -> &'s AttributeDef {
        self.sub.unwrap_or(self.attr)
    }
}

/// A resource type: its core schema, its extensions and the common attributes (RFC 7643 §3.1).
#[derive(Debug, Clone)]
pub struct ResourceSchema {
    pub name: &'static str,
    pub core: SchemaDef,
    pub extensions: Vec<SchemaDef>,
    pub common: Vec<AttributeDef>,
    /// The schema documents of the extensions an operator declared, as `/Schemas` serves them.
    pub declared: Vec<serde_json::Value>,
}

impl ResourceSchema {
    /// This resource type with the operator's extensions (`parse_extension`) added.
    pub fn with_declared(&self, declared: Vec<(SchemaDef, serde_json::Value)>) -> Result<Self, String> {
        let mut extended = self.clone();
        for (def, document) in declared {
            if extended.known_urns().any(|urn| urn.eq_ignore_ascii_case(&def.id)) {
                return Err(format!("schema '{}' is declared twice (or is built in)", def.id));
            }
            extended.extensions.push(def);
            extended.declared.push(document);
        }
        Ok(extended)
    }

    /// The one error for a schema extension nobody declared, on every verb (POST, PUT, PATCH).
    pub fn undeclared(&self, urn: &str) -> ScimError {
        // A URN is short; a hostile key is cut rather than echoed whole.
        let urn = match urn.char_indices().nth(256) {
            Some((at, _)) => format!("{}…", &urn[..at]),
            None => urn.to_owned(),
        };
        let declared: Vec<&str> = self.extensions.iter().map(|e| e.id.as_str()).collect();
        ScimError::invalid_value(format!(
            "'{urn}' is not a declared schema extension of {} resources (declared: {}); an operator \
             declares one by putting its schema (RFC 7643 §7) in the folder that schema.extensions_dir \
             names (docs/extensions.md)",
            self.name,
            if declared.is_empty() {
                "none".to_owned()
            } else {
                declared.join(", ")
            }
        ))
    }

    /// The extension URN a qualified name (`urn:…:User:costCenter`, or `urn:…:User` itself) is in.
    pub fn extension_urn_of(&self, qualified: &str) -> String {
        match qualified.rsplit_once(':') {
            Some((urn, last)) if !last.eq_ignore_ascii_case(self.name) => urn.to_owned(),
            _ => qualified.to_owned(),
        }
    }

    /// The extension whose URN is `urn` (compared case-insensitively).
    pub fn extension(&self, urn: &str) -> Option<&SchemaDef> {
        self.extensions.iter().find(|e| e.id.eq_ignore_ascii_case(urn))
    }

    /// Finds a top-level attribute by name: common attributes, then the core schema, then extensions
    /// (Entra sends an unqualified `manager` for the enterprise attribute).
    fn find_unqualified(&self, name: &str) -> Option<(Location<'_>, &AttributeDef)> {
        let common = self.common.iter().find(|a| a.name.eq_ignore_ascii_case(name));
        if let Some(attr) = common.or_else(|| self.core.attribute(name)) {
            return Some((Location::Core, attr));
        }
        self.extensions
            .iter()
            .find_map(|e| e.attribute(name).map(|a| (Location::Extension(e.id.as_str()), a)))
    }

    /// Resolves a path, or says which part is unknown. `kind` words the error for filters or paths.
    pub fn resolve(&self, path: &AttrPath) -> Result<Resolved<'_>, String> {
        let (location, attr) = match &path.uri {
            None => self.find_unqualified(&path.name),
            Some(uri) if uri.eq_ignore_ascii_case(&self.core.id) => {
                self.core.attribute(&path.name).map(|a| (Location::Core, a))
            }
            Some(uri) => self
                .extension(uri)
                .and_then(|e| e.attribute(&path.name).map(|a| (Location::Extension(e.id.as_str()), a))),
        }
        .ok_or_else(|| format!("unknown attribute '{path}'"))?;
        let sub = match &path.sub {
            None => None,
            Some(sub) => Some(attr.sub(sub).ok_or_else(|| format!("unknown attribute '{path}'"))?),
        };
        Ok(Resolved { location, attr, sub })
    }

    /// The URNs a document of this type may list in `schemas`.
    pub fn known_urns(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.core.id.as_str()).chain(self.extensions.iter().map(|e| e.id.as_str()))
    }
}

fn common_attributes() -> Vec<AttributeDef> {
    let mut meta = AttributeDef::common("meta", false, Mutability::ReadOnly, Returned::Default);
    meta.kind = AttrType::Complex;
    meta.sub_attributes = vec![
        AttributeDef::common("resourceType", true, Mutability::ReadOnly, Returned::Default),
        dated("created"),
        dated("lastModified"),
        AttributeDef::common("location", true, Mutability::ReadOnly, Returned::Default),
        AttributeDef::common("version", true, Mutability::ReadOnly, Returned::Default),
    ];
    vec![
        AttributeDef::common("id", true, Mutability::ReadOnly, Returned::Always),
        AttributeDef::common("externalId", true, Mutability::ReadWrite, Returned::Default),
        meta,
        // `schemas` is not an attribute of any schema but is filterable (RFC 7644 §3.4.2.2 example).
        AttributeDef {
            multi_valued: true,
            ..AttributeDef::common("schemas", true, Mutability::ReadOnly, Returned::Always)
        },
    ]
}

fn dated(name: &str) -> AttributeDef {
    AttributeDef {
        kind: AttrType::DateTime,
        ..AttributeDef::common(name, true, Mutability::ReadOnly, Returned::Default)
    }
}

fn parse_schema(json: &str) -> SchemaDef {
    #[allow(clippy::expect_used)] // compiled-in JSON, parsed in a unit test
    serde_json::from_str(json).expect("compiled-in schema JSON is valid")
}

static USER: LazyLock<ResourceSchema> = LazyLock::new(|| ResourceSchema {
    name: "User",
    core: parse_schema(USER_SCHEMA_JSON),
    extensions: vec![parse_schema(ENTERPRISE_USER_SCHEMA_JSON)],
    common: common_attributes(),
    declared: Vec::new(),
});

static GROUP: LazyLock<ResourceSchema> = LazyLock::new(|| ResourceSchema {
    name: "Group",
    core: parse_schema(GROUP_SCHEMA_JSON),
    extensions: Vec::new(),
    common: common_attributes(),
    declared: Vec::new(),
});

/// An operator's schema extension document (RFC 7643 §7): its definition and the document as
/// `/Schemas` serves it. Refused, with the reason, when it is not one this server can hold.
pub fn parse_extension(text: &str) -> Result<(SchemaDef, serde_json::Value), String> {
    let mut document: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let object = document.as_object_mut().ok_or("a schema is a JSON object")?;
    let id = object
        .get("id")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if !id.to_ascii_lowercase().starts_with("urn:") || id.split(':').count() < 3 {
        return Err(format!("'id' must be the extension's URN (urn:…), got '{id}'"));
    }
    object
        .entry("schemas")
        .or_insert_with(|| serde_json::json!(["urn:ietf:params:scim:schemas:core:2.0:Schema"]));
    object.remove("meta");
    let def: SchemaDef = serde_json::from_value(document.clone()).map_err(|e| format!("{id}: {e}"))?;
    if def.attributes.is_empty() {
        return Err(format!("{id}: 'attributes' must list at least one attribute"));
    }
    check_attributes(&def.attributes, false).map_err(|e| format!("{id}: {e}"))?;
    Ok((def, document))
}

fn check_attributes(attributes: &[AttributeDef], inside_complex: bool) -> Result<(), String> {
    for (n, attr) in attributes.iter().enumerate() {
        let mut chars = attr.name.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(format!(
                "attribute name '{}' is not ALPHA *(ALPHA / DIGIT / \"-\" / \"_\")",
                attr.name
            ));
        }
        if attributes[..n].iter().any(|a| a.name.eq_ignore_ascii_case(&attr.name)) {
            return Err(format!("attribute '{}' is declared twice", attr.name));
        }
        if attr.uniqueness != Uniqueness::None {
            return Err(format!(
                "attribute '{}': uniqueness is not enforced for extension attributes; declare it \"none\"",
                attr.name
            ));
        }
        match (attr.kind, inside_complex, attr.sub_attributes.is_empty()) {
            (AttrType::Complex, true, _) => {
                return Err(format!("'{}': a complex attribute cannot nest another", attr.name))
            }
            (AttrType::Complex, false, true) => {
                return Err(format!("'{}' is complex but has no subAttributes", attr.name))
            }
            (AttrType::Complex, false, false) => check_attributes(&attr.sub_attributes, true)?,
            (_, _, false) => return Err(format!("'{}' has subAttributes but is not complex", attr.name)),
            (_, _, true) => {}
        }
    }
    Ok(())
}

/// The Group resource type.
pub fn group() -> &'static ResourceSchema {
    &GROUP
}

/// The User resource type (core User schema + Enterprise User extension).
pub fn user() -> &'static ResourceSchema {
    &USER
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_in_documents_parse() {
        assert_eq!(user().core.id, USER_SCHEMA);
        assert_eq!(user().extensions[0].id, ENTERPRISE_USER_SCHEMA);
        assert_eq!(group().core.id, GROUP_SCHEMA);
        assert!(group().core.attribute("members").is_some_and(|m| m.multi_valued));
        let _: Vec<serde_json::Value> = serde_json::from_str(RESOURCE_TYPES_JSON).unwrap();
    }

    #[test]
    fn paths_resolve_case_insensitively_and_through_urns() {
        let s = user();
        let r = s
            .resolve(&AttrPath {
                uri: None,
                name: "NAME".into(),
                sub: Some("givenname".into()),
            })
            .unwrap();
        assert_eq!(r.leaf().name, "givenName");
        let r = s.resolve(&AttrPath::simple("manager")).unwrap();
        assert_eq!(r.location, Location::Extension(ENTERPRISE_USER_SCHEMA));
        let qualified = AttrPath {
            uri: Some(USER_SCHEMA.into()),
            name: "userName".into(),
            sub: None,
        };
        assert_eq!(s.resolve(&qualified).unwrap().attr.name, "userName");
        assert!(s.resolve(&AttrPath::simple("nope")).is_err());
        assert!(s
            .resolve(&AttrPath {
                uri: Some("urn:x".into()),
                name: "userName".into(),
                sub: None
            })
            .is_err());
    }
}
