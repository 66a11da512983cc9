//! The command line, exactly as `docs/cli.md` fixes it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A headless Carelog clinic node.
#[derive(Parser, Debug)]
#[command(
    name = "carelog",
    version,
    about = "Carelog: a patient-owned clinical record, offline first"
)]
pub struct Cli {
    /// The clinic home (defaults to $CARELOG_HOME, then the platform data directory).
    #[arg(long, global = true, env = "CARELOG_HOME")]
    pub home: Option<PathBuf>,
    /// Print exactly one JSON object on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Acting as a user.
#[derive(Args, Debug, Clone)]
pub struct Actor {
    /// The user acting: a user id or a unique name (patients by id or card number; their card
    /// in $CARELOG_CARD).
    #[arg(long = "as", value_name = "USER")]
    pub user: String,
}

/// Every command.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a network, or ask to join one.
    Network {
        #[command(subcommand)]
        command: NetworkCommand,
    },
    /// Clinics joining the network.
    Clinic {
        #[command(subcommand)]
        command: ClinicCommand,
    },
    /// The machines of this clinic: pairing a new one, listing and removing them.
    Device {
        #[command(subcommand)]
        command: DeviceCommand,
    },
    /// Staff users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Patients.
    Patient {
        #[command(subcommand)]
        command: PatientCommand,
    },
    /// Add a doctor to a patient's attention list.
    Assign {
        #[command(flatten)]
        actor: Actor,
        /// The patient id.
        #[arg(long)]
        patient: String,
        /// The doctor (id or unique name).
        #[arg(long)]
        doctor: String,
        /// Make the doctor the custodian (family doctor, full access).
        #[arg(long)]
        custodian: bool,
    },
    /// Chart entries.
    Chart {
        #[command(subcommand)]
        command: ChartCommand,
    },
    /// Patients the user may open, with level.
    Patients {
        #[command(flatten)]
        actor: Actor,
    },
    /// A lab's worklist: the outstanding orders of its clinic's patients (each look audited).
    Orders {
        #[command(flatten)]
        actor: Actor,
    },
    /// Access requests, grants and revocations.
    Access {
        #[command(subcommand)]
        command: AccessCommand,
    },
    /// Doctors and labs of the network a patient may grant, by clinic and name.
    Directory {
        #[command(flatten)]
        actor: Actor,
        /// Words that start the name, specialty or clinic (accents and case ignored).
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Emergency full access, recorded and flagged.
    Breakglass {
        #[command(flatten)]
        actor: Actor,
        /// The patient id.
        #[arg(long)]
        patient: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Every read, write, grant, revoke and break-glass on a patient's record.
    Audit {
        #[command(flatten)]
        actor: Actor,
        /// The patient id.
        #[arg(long)]
        patient: String,
        /// Only what others did since you last read the record yourself (a patient's visit).
        #[arg(long)]
        new: bool,
    },
    /// A record's break-glass openings and who reviewed them; with --opening, review one.
    Review {
        #[command(flatten)]
        actor: Actor,
        /// The patient id.
        #[arg(long)]
        patient: String,
        /// The opening to review (its id, as listed).
        #[arg(long, requires = "note")]
        opening: Option<String>,
        /// What the reviewer notes.
        #[arg(long, requires = "opening")]
        note: Option<String>,
    },
    /// The ledger replica.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Run the node with QUIC sync until SIGINT/SIGTERM; reconnects to peers.
    Serve {
        /// Where to listen (e.g. 0.0.0.0:7400).
        #[arg(long)]
        listen: std::net::SocketAddr,
        /// Peers to keep connected to (also the home's known peers).
        #[arg(long = "peer")]
        peers: Vec<std::net::SocketAddr>,
    },
    /// Connect to a peer, exchange until both sides hold the same blocks, exit.
    Sync {
        /// The peer's address.
        #[arg(long)]
        peer: std::net::SocketAddr,
    },
    /// Online state, peers, pending blocks, last sync (with --as: new records from other clinics).
    Status {
        /// Also list records that arrived for this user's patients since they last asked.
        #[arg(long = "as", value_name = "USER")]
        user: Option<String>,
    },
    /// A chart as HL7 v2.5 ORU^R01 or a FHIR R4 Bundle, on stdout.
    Export {
        /// hl7 or fhir.
        format: String,
        #[command(flatten)]
        actor: Actor,
        /// The patient id.
        #[arg(long)]
        patient: String,
    },
    /// Results from an HL7 ORU^R01 message or a FHIR R4 Bundle into the chart of the patient it names.
    Import {
        /// hl7 or fhir.
        format: String,
        #[command(flatten)]
        actor: Actor,
        /// The message or bundle file.
        file: PathBuf,
    },
    /// Proxies: a parent, guardian or carer who acts for a patient.
    Proxy {
        #[command(subcommand)]
        command: ProxyCommand,
    },
    /// The patient-carried bundle, for a clinic with no link.
    Bundle {
        #[command(subcommand)]
        command: BundleCommand,
    },
    /// Write the whole home to one file sealed under a passphrase ($CARELOG_NEW_PASSPHRASE).
    Backup {
        /// Where to write the backup.
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a backup into an empty home (passphrase from $CARELOG_PASSPHRASE).
    Restore {
        /// The backup file.
        file: PathBuf,
        /// This clinic has no peers: seal again at once. Otherwise the restored home seals
        /// nothing until a sync has brought the blocks it sealed after the backup.
        #[arg(long)]
        no_peers: bool,
    },
    /// Rebuild this clinic's replica from peers when its database is lost or damaged: sets the
    /// damaged file aside, fetches and checks every block, puts the users' key stores back.
    Recover {
        /// A peer to fetch from (repeat for several; each must answer).
        #[arg(long = "peer", required = true)]
        peers: Vec<std::net::SocketAddr>,
        /// The network id, for homes that keep no genesis.block (made before it was kept).
        #[arg(long)]
        network: Option<String>,
    },
    /// Three clinic homes with staff, patients and charts, told as a story.
    Demo {
        /// Where to create the three homes.
        #[arg(long)]
        dir: PathBuf,
    },
    /// The headless node as a system service (systemd).
    Service {
        #[command(subcommand)]
        command: crate::service::ServiceCommand,
    },
}

/// `network …`
#[derive(Subcommand, Debug)]
pub enum NetworkCommand {
    /// In an empty home: health authority, genesis, this clinic and its first admin.
    Create {
        /// The network's name.
        #[arg(long)]
        network: String,
        /// This clinic's name.
        #[arg(long)]
        clinic: String,
        /// The first admin's name (passphrase from $CARELOG_NEW_PASSPHRASE).
        #[arg(long)]
        admin: String,
    },
}

/// `device …`
#[derive(Subcommand, Debug)]
pub enum DeviceCommand {
    /// In an empty home: this machine's node keys and a pairing request, with a code to compare
    /// on the admin's screen.
    Pair {
        /// Where to write the request.
        #[arg(long)]
        out: PathBuf,
        /// A name to tell this machine apart (default: its host name).
        #[arg(long)]
        name: Option<String>,
    },
    /// On a machine of the clinic: enroll the device of a pairing request and write its invite.
    Approve {
        /// The pairing request file.
        file: PathBuf,
        #[command(flatten)]
        actor: Actor,
        /// Where to write the invite.
        #[arg(long)]
        out: PathBuf,
        /// staff, kiosk or gateway.
        #[arg(long, default_value = "staff")]
        role: String,
        /// Peer addresses the device should sync with (default: this home's peers).
        #[arg(long = "peer")]
        peers: Vec<String>,
    },
    /// In the paired home: store the network and the clinic from the invite, then sync.
    Join {
        /// The invite file.
        invite: PathBuf,
    },
    /// The clinic's machines.
    List,
    /// Remove a device (lost, stolen, retired): it is refused from then on and the clinic's
    /// records get new keys without it.
    Remove {
        #[command(flatten)]
        actor: Actor,
        /// The device id.
        #[arg(long)]
        device: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
}

/// `clinic …`
#[derive(Subcommand, Debug)]
pub enum ClinicCommand {
    /// In an empty home: node and admin keys, and a signed join request.
    Request {
        /// This clinic's name.
        #[arg(long)]
        clinic: String,
        /// The first admin's name (passphrase from $CARELOG_NEW_PASSPHRASE).
        #[arg(long)]
        admin: String,
        /// Where to write the request.
        #[arg(long)]
        out: PathBuf,
    },
    /// On the founding home: enroll a requesting clinic and write its invite.
    Approve {
        /// The join request file.
        file: PathBuf,
        /// Where to write the invite.
        #[arg(long)]
        out: PathBuf,
        /// Peer addresses the new clinic should sync with.
        #[arg(long = "peer")]
        peers: Vec<String>,
    },
    /// In the requesting home: store the network from the invite.
    Join {
        /// The invite file.
        invite: PathBuf,
    },
    /// On the founding home: suspend a clinic (its later blocks and handshakes are refused,
    /// its patients' keys rotate without it).
    Suspend {
        /// The clinic (id or name).
        #[arg(long)]
        clinic: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// On the founding home: lift a clinic's suspension.
    Reinstate {
        /// The clinic (id or name).
        #[arg(long)]
        clinic: String,
    },
    /// On the founding home: give a clinic new node keys from the join request its new
    /// machine wrote (`clinic request`), when its node key was lost or stolen.
    ReplaceKey {
        /// The join request file from the clinic's new machine.
        file: PathBuf,
        /// The clinic whose keys are replaced (id or name).
        #[arg(long)]
        clinic: String,
        /// Where to write the invite for the new machine.
        #[arg(long)]
        out: PathBuf,
        /// Peer addresses the new machine should sync with.
        #[arg(long = "peer")]
        peers: Vec<String>,
        /// Why.
        #[arg(long)]
        reason: String,
    },
}

/// `user …`
#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Enroll staff at this clinic (passphrase from $CARELOG_NEW_PASSPHRASE).
    Add {
        #[command(flatten)]
        actor: Actor,
        /// doctor, lab or admin.
        #[arg(long)]
        role: String,
        /// The user's name.
        #[arg(long)]
        name: String,
        /// A doctor's specialty.
        #[arg(long)]
        specialty: Option<String>,
    },
    /// Disable a staff user of this clinic: they can no longer sign in or act, and the keys
    /// of the records they could open rotate without them.
    Disable {
        #[command(flatten)]
        actor: Actor,
        /// The user (id or unique name).
        #[arg(long = "user", value_name = "USER")]
        target: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// New keys for a staff user of this clinic whose keys were lost or stolen, or who forgot
    /// their passphrase (the user types the new one into $CARELOG_NEW_PASSPHRASE or the prompt).
    ReplaceKey {
        #[command(flatten)]
        actor: Actor,
        /// The user (id or unique name).
        #[arg(long = "user", value_name = "USER")]
        target: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Change your own passphrase (old in $CARELOG_PASSPHRASE, new in $CARELOG_NEW_PASSPHRASE).
    Passphrase {
        #[command(flatten)]
        actor: Actor,
    },
}

/// `proxy …`
#[derive(Subcommand, Debug)]
pub enum ProxyCommand {
    /// Add a proxy who acts for the patient with a card and PIN of their own (the PIN from
    /// $CARELOG_NEW_PASSPHRASE); by an admin of the patient's clinic.
    Add {
        #[command(flatten)]
        actor: Actor,
        /// The patient id or card number.
        #[arg(long)]
        patient: String,
        /// The proxy's name (sealed: only those who may read the record read it).
        #[arg(long)]
        name: String,
    },
}

/// `patient …`
#[derive(Subcommand, Debug)]
pub enum PatientCommand {
    /// Register a patient (PIN from $CARELOG_NEW_PASSPHRASE).
    Register {
        #[command(flatten)]
        actor: Actor,
        /// Full name (sealed; never stored in the clear).
        #[arg(long)]
        name: String,
        /// YYYY-MM-DD.
        #[arg(long)]
        birth_date: String,
        /// female, male or other.
        #[arg(long)]
        sex: String,
        /// Register even though a patient with the same birth date and a similar name is
        /// registered (after checking it is someone else).
        #[arg(long)]
        not_duplicate: bool,
    },
    /// Patients whose names this clinic may read, best match first.
    Find {
        #[command(flatten)]
        actor: Actor,
        /// Words that start parts of the name, in any order (accents and case ignored); or a
        /// card number or patient id.
        #[arg(long, default_value = "")]
        name: String,
        /// YYYY-MM-DD.
        #[arg(long)]
        birth_date: Option<String>,
    },
    /// New keys for a patient whose keys or card were lost: two of the admin of the clinic of
    /// record, the custodian and the health authority must ask for them (the patient types the
    /// new PIN into $CARELOG_NEW_PASSPHRASE or the prompt where the first asks).
    ReplaceKey {
        #[command(flatten)]
        actor: Actor,
        /// The patient id.
        #[arg(long)]
        patient: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// The patient moves their record to another clinic (as the patient).
    Move {
        #[command(flatten)]
        actor: Actor,
        /// The new clinic of record (id or name).
        #[arg(long)]
        to: String,
    },
    /// The patient changes their PIN (card in $CARELOG_CARD, old PIN in $CARELOG_PASSPHRASE,
    /// new PIN in $CARELOG_NEW_PASSPHRASE).
    Pin {
        #[command(flatten)]
        actor: Actor,
    },
    /// The printable card (PDF), from the patient's card in $CARELOG_CARD (Carelog keeps no
    /// copy of its secret; a lost card is replaced with `patient replace-key`).
    Card {
        #[command(flatten)]
        actor: Actor,
        /// The patient id or card number.
        #[arg(long)]
        patient: String,
        /// Where to write the PDF.
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

/// `chart …`
#[derive(Subcommand, Debug)]
pub enum ChartCommand {
    /// Add an entry.
    Add {
        #[command(flatten)]
        actor: Actor,
        /// The patient id.
        #[arg(long)]
        patient: String,
        /// vitals, lab, note, condition, allergy, medication, encounter, order or immunization
        /// (demographics only with --amends, to correct them).
        #[arg(long)]
        kind: String,
        /// The entry as JSON (or @FILE).
        #[arg(long)]
        data: String,
        /// The entry this one corrects.
        #[arg(long)]
        amends: Option<String>,
        /// The encounter (visit) this entry was written in.
        #[arg(long, value_name = "ENTRY")]
        encounter: Option<String>,
        /// Prescribe a drug that matches a recorded allergy anyway, for this reason.
        #[arg(long = "override", value_name = "REASON")]
        allergy_override: Option<String>,
    },
    /// Print a document from the chart as a PDF: a visit summary, a referral letter, a
    /// prescription, or the patient's summary of their record (recorded as a read).
    Print {
        #[command(flatten)]
        actor: Actor,
        /// The patient id or card number.
        #[arg(long)]
        patient: String,
        /// visit, referral, prescription or summary.
        #[arg(long, value_name = "DOCUMENT")]
        document: String,
        /// The visit to summarise (its encounter entry); the latest when left out.
        #[arg(long, value_name = "ENTRY")]
        visit: Option<String>,
        /// For a referral: to whom.
        #[arg(long)]
        to: Option<String>,
        /// For a referral: why.
        #[arg(long)]
        reason: Option<String>,
        /// Where to write the PDF (readable by its owner only).
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Show the chart as the user may see it (recorded as a read).
    Show {
        #[command(flatten)]
        actor: Actor,
        /// The patient id.
        #[arg(long)]
        patient: String,
    },
}

/// `access …`
#[derive(Subcommand, Debug)]
pub enum AccessCommand {
    /// Ask for access.
    Request {
        #[command(flatten)]
        actor: Actor,
        /// The patient id.
        #[arg(long)]
        patient: String,
        /// information, sample or full.
        #[arg(long)]
        level: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Pending requests the user may decide.
    Requests {
        #[command(flatten)]
        actor: Actor,
        /// Only this patient.
        #[arg(long)]
        patient: Option<String>,
    },
    /// Grant a level (answers a pending request).
    Grant {
        #[command(flatten)]
        actor: Actor,
        /// The patient id.
        #[arg(long)]
        patient: String,
        /// Who receives access.
        #[arg(long)]
        to: String,
        /// information, sample or full.
        #[arg(long)]
        level: String,
        /// When the grant ends (YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        expires: Option<String>,
    },
    /// Refuse a pending request.
    Refuse {
        #[command(flatten)]
        actor: Actor,
        /// The patient id.
        #[arg(long)]
        patient: String,
        /// The request id.
        #[arg(long)]
        request: String,
    },
    /// Revoke a reader and rotate the patient's key.
    Revoke {
        #[command(flatten)]
        actor: Actor,
        /// The patient id.
        #[arg(long)]
        patient: String,
        /// Who loses access.
        #[arg(long)]
        from: String,
    },
}

/// `bundle …`
#[derive(Subcommand, Debug)]
pub enum BundleCommand {
    /// Write the patient's signed bundle (as the patient: id and PIN).
    Export {
        #[command(flatten)]
        actor: Actor,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
    /// Validate and merge a bundle.
    Import {
        /// The bundle file.
        file: PathBuf,
    },
}

/// `ledger …`
#[derive(Subcommand, Debug)]
pub enum LedgerCommand {
    /// Re-check every block and transaction from genesis.
    Verify,
    /// Size and head of the replica.
    Stats,
    /// Proof of clinics that sealed two blocks at one height (equivocation), each re-checked.
    Evidence,
}
