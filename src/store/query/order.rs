//! `sortBy` / `sortOrder` (RFC 7644 §3.4.2.3) as an ORDER BY clause.
use super::{column, json_path, Bind, Table};
use crate::scim::list::SortOrder;
use crate::scim::schema::{AttrType, ResourceSchema};
use crate::scim::{AttrPath, ScimError};
use crate::store::db::Dialect;

/// The ORDER BY clause for `sortBy` / `sortOrder` (RFC 7644 §3.4.2.3); insertion order otherwise.
/// Values come from the schema's canonical names, bound as parameters after those in `binds`.
pub(in crate::store) fn order_by(
    dialect: Dialect,
    schema: &ResourceSchema,
    table: &Table,
    sort_by: Option<&AttrPath>,
    order: SortOrder,
    binds: &mut Vec<Bind>,
) -> Result<String, ScimError> {
    let direction = match order {
        SortOrder::Ascending => "ASC",
        SortOrder::Descending => "DESC",
    };
    let row = dialect.row_number("u");
    let Some(path) = sort_by else {
        // Creation order, served by the `*_created` index (see migrations/).
        return Ok(format!("u.created {direction}, {row} {direction}"));
    };
    let resolved = schema.resolve(path).map_err(ScimError::invalid_path)?;
    if table.relation.is_some_and(|(name, _)| name == resolved.attr.name) {
        return Err(ScimError::invalid_path(format!("cannot sort by '{path}'")));
    }
    let leaf = resolved.leaf();
    let sub = resolved.sub.map(|s| s.name.as_str());
    let expr = match column(table, resolved.location, &resolved.attr.name, sub, leaf)? {
        Some(operand) => operand.expr,
        None => {
            // The path of the first value (of a multi-valued attribute: of its first element).
            let mut path = json_path(resolved.location, &resolved.attr.name, None);
            if resolved.attr.multi_valued {
                path.push_str("[0]");
            }
            if let Some(s) = sub.or(resolved.attr.sub("value").map(|s| s.name.as_str())) {
                path.push_str(&format!(".\"{s}\""));
            }
            binds.push(Bind::Text(path));
            let p = format!("${}", binds.len());
            match dialect {
                Dialect::Sqlite => format!("json_extract(u.doc, {p})"),
                Dialect::Postgres if matches!(leaf.kind, AttrType::Integer | AttrType::Decimal) => {
                    format!("(jsonb_path_query_first(u.doc::jsonb, {p}::jsonpath) #>> '{{}}')::numeric")
                }
                Dialect::Postgres => format!("(jsonb_path_query_first(u.doc::jsonb, {p}::jsonpath) #>> '{{}}')"),
            }
        }
    };
    let folded = match dialect {
        _ if leaf.case_exact || leaf.kind != AttrType::String => expr.clone(),
        Dialect::Sqlite => format!("({expr}) COLLATE NOCASE"),
        Dialect::Postgres => format!("scim_fold({expr})"),
    };
    // Missing values sort last when ascending, first when descending (as if greatest).
    Ok(format!(
        "({expr}) IS NULL {direction}, {folded} {direction}, u.created {direction}, {row} {direction}"
    ))
}
