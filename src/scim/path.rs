//! PATCH paths (RFC 7644 §3.5.2): `PATH = attrPath / valuePath [subAttr]`.
use super::error::ScimError;
use super::filter::{AttrPath, Filter};
use super::grammar;
use std::fmt;
use std::str::FromStr;

/// A parsed PATCH `path`, e.g. `emails[type eq "work"].value`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    /// The value selection filter in brackets, relative to `attr`.
    pub filter: Option<Box<Filter>>,
    /// The sub-attribute after the brackets (`.value` above).
    pub sub: Option<String>,
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(inner) = &self.filter {
            write!(f, "[{inner}]")?;
        }
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl FromStr for PatchPath {
    type Err = ScimError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        grammar::parse_path(s).map_err(|e| ScimError::invalid_path(format!("invalid path '{s}': {}", e.describe(s))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_paths_parse_and_print_back() {
        let rows = [
            ("members", "members"),
            ("name.familyName", "name.familyName"),
            (r#"emails[type eq "work"].value"#, r#"emails[type eq "work"].value"#),
            (r#"members[value eq "2819c223"]"#, r#"members[value eq "2819c223"]"#),
            (
                r#"addresses[type eq "work" and primary eq true].formatted"#,
                r#"addresses[(type eq "work" and primary eq true)].formatted"#,
            ),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            ),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            ),
        ];
        for (input, printed) in rows {
            let parsed: PatchPath = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(parsed.to_string(), printed);
        }
    }

    #[test]
    fn malformed_paths_are_invalid_path() {
        for input in [
            "",
            "emails[type eq \"work\"",
            "emails[type eq]",
            "a.b.c",
            "emails[x pr].",
            "emails[a[b pr]]",
        ] {
            let err = input.parse::<PatchPath>().expect_err(input);
            assert_eq!(
                err.scim_type,
                Some(super::super::error::ScimType::InvalidPath),
                "{input}"
            );
        }
    }
}
