//! `load populate`: a card product, a merchant wallet, and `N` customers, each with a wallet
//! and an active card, both credited (and, given a partner, `N` cards issued and funded
//! through the card-issuing API); every name and RRN derives from the seed. Writes the
//! manifest that `load run` reads.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::client::{PartnerSigner, Session, Signer};
use super::manifest::Manifest;
use super::report::Progress;
use super::target::{parse_url, read_credentials};
use super::LoadError;

/// Most cards one population may have.
pub const CARDS_MAX: usize = 10_000_000;

/// Options of `cardswitch load populate`.
#[derive(Debug, Clone, clap::Args)]
pub struct PopulateOptions {
    /// The switch, `http://host:port`.
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    pub url: String,
    /// A credentials file like the data directory's `admin-credentials`.
    #[arg(long, default_value = "data/admin-credentials")]
    pub credentials: PathBuf,
    /// Customers to create, each with one wallet and one card (at least 2).
    #[arg(long)]
    pub cards: usize,
    /// Requests in flight at once while populating.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Names and RRNs derive from it; use another seed for a second population on one switch.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Whole units credited to every card and wallet.
    #[arg(long, default_value_t = 1_000_000)]
    pub funds_whole: u64,
    /// Where to write the manifest; default `load-manifest.json` next to the credentials.
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    /// A card-issuing partner (`cardswitch partner add`): also issue and fund as many cards
    /// through `/v5/card-api`, for the `issuing_debit` kind.
    #[arg(long, requires = "partner_key")]
    pub partner_auth_id: Option<String>,
    /// The partner's HS512 key, as given to `partner add` (it may begin with `-`).
    #[arg(long, requires = "partner_auth_id", allow_hyphen_values = true)]
    pub partner_key: Option<String>,
}

impl PopulateOptions {
    fn partner(&self) -> Option<PartnerSigner> {
        let (auth_id, key) = (self.partner_auth_id.as_ref()?, self.partner_key.as_ref()?);
        Some(PartnerSigner { auth_id: auth_id.clone(), key: key.as_bytes().to_vec() })
    }
}

/// The manifest path: the one given, else `load-manifest.json` beside the credentials file.
pub fn manifest_path(given: Option<&Path>, credentials: &Path) -> PathBuf {
    given.map_or_else(
        || credentials.with_file_name("load-manifest.json"),
        std::borrow::ToOwned::to_owned,
    )
}

/// The names of one population, all derived from the seed.
#[derive(Debug, Clone)]
struct Names {
    seed: u64,
    funds_whole: u64,
}

impl Names {
    fn tag(&self) -> String {
        format!("ld{}", self.seed)
    }
    fn product(&self) -> String {
        self.tag()
    }
    fn customer(&self, index: usize) -> String {
        format!("{}-c{index}", self.tag())
    }
    fn wallet(&self, index: usize) -> String {
        format!("{}-w{index}", self.tag())
    }
    fn merchant_wallet(&self) -> String {
        format!("{}-merchant", self.tag())
    }
    /// 12 letters or digits: `P`, the seed (4 base-36 digits), the kind, the index (6).
    fn rrn(&self, kind: char, index: usize) -> String {
        let seed = base36(self.seed % 36_u64.pow(4), 4);
        let index = base36(u64::try_from(index).unwrap_or(u64::MAX), 6);
        format!("P{seed}{kind}{index}")
    }
}

/// `value` in base 36, zero-padded to `width` digits (more if it needs them).
pub fn base36(mut value: u64, width: usize) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut digits = Vec::new();
    while value > 0 || digits.len() < width {
        let digit = usize::try_from(value % 36).unwrap_or(0);
        digits.push(char::from(DIGITS[digit]));
        value /= 36;
    }
    digits.iter().rev().collect()
}

/// Runs `populate` and writes the manifest; answers it.
pub async fn populate(options: &PopulateOptions) -> Result<Manifest, LoadError> {
    if !(2..=CARDS_MAX).contains(&options.cards) {
        return Err(LoadError::new(format!("--cards must be 2 to {CARDS_MAX}")));
    }
    let address = parse_url(&options.url)?;
    let names = Names { seed: options.seed, funds_whole: options.funds_whole };
    let context = Arc::new(Context {
        signer: Signer::new(read_credentials(&options.credentials)?),
        partner: options.partner(),
        names: names.clone(),
    });
    let mut session = Session::new(address);
    create_product(&mut session, &context.signer, &names).await?;
    create_merchant_wallet(&mut session, &context.signer, &names).await?;
    let cards = create_all(address, &context, Step::Customer, options).await?;
    let partner_cards = match context.partner {
        Some(_) => create_all(address, &context, Step::PartnerCard, options).await?,
        None => Vec::new(),
    };
    let manifest = Manifest {
        seed: options.seed,
        product: names.product(),
        wallets: (0..options.cards).map(|index| names.wallet(index)).collect(),
        cards,
        merchant_wallet: names.merchant_wallet(),
        funds_whole: options.funds_whole,
        partner_auth_id: context.partner.as_ref().map(|partner| partner.auth_id.clone()),
        partner_cards,
    };
    manifest.write(&manifest_path(options.manifest.as_deref(), &options.credentials))?;
    Ok(manifest)
}

async fn create_product(
    session: &mut Session,
    signer: &Signer,
    names: &Names,
) -> Result<(), LoadError> {
    let body = serde_json::json!({
        "name": names.product(), "code": names.product(), "issuer": 1, "allowPos": true,
        "cardNumberLength": 16, "bin": "455566", "startDate": "2020-01-01", "endDate": "2099-01-01"
    });
    let request = signer.jcard("POST", "/jcard/api/cardproducts".to_owned(), body.to_string());
    session.expect(&request, 201).await.map(|_| ())
}

async fn create_merchant_wallet(
    session: &mut Session,
    signer: &Signer,
    names: &Names,
) -> Result<(), LoadError> {
    let code = names.merchant_wallet();
    let body = serde_json::json!({ "code": code }).to_string();
    session.expect(&signer.jcard("POST", "/jcard/api/wallets".to_owned(), body), 201).await?;
    Ok(())
}

/// What the population workers share.
#[derive(Debug)]
struct Context {
    signer: Signer,
    partner: Option<PartnerSigner>,
    names: Names,
}

/// What one population worker makes for each index.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// A customer with a wallet and a jCard card, both credited.
    Customer,
    /// A card issued and funded through the card-issuing API.
    PartnerCard,
}

/// Makes `step` for every index with `concurrency` workers; answers the card tokens in order.
async fn create_all(
    address: SocketAddr,
    context: &Arc<Context>,
    step: Step,
    options: &PopulateOptions,
) -> Result<Vec<String>, LoadError> {
    let next = Arc::new(AtomicUsize::new(0));
    let label = match step {
        Step::Customer => "customers",
        Step::PartnerCard => "partner cards",
    };
    let progress = Progress::start(label, Some(options.cards));
    let workers: Vec<_> = (0..options.concurrency.clamp(1, 1024))
        .map(|_| {
            let (context, next) = (Arc::clone(context), Arc::clone(&next));
            let (total, done) = (options.cards, progress.counter());
            tokio::spawn(async move {
                let mut session = Session::new(address);
                let mut tokens = Vec::new();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= total {
                        return Ok::<_, LoadError>(tokens);
                    }
                    let token = match step {
                        Step::Customer => customer(&mut session, &context, index).await?,
                        Step::PartnerCard => partner_card(&mut session, &context).await?,
                    };
                    tokens.push((index, token));
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let mut tokens = Vec::with_capacity(options.cards);
    for worker in workers {
        let made = worker.await.map_err(|error| LoadError::new(error.to_string()))?;
        tokens.extend(made?);
    }
    progress.finish();
    tokens.sort_unstable();
    Ok(tokens.into_iter().map(|(_, token)| token).collect())
}

/// A card issued through the card-issuing API and funded; answers its token.
async fn partner_card(session: &mut Session, context: &Context) -> Result<String, LoadError> {
    let partner =
        context.partner.as_ref().ok_or_else(|| LoadError::new("no partner to issue cards"))?;
    let product = context.names.product();
    let fields = serde_json::json!({"first_name": "Load", "last_name": "Partner",
        "phone": "5550100", "card_product": product, "currency": 840});
    let token = session.expect(&partner.request("cards/issue", fields), 200).await?["card_token"]
        .as_str()
        .ok_or_else(|| LoadError::new("a partner card was issued without a token"))?
        .to_owned();
    let fields = serde_json::json!({"card_token": token, "amount": context.names.funds_whole,
        "currency": 840});
    session.expect(&partner.request("transactions/fund", fields), 200).await?;
    Ok(token)
}

/// One customer with its wallet (credited) and an active, credited card; answers the token.
async fn customer(
    session: &mut Session,
    context: &Context,
    index: usize,
) -> Result<String, LoadError> {
    let (signer, names) = (&context.signer, &context.names);
    let (real_id, wallet) = (names.customer(index), names.wallet(index));
    let body = serde_json::json!({"realId": real_id, "firstName": "Load", "lastName": "Test",
        "institutionId": "1", "walletCode": wallet, "phone": wallet});
    let path = "/jcard/api/customers?createWallet=true".to_owned();
    session.expect(&signer.jcard("POST", path, body.to_string()), 201).await?;
    let body = serde_json::json!({"cardHolder": real_id, "cardProduct": names.product(),
        "bin": "455566", "expiration": "209912", "serviceCode": "101"});
    let issue = signer.jcard("POST", "/jcard/api/cards".to_owned(), body.to_string());
    let token = session.expect(&issue, 201).await?["token"]
        .as_str()
        .ok_or_else(|| LoadError::new("a card was issued without a token"))?
        .to_owned();
    let path = format!("/jcard/api/cards/{token}/activate");
    session.expect(&signer.jcard("PUT", path, String::new()), 200).await?;
    let funds = names.funds_whole;
    let body = serde_json::json!({"amount": funds, "currency": 840, "channel": "jcard",
        "rrn": names.rrn('c', index), "description": "load funds"});
    let path = format!("/jcard/api/cards/{token}/credit");
    session.expect(&signer.jcard("POST", path, body.to_string()), 201).await?;
    let body = serde_json::json!({"amount": funds, "currency": "840",
        "rrn": names.rrn('w', index), "type": "cashInA2W"});
    let path = format!("/jcard/api/wallets/{wallet}/credit");
    session.expect(&signer.jcard("POST", path, body.to_string()), 200).await?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_rrns_derive_from_the_seed() {
        let names = Names { seed: 7, funds_whole: 1 };
        assert_eq!(names.rrn('c', 35), "P0007c00000z");
        assert_eq!(names.rrn('w', 0).len(), 12);
        assert_eq!(names.wallet(3), "ld7-w3");
        assert_eq!(base36(36, 1), "10");
        assert_eq!(
            manifest_path(None, Path::new("d/admin-credentials")),
            Path::new("d/load-manifest.json")
        );
    }
}
