-- user_emails follows users.doc by trigger, so that creating or replacing a user is one statement
-- (no explicit transaction, one round trip) and the index can never drift from the document.
-- Deleting a user removes its rows through ON DELETE CASCADE (foreign_keys is on).
CREATE TRIGGER users_emails_after_insert AFTER INSERT ON users BEGIN
    INSERT INTO user_emails (user_id, value)
    SELECT NEW.id, json_extract(e.value, '$.value') FROM json_each(NEW.doc, '$.emails') AS e
    WHERE json_type(e.value, '$.value') = 'text';
END;

CREATE TRIGGER users_emails_after_update AFTER UPDATE OF doc ON users
WHEN json_extract(OLD.doc, '$.emails') IS NOT json_extract(NEW.doc, '$.emails') BEGIN
    DELETE FROM user_emails WHERE user_id = NEW.id;
    INSERT INTO user_emails (user_id, value)
    SELECT NEW.id, json_extract(e.value, '$.value') FROM json_each(NEW.doc, '$.emails') AS e
    WHERE json_type(e.value, '$.value') = 'text';
END;
