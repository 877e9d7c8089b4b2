//! The jCard route table: method, path template, handler and the permission it needs. The HTTP
//! router is built from this table, and a test checks it against the OpenAPI document.

/// Every jCard route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    EchoGet,
    EchoPost,
    SysconfigList,
    SysconfigCreate,
    SysconfigUpdate,
    SysconfigGet,
    SysconfigDelete,
    GlPostTransaction,
    GlBalance,
    GlStatement,
    GlCreateAccount,
    Login,
    WalletCreate,
    WalletCredit,
    WalletDebit,
    WalletBalance,
    WalletCashOutBalance,
    WalletStatement,
    WalletTransactions,
    WalletDetail,
    WalletTransfer,
    /// The document's own transfer URI puts the destination after the query:
    /// `/wallets/{source}/transfer?dryRun=/{destination}`.
    WalletTransferDestinationInQuery,
    WalletCustomerGet,
    WalletLink,
    WalletCustomerUpdate,
    WalletType,
    WalletChangePin,
    WalletBlock,
    WalletUnblock,
    WalletDelete,
    TransactionGet,
    TransactionReverse,
    TransactionVoid,
    CustomerCreate,
    CustomerUpdate,
    CustomerGet,
    CustomerBalance,
    AgentCreate,
    AgentUpdate,
    CardProductCreate,
    CardProductGet,
    CardProductUpdate,
    VelocityCreate,
    VelocityList,
    VelocityGet,
    VelocityUpdate,
    VelocityDelete,
    CardCreate,
    CardTransfer,
    CardDebit,
    CardCredit,
    CardStatus,
    CardActivate,
    CardGet,
    CardUpdate,
    CardPin,
    CardAccount,
    CardCardholder,
    CardBalance,
    CardTransactions,
    CustomerCards,
}

/// Where every jCard route is mounted.
pub const PREFIX: &str = "/jcard/api";

/// A route as the table lists it.
#[derive(Debug, Clone, Copy)]
pub struct RouteSpec {
    pub method: &'static str,
    /// Path below [`PREFIX`], `{name}` for a parameter.
    pub path: &'static str,
    pub route: Route,
    /// Permission the consumer must hold; empty for any authenticated consumer.
    pub permission: &'static str,
}

pub const SYSCONFIG_READ: &str = "sysconfig.read";
pub const SYSCONFIG_WRITE: &str = "sysconfig.write";
pub const GL_READ: &str = "gl.read";
pub const GL_WRITE: &str = "gl.write";
pub const LOGIN: &str = "login";
pub const WALLET_CREATE: &str = "wallet.create";
pub const WALLET_CREDIT: &str = "wallet.credit";
pub const WALLET_DEBIT: &str = "wallet.debit";
pub const WALLET_TRANSFER: &str = "wallet.transfer";
pub const WALLET_READ: &str = "wallet.read";
pub const WALLET_ADMIN: &str = "wallet.admin";
pub const WALLET_PIN: &str = "wallet.pin";
pub const TRANSACTION_READ: &str = "transaction.read";
pub const TRANSACTION_REVERSE: &str = "transaction.reverse";
pub const TRANSACTION_VOID: &str = "transaction.void";
pub const CUSTOMER_READ: &str = "customer.read";
pub const CUSTOMER_WRITE: &str = "customer.write";
pub const AGENT_WRITE: &str = "agent.write";
pub const CARD_PRODUCT_READ: &str = "cardproduct.read";
pub const CARD_PRODUCT_WRITE: &str = "cardproduct.write";
pub const CARD_CREATE: &str = "card.create";
pub const CARD_READ: &str = "card.read";
pub const CARD_DEBIT: &str = "card.debit";
pub const CARD_CREDIT: &str = "card.credit";
pub const CARD_TRANSFER: &str = "card.transfer";
pub const CARD_ADMIN: &str = "card.admin";

const fn spec(
    method: &'static str,
    path: &'static str,
    route: Route,
    permission: &'static str,
) -> RouteSpec {
    RouteSpec { method, path, route, permission }
}

pub const ROUTES: &[RouteSpec] = &[
    spec("GET", "/echo", Route::EchoGet, ""),
    spec("POST", "/echo", Route::EchoPost, ""),
    spec("GET", "/sysconfig", Route::SysconfigList, SYSCONFIG_READ),
    spec("POST", "/sysconfig", Route::SysconfigCreate, SYSCONFIG_WRITE),
    spec("PUT", "/sysconfig", Route::SysconfigUpdate, SYSCONFIG_WRITE),
    spec("GET", "/sysconfig/{id}", Route::SysconfigGet, SYSCONFIG_READ),
    spec("DELETE", "/sysconfig/{id}", Route::SysconfigDelete, SYSCONFIG_WRITE),
    spec("POST", "/gl/transactions", Route::GlPostTransaction, GL_WRITE),
    spec(
        "GET",
        "/gl/journals/{journalCode}/accounts/{accountCode}/balance",
        Route::GlBalance,
        GL_READ,
    ),
    spec(
        "GET",
        "/gl/journals/{journalCode}/accounts/{accountCode}/statement",
        Route::GlStatement,
        GL_READ,
    ),
    spec("POST", "/gl/charts/{chartName}/accounts", Route::GlCreateAccount, GL_WRITE),
    spec("POST", "/login", Route::Login, LOGIN),
    spec("POST", "/wallets", Route::WalletCreate, WALLET_CREATE),
    spec("POST", "/wallets/{walletCode}/credit", Route::WalletCredit, WALLET_CREDIT),
    spec("POST", "/wallets/{walletCode}/debit", Route::WalletDebit, WALLET_DEBIT),
    spec("GET", "/wallets/{walletCode}/balance", Route::WalletBalance, WALLET_READ),
    spec("GET", "/wallets/{walletCode}/cashOutBalance", Route::WalletCashOutBalance, WALLET_READ),
    spec("GET", "/wallets/{walletCode}/statement", Route::WalletStatement, WALLET_READ),
    spec("GET", "/wallets/{walletCode}/transactions", Route::WalletTransactions, WALLET_READ),
    spec("GET", "/wallets/{walletCode}/detail", Route::WalletDetail, WALLET_READ),
    spec(
        "POST",
        "/wallets/{walletCode}/transfer/{destinationWalletCode}",
        Route::WalletTransfer,
        WALLET_TRANSFER,
    ),
    spec(
        "POST",
        "/wallets/{walletCode}/transfer",
        Route::WalletTransferDestinationInQuery,
        WALLET_TRANSFER,
    ),
    spec("GET", "/wallets/{walletCode}/customer", Route::WalletCustomerGet, WALLET_READ),
    spec("PUT", "/wallets/{walletCode}/link", Route::WalletLink, WALLET_ADMIN),
    spec("PUT", "/wallets/{walletCode}/customer", Route::WalletCustomerUpdate, WALLET_ADMIN),
    spec("GET", "/wallets/{walletCode}/type", Route::WalletType, WALLET_READ),
    spec("PUT", "/wallets/{walletCode}/changepin", Route::WalletChangePin, WALLET_PIN),
    spec("PUT", "/wallets/{walletCode}/block", Route::WalletBlock, WALLET_ADMIN),
    spec("PUT", "/wallets/{walletCode}/unblock", Route::WalletUnblock, WALLET_ADMIN),
    spec("DELETE", "/wallets/{walletCode}/delete", Route::WalletDelete, WALLET_ADMIN),
    spec("GET", "/transactions/{rrn}", Route::TransactionGet, TRANSACTION_READ),
    spec("POST", "/transactions/reverse/{rrn}", Route::TransactionReverse, TRANSACTION_REVERSE),
    spec("PUT", "/transactions/void/{rrn}", Route::TransactionVoid, TRANSACTION_VOID),
    spec("POST", "/customers", Route::CustomerCreate, CUSTOMER_WRITE),
    spec("PUT", "/customers", Route::CustomerUpdate, CUSTOMER_WRITE),
    spec("GET", "/customers/{realId}", Route::CustomerGet, CUSTOMER_READ),
    spec("GET", "/customers/{realId}/balance", Route::CustomerBalance, CUSTOMER_READ),
    spec("POST", "/agents", Route::AgentCreate, AGENT_WRITE),
    spec("PUT", "/agents/{id}", Route::AgentUpdate, AGENT_WRITE),
    spec("POST", "/cardproducts", Route::CardProductCreate, CARD_PRODUCT_WRITE),
    spec("GET", "/cardproducts/{id}", Route::CardProductGet, CARD_PRODUCT_READ),
    spec("PUT", "/cardproducts/{id}", Route::CardProductUpdate, CARD_PRODUCT_WRITE),
    spec("POST", "/cardproducts/{id}/velocityprofiles", Route::VelocityCreate, CARD_PRODUCT_WRITE),
    spec("GET", "/cardproducts/{id}/velocityprofiles", Route::VelocityList, CARD_PRODUCT_READ),
    spec(
        "GET",
        "/cardproducts/{id}/velocityprofiles/{velocityId}",
        Route::VelocityGet,
        CARD_PRODUCT_READ,
    ),
    spec(
        "PUT",
        "/cardproducts/{id}/velocityprofiles/{velocityId}",
        Route::VelocityUpdate,
        CARD_PRODUCT_WRITE,
    ),
    spec(
        "DELETE",
        "/cardproducts/{id}/velocityprofiles/{velocityId}",
        Route::VelocityDelete,
        CARD_PRODUCT_WRITE,
    ),
    spec("POST", "/cards", Route::CardCreate, CARD_CREATE),
    spec("POST", "/cards/transfers", Route::CardTransfer, CARD_TRANSFER),
    spec("POST", "/cards/{token}/debit", Route::CardDebit, CARD_DEBIT),
    spec("POST", "/cards/{token}/credit", Route::CardCredit, CARD_CREDIT),
    spec("PUT", "/cards/{token}/status", Route::CardStatus, CARD_ADMIN),
    spec("PUT", "/cards/{token}/activate", Route::CardActivate, CARD_ADMIN),
    spec("GET", "/cards/{token}", Route::CardGet, CARD_READ),
    spec("PUT", "/cards/{token}", Route::CardUpdate, CARD_ADMIN),
    spec("PUT", "/cards/{token}/pin", Route::CardPin, CARD_ADMIN),
    spec("PUT", "/cards/{token}/account", Route::CardAccount, CARD_ADMIN),
    spec("PUT", "/cards/{token}/cardholder", Route::CardCardholder, CARD_ADMIN),
    spec("GET", "/cards/{token}/balance", Route::CardBalance, CARD_READ),
    spec("GET", "/cards/{token}/transactions", Route::CardTransactions, CARD_READ),
    spec("GET", "/customers/{realId}/cards", Route::CustomerCards, CUSTOMER_READ),
];

impl Route {
    /// This route's table row.
    pub fn spec(self) -> &'static RouteSpec {
        ROUTES
            .iter()
            .find(|spec| spec.route == self)
            .unwrap_or_else(|| unreachable!("every route is in the table"))
    }
}
