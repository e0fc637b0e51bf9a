-- Every create and every PATCH paid for this index, and neither Okta nor Entra filters on
-- meta.lastModified (docs/idp-behaviour.md §1.1). Such filters still work, by a scan of the column.
DROP INDEX users_last_modified;
