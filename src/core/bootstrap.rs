//! What a fresh data directory holds: chart and journal `jcard` with the accounts every jCard
//! example in the document posts to.

use super::command::NewAccount;
use crate::clock::EpochMs;
use crate::ledger::{AccountType, Chart, Journal};

/// Name of the default chart and journal.
pub const DEFAULT_CHART: &str = "jcard";

/// (code, description, type, final, parent) of every default account, parents first.
const DEFAULT_ACCOUNTS: [(&str, &str, AccountType, bool, &str); 12] = [
    ("11", "Assets", AccountType::Debit, false, DEFAULT_CHART),
    ("11.001", "Issuer assets", AccountType::Debit, false, "11"),
    ("11.001.00", "Received money", AccountType::Debit, true, "11.001"),
    ("12", "Acquirer assets", AccountType::Debit, false, DEFAULT_CHART),
    ("12.001", "Acquirer 001", AccountType::Debit, false, "12"),
    ("12.001.00", "Acquirer 001 settlement", AccountType::Debit, true, "12.001"),
    ("21", "Cardholders", AccountType::Credit, false, DEFAULT_CHART),
    ("22", "Other liabilities", AccountType::Credit, false, DEFAULT_CHART),
    ("23", "Wallets", AccountType::Credit, false, DEFAULT_CHART),
    ("31", "Earnings", AccountType::Credit, false, DEFAULT_CHART),
    ("31.001", "Issuer earnings", AccountType::Credit, false, "31"),
    ("31.001.00", "Fee income", AccountType::Credit, true, "31.001"),
];

/// The default chart, its journal and its accounts.
pub fn default_chart(now_ms: EpochMs) -> (Chart, Journal, Vec<NewAccount>) {
    let chart =
        Chart { name: DEFAULT_CHART.into(), description: "jCard".to_owned(), created_ms: now_ms };
    let journal = Journal::open(DEFAULT_CHART, std::sync::Arc::clone(&chart.name));
    let accounts = DEFAULT_ACCOUNTS
        .iter()
        .map(|(code, description, account_type, is_final, parent)| NewAccount {
            chart: DEFAULT_CHART.to_owned(),
            code: (*code).to_owned(),
            description: (*description).to_owned(),
            account_type: *account_type,
            parent_code: (*parent).to_owned(),
            is_final: *is_final,
            currency_code: None,
            tags: String::new(),
            expiration_ms: None,
        })
        .collect();
    (chart, journal, accounts)
}
