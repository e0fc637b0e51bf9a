//! Inbound bearer tokens: only the SHA-256 of each secret is stored.
use super::db::args;
use super::timestamp::Timestamp;
use super::{Store, StoreError};
use crate::scim::resource::parse_datetime;
use sqlx::FromRow;
use std::time::Duration;
use time::OffsetDateTime;

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

const COLUMNS: &str = "name, secret_sha256, created, last_used, revoked_at, expires_at, replaced_at, scope";

/// One secret under a name. A name has at most one current token (neither revoked nor replaced);
/// after `token rotate` the replaced one keeps working until its `expires_at` (the grace).
#[derive(Debug, Clone, FromRow)]
pub struct TokenRecord {
    pub name: String,
    pub secret_sha256: String,
    pub created: String,
    pub last_used: Option<String>,
    pub revoked_at: Option<String>,
    pub expires_at: Option<Timestamp>,
    pub replaced_at: Option<String>,
    pub scope: TokenScope,
}

impl TokenRecord {
    /// Whether it opens anything at `now`: not revoked and not expired.
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e.0 > now)
    }
}

/// What `rotate_token` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    pub scope: TokenScope,
    /// Until when the replaced secret still works.
    pub old_works_until: OffsetDateTime,
    /// When the new secret expires (`None`: never).
    pub expires_at: Option<OffsetDateTime>,
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
        self.insert_expiring_token(name, secret_sha256, scope, None).await
    }

    /// A token that stops working at `expires_at`; `Conflict` while the name has a current token
    /// that still works (a revoked or expired name can be used again: an expired token is marked
    /// replaced by the new one).
    pub async fn insert_expiring_token(
        &self,
        name: &str,
        secret_sha256: &str,
        scope: TokenScope,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<(), StoreError> {
        let now = Timestamp(self.clock().now_utc());
        let mut tx = self.db.begin().await?;
        tx.execute(
            "UPDATE tokens SET replaced_at = $1
             WHERE name = $2 AND revoked_at IS NULL AND replaced_at IS NULL AND expires_at <= $1",
            args![now, name],
        )
        .await?;
        tx.execute(
            "INSERT INTO tokens (name, secret_sha256, created, scope, expires_at) VALUES ($1, $2, $3, $4, $5)",
            args![name, secret_sha256, now, scope.as_str(), expires_at.map(Timestamp)],
        )
        .await?;
        tx.commit().await?;
        self.tokens_did_change();
        Ok(())
    }

    /// Gives the current token of `name` a new secret (`new_sha256`). The replaced secret keeps
    /// working for `grace` (never past its own expiry); the new one expires at `expires_at`, or,
    /// when that is `None`, after as long as the replaced one was made to last. Console sessions
    /// opened with the name end (sign in again). `NotFound` when the name has no current token.
    pub async fn rotate_token(
        &self,
        name: &str,
        new_sha256: &str,
        grace: Duration,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<Rotated, StoreError> {
        let mut tx = self.db.begin().await?;
        let now = self.clock().now_utc();
        let sql =
            format!("SELECT {COLUMNS} FROM tokens WHERE name = $1 AND revoked_at IS NULL AND replaced_at IS NULL");
        let Some(old) = tx.rows::<TokenRecord>(&sql, args![name]).await?.pop() else {
            return Err(StoreError::NotFound);
        };
        let grace_end = now + grace;
        let old_works_until = old.expires_at.map_or(grace_end, |e| e.0.min(grace_end));
        let lifetime = old.expires_at.zip(parse_datetime(&old.created)).map(|(e, c)| e.0 - c);
        let expires_at = expires_at.or_else(|| lifetime.map(|l| now + l));
        tx.execute(
            "UPDATE tokens SET replaced_at = $1, expires_at = $2 WHERE secret_sha256 = $3",
            args![Timestamp(now), Timestamp(old_works_until), &old.secret_sha256],
        )
        .await?;
        tx.execute(
            "INSERT INTO tokens (name, secret_sha256, created, scope, expires_at) VALUES ($1, $2, $3, $4, $5)",
            args![
                name,
                new_sha256,
                Timestamp(now),
                old.scope.as_str(),
                expires_at.map(Timestamp)
            ],
        )
        .await?;
        end_sessions(&mut tx, name).await?;
        tx.commit().await?;
        self.tokens_did_change();
        Ok(Rotated {
            scope: old.scope,
            old_works_until,
            expires_at,
        })
    }

    /// The live (not revoked, not expired) token whose secret hashes to `secret_sha256`.
    pub async fn find_live_token(&self, secret_sha256: &str) -> Result<Option<TokenRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM tokens
             WHERE secret_sha256 = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)"
        );
        let now = Timestamp(self.clock().now_utc());
        Ok(self
            .db
            .read::<TokenRecord>(&sql, args![secret_sha256, now])
            .await?
            .pop())
    }

    /// Every token ever made, by name, oldest first.
    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM tokens ORDER BY name, created, id");
        Ok(self.db.read(&sql, args![]).await?)
    }

    /// Tokens not revoked (expired ones included: a server whose tokens all expired does not make
    /// itself a new one).
    pub async fn count_live_tokens(&self) -> Result<i64, StoreError> {
        let rows: Vec<(i64,)> = self
            .db
            .read("SELECT count(*) FROM tokens WHERE revoked_at IS NULL", args![])
            .await?;
        Ok(rows.first().map_or(0, |(n,)| *n))
    }

    /// Revokes every secret of `name` (the current one and one still in its grace) and ends the
    /// console sessions opened with it; `NotFound` when the name has none unrevoked.
    pub async fn revoke_token(&self, name: &str) -> Result<(), StoreError> {
        let mut tx = self.db.begin().await?;
        let done = tx
            .execute(
                "UPDATE tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
                args![tx.now(), name],
            )
            .await?;
        end_sessions(&mut tx, name).await?;
        tx.commit().await?;
        self.tokens_did_change();
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Records that the secret hashing to `secret_sha256` was used now (so `token list` shows
    /// whether an IdP still sends a replaced one).
    pub async fn touch_token(&self, secret_sha256: &str) -> Result<(), StoreError> {
        self.db
            .execute(
                "UPDATE tokens SET last_used = $1 WHERE secret_sha256 = $2",
                args![self.db.now(), secret_sha256],
            )
            .await?;
        Ok(())
    }
}

/// Console sessions are kept by token name, and a name can be used again: a session must not
/// outlive the secret that opened it into the next token of that name.
async fn end_sessions(tx: &mut super::db::Tx, name: &str) -> Result<(), StoreError> {
    tx.execute("DELETE FROM admin_sessions WHERE token_name = $1", args![name])
        .await?;
    Ok(())
}
