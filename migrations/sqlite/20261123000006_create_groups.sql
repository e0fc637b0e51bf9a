-- Groups: the document holds every attribute but members; membership is rows, never a JSON array
-- rewritten per change, so one change costs the same in a group of ten or of 100,000.
CREATE TABLE groups (
    id            TEXT PRIMARY KEY NOT NULL,
    display_name  TEXT NOT NULL COLLATE NOCASE,              -- unique, case-insensitive
    external_id   TEXT,
    doc           TEXT NOT NULL,                             -- JSON document without members
    version       INTEGER NOT NULL DEFAULT 1,                -- moves with membership changes too
    created       TEXT NOT NULL,
    last_modified TEXT NOT NULL
);
CREATE UNIQUE INDEX groups_display_name ON groups (display_name);
CREATE INDEX groups_external_id ON groups (external_id) WHERE external_id IS NOT NULL;
CREATE INDEX groups_created ON groups (created);

-- One row per (group, member). `member_type` is 'User' or 'Group' (nested groups);
-- `display` is what the client sent, returned as given.
CREATE TABLE group_members (
    group_id    TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    member_id   TEXT NOT NULL,
    member_type TEXT NOT NULL CHECK (member_type IN ('User', 'Group')),
    display     TEXT,
    PRIMARY KEY (group_id, member_id)
) WITHOUT ROWID;
-- Serves User.groups and the removal of a deleted user or group from every group.
CREATE INDEX group_members_member ON group_members (member_id);

-- A deleted user or group leaves every group it was in; those groups get a new version.
CREATE TRIGGER users_leave_groups AFTER DELETE ON users BEGIN
    UPDATE groups SET version = version + 1, last_modified = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id IN (SELECT group_id FROM group_members WHERE member_id = OLD.id);
    DELETE FROM group_members WHERE member_id = OLD.id;
END;

CREATE TRIGGER groups_leave_groups AFTER DELETE ON groups BEGIN
    UPDATE groups SET version = version + 1, last_modified = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id IN (SELECT group_id FROM group_members WHERE member_id = OLD.id);
    DELETE FROM group_members WHERE member_id = OLD.id;
END;
