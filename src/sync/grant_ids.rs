//! The vendor ids of what entitlement rules name by name (vault groups, security groups, DocuSign
//! groups and permission profiles): listed from the vendor once and cached, listed again when a
//! name is not in the cache (a group made since), and never guessed: a name the vendor does not
//! have fails the row with the names it does have (docs/entitlements.md).
use super::ConnectorError;
use std::collections::BTreeMap;
use std::future::Future;

/// One kind of named thing at one vendor, e.g. CyberArk's vault groups.
pub struct GrantIds {
    /// How an operator calls one ("vault group").
    noun: &'static str,
    vendor: &'static str,
    /// Lower-cased name → (id, the vendor's spelling).
    cache: tokio::sync::Mutex<Option<BTreeMap<String, (String, String)>>>,
}

impl GrantIds {
    pub fn new(noun: &'static str, vendor: &'static str) -> Self {
        Self {
            noun,
            vendor,
            cache: tokio::sync::Mutex::new(None),
        }
    }

    /// The vendor's id for `name` (case aside). `list` answers (id, name) of every one the vendor
    /// has; it is called when the cache does not know `name`.
    pub async fn id<F, Fut>(&self, name: &str, list: F) -> Result<String, ConnectorError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<(String, String)>, ConnectorError>>,
    {
        let key = name.to_lowercase();
        let mut cache = self.cache.lock().await;
        if let Some((id, _)) = cache.as_ref().and_then(|c| c.get(&key)) {
            return Ok(id.clone());
        }
        let listed: BTreeMap<String, (String, String)> = list()
            .await?
            .into_iter()
            .map(|(id, name)| (name.to_lowercase(), (id, name)))
            .collect();
        let found = listed.get(&key).map(|(id, _)| id.clone());
        let known: Vec<String> = listed.values().map(|(_, n)| n.clone()).collect();
        *cache = Some(listed);
        found.ok_or_else(|| self.unknown(name, &known))
    }

    /// Every one of `names` is known to the vendor (`scim-bridge check`): listed afresh.
    pub async fn check<F, Fut>(&self, names: &[String], list: F) -> Result<(), ConnectorError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<(String, String)>, ConnectorError>>,
    {
        if names.is_empty() {
            return Ok(());
        }
        self.forget().await;
        let first = &names[0];
        self.id(first, list).await?;
        let cache = self.cache.lock().await;
        let listed = cache
            .as_ref()
            .map(|c| c.values().map(|(_, n)| n.clone()).collect::<Vec<_>>());
        for name in &names[1..] {
            if !cache.as_ref().is_some_and(|c| c.contains_key(&name.to_lowercase())) {
                return Err(self.unknown(name, &listed.unwrap_or_default()));
            }
        }
        Ok(())
    }

    /// Drops the cache (a group the vendor no longer has: deleted by hand).
    pub async fn forget(&self) {
        *self.cache.lock().await = None;
    }

    fn unknown(&self, name: &str, known: &[String]) -> ConnectorError {
        const SHOWN: usize = 10;
        let mut listed = known.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
        if known.len() > SHOWN {
            listed.push_str(&format!(", … ({} in all)", known.len()));
        }
        if listed.is_empty() {
            listed = "none".into();
        }
        ConnectorError::permanent(
            None,
            format!(
                "{} has no {} named '{name}' (it has: {listed}); fix the entitlement rule or create it at {}",
                self.vendor, self.noun, self.vendor
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn names_are_listed_once_case_aside_and_an_unknown_one_is_refused_naming_the_known() {
        let ids = GrantIds::new("vault group", "CyberArk");
        let lists = AtomicUsize::new(0);
        let list = || async {
            lists.fetch_add(1, Ordering::SeqCst);
            Ok(vec![
                ("7".to_owned(), "Auditors".to_owned()),
                ("9".to_owned(), "Vault Admins".to_owned()),
            ])
        };
        assert_eq!(ids.id("auditors", list).await.unwrap(), "7");
        assert_eq!(ids.id("Vault Admins", list).await.unwrap(), "9");
        assert_eq!(lists.load(Ordering::SeqCst), 1);
        let err = ids.id("Auditers", list).await.unwrap_err().to_string();
        assert!(
            err.contains("CyberArk has no vault group named 'Auditers' (it has: Auditors, Vault Admins)"),
            "{err}"
        );
        assert_eq!(lists.load(Ordering::SeqCst), 2);
        let err = ids
            .check(&["Auditors".into(), "Nope".into()], list)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("named 'Nope'"), "{err}");
    }
}
