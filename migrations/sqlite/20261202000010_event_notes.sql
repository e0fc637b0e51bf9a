-- What a reconcile that succeeded wants an operator to know (`scim-bridge lookup` shows it), e.g.
-- that several DocuSign users share the user's e-mail and which one the bridge linked.
ALTER TABLE events ADD COLUMN note TEXT;
