//! An instant as a column: UTC text with milliseconds (`2026-12-02T01:02:03.456Z`), the one form
//! every timestamp column holds, so that SQL compares them as text in time order. The store's API
//! takes and gives `OffsetDateTime`; this type is how it binds and reads them.
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp(pub OffsetDateTime);

super::text_column!(Timestamp, |text| crate::scim::resource::parse_datetime(text)
    .map(Timestamp));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::db::Arg;

    #[tokio::test]
    async fn a_timestamp_is_stored_as_sortable_utc_text_and_read_back() {
        use sqlx::Connection;
        let mut db = sqlx::SqliteConnection::connect("sqlite::memory:").await.unwrap();
        let at = time::macros::datetime!(2026-12-02 03:04:05.678 +02:00);
        let Arg::Text(Some(stored)) = Arg::from(Timestamp(at)) else {
            panic!("a timestamp binds as text")
        };
        let (text, back): (String, Timestamp) = sqlx::query_as("SELECT $1, $1")
            .bind(stored.as_ref())
            .fetch_one(&mut db)
            .await
            .unwrap();
        assert_eq!(text, "2026-12-02T01:04:05.678Z");
        assert_eq!(back.0, at);
    }
}
