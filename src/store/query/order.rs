//! `sortBy` / `sortOrder` (RFC 7644 §3.4.2.3) as an ORDER BY clause.
use super::{column, json_path, Bind, Table};
use crate::scim::list::SortOrder;
use crate::scim::schema::{AttrType, ResourceSchema};
use crate::scim::{AttrPath, ScimError};

/// The ORDER BY clause for `sortBy` / `sortOrder` (RFC 7644 §3.4.2.3); insertion order otherwise.
/// Values come from the schema's canonical names, bound as parameters.
pub(in crate::store) fn order_by(
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
    let Some(path) = sort_by else {
        // Creation order, served by the `*_created` index (see migrations/).
        return Ok(format!("u.created {direction}, u.rowid {direction}"));
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
            // The expression appears twice below, so its path is bound twice.
            let path = json_path(resolved.location, &resolved.attr.name, None);
            binds.extend([Bind::Text(path.clone()), Bind::Text(path)]);
            let first = match (
                resolved.attr.multi_valued,
                sub.or(resolved.attr.sub("value").map(|s| s.name.as_str())),
            ) {
                (true, Some(s)) => format!("json_extract(json_extract(u.doc, ?), '$[0].\"{s}\"')"),
                (true, None) => "json_extract(json_extract(u.doc, ?), '$[0]')".to_owned(),
                (false, Some(s)) => format!("json_extract(json_extract(u.doc, ?), '$.\"{s}\"')"),
                (false, None) => "json_extract(u.doc, ?)".to_owned(),
            };
            first
        }
    };
    let collate = if leaf.case_exact || leaf.kind != AttrType::String {
        ""
    } else {
        " COLLATE NOCASE"
    };
    // Missing values sort last when ascending, first when descending (as if greatest).
    Ok(format!(
        "({expr}) IS NULL {direction}, ({expr}){collate} {direction}, u.created {direction}, u.rowid {direction}"
    ))
}
