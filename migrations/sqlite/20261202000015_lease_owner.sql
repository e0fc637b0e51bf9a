-- Which replica holds (or last held) a row's lease: a replica renews only its own leases, and an
-- operator sees who is working on a row.
ALTER TABLE sync_queue ADD COLUMN lease_owner TEXT;
-- The replica sending a half-open breaker's one probe, and until when (replicas on PostgreSQL send
-- one probe between them; migrations/postgres/ has the same columns).
ALTER TABLE target_state ADD COLUMN probe_owner TEXT;
ALTER TABLE target_state ADD COLUMN probe_until TEXT;
