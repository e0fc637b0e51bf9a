//! The registry's machinery: `vendors!` turns the one list in `connectors/mod.rs` into the kinds a
//! target may name (`TargetKind`), their keys (`VendorConfig`) and their connectors (`Connector`),
//! with every match over them written here once. Nothing else in the bridge lists vendors.

/// `vendors! { folder::Type, … }`: each line declares the folder's module and registers its
/// `Vendor` implementation.
macro_rules! vendors {
    ($($folder:ident :: $vendor:ident),+ $(,)?) => {
        $(pub mod $folder;)+

        /// The vendor a target speaks to (`kind = "…"`), one per registry line.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum TargetKind {
            $($vendor,)+
        }

        impl TargetKind {
            /// Every registered vendor, in registry order.
            pub const ALL: &'static [TargetKind] = &[$(TargetKind::$vendor,)+];

            /// The word a target's `kind` names it by.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$vendor => <$folder::$vendor as Vendor>::KIND,)+
                }
            }

            pub fn parse(word: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|kind| kind.name() == word)
            }

            /// The fields the vendor can be sent beyond the identity it keys users by.
            pub fn fields(self) -> &'static [FieldSpec] {
                match self {
                    $(Self::$vendor => <$folder::$vendor as Vendor>::FIELDS,)+
                }
            }

            /// Whether the vendor takes users' passwords (an IdP password is then held until delivered).
            pub fn takes_passwords(self) -> bool {
                match self {
                    $(Self::$vendor => <$folder::$vendor as Vendor>::TAKES_PASSWORDS,)+
                }
            }

            /// What removing a user means there, and how a new one starts.
            pub fn rules(self) -> Rules {
                match self {
                    $(Self::$vendor => <$folder::$vendor as Vendor>::RULES,)+
                }
            }

            /// What entitlement rules may grant there.
            pub fn grants(self) -> $crate::sync::entitlements::GrantKinds {
                match self {
                    $(Self::$vendor => <$folder::$vendor as Vendor>::GRANTS,)+
                }
            }
        }

        /// A target's vendor keys: each its folder's `Config`.
        #[derive(Debug, Clone)]
        pub enum VendorConfig {
            $($vendor(<$folder::$vendor as Vendor>::Config),)+
        }

        impl VendorConfig {
            /// The vendor keys of a `[[target]]` of `kind` (the common keys already taken out).
            pub fn parse(kind: TargetKind, mut table: Map<String, Value>) -> Result<Self, String> {
                normalise_secret_keys(&mut table)?;
                let table = Value::Object(table);
                let parsed = match kind {
                    $(TargetKind::$vendor => serde_path_to_error::deserialize(table).map(Self::$vendor),)+
                };
                parsed.map_err($crate::sync::target::keyed)
            }

            pub fn kind(&self) -> TargetKind {
                match self {
                    $(Self::$vendor(_) => TargetKind::$vendor,)+
                }
            }

            /// What serde cannot check: URLs, empty values, ranges.
            pub fn validate(&self) -> Result<(), String> {
                match self {
                    $(Self::$vendor(c) => c.validate(),)+
                }
            }

            /// The keys as the file spells them.
            pub fn to_table(&self) -> Result<Value, serde_json::Error> {
                match self {
                    $(Self::$vendor(c) => serde_json::to_value(c),)+
                }
            }

            fn build(&self, setup: Setup) -> Result<Connector, BuildError> {
                Ok(match self {
                    $(Self::$vendor(c) => Connector::$vendor(Box::new(c.build(setup)?)),)+
                })
            }
        }

        /// A target's connector: its vendor, driven by the one reconciler (`sync::reconcile`).
        pub enum Connector {
            $($vendor(Box<$folder::$vendor>),)+
        }

        impl Connector {
            /// Users the worker hands over at once.
            pub fn batch_size(&self) -> usize {
                match self {
                    $(Self::$vendor(v) => v.batch_size(),)+
                }
            }

            /// The key the vendor files `user` under (what a link records; `Vendor::key`).
            pub fn key<'u>(&self, user: &'u crate::sync::UserState) -> &'u str {
                match self {
                    $(Self::$vendor(v) => v.key(user),)+
                }
            }

            /// Makes the vendor hold each desired user, given its link; one result per user.
            pub async fn reconcile_batch(&self, batch: &[(Desired, Option<Link>)]) -> Vec<Result<Reconciled, crate::sync::Failed>> {
                match self {
                    $(Self::$vendor(v) => reconcile::write(v.as_ref(), batch).await,)+
                }
            }

            /// The steps the write path would take for each user, from read-only look-ups only.
            pub async fn plan_batch(&self, batch: &[(Desired, Option<Link>)]) -> Vec<Result<Vec<Step>, ConnectorError>> {
                match self {
                    $(Self::$vendor(v) => reconcile::plan(v.as_ref(), batch).await,)+
                }
            }

            /// What the vendor holds under `user`'s keys, read without a link (the canary's read-back).
            pub async fn read_back(&self, user: &crate::sync::UserState) -> Result<reconcile::ReadBack, ConnectorError> {
                match self {
                    $(Self::$vendor(v) => reconcile::read_back(v.as_ref(), user).await,)+
                }
            }

            /// The wanted fields the vendor would be sent for `user`, in its names.
            pub fn wanted(&self, user: &crate::sync::UserState) -> std::collections::BTreeMap<String, String> {
                match self {
                    $(Self::$vendor(v) => v.wanted(user),)+
                }
            }

            /// Before a `sync plan` of the whole target: what can be read once.
            pub async fn prefetch(&self) -> Result<(), ConnectorError> {
                match self {
                    $(Self::$vendor(v) => v.prefetch().await,)+
                }
            }

            /// The vendor's users as (id, e-mail or username); `None` when it cannot list them.
            pub async fn vendor_users(&self) -> Result<Option<Vec<(String, String)>>, ConnectorError> {
                match self {
                    $(Self::$vendor(v) => v.vendor_users().await,)+
                }
            }

            /// A read-only probe of the credentials (`scim-bridge check`); says what it called.
            pub async fn check(&self) -> Result<&'static str, ConnectorError> {
                match self {
                    $(Self::$vendor(v) => v.check().await.map(|()| <$folder::$vendor as Vendor>::CHECKED),)+
                }
            }

            /// Resolves the entitlement rules' vendor names to ids (`serve` does it at start).
            pub async fn resolve_grants(&self) -> Result<(), ConnectorError> {
                match self {
                    $(Self::$vendor(v) => v.resolve_grants().await,)+
                }
            }

            /// Closes what the connector holds open at the vendor (a CyberArk session).
            pub async fn shutdown(&self) {
                match self {
                    $(Self::$vendor(v) => v.shutdown().await,)+
                }
            }
        }
    };
}

pub(super) use vendors;
