//! The SCIM protocol, pure: no I/O, no async. Schemas, the filter and path grammar, PATCH,
//! projection, list parameters and errors (RFC 7643, RFC 7644).
pub mod bulk;
pub mod error;
pub mod eval;
pub mod filter;
pub mod grammar;
pub mod limits;
pub mod list;
pub mod members;
pub mod patch;
pub mod path;
pub mod projection;
pub mod resource;
pub mod schema;
pub mod select;
pub mod values;

pub use error::{ScimError, ScimType};
pub use filter::{AttrPath, CompValue, CompareOp, Filter};
pub use limits::Limits;
pub use path::PatchPath;
