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

    #[test]
    fn the_stored_form_is_times_own_format_for_any_instant() {
        let format =
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
        let mut seconds: i64 = -62_135_596_800; // 0001-01-01
        while seconds < 253_402_300_799 {
            // 9999-12-31T23:59:59
            for nanos in [0, 999_999, 1_000_000, 123_456_789, 999_999_999] {
                let at = OffsetDateTime::from_unix_timestamp(seconds).unwrap() + time::Duration::nanoseconds(nanos);
                assert_eq!(
                    crate::store::format_timestamp(at),
                    at.format(&format).unwrap(),
                    "{seconds} {nanos}"
                );
            }
            seconds += 86_400 * 97 + 3_671;
        }
        let offset = time::macros::datetime!(2026-12-31 23:30:00.5 -01:00);
        assert_eq!(crate::store::format_timestamp(offset), "2027-01-01T00:30:00.500Z");
    }
}
