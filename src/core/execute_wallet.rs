//! Commands on customers, wallets and agents, run by the writer inside a commit group: open,
//! link, update, block, delete, change PINs, log in. Money movements are in
//! `execute_money.rs`.

use std::sync::Arc;

use super::command::{
    AgentFields, CustomerPatch, Decline, NewAccount, NewConsumer, NewCustomer, Outcome,
    WalletStateChange,
};
use super::execute::GroupContext;
use super::keys::{self, hmac_sha256};
use super::CoreError;
use crate::ledger::{AccountType, Chartbook};
use crate::store::{schema, EncodedPut};
use crate::wallet::{
    wallet_account_code, Agent, Customer, CustomerDetails, Wallet, WalletOwner, WalletState,
    CUSTOMERS_PARENT, WALLETS_PARENT,
};

/// Digits of a PIN the switch generates.
const GENERATED_PIN_DIGITS: u32 = 6;

impl GroupContext<'_> {
    pub(super) fn create_customer(&mut self, request: NewCustomer) -> Result<Outcome, CoreError> {
        if self.state.customers.contains_key(&request.real_id) {
            return Ok(Outcome::Declined(Decline::CustomerExists));
        }
        let composite = format!("{CUSTOMERS_PARENT}.{}", request.real_id);
        let own = format!("{composite}.00");
        if self.state.account_by_code(&composite).is_some()
            || self.state.account_by_code(&own).is_some()
        {
            return Ok(Outcome::Declined(Decline::CustomerExists));
        }
        if let Some(code) = &request.wallet {
            if self.state.wallets.contains_key(code)
                || self.state.account_by_code(&wallet_account_code(code)).is_some()
            {
                return Ok(Outcome::Declined(Decline::WalletExists));
            }
        }
        let name = format!("{} {}", request.first_name, request.last_name);
        let description = format!("Customer: {} ({name})", request.real_id);
        self.expect_account(account(&composite, &description, CUSTOMERS_PARENT, false))?;
        let account_id = self.expect_account(account(&own, &description, &composite, true))?;
        let customer = Customer {
            id: self.state.next_customer_id,
            real_id: request.real_id,
            active: request.active,
            institution_id: request.institution_id,
            first_name: request.first_name,
            last_name: request.last_name,
            details: request.details,
            currency_codes: if request.currency_codes.is_empty() {
                vec![self.settings.default_currency]
            } else {
                request.currency_codes
            },
            account_id,
            created_ms: self.now_ms,
        };
        self.state.next_customer_id = self.state.next_customer_id.saturating_add(1);
        let pin = match request.wallet {
            None => None,
            Some(code) => {
                let description = format!("{description} Wallet: {code}");
                let owner = WalletOwner::Customer(customer.real_id.clone());
                Some(self.open_wallet(code, None, owner, &description)?.1)
            }
        };
        self.write_customer(customer)?;
        Ok(Outcome::CustomerCreated { pin })
    }

    pub(super) fn update_customer(&mut self, patch: &CustomerPatch) -> Result<Outcome, CoreError> {
        let real_id = patch.real_id.clone().unwrap_or_default();
        let Some(existing) = self.state.customers.get(&real_id) else {
            return Ok(Outcome::Declined(Decline::CustomerNotFound));
        };
        let customer = apply_patch(existing, patch);
        self.write_customer(customer)?;
        Ok(Outcome::CustomerUpdated)
    }

    fn write_customer(&mut self, customer: Customer) -> Result<(), CoreError> {
        self.batch.put(schema::customer_key(&customer.real_id), &customer)?;
        self.state.customers.insert(customer.real_id.clone(), Arc::new(customer));
        Ok(())
    }

    pub(super) fn create_wallet(
        &mut self,
        code: String,
        card_product: Option<String>,
        owner: WalletOwner,
    ) -> Result<Outcome, CoreError> {
        if self.state.wallets.contains_key(&code)
            || self.state.account_by_code(&wallet_account_code(&code)).is_some()
        {
            return Ok(Outcome::Declined(Decline::WalletExists));
        }
        let description = format!("Wallet: {code}");
        let (id, pin) = self.open_wallet(code, card_product, owner, &description)?;
        Ok(Outcome::WalletCreated { id, pin })
    }

    /// Opens a wallet whose code is known to be free: its account, its record and a fresh
    /// PIN. Returns the wallet's id and the PIN (shown once).
    fn open_wallet(
        &mut self,
        code: String,
        card_product: Option<String>,
        owner: WalletOwner,
        description: &str,
    ) -> Result<(u64, String), CoreError> {
        let account_code = wallet_account_code(&code);
        let account_id =
            self.expect_account(account(&account_code, description, WALLETS_PARENT, true))?;
        let pin = generate_pin()?;
        let wallet = Wallet {
            id: self.state.next_wallet_id,
            pin_hash: self.pin_hash(&code, &pin),
            code,
            account_id,
            state: WalletState::Active,
            owner,
            card_product,
            failed_pin_attempts: 0,
            locked_until_ms: None,
            created_ms: self.now_ms,
        };
        self.state.next_wallet_id = self.state.next_wallet_id.saturating_add(1);
        let id = wallet.id;
        self.write_wallet(wallet)?;
        Ok((id, pin))
    }

    /// Creates an account the caller has checked can be created.
    fn expect_account(&mut self, account: NewAccount) -> Result<u64, CoreError> {
        match self.create_account(account)? {
            Outcome::AccountCreated { account_id } => Ok(account_id),
            other => Err(CoreError::Corrupt(format!(
                "an account checked as free could not be created: {other:?}"
            ))),
        }
    }

    fn write_wallet(&mut self, wallet: Wallet) -> Result<(), CoreError> {
        self.batch.put(schema::wallet_key(&wallet.code), &wallet)?;
        self.state.insert_wallet(wallet);
        Ok(())
    }

    /// The wallet `code` if it exists and is not deleted.
    fn live_wallet(&self, code: &str) -> Result<Wallet, Decline> {
        let wallet = self.state.wallets.get(code).ok_or(Decline::WalletNotFound)?;
        if wallet.state == WalletState::Deleted {
            return Err(Decline::WalletDeleted);
        }
        Ok(Wallet::clone(wallet))
    }

    pub(super) fn link_wallet(
        &mut self,
        code: &str,
        real_id: String,
    ) -> Result<Outcome, CoreError> {
        let mut wallet = match self.live_wallet(code) {
            Ok(wallet) => wallet,
            Err(decline) => return Ok(Outcome::Declined(decline)),
        };
        if !self.state.customers.contains_key(&real_id) {
            return Ok(Outcome::Declined(Decline::CustomerNotFound));
        }
        match &wallet.owner {
            WalletOwner::None => {}
            WalletOwner::Customer(owner) if *owner == real_id => return Ok(Outcome::WalletUpdated),
            WalletOwner::Customer(_) | WalletOwner::Agent(_) => {
                return Ok(Outcome::Declined(Decline::WalletLinkedElsewhere));
            }
        }
        wallet.owner = WalletOwner::Customer(real_id);
        self.write_wallet(wallet)?;
        Ok(Outcome::WalletUpdated)
    }

    pub(super) fn update_wallet_customer(
        &mut self,
        code: &str,
        patch: &CustomerPatch,
    ) -> Result<Outcome, CoreError> {
        let wallet = match self.live_wallet(code) {
            Ok(wallet) => wallet,
            Err(decline) => return Ok(Outcome::Declined(decline)),
        };
        let WalletOwner::Customer(real_id) = &wallet.owner else {
            return Ok(Outcome::Declined(Decline::WalletNotLinked));
        };
        if patch.real_id.as_ref().is_some_and(|asked| asked != real_id) {
            return Ok(Outcome::Declined(Decline::CustomerMismatch));
        }
        let patch = CustomerPatch { real_id: Some(real_id.clone()), ..patch.clone() };
        match self.update_customer(&patch)? {
            Outcome::CustomerUpdated => Ok(Outcome::WalletUpdated),
            other => Ok(other),
        }
    }

    pub(super) fn change_wallet_state(
        &mut self,
        code: &str,
        change: WalletStateChange,
    ) -> Result<Outcome, CoreError> {
        let mut wallet = match self.live_wallet(code) {
            Ok(wallet) => wallet,
            Err(decline) => return Ok(Outcome::Declined(decline)),
        };
        wallet.state = match change {
            WalletStateChange::Block => WalletState::Blocked,
            WalletStateChange::Unblock => WalletState::Active,
            WalletStateChange::Delete => {
                let holds_money = self
                    .state
                    .layers_of(wallet.account_id)
                    .into_iter()
                    .any(|layer| self.state.balance(wallet.account_id, layer).units() != 0);
                if holds_money {
                    return Ok(Outcome::Declined(Decline::WalletNotEmpty));
                }
                WalletState::Deleted
            }
        };
        self.write_wallet(wallet)?;
        Ok(Outcome::WalletUpdated)
    }

    pub(super) fn change_pin(&mut self, code: &str, pin: &str) -> Result<Outcome, CoreError> {
        let mut wallet = match self.live_wallet(code) {
            Ok(wallet) => wallet,
            Err(decline) => return Ok(Outcome::Declined(decline)),
        };
        wallet.pin_hash = self.pin_hash(code, pin);
        wallet.failed_pin_attempts = 0;
        wallet.locked_until_ms = None;
        self.write_wallet(wallet)?;
        Ok(Outcome::WalletUpdated)
    }

    /// Checks the PIN; a wrong one counts towards the lock, which is written even though the
    /// answer is a decline.
    pub(super) fn login(
        &mut self,
        code: &str,
        pin: &str,
        consumer: NewConsumer,
        secret_text: String,
    ) -> Result<Outcome, CoreError> {
        let wallet = match self.live_wallet(code) {
            Ok(wallet) => wallet,
            Err(decline) => return Ok(Outcome::Declined(decline)),
        };
        if wallet.state == WalletState::Blocked {
            return Ok(Outcome::Declined(Decline::WalletBlocked));
        }
        if let Err(decline) = self.check_pin(wallet, pin)? {
            return Ok(Outcome::Declined(decline));
        }
        let id = consumer.id;
        let consumer = NewConsumer {
            wallet_scope: Some(code.to_owned()),
            expires_ms: Some(self.now_ms.saturating_add(self.settings.login_session_ttl_ms)),
            ..consumer
        };
        match self.add_consumer(consumer)? {
            Outcome::ConsumerAdded => Ok(Outcome::LoggedIn { consumer: id, secret: secret_text }),
            other => Ok(other),
        }
    }

    /// Checks `pin` against the wallet's, wherever a PIN is presented (login, debit,
    /// transfer): a locked wallet refuses, a wrong PIN counts towards the lock and the count
    /// is written even though the answer is a decline; a right one clears it.
    pub(super) fn check_pin(
        &mut self,
        wallet: Wallet,
        pin: &str,
    ) -> Result<Result<(), Decline>, CoreError> {
        let PinCheck { verdict, counted } = self.prepare_pin_check(wallet, pin)?;
        if let Some(counted) = counted {
            self.apply_wallet(counted);
        }
        Ok(verdict)
    }

    /// `check_pin` without writing: the verdict, and the wallet with its count changed (to
    /// write whatever the answer), encoded.
    pub(super) fn prepare_pin_check(
        &self,
        mut wallet: Wallet,
        pin: &str,
    ) -> Result<PinCheck, CoreError> {
        if wallet.locked_until_ms.is_some_and(|until| self.now_ms < until) {
            return Ok(PinCheck { verdict: Err(Decline::WalletLocked), counted: None });
        }
        let verdict = if constant_time_equal(
            self.pin_hash(&wallet.code, pin).as_bytes(),
            wallet.pin_hash.as_bytes(),
        ) {
            if wallet.failed_pin_attempts == 0 && wallet.locked_until_ms.is_none() {
                return Ok(PinCheck { verdict: Ok(()), counted: None });
            }
            wallet.failed_pin_attempts = 0;
            wallet.locked_until_ms = None;
            Ok(())
        } else {
            wallet.failed_pin_attempts = wallet.failed_pin_attempts.saturating_add(1);
            if wallet.failed_pin_attempts >= self.settings.pin_attempts_max {
                wallet.failed_pin_attempts = 0;
                wallet.locked_until_ms =
                    Some(self.now_ms.saturating_add(self.settings.pin_lock_ms));
            }
            Err(Decline::InvalidPin)
        };
        Ok(PinCheck { verdict, counted: Some(PreparedWallet::new(wallet)?) })
    }

    /// Writes a wallet prepared by `PreparedWallet::new` (cannot fail).
    pub(super) fn apply_wallet(&mut self, prepared: PreparedWallet) {
        self.batch.put_encoded(prepared.record);
        self.state.insert_wallet(prepared.wallet);
    }

    pub(super) fn create_agent(
        &mut self,
        fields: AgentFields,
        create_wallet: bool,
    ) -> Result<Outcome, CoreError> {
        if fields.parent_id.is_some_and(|parent| !self.state.agents.contains_key(&parent)) {
            return Ok(Outcome::Declined(Decline::ParentAgentNotFound));
        }
        let id = self.state.next_agent_id;
        let name = fields.name.unwrap_or_default();
        let wallet_code = fields.phone.clone().filter(|_| create_wallet);
        if let Some(code) = &wallet_code {
            if self.state.wallets.contains_key(code)
                || self.state.account_by_code(&wallet_account_code(code)).is_some()
            {
                return Ok(Outcome::Declined(Decline::WalletExists));
            }
        }
        let wallet_id = match &wallet_code {
            None => None,
            Some(code) => {
                let description = format!("Agent: {name} Wallet: {code}");
                Some(self.open_wallet(code.clone(), None, WalletOwner::Agent(id), &description)?.0)
            }
        };
        let agent = Agent {
            id,
            name,
            parent_id: fields.parent_id,
            phone: fields.phone,
            agent_type: fields.agent_type,
            account: fields.account,
            active: fields.active.unwrap_or(true),
            mcc: fields.mcc,
            wallet: wallet_code,
            created_ms: self.now_ms,
        };
        self.state.next_agent_id = id.saturating_add(1);
        self.write_agent(agent)?;
        Ok(Outcome::AgentCreated { agent_id: id, wallet_id })
    }

    pub(super) fn update_agent(
        &mut self,
        id: u64,
        fields: AgentFields,
    ) -> Result<Outcome, CoreError> {
        let Some(existing) = self.state.agents.get(&id) else {
            return Ok(Outcome::Declined(Decline::AgentNotFound));
        };
        if fields
            .parent_id
            .is_some_and(|parent| parent == id || !self.state.agents.contains_key(&parent))
        {
            return Ok(Outcome::Declined(Decline::ParentAgentNotFound));
        }
        let mut agent = Agent::clone(existing);
        agent.name = fields.name.unwrap_or(agent.name);
        agent.parent_id = fields.parent_id.or(agent.parent_id);
        agent.phone = fields.phone.or(agent.phone);
        agent.agent_type = fields.agent_type.or(agent.agent_type);
        agent.account = fields.account.or(agent.account);
        agent.active = fields.active.unwrap_or(agent.active);
        agent.mcc = fields.mcc.or(agent.mcc);
        self.write_agent(agent)?;
        Ok(Outcome::AgentUpdated)
    }

    fn write_agent(&mut self, agent: Agent) -> Result<(), CoreError> {
        self.batch.put(schema::agent_key(agent.id), &agent)?;
        self.state.agents.insert(agent.id, Arc::new(agent));
        Ok(())
    }

    /// A keyed hash of a wallet's PIN (the key derives from the master key; the wallet code
    /// salts it).
    fn pin_hash(&self, code: &str, pin: &str) -> String {
        use base64::Engine as _;
        let key = self.keys.derive("cardswitch/wallet-pin/v1");
        let digest = hmac_sha256(key.expose(), &[code.as_bytes(), &[0], pin.as_bytes()]);
        base64::engine::general_purpose::STANDARD.encode(digest)
    }
}

/// A wallet PIN the switch generates: uniformly random digits.
fn generate_pin() -> Result<String, CoreError> {
    let space = 10_u32.pow(GENERATED_PIN_DIGITS);
    // Reject draws from the incomplete last block so every PIN is equally likely.
    let limit = u32::MAX - u32::MAX % space;
    loop {
        let bytes = keys::random_bytes(4)?;
        let draw = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        if draw < limit {
            return Ok(format!("{:0width$}", draw % space, width = 6));
        }
    }
}

fn constant_time_equal(left: &[u8], right: &[u8]) -> bool {
    left.len() == right.len()
        && left.iter().zip(right).fold(0_u8, |difference, (a, b)| difference | (a ^ b)) == 0
}

/// A credit-type account of the default chart.
fn account(code: &str, description: &str, parent: &str, is_final: bool) -> NewAccount {
    NewAccount {
        chart: super::bootstrap::DEFAULT_CHART.to_owned(),
        code: code.to_owned(),
        description: description.to_owned(),
        account_type: AccountType::Credit,
        parent_code: parent.to_owned(),
        is_final,
        currency_code: None,
        tags: String::new(),
        expiration_ms: None,
    }
}

/// `existing` with every field `patch` sets.
fn apply_patch(existing: &Customer, patch: &CustomerPatch) -> Customer {
    let mut customer = existing.clone();
    customer.active = patch.active.unwrap_or(customer.active);
    customer.institution_id = patch.institution_id.clone().unwrap_or(customer.institution_id);
    customer.first_name = patch.first_name.clone().unwrap_or(customer.first_name);
    customer.last_name = patch.last_name.clone().unwrap_or(customer.last_name);
    let details = &mut customer.details;
    let given = &patch.details;
    let merge = |current: &mut Option<String>, update: &Option<String>| {
        if update.is_some() {
            current.clone_from(update);
        }
    };
    let CustomerDetails {
        start_date,
        end_date,
        honorific,
        gender,
        middle_name,
        last_name2,
        email,
        address1,
        address2,
        city,
        state,
        zip,
        country,
        birth_date,
        notes,
        phone,
        card_product,
    } = given;
    merge(&mut details.start_date, start_date);
    merge(&mut details.end_date, end_date);
    merge(&mut details.honorific, honorific);
    merge(&mut details.gender, gender);
    merge(&mut details.middle_name, middle_name);
    merge(&mut details.last_name2, last_name2);
    merge(&mut details.email, email);
    merge(&mut details.address1, address1);
    merge(&mut details.address2, address2);
    merge(&mut details.city, city);
    merge(&mut details.state, state);
    merge(&mut details.zip, zip);
    merge(&mut details.country, country);
    merge(&mut details.birth_date, birth_date);
    merge(&mut details.notes, notes);
    merge(&mut details.phone, phone);
    merge(&mut details.card_product, card_product);
    customer
}

/// What a presented PIN comes to: the answer, and the wallet to write with its count changed
/// (none if nothing changed).
pub(super) struct PinCheck {
    pub verdict: Result<(), Decline>,
    pub counted: Option<PreparedWallet>,
}

/// A wallet and its record, encoded: what writing it could fail on, done before anything is
/// written.
pub(super) struct PreparedWallet {
    wallet: Wallet,
    record: EncodedPut,
}

impl PreparedWallet {
    pub(super) fn new(wallet: Wallet) -> Result<PreparedWallet, CoreError> {
        let record = EncodedPut::new(schema::wallet_key(&wallet.code), &wallet)?;
        Ok(PreparedWallet { wallet, record })
    }
}
