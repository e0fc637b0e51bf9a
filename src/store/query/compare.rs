//! Comparisons (`eq`, `co`, `gt`, …) as SQL: text with SCIM's case rules, date-times by instant.
use super::{Bind, Compiler, Operand};
use crate::scim::eval::check_comparable;
use crate::scim::resource::parse_datetime;
use crate::scim::schema::{AttrType, AttributeDef};
use crate::scim::{CompValue, CompareOp, ScimError};
use crate::store::db::Dialect;

impl Compiler<'_> {
    pub(super) fn compare(&mut self, o: &Operand<'_>, op: CompareOp, literal: &CompValue) -> Result<String, ScimError> {
        check_comparable(o.def, op, literal)?;
        let x = &o.expr;
        let sql_op = match op {
            CompareOp::Eq => "=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            _ => "=",
        };
        let negate = |test: String| {
            if op == CompareOp::Ne {
                format!("NOT COALESCE({test}, FALSE)")
            } else {
                test
            }
        };
        let dialect = self.dialect;
        Ok(match (literal, o.def.kind) {
            // `eq null` is "not present" and `ne null` is `pr`, empty values included (RFC 7644 §3.4.2.2).
            (CompValue::Null, _) if op == CompareOp::Eq => format!("NOT {}", present(x, o.def)),
            (CompValue::Null, _) => present(x, o.def),
            (CompValue::Bool(b), _) => negate(format!("{} = {}", as_boolean(dialect, x), self.bind(Bind::Bool(*b)))),
            (CompValue::Str(s), AttrType::Boolean) => {
                let b = s.eq_ignore_ascii_case("true");
                negate(format!("{} = {}", as_boolean(dialect, x), self.bind(Bind::Bool(b))))
            }
            (CompValue::Number(n), _) => {
                let bind = n
                    .as_i64()
                    .map_or_else(|| Bind::Real(n.as_f64().unwrap_or(f64::NAN)), Bind::Int);
                negate(format!("{} {sql_op} {}", as_number(dialect, x), self.bind(bind)))
            }
            (CompValue::Str(s), AttrType::DateTime) if !matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) => {
                self.compare_datetime(o, sql_op, s, negate)?
            }
            (CompValue::Str(s), _) => self.compare_text(o, op, sql_op, s),
        })
    }

    fn compare_datetime(
        &mut self,
        o: &Operand<'_>,
        sql_op: &str,
        s: &str,
        negate: impl Fn(String) -> String,
    ) -> Result<String, ScimError> {
        let parsed =
            parse_datetime(s).ok_or_else(|| ScimError::invalid_filter(format!("'{s}' is not an xsd:dateTime")))?;
        let x = &o.expr;
        if o.timestamp_column {
            let stored = crate::store::format_timestamp(parsed);
            return Ok(negate(format!("{x} {sql_op} {}", self.bind(Bind::Text(stored)))));
        }
        let literal = self.bind(Bind::Text(s.to_owned()));
        Ok(negate(match self.dialect {
            Dialect::Sqlite => format!("julianday({x}) {sql_op} julianday({literal})"),
            Dialect::Postgres => format!("({x})::timestamptz {sql_op} ({literal})::timestamptz"),
        }))
    }

    fn compare_text(&mut self, o: &Operand<'_>, op: CompareOp, sql_op: &str, s: &str) -> String {
        let x = &o.expr;
        if s.is_empty() && matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) {
            return format!("{x} IS NOT NULL");
        }
        let dialect = self.dialect;
        if o.def.case_exact {
            let text = Bind::Text(s.to_owned());
            let position = match dialect {
                Dialect::Sqlite => "instr",
                Dialect::Postgres => "strpos",
            };
            return match op {
                CompareOp::Co => format!("{position}({x}, {}) > 0", self.bind(text)),
                CompareOp::Sw => format!("{position}({x}, {}) = 1", self.bind(text)),
                CompareOp::Ew => {
                    let a = self.bind(text.clone());
                    let b = self.bind(text);
                    match dialect {
                        Dialect::Sqlite => format!("substr({x}, -length({a})) = {b}"),
                        Dialect::Postgres => format!("right({x}, length({a})) = {b}"),
                    }
                }
                CompareOp::Ne => format!("NOT COALESCE({x} = {}, FALSE)", self.bind(text)),
                _ => format!("{x} {sql_op} {}", self.bind(text)),
            };
        }
        // caseExact false: SQLite's NOCASE collation and LIKE (case-insensitive for ASCII);
        // PostgreSQL's `scim_fold` on both sides (the form its case-insensitive indexes hold).
        let pattern = |before: &str, after: &str| Bind::Text(format!("{before}{}{after}", escape_like(s)));
        let like = |c: &mut Self, p: Bind| {
            let p = c.bind(p);
            match dialect {
                Dialect::Sqlite => format!("{x} LIKE {p} ESCAPE '\\'"),
                Dialect::Postgres => format!("scim_fold({x}) LIKE scim_fold({p}) ESCAPE '\\'"),
            }
        };
        let compare = |c: &mut Self, sql_op: &str| {
            let value = c.bind(Bind::Text(s.to_owned()));
            match dialect {
                Dialect::Sqlite if o.nocase_column => format!("{x} {sql_op} {value}"),
                Dialect::Sqlite => format!("{x} {sql_op} {value} COLLATE NOCASE"),
                Dialect::Postgres => format!("scim_fold({x}) {sql_op} scim_fold({value})"),
            }
        };
        match op {
            CompareOp::Co => like(self, pattern("%", "%")),
            CompareOp::Sw => like(self, pattern("", "%")),
            CompareOp::Ew => like(self, pattern("%", "")),
            CompareOp::Ne => format!("NOT COALESCE({}, FALSE)", compare(self, "=")),
            _ => compare(self, sql_op),
        }
    }
}

/// `pr`: present and not empty (RFC 7644 §3.4.2.2). `expr` may hold a placeholder, so it is used once.
pub(super) fn present(expr: &str, def: &AttributeDef) -> String {
    if def.multi_valued || def.kind == AttrType::Complex {
        return format!("COALESCE(({expr}) NOT IN ('[]', '{{}}', ''), FALSE)");
    }
    format!("COALESCE(({expr}) <> '', FALSE)")
}

/// A document value compared with a boolean: PostgreSQL reads it as text, so it is cast.
fn as_boolean(dialect: Dialect, expr: &str) -> String {
    match dialect {
        Dialect::Sqlite => expr.to_owned(),
        Dialect::Postgres => format!("({expr})::boolean"),
    }
}

/// A document value compared with a number (PostgreSQL: cast from its text).
fn as_number(dialect: Dialect, expr: &str) -> String {
    match dialect {
        Dialect::Sqlite => expr.to_owned(),
        Dialect::Postgres => format!("({expr})::numeric"),
    }
}

pub(crate) fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}
