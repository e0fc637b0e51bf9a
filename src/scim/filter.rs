//! The filter AST of RFC 7644 §3.4.2.2 and its canonical one-line form.
use super::error::ScimError;
use super::grammar;
use std::fmt;
use std::str::FromStr;

/// `attrPath = [URI ":"] ATTRNAME *1subAttr` (RFC 7644 §3.4.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// The schema URN prefix, e.g. `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`.
    pub uri: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

impl AttrPath {
    pub fn simple(name: &str) -> Self {
        Self {
            uri: None,
            name: name.to_owned(),
            sub: None,
        }
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(uri) = &self.uri {
            write!(f, "{uri}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// `compareOp` (RFC 7644 §3.4.2.2, Table 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    pub const ALL: [CompareOp; 9] = [
        Self::Eq,
        Self::Ne,
        Self::Co,
        Self::Sw,
        Self::Ew,
        Self::Gt,
        Self::Ge,
        Self::Lt,
        Self::Le,
    ];

    pub fn keyword(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Co => "co",
            Self::Sw => "sw",
            Self::Ew => "ew",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
        }
    }

    /// The ordering operators, which RFC 7644 forbids on booleans and complex attributes.
    pub fn is_ordering(self) -> bool {
        matches!(self, Self::Gt | Self::Ge | Self::Lt | Self::Le)
    }
}

/// `compValue = false / null / true / number / string` (RFC 7644 §3.4.2.2).
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    Str(String),
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Number(n) => write!(f, "{n}"),
            Self::Str(s) => write!(f, "{}", serde_json::Value::String(s.clone())),
        }
    }
}

/// A parsed SCIM filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Present(AttrPath),
    Compare(AttrPath, CompareOp, CompValue),
    /// `valuePath = attrPath "[" valFilter "]"`: the inner filter's paths are relative to the attribute.
    ValuePath(AttrPath, Box<Filter>),
    /// A flat chain `a and b and c`: n-ary, so that no consumer recurses once per clause
    /// (a 6,000-clause filter overflowed the stack when chains were nested pairs). Two or more terms.
    And(Vec<Filter>),
    /// A flat chain `a or b or c` (two or more terms).
    Or(Vec<Filter>),
    Not(Box<Filter>),
}

impl Filter {
    /// Every attribute path the filter names, the inner ones of value paths prefixed by their attribute.
    pub fn paths(&self) -> Vec<AttrPath> {
        let mut out = Vec::new();
        self.collect_paths(None, &mut out);
        out
    }

    fn collect_paths(&self, parent: Option<&AttrPath>, out: &mut Vec<AttrPath>) {
        let qualify = |p: &AttrPath| match parent {
            Some(parent) => AttrPath {
                uri: parent.uri.clone(),
                name: parent.name.clone(),
                sub: Some(p.name.clone()),
            },
            None => p.clone(),
        };
        match self {
            Self::Present(p) | Self::Compare(p, _, _) => out.push(qualify(p)),
            Self::ValuePath(p, inner) => inner.collect_paths(Some(p), out),
            Self::And(terms) | Self::Or(terms) => {
                for term in terms {
                    term.collect_paths(parent, out);
                }
            }
            Self::Not(inner) => inner.collect_paths(parent, out),
        }
    }

    /// The number of attribute expressions (`attrExp`) in the filter, value paths' inner ones included.
    pub fn clause_count(&self) -> usize {
        match self {
            Self::Present(_) | Self::Compare(..) => 1,
            Self::ValuePath(_, inner) | Self::Not(inner) => inner.clause_count(),
            Self::And(terms) | Self::Or(terms) => terms.iter().map(Self::clause_count).sum(),
        }
    }
}

/// Writes `(t1 word t2 word …)`.
fn write_chain(f: &mut fmt::Formatter<'_>, terms: &[Filter], word: &str) -> fmt::Result {
    f.write_str("(")?;
    for (n, term) in terms.iter().enumerate() {
        if n > 0 {
            write!(f, " {word} ")?;
        }
        write!(f, "{term}")?;
    }
    f.write_str(")")
}

impl fmt::Display for Filter {
    /// The canonical form: every `and`/`or` chain in parentheses, so that precedence is visible.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Present(p) => write!(f, "{p} pr"),
            Self::Compare(p, op, v) => write!(f, "{p} {} {v}", op.keyword()),
            Self::ValuePath(p, inner) => write!(f, "{p}[{inner}]"),
            Self::And(terms) => write_chain(f, terms, "and"),
            Self::Or(terms) => write_chain(f, terms, "or"),
            Self::Not(inner) => write!(f, "not ({inner})"),
        }
    }
}

impl FromStr for Filter {
    type Err = ScimError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        grammar::parse_filter(s).map_err(|e| ScimError::invalid_filter(e.describe(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn assert_parses(input: &str, canonical: &str) {
        let parsed: Filter = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(parsed.to_string(), canonical, "input: {input}");
    }

    #[track_caller]
    fn assert_rejected(input: &str, detail_contains: &str) {
        let err = input.parse::<Filter>().expect_err(input);
        assert_eq!(err.status, 400);
        assert_eq!(err.scim_type, Some(super::super::error::ScimType::InvalidFilter));
        assert!(err.detail.contains(detail_contains), "{input}: {}", err.detail);
    }

    #[test]
    fn a_string_literal_holding_nul_is_refused() {
        assert_rejected(r#"userName eq "a\u0000b""#, "U+0000");
    }

    #[test]
    fn rfc_7644_examples_parse_to_their_canonical_form() {
        let rows = [
            (r#"userName Eq "john""#, r#"userName eq "john""#),
            (r#"Username eq "john""#, r#"Username eq "john""#),
            (r#"userName eq "bjensen""#, r#"userName eq "bjensen""#),
            (r#"name.familyName co "O'Malley""#, r#"name.familyName co "O'Malley""#),
            (r#"userName sw "J""#, r#"userName sw "J""#),
            (
                r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
                r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
            ),
            ("title pr", "title pr"),
            (
                r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
                r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
            ),
            (
                r#"title pr and userType eq "Employee""#,
                r#"(title pr and userType eq "Employee")"#,
            ),
            (
                r#"title pr or userType eq "Intern""#,
                r#"(title pr or userType eq "Intern")"#,
            ),
            (
                r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
                r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            ),
            (
                r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
                r#"(userType eq "Employee" and (emails co "example.com" or emails.value co "example.org"))"#,
            ),
            (
                r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
                r#"(userType ne "Employee" and not ((emails co "example.com" or emails.value co "example.org")))"#,
            ),
            (
                r#"userType eq "Employee" and (emails.type eq "work")"#,
                r#"(userType eq "Employee" and emails.type eq "work")"#,
            ),
            (
                r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
                r#"(userType eq "Employee" and emails[(type eq "work" and value co "@example.com")])"#,
            ),
            (
                r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
                r#"(emails[(type eq "work" and value co "@example.com")] or ims[(type eq "xmpp" and value co "@foo.com")])"#,
            ),
        ];
        for (input, canonical) in rows {
            assert_parses(input, canonical);
        }
    }

    #[test]
    fn and_binds_tighter_than_or() {
        assert_parses("a eq 1 or b pr and c pr", "(a eq 1 or (b pr and c pr))");
        assert_parses("a pr and b pr or c pr", "((a pr and b pr) or c pr)");
        assert_parses("a pr or b pr or c pr", "(a pr or b pr or c pr)");
        assert_parses("(a pr or b pr) or c pr", "((a pr or b pr) or c pr)");
    }

    #[test]
    fn literals_of_every_json_type_parse() {
        assert_parses("active eq true", "active eq true");
        assert_parses("active eq FALSE", "active eq false");
        assert_parses("title eq null", "title eq null");
        assert_parses("x gt 42", "x gt 42");
        assert_parses("x le -1.5e3", "x le -1500.0");
        assert_parses(
            r#"displayName eq "a \"quoted\" \u00e9""#,
            r#"displayName eq "a \"quoted\" é""#,
        );
    }

    #[test]
    fn okta_and_entra_forms_parse() {
        assert_parses(r#"userName eq "jdoe@example.com""#, r#"userName eq "jdoe@example.com""#);
        assert_parses(r#"externalId eq "0a21f0f2-8d2a""#, r#"externalId eq "0a21f0f2-8d2a""#);
        assert_parses(r#"DisplayName  eq  "Eng""#, r#"DisplayName eq "Eng""#);
        assert_parses(r#"members.$ref pr"#, "members.$ref pr");
    }

    #[test]
    fn malformed_filters_are_invalid_filter_with_the_position() {
        assert_rejected("", "position 1");
        assert_rejected("userName", "position 9");
        assert_rejected(r#"userName xx "a""#, "comparison operator");
        assert_rejected(r#"userName eq "unterminated"#, "value");
        assert_rejected(r#"userName eq "a" and"#, "position");
        assert_rejected(r#"(userName eq "a""#, "')'");
        assert_rejected(r#"userName eq "a" garbage"#, "position 17");
        assert_rejected(r#"emails[type eq "work""#, "']'");
        assert_rejected("name.given.family pr", "position");
        assert_rejected("1abc pr", "attribute");
        assert_rejected("userName eq bare", "value");
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = format!("{}a pr{}", "(".repeat(5000), ")".repeat(5000));
        assert_rejected(&deep, "nested");
        let nots = format!("{}a pr{}", "not (".repeat(5000), ")".repeat(5000));
        assert_rejected(&nots, "nested");
    }

    #[test]
    fn paths_lists_inner_value_path_attributes_qualified() {
        let f: Filter = r#"emails[type eq "work"] and name.givenName pr"#.parse().unwrap();
        let paths: Vec<String> = f.paths().iter().map(ToString::to_string).collect();
        assert_eq!(paths, ["emails.type", "name.givenName"]);
    }
}
