//! Request limits: how much work one request may ask for. Each is checked before the work that grows
//! with it, so that a hostile body costs a 400, not the server's stack or a worker's time.
//! Configured in `[server]` (README "Security"); `filter.maxResults` and `bulk.maxOperations` are
//! advertised in ServiceProviderConfig, the others have no SCIM field.
use super::error::{ScimError, ScimType};
use super::filter::Filter;
use super::path::PatchPath;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most resources one list or search returns (`count` is capped to it).
    pub max_results: usize,
    /// The longest filter, in bytes.
    pub max_filter_length: usize,
    /// The most attribute expressions (`userName eq "x"`, `title pr`) one filter may hold.
    pub max_filter_clauses: usize,
    /// The most operations one PATCH request may carry.
    pub max_patch_operations: usize,
    /// The longest attribute path (a PATCH `path`, `sortBy`), in bytes.
    pub max_path_length: usize,
    /// The most operations one bulk request may carry (`bulk.maxOperations`).
    pub max_bulk_operations: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_results: 1000,
            max_filter_length: 64 * 1024,
            max_filter_clauses: 1000,
            max_patch_operations: 1000,
            max_path_length: 1024,
            max_bulk_operations: 1000,
        }
    }
}

impl Limits {
    /// Parses a filter within the length and clause limits.
    pub fn parse_filter(&self, text: &str) -> Result<Filter, ScimError> {
        if text.len() > self.max_filter_length {
            return Err(ScimError::invalid_filter(format!(
                "the filter is {} bytes long; this server accepts at most {} (server.max_filter_length)",
                text.len(),
                self.max_filter_length
            )));
        }
        let filter: Filter = text.parse()?;
        self.check_clauses(&filter, "filter")?;
        Ok(filter)
    }

    /// Parses an attribute path (with an optional value filter) within the path limits.
    pub fn parse_path(&self, text: &str) -> Result<PatchPath, ScimError> {
        self.check_path_length(text)?;
        let path: PatchPath = text.parse()?;
        if let Some(filter) = &path.filter {
            self.check_clauses(filter, "path filter")?;
        }
        Ok(path)
    }

    pub fn check_path_length(&self, text: &str) -> Result<(), ScimError> {
        if text.len() > self.max_path_length {
            return Err(ScimError::invalid_path(format!(
                "the path is {} bytes long; this server accepts at most {} (server.max_path_length)",
                text.len(),
                self.max_path_length
            )));
        }
        Ok(())
    }

    /// A PATCH with more operations than allowed is `tooMany` (RFC 7644 §3.12).
    pub fn check_patch_operations(&self, count: usize) -> Result<(), ScimError> {
        if count > self.max_patch_operations {
            return Err(ScimError::bad_request(
                ScimType::TooMany,
                format!(
                    "the PATCH has {count} operations; this server applies at most {} per request \
                     (server.max_patch_operations): send the rest in further requests",
                    self.max_patch_operations
                ),
            ));
        }
        Ok(())
    }

    fn check_clauses(&self, filter: &Filter, what: &str) -> Result<(), ScimError> {
        let clauses = filter.clause_count();
        if clauses > self.max_filter_clauses {
            return Err(ScimError::invalid_filter(format!(
                "the {what} has {clauses} expressions; this server accepts at most {} \
                 (server.max_filter_clauses)",
                self.max_filter_clauses
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn or_chain(n: usize) -> String {
        (0..n)
            .map(|i| format!("userName eq \"u{i}\""))
            .collect::<Vec<_>>()
            .join(" or ")
    }

    #[test]
    fn a_filter_at_the_clause_limit_parses_and_one_more_is_invalid_filter() {
        let limits = Limits::default();
        let at_limit = limits.parse_filter(&or_chain(1000)).unwrap();
        assert_eq!(at_limit.clause_count(), 1000);
        let err = limits.parse_filter(&or_chain(1001)).unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidFilter));
        assert!(err.detail.contains("1001 expressions"), "{}", err.detail);
    }

    #[test]
    fn a_very_long_chain_is_refused_by_length_without_parsing() {
        let limits = Limits::default();
        let err = limits.parse_filter(&or_chain(6000)).unwrap_err();
        assert!(err.detail.contains("max_filter_length"), "{}", err.detail);
        // Parsing it anyway is flat: no recursion per clause.
        let parsed: Filter = or_chain(20_000).parse().unwrap();
        assert_eq!(parsed.clause_count(), 20_000);
    }

    #[test]
    fn long_paths_and_many_operations_are_refused() {
        let limits = Limits {
            max_path_length: 20,
            max_patch_operations: 2,
            ..Limits::default()
        };
        let err = limits.parse_path("emails[value eq \"aaaaaaaaaa\"]").unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidPath));
        assert!(limits.parse_path("name.givenName").is_ok());
        assert!(limits.check_patch_operations(2).is_ok());
        let err = limits.check_patch_operations(3).unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::TooMany));
    }
}
