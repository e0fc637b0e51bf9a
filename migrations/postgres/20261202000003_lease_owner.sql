-- Which replica holds (or last held) a row's lease (host/pid, as `serve` logs it): a replica renews
-- only its own leases, and an operator sees who is working on a row.
ALTER TABLE sync_queue ADD COLUMN lease_owner TEXT COLLATE "C";
