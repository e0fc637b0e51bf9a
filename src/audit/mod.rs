//! The audit trail (docs/audit.md): every SCIM request is logged with who asked, what they were
//! answered and what it touched, and every change it queued names it, so one id leads from the
//! IdP's request to each vendor call it caused.
pub mod cause;
pub mod redact;
pub mod requests;
pub mod retention;

pub use cause::{current_request, within_request};
pub use requests::{Bodies, RequestLog, RequestRecord, Touched};
