-- The mapped fields the bridge last wrote a value to at each vendor record (one name per line):
-- a field SCIM no longer holds is cleared at the vendor only if the bridge wrote it (issue 29,
-- "ownership of fields"). NULL: not known (links made before this column): nothing is cleared.
ALTER TABLE links ADD COLUMN written_fields TEXT;
