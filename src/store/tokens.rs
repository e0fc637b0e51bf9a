//! Inbound bearer tokens: only the SHA-256 of each secret is stored.
use super::{now_timestamp, Store, StoreError};
use sqlx::FromRow;

/// What a token opens: the SCIM API (IdPs) or the operator console.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::Type, clap::ValueEnum)]
#[sqlx(type_name = "TEXT", rename_all = "lowercase")]
pub enum TokenScope {
    #[default]
    Scim,
    Admin,
}

impl TokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scim => "scim",
            Self::Admin => "admin",
        }
    }
}

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
        sqlx::query("INSERT INTO tokens (name, secret_sha256, created, scope) VALUES (?1, ?2, ?3, ?4)")
            .bind(name)
            .bind(secret_sha256)
            .bind(now_timestamp())
            .bind(scope)
            .execute(&self.write)
            .await?;
        self.tokens_did_change();
        Ok(())
    }

    /// The live (not revoked) token whose secret hashes to `secret_sha256`.
    pub async fn find_live_token(&self, secret_sha256: &str) -> Result<Option<TokenRecord>, StoreError> {
        Ok(
            sqlx::query_as::<_, TokenRecord>("SELECT * FROM tokens WHERE secret_sha256 = ?1 AND revoked_at IS NULL")
                .bind(secret_sha256)
                .fetch_all(&self.read)
                .await
                .map(|mut rows| rows.pop())?,
        )
    }

    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        Ok(
            sqlx::query_as::<_, TokenRecord>("SELECT * FROM tokens ORDER BY created, name")
                .fetch_all(&self.read)
                .await?,
        )
    }

    pub async fn count_live_tokens(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM tokens WHERE revoked_at IS NULL")
            .fetch_all(&self.read)
            .await?
            .pop()
            .ok_or(sqlx::Error::RowNotFound)?;
        Ok(n)
    }

    /// Revokes a live token; `NotFound` when no live token has that name.
    pub async fn revoke_token(&self, name: &str) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE tokens SET revoked_at = ?1 WHERE name = ?2 AND revoked_at IS NULL")
            .bind(now_timestamp())
            .bind(name)
            .execute(&self.write)
            .await?;
        self.tokens_did_change();
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn touch_token(&self, name: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE tokens SET last_used = ?1 WHERE name = ?2")
            .bind(now_timestamp())
            .bind(name)
            .execute(&self.write)
            .await?;
        Ok(())
    }
}
