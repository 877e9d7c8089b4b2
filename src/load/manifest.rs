//! What `populate` created, written as JSON so that `run` finds it: card tokens, wallet codes,
//! the merchant wallet and the seed the names came from.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::LoadError;

/// The data set of one `populate`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    /// The seed every name was derived from.
    pub seed: u64,
    /// The card product's code.
    pub product: String,
    /// Active, funded cards, in creation order (index = card number in the distribution).
    pub cards: Vec<String>,
    /// Funded wallets, one per customer, in the same order as the cards.
    pub wallets: Vec<String>,
    /// The wallet that takes the hot merchant's share of transfers.
    pub merchant_wallet: String,
    /// Whole currency units each card and wallet was credited with.
    pub funds_whole: u64,
    /// The card-issuing partner that issued `partner_cards`, if `populate` was given one.
    #[serde(default)]
    pub partner_auth_id: Option<String>,
    /// Cards issued and funded through the card-issuing API (the `issuing_debit` kind).
    #[serde(default)]
    pub partner_cards: Vec<String>,
}

impl Manifest {
    pub fn write(&self, path: &Path) -> Result<(), LoadError> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|error| LoadError::new(format!("cannot encode the manifest: {error}")))?;
        std::fs::write(path, text)
            .map_err(|error| LoadError::new(format!("cannot write {}: {error}", path.display())))
    }

    pub fn read(path: &Path) -> Result<Manifest, LoadError> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| LoadError::new(format!("cannot read {}: {error}", path.display())))?;
        let manifest: Manifest = serde_json::from_str(&text).map_err(|error| {
            LoadError::new(format!("{} is not a manifest: {error}", path.display()))
        })?;
        if manifest.cards.is_empty() || manifest.wallets.len() < 2 {
            return Err(LoadError::new(format!(
                "{} names no cards or fewer than two wallets",
                path.display()
            )));
        }
        Ok(manifest)
    }
}
