//! Which adapters back the ports, decided from config. Each file owns one side of the choice,
//! so adding a backend touches one file, not the composition root.

pub mod database;
pub mod shared;

pub use database::Database;
pub use shared::SharedTier;
