-- What replicas share of a target's limits, so that N replicas never make N times the calls a vendor
-- receives (README "Running several replicas"). Times are the database's clock, in seconds since
-- the epoch, so that replicas whose clocks differ still agree.

-- A target's `concurrency` as slots: a replica holds one for each reconcile in flight (renewed while
-- it lasts; a killed replica's slot is free again when `until` passes).
CREATE TABLE target_slots (
    target TEXT COLLATE "C" NOT NULL,
    slot   BIGINT NOT NULL,
    holder TEXT,
    until  DOUBLE PRECISION,
    PRIMARY KEY (target, slot)
);

-- A target's `rate_limit` as the next free call time (GCRA): each call reserves the next interval.
CREATE TABLE target_rate (
    target TEXT COLLATE "C" PRIMARY KEY,
    tat    DOUBLE PRECISION NOT NULL
);
