//! What users and groups share: the stored row, and listing with filter, sort and paging.
use super::db::{Arg, Dialect};
use super::query::{order_by, Bind, Compiler, Table};
use super::{Store, StoreError};
use crate::scim::list::ListQuery;
use crate::scim::resource::{Document, Version};
use crate::scim::schema::ResourceSchema;
use sqlx::FromRow;

/// A stored resource row.
#[derive(Debug, Clone, FromRow)]
pub struct StoredResource {
    pub id: String,
    pub doc: String,
    pub version: i64,
    pub created: String,
    pub last_modified: String,
    /// For users, the groups they are a direct member of, as JSON `[[id, displayName], …]`, when the
    /// query asked for them (NULL otherwise).
    pub related: Option<String>,
}

impl StoredResource {
    pub fn document(&self) -> Result<Document, StoreError> {
        Ok(serde_json::from_str(&self.doc)?)
    }

    pub fn version(&self) -> Version {
        Version(self.version)
    }

    /// The `related` pairs, if they were read.
    pub fn related_pairs(&self) -> Result<Option<Vec<(String, String)>>, StoreError> {
        self.related
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(StoreError::from)
    }
}

/// One page of a list request.
#[derive(Debug)]
pub struct Page {
    pub total: usize,
    pub items: Vec<StoredResource>,
}

impl Store {
    /// One page of `table` matching the query's filter, in its order, and the total. The count is
    /// a second query only when the page cannot tell it (a full page, or an empty one past the
    /// first): an Okta or Entra lookup by name costs one query.
    pub(super) async fn list_rows(
        &self,
        table: &Table,
        schema: &ResourceSchema,
        columns: &str,
        query: &ListQuery,
    ) -> Result<Page, StoreError> {
        let dialect = self.db.dialect();
        let filter = match &query.filter {
            Some(f) => Some(
                Compiler::new(schema, table, dialect)
                    .filter(f)
                    .map_err(StoreError::Invalid)?,
            ),
            None => None,
        };
        let (where_sql, where_binds) = filter.map_or((String::from("TRUE"), Vec::new()), |f| (f.text, f.binds));
        let from = table.name;
        let offset = query.start_index - 1;
        let items = if query.count == 0 {
            Vec::new()
        } else {
            let mut binds = where_binds.clone();
            let order = order_by(
                dialect,
                schema,
                table,
                query.sort_by.as_ref(),
                query.sort_order,
                &mut binds,
            )
            .map_err(StoreError::Invalid)?;
            let page = match dialect {
                Dialect::Sqlite => {
                    binds.push(Bind::Int(query.count as i64));
                    binds.push(Bind::Int(offset as i64));
                    format!("LIMIT ${} OFFSET ${}", binds.len() - 1, binds.len())
                }
                // Written out: PostgreSQL's cached plan for `LIMIT $n` cannot know the page is small,
                // costs more than a planned one, and so the statement was planned anew every time
                // (half the throughput of a lookup by userName, bench/run.sh).
                Dialect::Postgres => format!("LIMIT {} OFFSET {offset}", query.count),
            };
            let sql = format!("SELECT {columns} FROM {from} u WHERE {where_sql} ORDER BY {order} {page}");
            self.db.read::<StoredResource>(&sql, &arguments(&binds)).await?
        };
        let short_page = !items.is_empty() && items.len() < query.count;
        let total = if short_page || (items.is_empty() && offset == 0 && query.count > 0) {
            offset + items.len()
        } else {
            let sql = format!("SELECT count(*) FROM {from} u WHERE {where_sql}");
            let rows: Vec<(i64,)> = self.db.read(&sql, &arguments(&where_binds)).await?;
            rows.first().map_or(0, |(n,)| *n as usize)
        };
        Ok(Page { total, items })
    }
}

/// A compiled expression's parameters, as the statement's.
pub(super) fn arguments(binds: &[Bind]) -> Vec<Arg<'_>> {
    binds.iter().map(Arg::from).collect()
}
