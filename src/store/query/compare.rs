//! Comparisons (`eq`, `co`, `gt`, …) as SQL: text with SCIM's case rules, date-times by instant.
use super::{Bind, Compiler, Operand};
use crate::scim::eval::check_comparable;
use crate::scim::resource::parse_datetime;
use crate::scim::schema::{AttrType, AttributeDef};
use crate::scim::{CompValue, CompareOp, ScimError};

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
                format!("NOT IFNULL({test}, 0)")
            } else {
                test
            }
        };
        Ok(match (literal, o.def.kind) {
            // `eq null` is "not present" and `ne null` is `pr`, empty values included (RFC 7644 §3.4.2.2).
            (CompValue::Null, _) if op == CompareOp::Eq => format!("NOT {}", present(x, o.def)),
            (CompValue::Null, _) => present(x, o.def),
            (CompValue::Bool(b), _) => negate(format!("{x} = {}", self.bind(Bind::Int(i64::from(*b))))),
            (CompValue::Str(s), AttrType::Boolean) => {
                let b = s.eq_ignore_ascii_case("true");
                negate(format!("{x} = {}", self.bind(Bind::Int(i64::from(b)))))
            }
            (CompValue::Number(n), _) => {
                let bind = n
                    .as_i64()
                    .map_or_else(|| Bind::Real(n.as_f64().unwrap_or(f64::NAN)), Bind::Int);
                negate(format!("{x} {sql_op} {}", self.bind(bind)))
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
        Ok(negate(format!(
            "julianday({x}) {sql_op} julianday({})",
            self.bind(Bind::Text(s.to_owned()))
        )))
    }

    fn compare_text(&mut self, o: &Operand<'_>, op: CompareOp, sql_op: &str, s: &str) -> String {
        let x = &o.expr;
        if s.is_empty() && matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) {
            return format!("{x} IS NOT NULL");
        }
        if o.def.case_exact {
            let text = Bind::Text(s.to_owned());
            return match op {
                CompareOp::Co => format!("instr({x}, {}) > 0", self.bind(text)),
                CompareOp::Sw => format!("instr({x}, {}) = 1", self.bind(text)),
                CompareOp::Ew => {
                    let a = self.bind(text.clone());
                    format!("substr({x}, -length({a})) = {}", self.bind(text))
                }
                CompareOp::Ne => format!("NOT IFNULL({x} = {}, 0)", self.bind(text)),
                _ => format!("{x} {sql_op} {}", self.bind(text)),
            };
        }
        // caseExact false: NOCASE collation, and LIKE (case-insensitive for ASCII) for substrings.
        let collate = if o.nocase_column { "" } else { " COLLATE NOCASE" };
        let pattern = |before: &str, after: &str| Bind::Text(format!("{before}{}{after}", escape_like(s)));
        match op {
            CompareOp::Co => format!("{x} LIKE {} ESCAPE '\\'", self.bind(pattern("%", "%"))),
            CompareOp::Sw => format!("{x} LIKE {} ESCAPE '\\'", self.bind(pattern("", "%"))),
            CompareOp::Ew => format!("{x} LIKE {} ESCAPE '\\'", self.bind(pattern("%", ""))),
            CompareOp::Ne => format!("NOT IFNULL({x} = {}{collate}, 0)", self.bind(Bind::Text(s.to_owned()))),
            _ => format!("{x} {sql_op} {}{collate}", self.bind(Bind::Text(s.to_owned()))),
        }
    }
}

/// `pr`: present and not empty (RFC 7644 §3.4.2.2). `expr` may hold a placeholder, so it is used once.
pub(super) fn present(expr: &str, def: &AttributeDef) -> String {
    if def.multi_valued || def.kind == AttrType::Complex {
        return format!("IFNULL(({expr}) NOT IN ('[]', '{{}}', ''), 0)");
    }
    format!("IFNULL(({expr}) <> '', 0)")
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}
