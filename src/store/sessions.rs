//! Operator console sessions (migration 13): stored by the SHA-256 of the cookie value, valid while
//! unexpired and while the admin token that opened them is live.
use super::db::args;
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
        let mut tx = self.db.begin().await?;
        tx.execute(
            "DELETE FROM admin_sessions WHERE expires_at <= $1",
            args![Timestamp(now)],
        )
        .await?;
        tx.execute(
            "INSERT INTO admin_sessions (id_sha256, token_name, csrf, created, expires_at) VALUES ($1, $2, $3, $4, $5)",
            args![id_sha256, token_name, csrf, Timestamp(now), Timestamp(expires_at)],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The session, if unexpired and its token's name still has a live admin secret (revoking or
    /// rotating the token deletes its sessions; an expired one's are refused here).
    pub async fn find_session(&self, id_sha256: &str, now: OffsetDateTime) -> Result<Option<AdminSession>, StoreError> {
        Ok(self
            .db
            .read(
                "SELECT s.token_name, s.csrf FROM admin_sessions s
                 WHERE s.id_sha256 = $1 AND s.expires_at > $2
                   AND EXISTS (SELECT 1 FROM tokens t
                               WHERE t.name = s.token_name AND t.revoked_at IS NULL AND t.scope = 'admin'
                                 AND (t.expires_at IS NULL OR t.expires_at > $2))",
                args![id_sha256, Timestamp(now)],
            )
            .await?
            .pop())
    }

    /// Ends a session (sign-out).
    pub async fn delete_session(&self, id_sha256: &str) -> Result<(), StoreError> {
        self.db
            .execute("DELETE FROM admin_sessions WHERE id_sha256 = $1", args![id_sha256])
            .await?;
        Ok(())
    }
}
