//! The words the store keeps for states and actions, each a type: a value the code does not know
//! fails to read (`StoreError`), it is never taken for a default. Every word is written here once.

/// `word_column! { /// doc  pub enum Name { Variant = "word", … } }`: the enum, its words, and
/// its column encoding (text on both backends).
macro_rules! word_column {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $word:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$(Self::$variant,)+];

            /// The column's word for it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $word,)+
                }
            }

            pub fn parse(word: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|s| s.as_str() == word)
            }
        }

        super::text_column!($name, $name::parse);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, word: &&str) -> bool {
                self.as_str() == *word
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    };
}

word_column! {
    /// Where a link stands (`links.state`).
    pub enum LinkState {
        /// The vendor holds the user as `pushed_*` say.
        Linked = "linked",
        /// A create was sent and its outcome is unknown (timeout, crash): look the user up before creating.
        Creating = "creating",
        /// The user is gone from the vendor.
        Gone = "gone",
    }
}

word_column! {
    /// A target's circuit breaker (`target_state.breaker`).
    pub enum BreakerState {
        Closed = "closed",
        Open = "open",
        HalfOpen = "half_open",
    }
}

word_column! {
    /// What operators see of a target (`v_target_status.state`): its breaker, or paused until a
    /// vendor's reset.
    pub enum TargetState {
        Closed = "closed",
        Open = "open",
        HalfOpen = "half_open",
        Paused = "paused",
        /// The vendor refuses the bridge's credentials: rows wait, one sign-in per `auth_retry_secs`.
        CredentialsRefused = "credentials_refused",
    }
}

word_column! {
    /// A queued row (`sync_queue.state`).
    pub enum QueueState {
        /// Due (or leased) for the worker.
        Pending = "pending",
        /// Parked with the vendor's refusal until an operator retries it.
        Dead = "dead",
        /// An observing target's plan, waiting for `mode = "write"`.
        Planned = "planned",
        /// A removal past the target's `max_removals`, waiting for `sync release` or `sync discard`.
        Held = "held",
    }
}

word_column! {
    /// What the removal guard said of a row (`sync_queue.guard`).
    pub enum GuardMark {
        /// The row was held: while the user is still leaving, a newer change holds it again.
        Held = "held",
        /// An operator released it (`sync release`): the removal goes ahead without counting.
        Released = "released",
    }
}

word_column! {
    /// What an event records (`events.action`).
    pub enum EventAction {
        /// The vendor was reconciled (calls made, or a removal found nothing to remove).
        Reconcile = "reconcile",
        /// Nothing the vendor holds changed: no call.
        Unchanged = "unchanged",
        /// Observe mode: the calls are recorded, not made.
        Planned = "planned",
        /// The removal guard held a removal, or an operator released or discarded a held one.
        Guard = "guard",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_reads_back_and_an_unknown_one_does_not() {
        for state in BreakerState::ALL {
            assert_eq!(BreakerState::parse(state.as_str()), Some(*state));
        }
        for state in QueueState::ALL {
            assert_eq!(QueueState::parse(state.as_str()), Some(*state));
        }
        assert_eq!(BreakerState::parse("closed "), None);
        assert_eq!(TargetState::parse("CLOSED"), None);
        assert_eq!(EventAction::parse("deleted"), None);
    }
}
