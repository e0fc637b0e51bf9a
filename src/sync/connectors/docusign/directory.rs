//! The account's users by e-mail, from one paged listing (`GET …/users?count=100&start_position=`),
//! so that a batch of new users costs a page per hundred users in the account instead of one
//! `GET …/users?email=` each. It is only ever trusted to say "nobody has this e-mail": a user it
//! does list is looked up again by e-mail before the bridge acts on its status, and a create
//! DocuSign refuses as a duplicate is looked up and adopted. It lives for `LIFETIME` and learns the
//! users the bridge creates meanwhile.
use super::wire::UserItem;
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

/// How long one listing is used for.
pub const LIFETIME: Duration = Duration::from_secs(300);
/// DocuSign's largest page.
pub const PAGE: usize = 100;
/// Batches with fewer new users look each one up by e-mail instead (cheaper on a large account).
pub const WORTH_LISTING: usize = 10;

#[derive(Debug, Default)]
pub struct Directory {
    emails: Mutex<HashSet<String>>,
}

impl PartialEq for Directory {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Directory {
    pub fn from_users(users: &[UserItem]) -> Self {
        let emails = users
            .iter()
            .filter_map(|u| u.email.as_deref())
            .map(str::to_lowercase)
            .collect();
        Self {
            emails: Mutex::new(emails),
        }
    }

    /// Whether some user of the account had this e-mail when listed (or was created since).
    pub fn knows(&self, email: &str) -> bool {
        self.lock().contains(&email.to_lowercase())
    }

    /// A user the bridge just created.
    pub fn learn(&self, email: &str) {
        self.lock().insert(email.to_lowercase());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.emails.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_known_whatever_their_case() {
        let listed = UserItem {
            email: Some("Ann@Example.com".into()),
            ..Default::default()
        };
        let directory = Directory::from_users(&[listed]);
        assert!(directory.knows("ann@example.com"));
        assert!(!directory.knows("bob@example.com"));
        directory.learn("BOB@example.com");
        assert!(directory.knows("bob@example.com"));
    }
}
