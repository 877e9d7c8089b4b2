//! What can be asked of the core (`Command`), what it answers (`Outcome`), and why it declines
//! (`Decline`). Every mutating request of every dialect becomes one `Command`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::keys::SecretBytes;
use crate::clock::EpochMs;
use crate::ledger::post::{Reject, TransactionRequest};
use crate::ledger::{AccountId, AccountType, TransactionId};

/// A change to the switch's state. Executed by the single writer, durably, in order.
#[derive(Debug, Clone)]
pub enum Command {
    /// Post a GL transaction whose entries balance per layer.
    PostTransaction(TransactionRequest),
    /// Post the negated copy of a transaction and count the reversal on it.
    ReverseTransaction {
        transaction_id: TransactionId,
    },
    /// Add an account to a chart.
    CreateAccount(NewAccount),
    CreateSysconfig(SysConfig),
    UpdateSysconfig(SysconfigUpdate),
    DeleteSysconfig {
        id: String,
    },
    /// Register an API consumer with its HMAC key.
    AddConsumer(NewConsumer),
    /// Create the default chart, journal and the admin consumer in an empty store.
    Initialize {
        admin: NewConsumer,
    },
}

/// An account to create. `parent_code` equal to the chart's name hangs it from the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub chart: String,
    pub code: String,
    pub description: String,
    pub account_type: AccountType,
    pub parent_code: String,
    pub is_final: bool,
    pub currency_code: Option<String>,
    pub tags: String,
    pub expiration_ms: Option<EpochMs>,
}

/// A system configuration entry. Fees, limits and permissions of later features live here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysConfig {
    pub id: String,
    pub value: String,
    /// Permission needed to read this entry (empty: none beyond `sysconfig.read`).
    pub read_perm: String,
    /// Permission needed to change or delete it (empty: none beyond `sysconfig.write`).
    pub write_perm: String,
}

/// Fields of a sysconfig entry to change; absent fields stay as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysconfigUpdate {
    pub id: String,
    pub value: Option<String>,
    pub read_perm: Option<String>,
    pub write_perm: Option<String>,
}

/// A consumer to register.
#[derive(Debug, Clone)]
pub struct NewConsumer {
    pub id: Uuid,
    pub secret: SecretBytes,
    pub permissions: Vec<String>,
}

/// The permission that grants every other.
pub const ADMIN_PERMISSION: &str = "admin";

/// A registered API consumer, its key unwrapped in memory only.
#[derive(Debug, Clone)]
pub struct Consumer {
    pub id: Uuid,
    pub secret: SecretBytes,
    pub permissions: Vec<String>,
    pub active: bool,
}

impl Consumer {
    /// True when the consumer holds `permission` or `admin`. The empty permission is held by
    /// everyone.
    pub fn allows(&self, permission: &str) -> bool {
        permission.is_empty()
            || self.permissions.iter().any(|held| held == ADMIN_PERMISSION || held == permission)
    }
}

/// What the core did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Posted { transaction_id: TransactionId },
    Reversed { transaction_id: TransactionId, reversal_id: TransactionId },
    AccountCreated { account_id: AccountId },
    SysconfigCreated,
    SysconfigUpdated,
    SysconfigDeleted,
    ConsumerAdded,
    Initialized,
    Declined(Decline),
}

/// Why a command was refused. Nothing was written. Within a command the first reason that
/// applies is reported; ledger rejects carry their own precedence (`ledger::post::Reject`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decline {
    Ledger(Reject),
    ChartNotFound { chart: String },
    AccountExists { code: String },
    ParentNotFound { code: String },
    ParentNotComposite { code: String },
    SysconfigExists,
    SysconfigNotFound,
    ConsumerExists,
    TransactionNotFound,
    AlreadyReversed,
    AlreadyInitialized,
}

impl From<Reject> for Decline {
    fn from(reject: Reject) -> Decline {
        Decline::Ledger(reject)
    }
}
