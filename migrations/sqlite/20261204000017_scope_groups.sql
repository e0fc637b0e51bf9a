-- A scope that names a group (`groups.display eq "Workspace users"`) follows the group it first
-- meant: the name is recorded with the group's id when the scope is read or the group appears, and a
-- scope matches a group by its current name or by a name recorded for it, so a rename at the IdP
-- moves no one out of scope (README "Targets", `scope`).
CREATE TABLE scope_groups (
    name     TEXT NOT NULL PRIMARY KEY,
    group_id TEXT NOT NULL
) WITHOUT ROWID;
-- The scope `serve` last started a target with: a new target, or a changed scope, queues the users
-- it touches at start.
ALTER TABLE target_state ADD COLUMN scope TEXT;
