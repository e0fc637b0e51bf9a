-- Which replica holds (or last held) a row's lease (host/pid, as `serve` logs it): a replica renews
-- only its own leases, and an operator sees who is working on a row.
ALTER TABLE sync_queue ADD COLUMN lease_owner TEXT COLLATE "C";
-- The replica sending a half-open breaker's one probe, and until when: the replicas send one probe
-- between them, and the others take up its verdict.
ALTER TABLE target_state ADD COLUMN probe_owner TEXT COLLATE "C";
ALTER TABLE target_state ADD COLUMN probe_until TEXT COLLATE "C";
