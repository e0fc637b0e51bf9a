//! An instant as a column: UTC text with milliseconds (`2026-12-02T01:02:03.456Z`), the one form
//! every timestamp column holds, so that SQL compares them as text in time order. The store's API
//! takes and gives `OffsetDateTime`; this type is how it binds and reads them.
use super::format_timestamp;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::sqlite::{Sqlite, SqliteArgumentValue, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Type};
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp(pub OffsetDateTime);

impl Type<Sqlite> for Timestamp {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for Timestamp {
    fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        <String as Encode<'q, Sqlite>>::encode(format_timestamp(self.0), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Timestamp {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<'r, Sqlite>>::decode(value)?;
        crate::scim::resource::parse_datetime(text)
            .map(Self)
            .ok_or_else(|| format!("'{text}' is not a timestamp").into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_timestamp_is_stored_as_sortable_utc_text_and_read_back() {
        use sqlx::Connection;
        let mut db = sqlx::SqliteConnection::connect("sqlite::memory:").await.unwrap();
        let at = time::macros::datetime!(2026-12-02 03:04:05.678 +02:00);
        let (text, back): (String, Timestamp) = sqlx::query_as("SELECT ?1, ?1")
            .bind(Timestamp(at))
            .fetch_one(&mut db)
            .await
            .unwrap();
        assert_eq!(text, "2026-12-02T01:04:05.678Z");
        assert_eq!(back.0, at);
    }
}
