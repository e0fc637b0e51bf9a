//! One file per vendor; each follows its seed document in shared/seeds/.
pub mod workspace365;
