//! The two migration sets (`migrations/sqlite/`, `migrations/postgres/`) describe one schema: the
//! same tables, columns (types mapped), keys, indexes and views' columns. What may differ is listed
//! below with its reason; anything else is drift, and fails. It needs a PostgreSQL server, so it
//! runs in the PostgreSQL pass of the suite (`.ci/run`, `SCIM_BRIDGE_TEST_POSTGRES`).
use crate::helpers::{fresh_postgres_database, postgres_server};
use sqlx::Connection;
use std::collections::BTreeSet;

/// One fact of a schema, in words both backends can be brought to.
type Facts = BTreeSet<String>;

/// Facts only PostgreSQL has, and why.
const ONLY_POSTGRES: [(&str, &str); 4] = [
    (
        "table target_slots",
        "replicas hold a target's concurrency in it; SQLite serves one process",
    ),
    (
        "table target_rate",
        "replicas hold a target's rate limit in it; SQLite serves one process",
    ),
    ("column users.seq integer not null", "SQLite pages by rowid"),
    ("column groups.seq integer not null", "SQLite pages by rowid"),
];

/// Facts that read differently, SQLite's then PostgreSQL's, and why.
const SAME_IN_OTHER_WORDS: [(&str, &str, &str); 1] = [(
    "column links.pushed_active integer",
    "column links.pushed_active boolean",
    "SQLite has no boolean type: 0 and 1",
)];

/// A declared or reported type as one word.
fn kind(declared: &str) -> &'static str {
    let upper = declared.to_ascii_uppercase();
    match upper.as_str() {
        t if t.contains("INT") => "integer",
        t if t.contains("CHAR") || t.contains("TEXT") || t.contains("CLOB") => "text",
        t if t.contains("BLOB") || t.contains("BYTEA") => "blob",
        t if t.contains("REAL") || t.contains("DOUB") || t.contains("FLOA") => "real",
        t if t.contains("BOOL") => "boolean",
        _ => "any",
    }
}

/// An index's key or predicate in words both backends share: case folding (`scim_fold(x)`,
/// `x COLLATE NOCASE`), JSON access and casts written away, SQLite's implicit rowid made explicit.
fn normalized(expression: &str) -> String {
    let mut text = expression.to_ascii_lowercase();
    text.retain(|c| c != '(' && c != ')');
    for (from, to) in [
        ("::text", ""),
        ("::json", ""),
        (" collate nocase", ""),
        ("scim_fold", ""),
        ("json_extractdoc, '$.username'", "doc.username"),
        ("doc ->> 'username'", "doc.username"),
    ] {
        text = text.replace(from, to);
    }
    let keys: Vec<&str> = text.split(',').map(str::trim).filter(|k| *k != "seq").collect();
    keys.join(", ")
}

async fn sqlite_facts() -> Facts {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("schema.db").display());
    scim_bridge::store::Store::connect(&url).await.unwrap().close().await;
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let mut facts = Facts::new();
    let objects: Vec<(String, String)> = sqlx::query_as(
        "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'view')
         AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    for (object, name) in objects {
        let columns: Vec<(i64, String, String, bool, Option<String>, i64)> =
            sqlx::query_as(&format!("PRAGMA table_info('{name}')"))
                .fetch_all(&mut db)
                .await
                .unwrap();
        if object == "view" {
            let names: Vec<String> = columns.into_iter().map(|c| c.1).collect();
            facts.insert(format!("view {name} ({})", names.join(", ")));
            continue;
        }
        facts.insert(format!("table {name}"));
        let keys: Vec<&str> = columns.iter().filter(|c| c.5 > 0).map(|c| c.1.as_str()).collect();
        facts.insert(format!("primary key {name} ({})", keys.join(", ")));
        for (_, column, declared, not_null, _, key) in &columns {
            let not_null = if *not_null || *key > 0 { " not null" } else { "" };
            facts.insert(format!("column {name}.{column} {}{not_null}", kind(declared)));
        }
    }
    let indexes: Vec<(String, String, String)> =
        sqlx::query_as("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
            .fetch_all(&mut db)
            .await
            .unwrap();
    for (name, table, sql) in indexes {
        facts.insert(index_fact(&name, &table, &sql));
    }
    // UNIQUE column constraints (SQLite's automatic indexes).
    let unique: Vec<(String, String)> = sqlx::query_as(
        "SELECT m.name, ii.name FROM sqlite_master m, pragma_index_list(m.name) il, pragma_index_info(il.name) ii
         WHERE m.type = 'table' AND il.origin = 'u'",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    for (table, column) in unique {
        facts.insert(format!("unique {table} ({column})"));
    }
    db.close().await.unwrap();
    facts
}

/// `CREATE [UNIQUE] INDEX name ON table [USING btree] (keys) [WHERE predicate]` as a fact.
fn index_fact(name: &str, table: &str, sql: &str) -> String {
    let unique = if sql.to_ascii_uppercase().contains("UNIQUE") {
        "unique "
    } else {
        ""
    };
    let (definition, predicate) = match sql.rsplit_once(" WHERE ") {
        Some((definition, predicate)) => (definition, format!(" where {}", normalized(predicate))),
        None => (sql, String::new()),
    };
    let keys = definition.split_once('(').map_or("", |(_, keys)| keys.trim_end());
    let keys = keys.strip_suffix(')').unwrap_or(keys);
    format!("{unique}index {name} on {table} ({}){predicate}", normalized(keys))
}

async fn postgres_facts(server: &str) -> Facts {
    let url = fresh_postgres_database(server).await;
    scim_bridge::store::Store::connect(&url).await.unwrap().close().await;
    let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
    let mut facts = Facts::new();
    let objects: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_type::text, table_name::text FROM information_schema.tables
         WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    for (object, name) in objects {
        let columns: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT column_name::text, data_type::text, is_nullable::text FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(&name)
        .fetch_all(&mut db)
        .await
        .unwrap();
        if object == "VIEW" {
            let names: Vec<String> = columns.into_iter().map(|c| c.0).collect();
            facts.insert(format!("view {name} ({})", names.join(", ")));
            continue;
        }
        facts.insert(format!("table {name}"));
        for (column, data_type, nullable) in &columns {
            let not_null = if nullable == "NO" { " not null" } else { "" };
            facts.insert(format!("column {name}.{column} {}{not_null}", kind(data_type)));
        }
    }
    // Keys and unique constraints, in their columns' order.
    let constraints: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT c.contype::text, t.relname::text,
                string_agg(a.attname::text, ', ' ORDER BY k.ord)
         FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
         JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public'
         CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
         WHERE c.contype IN ('p', 'u') AND t.relname <> '_sqlx_migrations'
         GROUP BY c.oid, c.contype, t.relname",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    for (kind, table, columns) in constraints {
        let word = if kind == "p" { "primary key" } else { "unique" };
        facts.insert(format!("{word} {table} ({columns})"));
    }
    let indexes: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT i.indexname::text, i.tablename::text, i.indexdef FROM pg_indexes i
         WHERE i.schemaname = 'public' AND NOT EXISTS
             (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    for (name, table, definition) in indexes {
        let definition = definition.replace(" USING btree", "").replace("public.", "");
        facts.insert(index_fact(&name, &table, &definition));
    }
    db.close().await.unwrap();
    facts
}

#[tokio::test]
async fn the_sqlite_and_postgresql_migrations_describe_the_same_schema() {
    let Some(server) = postgres_server() else {
        eprintln!("skipped: needs PostgreSQL (SCIM_BRIDGE_TEST_POSTGRES), as in .ci/run's second pass");
        return;
    };
    let mut sqlite = sqlite_facts().await;
    let mut postgres = postgres_facts(&server).await;
    assert!(sqlite.len() > 50 && postgres.len() > 50, "{sqlite:?}");
    for (fact, _why) in ONLY_POSTGRES {
        assert!(
            postgres.remove(fact),
            "listed as PostgreSQL's own, but it has no {fact}"
        );
        if let Some(table) = fact.strip_prefix("table ") {
            postgres.retain(|f| !f.contains(&format!(" {table}.")) && !f.contains(&format!(" {table} (")));
        }
    }
    for (lite, pg, _why) in SAME_IN_OTHER_WORDS {
        assert!(
            sqlite.remove(lite) && postgres.remove(pg),
            "{lite} / {pg} are no longer there"
        );
    }
    let only_sqlite: Vec<&String> = sqlite.difference(&postgres).collect();
    let only_postgres: Vec<&String> = postgres.difference(&sqlite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "the migrations drifted apart:\n  only in SQLite: {only_sqlite:#?}\n  only in PostgreSQL: {only_postgres:#?}"
    );
}

#[test]
fn index_definitions_read_alike_on_both_backends() {
    let lite = index_fact(
        "users_user_name",
        "users",
        "CREATE UNIQUE INDEX users_user_name ON users (user_name COLLATE NOCASE)",
    );
    let pg = index_fact(
        "users_user_name",
        "users",
        "CREATE UNIQUE INDEX users_user_name ON users (scim_fold(user_name))",
    );
    assert_eq!(lite, pg);
    assert_eq!(lite, "unique index users_user_name on users (user_name)");
    let lite = index_fact(
        "sync_queue_due",
        "sync_queue",
        "CREATE INDEX sync_queue_due ON sync_queue (due_at) WHERE state = 'pending'",
    );
    let pg = index_fact(
        "sync_queue_due",
        "sync_queue",
        "CREATE INDEX sync_queue_due ON sync_queue (due_at) WHERE (state = 'pending'::text)",
    );
    assert_eq!(lite, pg);
}

/// `docs/architecture.md`'s data model names every table and column the migrations make, and
/// nothing else (it once listed columns that no longer existed).
#[tokio::test]
async fn the_architecture_page_names_every_table_and_column_and_nothing_else() {
    const PAGE: &str = include_str!("../../docs/architecture.md");
    let backticked = |text: &str| -> Vec<String> { text.split('`').skip(1).step_by(2).map(str::to_owned).collect() };
    let mut documented = Facts::new();
    for row in PAGE.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (tables, columns) = (backticked(cells[1]), backticked(cells[2]));
        for table in &tables {
            documented.insert(format!("table {table}"));
            // The PostgreSQL-only tables are described, not itemised.
            if tables.len() == 1 {
                for column in columns.iter().filter(|c| !c.contains(' ') && !c.contains('/')) {
                    documented.insert(format!("column {table}.{column}"));
                }
            }
        }
    }
    let mut made = Facts::new();
    for fact in sqlite_facts().await {
        if fact.starts_with("table ") {
            made.insert(fact);
        } else if let Some(column) = fact.strip_prefix("column ") {
            made.insert(format!("column {}", column.split(' ').next().unwrap()));
        }
    }
    for (fact, _) in ONLY_POSTGRES {
        made.insert(fact.split(' ').take(2).collect::<Vec<_>>().join(" "));
    }
    let undocumented: Vec<&String> = made.difference(&documented).collect();
    let stale: Vec<&String> = documented.difference(&made).collect();
    assert!(
        undocumented.is_empty() && stale.is_empty(),
        "docs/architecture.md: missing {undocumented:?}, names what does not exist {stale:?}"
    );
}
