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
        /// The vendor user was created.
        Create = "create",
        /// A vendor user found by e-mail or username was linked instead of creating one (no call).
        Adopt = "adopt",
        Activate = "activate",
        /// Fields changed (`changes` says which, old → new).
        Update = "update",
        /// Entitlement rules added the user to vendor groups, or set a grant (`changes` names them).
        Grant = "grant",
        /// Entitlement rules removed the user from vendor groups.
        Revoke = "revoke",
        Deactivate = "deactivate",
        Delete = "delete",
        /// Nothing the vendor holds changed: no call.
        Unchanged = "unchanged",
        /// The reconcile failed before any step: while looking the user up, or checking its values.
        Lookup = "lookup",
        /// Observe mode: the calls are recorded, not made.
        Planned = "planned",
        /// The removal guard held a removal for an operator.
        Held = "held",
        /// An operator let a held removal go.
        Released = "released",
        /// An operator dropped a held removal: the vendor keeps the user.
        Discarded = "discarded",
        /// Before the audit trail (docs/audit.md): a reconcile, whatever it did.
        Reconcile = "reconcile",
        /// Before the audit trail: the guard held, released or discarded a removal.
        Guard = "guard",
    }
}

impl EventAction {
    /// The actions that are calls the vendor answered (what "ok" lists and a target's calls count).
    pub const CALLS: &'static [EventAction] = &[
        Self::Create,
        Self::Activate,
        Self::Update,
        Self::Grant,
        Self::Revoke,
        Self::Deactivate,
        Self::Delete,
        Self::Reconcile,
    ];

    /// `CALLS` as a SQL list of words (`'create', 'activate', …`).
    pub fn calls_sql() -> String {
        let words: Vec<String> = Self::CALLS.iter().map(|a| format!("'{}'", a.as_str())).collect();
        words.join(", ")
    }
}

word_column! {
    /// How an event's step ended (`events.outcome`; NULL on rows from before the audit trail).
    pub enum EventOutcome {
        /// The vendor did it (or, for `unchanged`, nothing had to be done).
        Done = "done",
        /// It failed and the row is tried again later.
        Retrying = "retrying",
        /// It failed and retrying will not help: the row is parked as dead.
        Failed = "failed",
        /// Observe mode: recorded, not sent.
        Planned = "planned",
        /// Held by the removal guard.
        Held = "held",
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
        for outcome in EventOutcome::ALL {
            assert_eq!(EventOutcome::parse(outcome.as_str()), Some(*outcome));
        }
    }
}
