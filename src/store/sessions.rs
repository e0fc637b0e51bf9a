//! Operator console sessions (migration 13): stored by the SHA-256 of the cookie value, valid while
//! unexpired and while the admin token that opened them is live.
use super::timestamp::Timestamp;
use super::{Store, StoreError};
use time::OffsetDateTime;

/// A live session: who signed in, and the CSRF token its forms carry.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AdminSession {
    pub token_name: String,
    pub csrf: String,
}

impl Store {
    /// Records a session (and forgets expired ones).
    pub async fn create_session(
        &self,
        id_sha256: &str,
        token_name: &str,
        csrf: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await?;
        sqlx::query("DELETE FROM admin_sessions WHERE expires_at <= ?1")
            .bind(Timestamp(now))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO admin_sessions (id_sha256, token_name, csrf, created, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(id_sha256)
        .bind(token_name)
        .bind(csrf)
        .bind(Timestamp(now))
        .bind(Timestamp(expires_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The session, if unexpired and its token is a live admin token.
    pub async fn find_session(&self, id_sha256: &str, now: OffsetDateTime) -> Result<Option<AdminSession>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT s.token_name, s.csrf FROM admin_sessions s
             JOIN tokens t ON t.name = s.token_name AND t.revoked_at IS NULL AND t.scope = 'admin'
             WHERE s.id_sha256 = ?1 AND s.expires_at > ?2",
        )
        .bind(id_sha256)
        .bind(Timestamp(now))
        .fetch_all(&self.read)
        .await?
        .pop())
    }

    /// Ends a session (sign-out).
    pub async fn delete_session(&self, id_sha256: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM admin_sessions WHERE id_sha256 = ?1")
            .bind(id_sha256)
            .execute(&self.write)
            .await?;
        Ok(())
    }
}
