//! Compiles a SCIM filter (RFC 7644 §3.4.2.2) and sort order to SQL over the `users` table, with
//! every value and JSON path bound as a parameter. Columns serve the indexed lookups (`id`,
//! `userName`, `externalId`, `meta.created`, `meta.lastModified`, `emails.value eq`); the rest of
//! the document is read with SQLite's `json_extract`/`json_each` or PostgreSQL's jsonpath functions
//! (`Dialect`). Parameters are numbered (`$1`), from `first` on.
use super::db::Dialect;
use crate::scim::schema::{AttributeDef, Location, ResourceSchema, Returned};
use crate::scim::{AttrPath, CompValue, CompareOp, Filter, ScimError};

mod compare;
mod order;

pub(crate) use compare::escape_like;
use compare::present;
pub(in crate::store) use order::order_by;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Bind {
    Text(String),
    Int(i64),
    Real(f64),
    Bool(bool),
}

impl<'a> From<&'a Bind> for super::db::Arg<'a> {
    fn from(b: &'a Bind) -> Self {
        match b {
            Bind::Text(s) => s.into(),
            Bind::Int(n) => (*n).into(),
            Bind::Real(x) => (*x).into(),
            Bind::Bool(b) => (*b).into(),
        }
    }
}

/// A WHERE expression and its parameters, in order.
#[derive(Debug, Default)]
pub(super) struct Sql {
    pub text: String,
    pub binds: Vec<Bind>,
}

/// The operand a comparison applies to.
struct Operand<'s> {
    expr: String,
    def: &'s AttributeDef,
    /// The column already has `COLLATE NOCASE` (so `=` and `LIKE` may use its index).
    nocase_column: bool,
    /// A timestamp column in the stored format (text order is time order).
    timestamp_column: bool,
}

impl<'s> Operand<'s> {
    /// A value read from the JSON document (no collation, not a timestamp column).
    fn json(expr: String, def: &'s AttributeDef) -> Self {
        Self {
            expr,
            def,
            nocase_column: false,
            timestamp_column: false,
        }
    }
}

/// What the compiler needs to know of a resource table (aliased `u` in every query).
pub(super) struct Table {
    pub name: &'static str,
    pub resource_type: &'static str,
    /// The unique name attribute and its `COLLATE NOCASE` column.
    pub name_attr: &'static str,
    pub name_column: &'static str,
    /// An attribute kept as rows rather than in the document, and the subquery giving its elements
    /// as columns `value`, `type`, `display`.
    pub relation: Option<(&'static str, &'static str)>,
}

pub(super) const USERS: Table = Table {
    name: "users",
    resource_type: "User",
    name_attr: "userName",
    name_column: "u.user_name",
    relation: Some((
        "groups",
        "SELECT g.id AS value, g.display_name AS display, 'direct' AS type
         FROM group_members gm JOIN groups g ON g.id = gm.group_id WHERE gm.member_id = u.id",
    )),
};

/// Users as a target's `scope` sees them: a group answers to its current name and to every name a
/// scope recorded for it (`scope_groups`), so a rename moves no one out of scope.
pub(super) const USERS_IN_SCOPE: Table = Table {
    relation: Some((
        "groups",
        "SELECT g.id AS value, g.display_name AS display, 'direct' AS type
         FROM group_members gm JOIN groups g ON g.id = gm.group_id WHERE gm.member_id = u.id
         UNION ALL
         SELECT s.group_id, s.name, 'direct'
         FROM group_members gm JOIN scope_groups s ON s.group_id = gm.group_id WHERE gm.member_id = u.id",
    )),
    ..USERS
};

pub(super) const GROUPS: Table = Table {
    name: "groups",
    resource_type: "Group",
    name_attr: "displayName",
    name_column: "u.display_name",
    relation: Some((
        "members",
        "SELECT gm.member_id AS value, gm.member_type AS type, gm.display AS display
         FROM group_members gm WHERE gm.group_id = u.id",
    )),
};

/// The sub-attributes a relation's rows have.
const RELATION_COLUMNS: [&str; 3] = ["value", "type", "display"];

/// Where attribute names are looked up: the resource, one element inside `json_each`, or one row
/// of a relation subquery.
#[derive(Clone, Copy)]
enum Scope<'s> {
    Resource,
    Element { alias: usize, attr: &'s AttributeDef },
    Relation { alias: usize, attr: &'s AttributeDef },
}

pub(super) struct Compiler<'s> {
    schema: &'s ResourceSchema,
    table: &'s Table,
    dialect: Dialect,
    /// The number of the first parameter this expression binds.
    first: usize,
    binds: Vec<Bind>,
    aliases: usize,
}

impl<'s> Compiler<'s> {
    pub fn new(schema: &'s ResourceSchema, table: &'s Table, dialect: Dialect) -> Self {
        Self {
            schema,
            table,
            dialect,
            first: 1,
            binds: Vec::new(),
            aliases: 0,
        }
    }

    /// The same, numbering its parameters from `$first` (it follows `first - 1` others).
    pub fn numbered_from(self, first: usize) -> Self {
        Self { first, ..self }
    }

    /// The rows subquery when `attr` is the table's relation attribute.
    fn relation_rows(&self, location: Location<'_>, attr: &str) -> Option<&'static str> {
        match self.table.relation {
            Some((name, rows)) if location == Location::Core && name == attr => Some(rows),
            _ => None,
        }
    }

    /// Compiles a filter to a WHERE expression.
    pub fn filter(mut self, filter: &Filter) -> Result<Sql, ScimError> {
        let text = self.node(filter, Scope::Resource)?;
        Ok(Sql {
            text,
            binds: self.binds,
        })
    }

    /// Binds a value; its placeholder.
    fn bind(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("${}", self.first + self.binds.len() - 1)
    }

    fn node(&mut self, filter: &Filter, scope: Scope<'s>) -> Result<String, ScimError> {
        Ok(match filter {
            Filter::And(terms) => self.chain(terms, "AND", scope)?,
            Filter::Or(terms) => self.chain(terms, "OR", scope)?,
            Filter::Not(inner) => format!("NOT COALESCE(({}), FALSE)", self.node(inner, scope)?),
            Filter::Present(path) => self.leaf(
                path,
                scope,
                |_, operand| Ok(present(&operand.expr, operand.def)),
                |_, _| None,
            )?,
            Filter::Compare(path, op, literal) => self.leaf(
                path,
                scope,
                |c, operand| c.compare(&operand, *op, literal),
                |path, def| {
                    if *op == CompareOp::Eq {
                        indexed_email(path, def, literal)
                    } else {
                        None
                    }
                },
            )?,
            Filter::ValuePath(path, inner) => self.value_path(path, inner, scope)?,
        })
    }

    /// `a OR b OR c …` as a balanced tree of parentheses: SQLite parses a flat chain into a tree as
    /// deep as it is long, and refuses one deeper than 1,000 (`SQLITE_MAX_EXPR_DEPTH`).
    fn chain(&mut self, terms: &[Filter], word: &str, scope: Scope<'s>) -> Result<String, ScimError> {
        let parts = terms
            .iter()
            .map(|t| self.node(t, scope))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(balanced(&parts, word))
    }

    /// `emails[type eq "work" and value co "@x"]`: some element satisfies the inner filter.
    fn value_path(&mut self, path: &AttrPath, inner: &Filter, scope: Scope<'s>) -> Result<String, ScimError> {
        if !matches!(scope, Scope::Resource) || path.sub.is_some() {
            return Err(ScimError::invalid_filter(format!(
                "'{path}[...]' cannot be nested or take a sub-attribute"
            )));
        }
        let resolved = self.schema.resolve(path).map_err(ScimError::invalid_filter)?;
        if !resolved.attr.multi_valued || resolved.attr.sub_attributes.is_empty() {
            return Err(ScimError::invalid_filter(format!(
                "'{path}' is not a multi-valued complex attribute"
            )));
        }
        let alias = self.next_alias();
        if let Some(rows) = self.relation_rows(resolved.location, &resolved.attr.name) {
            let body = self.node(
                inner,
                Scope::Relation {
                    alias,
                    attr: resolved.attr,
                },
            )?;
            return Ok(format!("EXISTS (SELECT 1 FROM ({rows}) AS e{alias} WHERE {body})"));
        }
        let elements = self.elements(resolved.location, &resolved.attr.name, alias);
        let body = self.node(
            inner,
            Scope::Element {
                alias,
                attr: resolved.attr,
            },
        )?;
        Ok(format!("EXISTS (SELECT 1 FROM {elements} WHERE {body})"))
    }

    fn next_alias(&mut self) -> usize {
        self.aliases += 1;
        self.aliases
    }

    /// Finds the operand of `path` and builds the test `emit` describes; multi-valued attributes are
    /// tested element by element (`EXISTS … json_each`). `shortcut` may answer from an index instead.
    fn leaf(
        &mut self,
        path: &AttrPath,
        scope: Scope<'s>,
        emit: impl Fn(&mut Self, Operand<'s>) -> Result<String, ScimError>,
        shortcut: impl Fn(&AttrPath, &AttributeDef) -> Option<String>,
    ) -> Result<String, ScimError> {
        match scope {
            Scope::Element { alias, attr } => {
                let def = element_def(attr, path)?;
                let value = self.member(&format!("e{alias}.value"), &def.name);
                return emit(self, Operand::json(value, def));
            }
            Scope::Relation { alias, attr } => {
                let def = relation_column(attr, element_def(attr, path)?)?;
                return emit(self, Operand::json(format!("e{alias}.\"{}\"", def.name), def));
            }
            Scope::Resource => {}
        }
        let resolved = self.schema.resolve(path).map_err(ScimError::invalid_filter)?;
        let leaf = resolved.leaf();
        if leaf.returned == Returned::Never {
            return Err(ScimError::invalid_filter(format!(
                "'{}' cannot be used in a filter",
                leaf.name
            )));
        }
        if let Some(rows) = self.relation_rows(resolved.location, &resolved.attr.name) {
            let alias = self.next_alias();
            let sub = resolved.sub.or_else(|| resolved.attr.sub("value")).unwrap_or(leaf);
            let def = relation_column(resolved.attr, sub)?;
            let test = emit(self, Operand::json(format!("e{alias}.\"{}\"", def.name), def))?;
            return Ok(format!("EXISTS (SELECT 1 FROM ({rows}) AS e{alias} WHERE {test})"));
        }
        if let Some(operand) = column(
            self.table,
            resolved.location,
            &resolved.attr.name,
            resolved.sub.map(|s| s.name.as_str()),
            leaf,
        )? {
            return emit(self, operand);
        }
        if !resolved.attr.multi_valued {
            let path = json_path(
                resolved.location,
                &resolved.attr.name,
                resolved.sub.map(|s| s.name.as_str()),
            );
            let value = self.document_value(path);
            return emit(self, Operand::json(value, leaf));
        }
        // A multi-valued attribute without a sub-attribute is compared through its `value` (RFC 7644 §3.4.2.2).
        let sub = resolved.sub.or_else(|| resolved.attr.sub("value"));
        let shortcut = if self.table.name == USERS.name {
            shortcut(path, sub.unwrap_or(resolved.attr))
        } else {
            None
        };
        if let Some(email) = shortcut {
            let value = self.bind(Bind::Text(email));
            return Ok(match self.dialect {
                Dialect::Sqlite => format!("u.id IN (SELECT user_id FROM user_emails WHERE value = {value})"),
                Dialect::Postgres => {
                    format!("u.id IN (SELECT user_id FROM user_emails WHERE value = scim_fold({value}))")
                }
            });
        }
        let alias = self.next_alias();
        let elements = self.elements(resolved.location, &resolved.attr.name, alias);
        let (expr, def) = match sub {
            Some(sub) => (self.member(&format!("e{alias}.value"), &sub.name), sub),
            None => (self.element_itself(alias), resolved.attr),
        };
        let test = emit(self, Operand::json(expr, def))?;
        Ok(format!("EXISTS (SELECT 1 FROM {elements} WHERE {test})"))
    }

    /// The elements of the document's array at (location, attr), as rows `e<alias>(value)`.
    fn elements(&mut self, location: Location<'_>, attr: &str, alias: usize) -> String {
        let path = json_path(location, attr, None);
        match self.dialect {
            Dialect::Sqlite => format!("json_each(u.doc, {}) AS e{alias}", self.bind(Bind::Text(path))),
            Dialect::Postgres => {
                let path = self.bind(Bind::Text(format!("{path}[*]")));
                format!("jsonb_path_query(u.doc::jsonb, {path}::jsonpath) AS e{alias}(value)")
            }
        }
    }

    /// An element row's own value (elements of a multi-valued attribute without sub-attributes).
    fn element_itself(&self, alias: usize) -> String {
        match self.dialect {
            Dialect::Sqlite => format!("e{alias}.value"),
            Dialect::Postgres => format!("(e{alias}.value #>> '{{}}')"),
        }
    }

    /// The member `key` of an element row's JSON value.
    fn member(&mut self, element: &str, key: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => {
                let key = self.bind(Bind::Text(format!("$.\"{key}\"")));
                format!("json_extract({element}, {key})")
            }
            Dialect::Postgres => {
                let key = self.bind(Bind::Text(key.to_owned()));
                format!("({element} ->> {key})")
            }
        }
    }

    /// The value at a JSON path of the document (PostgreSQL: as text; `compare` casts).
    fn document_value(&mut self, path: String) -> String {
        let path = self.bind(Bind::Text(path));
        match self.dialect {
            Dialect::Sqlite => format!("json_extract(u.doc, {path})"),
            Dialect::Postgres => format!("(jsonb_path_query_first(u.doc::jsonb, {path}::jsonpath) #>> '{{}}')"),
        }
    }
}

/// `(p1 word p2)`, `((p1 word p2) word (p3 word p4))`, …: depth log2(n), in the order given.
fn balanced(parts: &[String], word: &str) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        _ => {
            let (left, right) = parts.split_at(parts.len() / 2);
            format!("({} {word} {})", balanced(left, word), balanced(right, word))
        }
    }
}

/// `emails.value eq "x"` (or `emails eq "x"`) is answered from the `user_emails` index: the e-mail.
fn indexed_email(path: &AttrPath, def: &AttributeDef, literal: &CompValue) -> Option<String> {
    let (true, CompValue::Str(s)) = (path.name.eq_ignore_ascii_case("emails") && def.name == "value", literal) else {
        return None;
    };
    Some(s.clone()).filter(|_| path.uri.is_none() || path.uri.as_deref().is_some_and(|u| u.ends_with(":core:2.0:User")))
}

/// The columns that mirror document values (see migrations/): indexed, and exact about case.
fn column<'s>(
    table: &Table,
    location: Location<'_>,
    attr: &str,
    sub: Option<&str>,
    def: &'s AttributeDef,
) -> Result<Option<Operand<'s>>, ScimError> {
    if location != Location::Core {
        return Ok(None);
    }
    let resource_type = format!("'{}'", table.resource_type);
    let (expr, nocase_column, timestamp_column) = match (attr, sub) {
        ("id", None) => ("u.id", false, false),
        (name, None) if name == table.name_attr => (table.name_column, true, false),
        ("externalId", None) => ("u.external_id", false, false),
        ("meta", Some("created")) => ("u.created", false, true),
        ("meta", Some("lastModified")) => ("u.last_modified", false, true),
        ("meta", Some("resourceType")) => (resource_type.as_str(), false, false),
        ("meta", _) => {
            return Err(ScimError::invalid_filter(
                "only meta.created, meta.lastModified and meta.resourceType can be filtered",
            ))
        }
        _ => return Ok(None),
    };
    Ok(Some(Operand {
        expr: expr.to_owned(),
        def,
        nocase_column,
        timestamp_column,
    }))
}

/// A relation's sub-attribute, if its rows have it as a column.
fn relation_column<'s>(attr: &AttributeDef, sub: &'s AttributeDef) -> Result<&'s AttributeDef, ScimError> {
    if RELATION_COLUMNS.contains(&sub.name.as_str()) {
        Ok(sub)
    } else {
        Err(ScimError::invalid_filter(format!(
            "'{}.{}' cannot be filtered",
            attr.name, sub.name
        )))
    }
}

fn element_def<'s>(attr: &'s AttributeDef, path: &AttrPath) -> Result<&'s AttributeDef, ScimError> {
    if path.uri.is_some() || path.sub.is_some() {
        return Err(ScimError::invalid_filter(format!(
            "inside '{}[...]', name sub-attributes only, not '{path}'",
            attr.name
        )));
    }
    attr.sub(&path.name)
        .ok_or_else(|| ScimError::invalid_filter(format!("unknown attribute '{}.{}'", attr.name, path.name)))
}

/// A JSON path to an attribute (SQLite's and PostgreSQL's jsonpath read it alike): `$."name"."givenName"`, or `$."urn:…:User"."department"`.
fn json_path(location: Location<'_>, attr: &str, sub: Option<&str>) -> String {
    let mut p = String::from("$");
    if let Location::Extension(urn) = location {
        p.push_str(&format!(".\"{urn}\""));
    }
    p.push_str(&format!(".\"{attr}\""));
    if let Some(sub) = sub {
        p.push_str(&format!(".\"{sub}\""));
    }
    p
}
