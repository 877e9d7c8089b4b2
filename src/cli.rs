//! The command line: `serve`, `consumer add`, `partner add`, `token issue`, `verify`,
//! `backup`, `restore`, `load`. Start-up code, so errors are `anyhow`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use base64::Engine as _;
use clap::{Parser, Subcommand};
use uuid::Uuid;

use crate::bearer::{self, BearerClaims, BearerKey, BearerScope};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::core::command::{Command, NewConsumer, Outcome, ADMIN_PERMISSION};
use crate::core::keys::{self, MasterKey, SecretBytes, MASTER_KEY_FILE};
use crate::core::{backup, verify, Core, CoreSettings};
use crate::files;
use crate::http::App;
use crate::metrics::Metrics;
use crate::store::Store;

/// Name of the file holding the admin consumer's credentials in the data directory.
pub const ADMIN_CREDENTIALS_FILE: &str = "admin-credentials";

#[derive(Debug, Parser)]
#[command(name = "cardswitch", version, about = "A self-contained card switch")]
pub struct Cli {
    #[command(subcommand)]
    pub command: CliCommand,
}

#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Run the switch (initializes an empty data directory first).
    Serve {
        /// Configuration file; the built-in defaults if it is missing.
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
        /// Data directory (overrides the configuration).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Listen address (overrides the configuration).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Manage jCard API consumers of a stopped switch.
    Consumer {
        #[command(subcommand)]
        command: ConsumerCommand,
    },
    /// Manage card-issuing API partners of a stopped switch.
    Partner {
        #[command(subcommand)]
        command: PartnerCommand,
    },
    /// Issue bearer tokens for the point-of-sale dialects (`/cardapi`, `/rest/v3`).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Audit a stopped data directory; exits non-zero on any violation.
    Verify {
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
    /// Back up a stopped switch's store to a new file (versioned, CRC32-framed). The master
    /// key is not in it: keep `master.key` apart; `restore` needs it.
    Backup {
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// The backup file to create; an existing file is never replaced.
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a backup into a new or empty data directory, after checking all of it.
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
        /// The data directory to create (it must not exist or be empty).
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// The backed-up directory's `master.key`, kept apart from the backup; it is copied
        /// into the restored directory.
        #[arg(long)]
        master_key: PathBuf,
    },
    /// Generate load against a running switch: populate a data set, then run a request mix.
    Load {
        #[command(subcommand)]
        command: LoadCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum LoadCommand {
    /// Create a card product, customers with wallets and active cards, all funded, and write
    /// the manifest `run` reads.
    Populate(crate::load::PopulateOptions),
    /// Drive the switch with signed requests (closed loop, or open loop with `--rate`) and
    /// print throughput, latency percentiles and declines by reason.
    Run(crate::load::RunOptions),
    /// Time small writes each followed by fdatasync in a data directory, with no switch
    /// running: the disk's own floor under a durable request's latency.
    Disk(crate::load::DiskOptions),
}

/// Longest lifetime a bearer token may be given: one year.
pub const TOKEN_TTL_S_MAX: i64 = 366 * 24 * 3600;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print an HS256 bearer token signed with the data directory's key. Needs only the key
    /// file, so it works while the switch runs.
    Issue {
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// `cashback` (search and debit passes), `giftcard` (gift-card history) or `admin`
        /// (groups, stores, points of sale, passes, cashback credits).
        #[arg(long)]
        scope: BearerScope,
        /// Only this merchant group.
        #[arg(long)]
        group_id: Option<u64>,
        /// Only these stores (repeat the option for several).
        #[arg(long)]
        store_id: Vec<u64>,
        /// Lifetime in seconds, 1 to one year.
        #[arg(long, value_parser = clap::value_parser!(i64).range(1..=TOKEN_TTL_S_MAX))]
        ttl_s: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum PartnerCommand {
    /// Register a partner: its `auth_id` and the key its HS512 signatures use (the key's
    /// bytes as given, e.g. `secret`).
    Add {
        #[arg(long, default_value = "data")]
        data: PathBuf,
        #[arg(long)]
        auth_id: String,
        /// Any bytes, so it may begin with `-` (URL-safe random keys do).
        #[arg(long, allow_hyphen_values = true)]
        key: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConsumerCommand {
    /// Add a consumer with its HMAC secret and permissions.
    Add {
        #[arg(long, default_value = "data")]
        data: PathBuf,
        #[arg(long)]
        id: Uuid,
        /// The secret, Base64; its decoded bytes are the HMAC key.
        #[arg(long)]
        secret: String,
        /// Comma-separated permissions; `admin` grants everything.
        #[arg(long, value_delimiter = ',')]
        permissions: Vec<String>,
    },
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cardswitch: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("cardswitch: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        CliCommand::Serve { config, data, listen } => {
            serve(&config, data, listen).await.map(|()| ExitCode::SUCCESS)
        }
        CliCommand::Consumer {
            command: ConsumerCommand::Add { data, id, secret, permissions },
        } => consumer_add(&data, id, &secret, permissions).await.map(|()| ExitCode::SUCCESS),
        CliCommand::Partner { command: PartnerCommand::Add { data, auth_id, key } } => {
            partner_add(&data, auth_id, key).await.map(|()| ExitCode::SUCCESS)
        }
        CliCommand::Token {
            command: TokenCommand::Issue { data, scope, group_id, store_id, ttl_s },
        } => token_issue(&data, scope, group_id, store_id, ttl_s).map(|()| ExitCode::SUCCESS),
        CliCommand::Verify { data } => verify(&data),
        CliCommand::Backup { data, out } => backup(&data, &out).map(|()| ExitCode::SUCCESS),
        CliCommand::Restore { from, data, master_key } => {
            restore(&from, &data, &master_key).map(|()| ExitCode::SUCCESS)
        }
        CliCommand::Load { command: LoadCommand::Populate(options) } => {
            let manifest = crate::load::populate(&options).await?;
            println!(
                "populated {} cards and wallets (seed {})",
                manifest.cards.len(),
                manifest.seed
            );
            Ok(ExitCode::SUCCESS)
        }
        CliCommand::Load { command: LoadCommand::Run(options) } => {
            crate::load::run(&options).await?;
            Ok(ExitCode::SUCCESS)
        }
        CliCommand::Load { command: LoadCommand::Disk(options) } => {
            tokio::task::spawn_blocking(move || crate::load::disk::run(&options)).await??;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn serve(
    config_path: &Path,
    data: Option<PathBuf>,
    listen: Option<SocketAddr>,
) -> anyhow::Result<()> {
    let must_exist = config_path != Path::new("config.toml");
    let mut config = Config::load(config_path, must_exist)?;
    if let Some(data) = data {
        config.data_dir = data;
    }
    if let Some(listen) = listen {
        config.listen = listen;
    }
    init_tracing(&config.log_filter);
    let core = open_core(&config.data_dir, &config)?;
    warn_if_shared(&config.data_dir);
    if !core.is_initialized() {
        initialize(&core, &config.data_dir).await?;
    }
    let shutdown = shutdown_signal()?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, data_dir = %config.data_dir.display(), "cardswitch listening");
    println!("cardswitch listening on http://{address}");
    let app = App::new(core, config.http.clone());
    crate::server::run(listener, app, shutdown).await?;
    tracing::info!("cardswitch stopped; everything acknowledged is durable");
    Ok(())
}

fn token_issue(
    data: &Path,
    scope: BearerScope,
    group_id: Option<u64>,
    store_ids: Vec<u64>,
    ttl_s: i64,
) -> anyhow::Result<()> {
    files::create_private_dir(data)
        .with_context(|| format!("cannot create the data directory {}", data.display()))?;
    let master = MasterKey::load_or_create(data)
        .with_context(|| format!("cannot read the key of {}", data.display()))?;
    let now_s = SystemClock.now_ms().div_euclid(1000);
    let claims = BearerClaims {
        scope,
        group_id,
        store_ids,
        iat: now_s,
        exp: now_s + ttl_s,
        jti: Uuid::new_v4().to_string(),
    };
    println!("{}", bearer::issue(&BearerKey::derive(&master), &claims));
    Ok(())
}

/// One log line when the data directory lets its group or others in: the switch still starts
/// (the operator may mean it), but says which directory and which mode.
fn warn_if_shared(data_dir: &Path) {
    match keys::shared_mode(data_dir) {
        Ok(Some(mode)) => tracing::warn!(
            data_dir = %data_dir.display(),
            mode = %format!("{mode:o}"),
            "the data directory is open to its group or others (mode {mode:o}); it holds the master key and the store: chmod 700 it"
        ),
        Ok(None) => {}
        Err(error) => {
            tracing::warn!(data_dir = %data_dir.display(), %error, "cannot read the data directory's mode")
        }
    }
}

fn open_core(data_dir: &Path, config: &Config) -> anyhow::Result<Core> {
    let metrics = Arc::new(Metrics::new());
    Core::open(data_dir, Arc::new(SystemClock), metrics, CoreSettings::from_config(config))
        .with_context(|| format!("cannot open the data directory {}", data_dir.display()))
}

/// Creates the default chart and the admin consumer, writing its credentials first so that
/// they can never be lost once committed.
async fn initialize(core: &Core, data_dir: &Path) -> anyhow::Result<()> {
    let admin = NewConsumer::unscoped(
        Uuid::new_v4(),
        SecretBytes::new(keys::random_bytes(32)?),
        vec![ADMIN_PERMISSION.to_owned()],
    );
    let secret = base64::engine::general_purpose::STANDARD.encode(admin.secret.expose());
    let path = data_dir.join(ADMIN_CREDENTIALS_FILE);
    let text = format!(
        "consumer-id = \"{}\"\nsecret = \"{secret}\"\npermissions = \"{ADMIN_PERMISSION}\"\n",
        admin.id
    );
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            return Err(error).with_context(|| format!("cannot replace {}", path.display()))
        }
    }
    files::write_private_file(&path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    let id = admin.id;
    if core.initialize(admin).await? {
        println!("cardswitch: initialized {}", data_dir.display());
        println!("admin consumer-id: {id}");
        println!("admin secret: {secret}");
        println!("(written to {} with mode 0600; it is not printed again)", path.display());
    }
    Ok(())
}

async fn consumer_add(
    data: &Path,
    id: Uuid,
    secret: &str,
    permissions: Vec<String>,
) -> anyhow::Result<()> {
    let secret = base64::engine::general_purpose::STANDARD
        .decode(secret.trim())
        .context("--secret must be Base64")?;
    if secret.is_empty() || secret.len() > keys::WRAPPED_SECRET_BYTES_MAX {
        bail!("--secret must decode to 1 to {} bytes", keys::WRAPPED_SECRET_BYTES_MAX);
    }
    let permissions: Vec<String> = permissions
        .into_iter()
        .map(|permission| permission.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    if permissions.is_empty() {
        bail!("--permissions must name at least one permission");
    }
    let core = open_core(data, &Config::default())?;
    let consumer = NewConsumer::unscoped(id, SecretBytes::new(secret), permissions);
    let outcome = core.execute(Command::AddConsumer(consumer), None).await;
    core.shutdown().await?;
    match outcome? {
        Outcome::ConsumerAdded => {
            println!("consumer {id} added");
            Ok(())
        }
        other => bail!("consumer {id} not added: {other:?}"),
    }
}

async fn partner_add(data: &Path, auth_id: String, key: String) -> anyhow::Result<()> {
    let auth_id = auth_id.trim().to_owned();
    if auth_id.is_empty() || auth_id.len() > 64 || auth_id.chars().any(char::is_control) {
        bail!("--auth-id must be 1 to 64 printable characters");
    }
    if key.is_empty() || key.len() > keys::WRAPPED_SECRET_BYTES_MAX {
        bail!("--key must be 1 to {} bytes", keys::WRAPPED_SECRET_BYTES_MAX);
    }
    let core = open_core(data, &Config::default())?;
    let command =
        Command::AddPartner { auth_id: auth_id.clone(), key: SecretBytes::new(key.into_bytes()) };
    let outcome = core.execute(command, None).await;
    core.shutdown().await?;
    match outcome? {
        Outcome::PartnerAdded => {
            println!("partner {auth_id} added");
            Ok(())
        }
        other => bail!("partner {auth_id} not added: {other:?}"),
    }
}

fn verify(data: &Path) -> anyhow::Result<ExitCode> {
    let keys = MasterKey::load(data)?;
    let Some(store) = Store::open_existing(data)
        .context("cannot open the store (is the switch still running?)")?
    else {
        bail!("{} holds no store", data.display());
    };
    let report = verify::audit_data_dir(data, &store, &keys)?;
    println!(
        "accounts: {}\ntransactions: {}\nentries: {}\nconsumers: {}\nsysconfig entries: {}",
        report.accounts,
        report.transactions,
        report.entries,
        report.consumers,
        report.sysconfig_entries
    );
    for problem in &report.problems {
        println!("VIOLATION: {problem}");
    }
    if report.is_clean() {
        println!("verify: ok");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("verify: {} violation(s)", report.problems.len());
        Ok(ExitCode::FAILURE)
    }
}

fn backup(data: &Path, out: &Path) -> anyhow::Result<()> {
    let summary = backup::backup_data_dir(data, out, SystemClock.now_ms())
        .with_context(|| format!("backup of {} refused", data.display()))?;
    println!(
        "backup: {} records, {} bytes written to {} and read back: ok",
        summary.records,
        summary.bytes,
        out.display()
    );
    println!("the master key is not in the backup: keep {} apart", MASTER_KEY_FILE);
    Ok(())
}

fn restore(from: &Path, data: &Path, master_key: &Path) -> anyhow::Result<()> {
    let report = backup::restore_data_dir(from, data, master_key)
        .with_context(|| format!("restore of {} refused; nothing was written", from.display()))?;
    println!(
        "restore: {} records into {}; audit: {} accounts, {} transactions, {} entries: ok",
        report.backup.records,
        data.display(),
        report.audit.accounts,
        report.audit.transactions,
        report.audit.entries
    );
    Ok(())
}

fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    // Logs go to stderr: stdout carries only what `serve` prints for the operator (the
    // listening address, the first start's credentials), so the two never mix.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}

/// A future that completes on SIGINT or SIGTERM. The handlers are installed before this
/// returns, so a signal that arrives right after start-up is not missed.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => tracing::info!("SIGINT received; stopping"),
                _ = terminate.recv() => tracing::info!("SIGTERM received; stopping"),
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("interrupt received; stopping");
        })
    }
}
