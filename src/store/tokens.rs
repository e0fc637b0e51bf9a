//! Inbound bearer tokens: only the SHA-256 of each secret is stored.
use super::db::args;
use super::{Store, StoreError};
use sqlx::FromRow;

/// What a token opens: the SCIM API (IdPs), the operator console, or `GET /metrics` alone
/// (Prometheus).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum TokenScope {
    #[default]
    Scim,
    Admin,
    Metrics,
}

impl TokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scim => "scim",
            Self::Admin => "admin",
            Self::Metrics => "metrics",
        }
    }

    fn parse(word: &str) -> Option<Self> {
        [Self::Scim, Self::Admin, Self::Metrics]
            .into_iter()
            .find(|s| s.as_str() == word)
    }
}

super::text_column!(TokenScope, TokenScope::parse);

const COLUMNS: &str = "name, secret_sha256, created, last_used, revoked_at, scope";

#[derive(Debug, Clone, FromRow)]
pub struct TokenRecord {
    pub name: String,
    pub secret_sha256: String,
    pub created: String,
    pub last_used: Option<String>,
    pub revoked_at: Option<String>,
    pub scope: TokenScope,
}

impl Store {
    /// A token for the SCIM API (what an IdP is given).
    pub async fn insert_token(&self, name: &str, secret_sha256: &str) -> Result<(), StoreError> {
        self.insert_scoped_token(name, secret_sha256, TokenScope::Scim).await
    }

    pub async fn insert_scoped_token(
        &self,
        name: &str,
        secret_sha256: &str,
        scope: TokenScope,
    ) -> Result<(), StoreError> {
        self.db
            .execute(
                "INSERT INTO tokens (name, secret_sha256, created, scope) VALUES ($1, $2, $3, $4)",
                args![name, secret_sha256, self.db.now(), scope.as_str()],
            )
            .await?;
        self.tokens_did_change();
        Ok(())
    }

    /// The live (not revoked) token whose secret hashes to `secret_sha256`.
    pub async fn find_live_token(&self, secret_sha256: &str) -> Result<Option<TokenRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM tokens WHERE secret_sha256 = $1 AND revoked_at IS NULL");
        Ok(self.db.read::<TokenRecord>(&sql, args![secret_sha256]).await?.pop())
    }

    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM tokens ORDER BY created, name");
        Ok(self.db.read(&sql, args![]).await?)
    }

    pub async fn count_live_tokens(&self) -> Result<i64, StoreError> {
        let rows: Vec<(i64,)> = self
            .db
            .read("SELECT count(*) FROM tokens WHERE revoked_at IS NULL", args![])
            .await?;
        Ok(rows.first().map_or(0, |(n,)| *n))
    }

    /// Revokes a live token; `NotFound` when no live token has that name.
    pub async fn revoke_token(&self, name: &str) -> Result<(), StoreError> {
        let done = self
            .db
            .execute(
                "UPDATE tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
                args![self.db.now(), name],
            )
            .await?;
        self.tokens_did_change();
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn touch_token(&self, name: &str) -> Result<(), StoreError> {
        self.db
            .execute(
                "UPDATE tokens SET last_used = $1 WHERE name = $2",
                args![self.db.now(), name],
            )
            .await?;
        Ok(())
    }
}
