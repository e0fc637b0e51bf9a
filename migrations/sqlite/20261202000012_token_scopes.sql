-- A token opens either the SCIM API (what IdPs are given) or the operator console (`/admin`), never
-- both: `scim-bridge token create NAME --scope admin`. Existing tokens keep the SCIM scope.
ALTER TABLE tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'scim' CHECK (scope IN ('scim', 'admin'));
