//! The card-issuing API's route table: every method is `POST` under `/v5/card-api`.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    RequestStatus,
    CardIssue,
    CardInfo,
    CardBalance,
    CardVerifyHolder,
    CardBlock,
    CardUnblock,
    GiftCardIssue,
    TransactionFund,
    TransactionDebit,
    TransactionReverse,
}

pub const PREFIX: &str = "/v5/card-api";

/// (path below the prefix, route, method name recorded with each request).
pub const ROUTES: &[(&str, Route, &str)] = &[
    ("/request/status", Route::RequestStatus, "request.status"),
    ("/cards/issue", Route::CardIssue, "cards.issue"),
    ("/cards/info", Route::CardInfo, "cards.info"),
    ("/cards/balance", Route::CardBalance, "cards.balance"),
    ("/cards/verify-holder", Route::CardVerifyHolder, "cards.verify-holder"),
    ("/cards/block", Route::CardBlock, "cards.block"),
    ("/cards/unblock", Route::CardUnblock, "cards.unblock"),
    ("/gift-cards/issue", Route::GiftCardIssue, "gift-cards.issue"),
    ("/transactions/fund", Route::TransactionFund, "transactions.fund"),
    ("/transactions/debit", Route::TransactionDebit, "transactions.debit"),
    ("/transactions/reverse", Route::TransactionReverse, "transactions.reverse"),
];

impl Route {
    /// The method's name, as recorded with its requests.
    pub fn method_name(self) -> &'static str {
        ROUTES.iter().find(|(_, route, _)| *route == self).map_or("", |(_, _, name)| name)
    }
}
