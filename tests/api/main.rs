//! One integration-test binary (one link): each module is a feature, run against the real server
//! on a random port with a fresh SQLite file.
mod auth;
mod cases;
mod cli;
mod connectors;
mod crash;
mod discovery;
mod etag;
mod fake_vendors;
mod fake_w365;
mod filter;
mod grammar_props;
mod groups;
mod helpers;
mod hostile;
mod http_props;
mod limits;
mod locking;
mod operators;
mod patch;
mod sync_breaker;
mod sync_lifecycle;
mod sync_queue;
mod sync_workspace365;
mod users;
mod weather;
mod weather_e2e;
