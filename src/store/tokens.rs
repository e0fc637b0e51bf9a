//! Inbound bearer tokens: only the SHA-256 of each secret is stored.
use super::{now_timestamp, Store, StoreError};
use sqlx::FromRow;

#[derive(Debug, Clone, FromRow)]
pub struct TokenRecord {
    pub name: String,
    pub secret_sha256: String,
    pub created: String,
    pub last_used: Option<String>,
    pub revoked_at: Option<String>,
}

impl Store {
    pub async fn insert_token(&self, name: &str, secret_sha256: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO tokens (name, secret_sha256, created) VALUES (?1, ?2, ?3)")
            .bind(name)
            .bind(secret_sha256)
            .bind(now_timestamp())
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
