//! The typed boundary between the desktop window (`ui`, compiled to wasm) and the app shell
//! (`src-tauri`): the name of every command, what it takes and what it returns.
//!
//! A command takes at most one argument, `args`, of the struct named after it, and answers with
//! either its result or a [`Failure`] — a sentence for the person at the screen, never a trace.
//!
//! ```
//! use carelog_desktop_api::{SignIn, commands};
//! let args = SignIn { user_id: "ab12".into(), passphrase: "secret".into() };
//! assert_eq!(commands::SIGN_IN, "sign_in");
//! # let _ = args;
//! ```

pub use carelog_vocab::{AccessLevel, EntryKind};
use serde::{Deserialize, Serialize};

/// Command names, as registered by the shell and invoked by the window.
pub mod commands {
    /// `() -> HomeInfo`
    pub const HOME_INFO: &str = "home_info";
    /// `CreateNetwork -> HomeInfo`
    pub const CREATE_NETWORK: &str = "create_network";
    /// `() -> HomeInfo`
    pub const OPEN_DEMO: &str = "open_demo";
    /// `() -> StatusBar`
    pub const STATUS: &str = "status";
    /// `ExportChart -> Exported` (saved 0600 where the person chose, audited as a read)
    pub const EXPORT_CHART: &str = "export_chart";
    /// `ChooseExportFile -> Option<String>` (the system's save dialog; `None` if cancelled)
    pub const CHOOSE_EXPORT_FILE: &str = "choose_export_file";
    /// `UnlockHome -> HomeInfo` (opens a home sealed under a node passphrase)
    pub const UNLOCK_HOME: &str = "unlock_home";
    /// `() -> ()` (the person at the window touched it: the idle lock counts from now)
    pub const ACTIVITY: &str = "activity";
    /// `SetKiosk -> ()` (the window becomes the patients' kiosk, or stops being one)
    pub const SET_KIOSK: &str = "set_kiosk";
    /// `ChangePassphrase -> ()` (the signed-in staff member's own passphrase)
    pub const CHANGE_PASSPHRASE: &str = "change_passphrase";
    /// `ChangePin -> ()` (the signed-in patient's own PIN, at the kiosk)
    pub const CHANGE_PIN: &str = "change_pin";
    /// `ImportRecords -> Imported`
    pub const IMPORT_RECORDS: &str = "import_records";
    /// `RequestJoin -> HomeInfo` (writes the signed join request; `join_request` says where)
    pub const REQUEST_JOIN: &str = "request_join";
    /// `JoinNetwork -> HomeInfo`
    pub const JOIN_NETWORK: &str = "join_network";
    /// `ApproveClinic -> SavedFile` (the invite; admins of the home that founded the network)
    pub const APPROVE_CLINIC: &str = "approve_clinic";
    /// `() -> SyncNow` (wakes every link, waits a few seconds for the round)
    pub const SYNC_NOW: &str = "sync_now";
    /// `() -> Vec<StaffMember>` (this clinic's staff, for the sign-in list)
    pub const STAFF: &str = "staff";
    /// `SignIn -> Me`
    pub const SIGN_IN: &str = "sign_in";
    /// `KioskSignIn -> Me`
    pub const KIOSK_SIGN_IN: &str = "kiosk_sign_in";
    /// `() -> ()`
    pub const SIGN_OUT: &str = "sign_out";
    /// `() -> Vec<PatientRow>`
    pub const MY_PATIENTS: &str = "my_patients";
    /// `OpenChart -> ChartScreen`
    pub const CHART: &str = "chart";
    /// `NewEntry -> String` (the new entry's id)
    pub const ADD_ENTRY: &str = "add_entry";
    /// `AskAccess -> ()`
    pub const REQUEST_ACCESS: &str = "request_access";
    /// `BreakGlass -> ()`
    pub const BREAK_GLASS: &str = "break_glass";
    /// `Enroll -> StaffMember`
    pub const ENROLL: &str = "enroll";
    /// `NewPatient -> RegisteredPatient` (the new patient's id and card)
    pub const REGISTER_PATIENT: &str = "register_patient";
    /// `() -> Vec<ClinicPatient>`
    pub const CLINIC_PATIENTS: &str = "clinic_patients";
    /// `() -> Vec<StaffMember>` (every doctor of the network)
    pub const DOCTORS: &str = "doctors";
    /// `Assign -> ()`
    pub const ASSIGN: &str = "assign";
    /// `PatientRef -> Vec<AuditRow>`
    pub const AUDIT: &str = "audit";
    /// `() -> Vec<PendingRequest>`
    pub const PENDING_REQUESTS: &str = "pending_requests";
    /// `GrantAccess -> ()`
    pub const GRANT: &str = "grant";
    /// `RefuseRequest -> ()`
    pub const REFUSE: &str = "refuse";
    /// `() -> Vec<NewRecordNote>` (entries from other clinics since the user last asked)
    pub const NEW_RECORDS: &str = "new_records";
    /// `PatientRef -> Vec<Reader>`
    pub const READERS: &str = "readers";
    /// `RevokeAccess -> ()`
    pub const REVOKE: &str = "revoke";
    /// `CheckUpdate -> UpdateOffer` (admins; from a folder the signature is checked at once)
    pub const CHECK_UPDATE: &str = "check_update";
    /// `CheckUpdate -> String` (admins; the sentence says to reopen the app)
    pub const INSTALL_UPDATE: &str = "install_update";
    /// `DisableUser -> usize` (an admin of the user's clinic; how many records got new keys)
    pub const DISABLE_USER: &str = "disable_user";
    /// `ReplaceUserKey -> ()` (an admin of the user's clinic)
    pub const REPLACE_USER_KEY: &str = "replace_user_key";
    /// `ReplacePatientKey -> PatientKeyReplaced` (the admin of the clinic of record, the
    /// custodian or the health authority: two of them must ask)
    pub const REPLACE_PATIENT_KEY: &str = "replace_patient_key";
    /// `() -> Vec<ClinicRow>` (every clinic of the network and its standing)
    pub const CLINICS: &str = "clinics";
    /// `ClinicStanding -> usize` (the health authority; how many records got new keys)
    pub const CLINIC_STANDING: &str = "clinic_standing";
    /// `ReplaceClinicKey -> SavedFile` (the health authority; the invite for the new machine)
    pub const REPLACE_CLINIC_KEY: &str = "replace_clinic_key";
    /// `CodeQuery -> Vec<CodeHit>` (type-ahead over the bundled ICD-10, LOINC, CVX and drug tables)
    pub const LOOKUP_CODES: &str = "lookup_codes";
    /// `EmergencyCard -> Option<EmergencySummary>` (after break-glass: the summary the
    /// patient's card opens, at any clinic of the network; `None` when none was published for
    /// that card; the read is recorded)
    pub const EMERGENCY_SUMMARY: &str = "emergency_summary";
    /// `PatientRef -> Vec<Opening>` (the record's break-glass openings, newest first, with who
    /// reviewed each)
    pub const OPENINGS: &str = "openings";
    /// `ReviewOpening -> ()` (the patient, a proxy or an admin of the clinic of record reviews an
    /// opening; recorded on the ledger)
    pub const REVIEW_OPENING: &str = "review_opening";
    /// `() -> Vec<String>` (the removable drives mounted now, where the kiosk saves what a
    /// patient takes away)
    pub const REMOVABLE_DRIVES: &str = "removable_drives";
    /// `TakeAway -> SavedFile` (at the kiosk: the patient's summary as a PDF, or their record
    /// to carry to another clinic, saved on one of the removable drives)
    pub const TAKE_AWAY: &str = "take_away";
    /// `ImportBundle -> BundleImported` (a patient's record brought on a USB stick or phone,
    /// checked like blocks from sync)
    pub const IMPORT_BUNDLE: &str = "import_bundle";
    /// `PrintDocument -> SavedFile` (a visit summary, referral letter or prescription as a PDF;
    /// recorded as a read)
    pub const PRINT_DOCUMENT: &str = "print_document";
    /// `PairDevice -> HomeInfo` (an empty home: this machine's keys and a pairing request;
    /// `pairing` says where it went and which code to compare)
    pub const PAIR_DEVICE: &str = "pair_device";
    /// `() -> Vec<DeviceRow>` (the machines of this clinic)
    pub const DEVICES: &str = "devices";
    /// `ApproveDevice -> ApprovedDevice` (an admin of this clinic; the invite for the device)
    pub const APPROVE_DEVICE: &str = "approve_device";
    /// `RemoveDevice -> usize` (an admin of this clinic; how many records got new keys)
    pub const REMOVE_DEVICE: &str = "remove_device";
    /// `() -> Vec<WorklistRow>` (a lab's outstanding orders of its clinic's records; each
    /// record listed is recorded as a read of its orders; results go through `add_entry`)
    pub const WORKLIST: &str = "worklist";
    /// `FindPatients -> Vec<FoundPatient>` (the clinic's staff: patients whose names this clinic
    /// may read, best match first)
    pub const FIND_PATIENTS: &str = "find_patients";
    /// `DuplicateCheck -> Vec<FoundPatient>` (an admin, before registering: patients already
    /// registered with the same birth date and a similar name)
    pub const POSSIBLE_DUPLICATES: &str = "possible_duplicates";
    /// `DirectoryQuery -> Vec<StaffMember>` (the doctors and labs of the network a patient may
    /// grant)
    pub const DIRECTORY: &str = "directory";
    /// `PatientRef -> MyRecord` (the patient's own record in plain words, at the kiosk; audited
    /// as a read)
    pub const MY_RECORD: &str = "my_record";
    /// `NewProxy -> RegisteredProxy` (an admin of the clinic of record; the proxy's card)
    pub const ADD_PROXY: &str = "add_proxy";
}

/// A search at the front desk.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FindPatients {
    /// Part of the name (each word starts a part of it, in any order), a card number or an id.
    pub name: String,
    /// `YYYY-MM-DD`, when known.
    #[serde(default)]
    pub birth_date: Option<String>,
}

/// A patient as the front desk finds them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoundPatient {
    /// Patient id (shown only in the advanced detail).
    pub patient_id: String,
    /// Full name.
    pub name: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// Age in years today.
    pub age: Option<u32>,
    /// `female`, `male` or `other`.
    pub sex: String,
    /// The number printed on their card.
    pub card_number: String,
}

/// Before a registration: who is already registered with this birth date and a similar name.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DuplicateCheck {
    /// The full name about to be registered.
    pub name: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
}

/// What a patient typed to find a doctor or lab to grant.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DirectoryQuery {
    /// Words of a name, specialty or clinic; empty lists everyone.
    pub text: String,
}

/// One measured result, said plainly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultLine {
    /// What was measured.
    pub name: String,
    /// The value with its unit.
    pub value: String,
    /// When (`YYYY-MM-DD`).
    pub date: String,
    /// "within the usual range", "higher than usual", "lower than usual", or empty.
    pub verdict: String,
}

/// The patient's own record, as the kiosk shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MyRecord {
    /// Patient id.
    pub patient_id: String,
    /// Name.
    pub name: Option<String>,
    /// `YYYY-MM-DD`.
    pub birth_date: Option<String>,
    /// The number printed on the card.
    pub card_number: Option<String>,
    /// Health problems being looked after, in words.
    pub problems: Vec<String>,
    /// Problems that are over, in words.
    pub past_problems: Vec<String>,
    /// Allergies, with the reaction.
    pub allergies: Vec<String>,
    /// Medicines taken now, with how.
    pub medications: Vec<String>,
    /// The latest value of each test, newest first.
    pub results: Vec<ResultLine>,
}

/// An admin adds a proxy (a parent, guardian or carer) for a patient.
#[derive(Clone, Serialize, Deserialize)]
pub struct NewProxy {
    /// The patient they act for.
    pub patient_id: String,
    /// The proxy's name.
    pub name: String,
    /// The proxy's own PIN (6 to 12 digits).
    pub pin: String,
}

/// A proxy just added: what their card carries.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RegisteredProxy {
    /// The proxy's id.
    pub proxy_id: String,
    /// The card's QR content (print it; it is kept nowhere else).
    pub card: String,
    /// The number printed on the card.
    pub card_number: String,
}

/// This machine asks to become a device of a clinic.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PairDevice {
    /// A name to tell it apart ("Bedside laptop").
    pub name: String,
    /// The node passphrase to seal this machine's keys under (empty: the keyring).
    pub node_passphrase: String,
}

/// A pairing request this window made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pairing {
    /// Where the request was saved.
    pub file: String,
    /// The six digits the admin's screen must show too.
    pub code: String,
    /// The request as a QR code (SVG), for the admin's camera instead of a file.
    #[serde(default)]
    pub qr_svg: String,
}

/// One machine of this clinic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRow {
    /// Its id.
    pub device_id: String,
    /// Its name.
    pub name: String,
    /// staff, kiosk or gateway.
    pub role: String,
    /// active or removed.
    pub status: String,
    /// Why it was removed.
    pub removed_reason: Option<String>,
    /// Whether it is the machine this window runs on.
    pub this: bool,
    /// Whether an admin may remove it from here (a device added to the clinic, still active,
    /// not this computer).
    #[serde(default)]
    pub removable: bool,
    /// The newest block it sealed that this machine holds (RFC 3339).
    pub last_seen: Option<String>,
}

/// An admin enrolls the device of a pairing request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApproveDevice {
    /// The request file the new machine saved, or the request itself (what its QR code says).
    pub request_path: String,
    /// staff, kiosk or gateway.
    pub role: String,
}

/// The device enrolled, and its invite.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovedDevice {
    /// Its id.
    pub device_id: String,
    /// The code its request showed: the admin checks it is the one on the new machine.
    pub code: String,
    /// Where the invite was saved.
    pub invite: String,
}

/// An admin removes a device.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RemoveDevice {
    /// Its id.
    pub device_id: String,
    /// Why (lost, stolen, retired).
    pub reason: String,
}

/// An order waiting for a result, on the lab's worklist.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorklistRow {
    /// Patient id.
    pub patient_id: String,
    /// The patient's name, when it opens here.
    pub patient_name: Option<String>,
    /// Birth date, `YYYY-MM-DD`.
    pub birth_date: Option<String>,
    /// `female`, `male` or `other`.
    pub sex: Option<String>,
    /// The number on the patient's card.
    pub card_number: String,
    /// The order entry (the result names it as its `order`).
    pub entry_id: String,
    /// LOINC code of the test.
    pub loinc: String,
    /// The test in words.
    pub name: String,
    /// routine, urgent or stat.
    pub priority: String,
    /// The orderer's note for the lab.
    pub note: Option<String>,
    /// When it was ordered (RFC 3339).
    pub ordered_at: String,
    /// Who ordered it.
    pub ordered_by: String,
    /// The test's customary unit, from the bundled table, to start the result form with.
    pub unit: Option<String>,
    /// The adult reference range's lower end, when the bundled table knows one.
    pub low: Option<f64>,
    /// The adult reference range's upper end, when the bundled table knows one.
    pub high: Option<f64>,
}

/// A document to print from a chart.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PrintDocument {
    /// Patient id.
    pub patient_id: String,
    /// `visit`, `referral` or `prescription`.
    pub document: String,
    /// The visit to summarise (its encounter entry); the latest when empty.
    #[serde(default)]
    pub visit: Option<String>,
    /// For a referral: to whom.
    #[serde(default)]
    pub to: Option<String>,
    /// For a referral: why.
    #[serde(default)]
    pub reason: Option<String>,
    /// Where to save the PDF (an absolute file path).
    pub path: String,
}

/// What a clinician typed into a coded field.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CodeQuery {
    /// `icd10`, `loinc`, `cvx` or `drug`.
    pub system: String,
    /// What was typed so far.
    pub text: String,
}

/// One suggestion for a coded field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeHit {
    /// The code (for drugs, the ATC code).
    pub code: String,
    /// Its name.
    pub display: String,
}

/// What kind of problem a command met; the window words some of them differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The passphrase or PIN did not open the keys.
    WrongPassphrase,
    /// The policy refused.
    Denied,
    /// The input was not acceptable.
    Invalid,
    /// No such user, patient or entry.
    NotFound,
    /// Nobody is signed in (or the kiosk locked itself).
    SignedOut,
    /// The session locked after the idle time: the person signs in again.
    Locked,
    /// The command is not one the patients' kiosk offers.
    KioskOnly,
    /// No clinic home is open.
    NoHome,
    /// Anything else (damaged home, disk).
    Other,
}

/// Why a command did not happen, in a sentence for the person at the screen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The kind of problem.
    pub kind: FailureKind,
    /// What went wrong and, where possible, what to do next.
    pub message: String,
}

impl Failure {
    /// A failure of a kind with a message.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The clinic home the app has open, if any.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HomeInfo {
    /// The home directory (chosen or default).
    pub home: String,
    /// Whether a clinic node is open.
    pub open: bool,
    /// This clinic's name.
    pub clinic: String,
    /// The network's name.
    pub network: String,
    /// Why the home did not open, when it exists but failed.
    pub problem: Option<String>,
    /// The home asked to join a network and waits for the health authority's invite.
    #[serde(default)]
    pub awaiting_invite: bool,
    /// Where this window saved the join request, when it made one.
    #[serde(default)]
    pub join_request: Option<String>,
    /// The home's keys are sealed under a node passphrase the window must ask for.
    #[serde(default)]
    pub locked: bool,
    /// Seconds without use after which a staff session locks.
    #[serde(default)]
    pub idle_lock_seconds: u64,
    /// Seconds without use after which the kiosk locks.
    #[serde(default)]
    pub kiosk_idle_lock_seconds: u64,
    /// The pairing request this window made, while it waits for the invite.
    #[serde(default)]
    pub pairing: Option<Pairing>,
    /// This machine is the clinic's kiosk: it opens on the kiosk, and only an admin's sign-in
    /// leaves it.
    #[serde(default)]
    pub kiosk_only: bool,
}

/// What the status bar shows on every screen.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusBar {
    /// This clinic's name.
    pub clinic: String,
    /// Whether some peer link is up (syncing or in sync).
    pub online: bool,
    /// Locally sealed blocks no peer has acknowledged.
    pub pending: u64,
    /// Blocks in the replica.
    pub blocks: usize,
    /// Every peer link: the ones this clinic dials and the ones that dialled in.
    pub peers: Vec<PeerLink>,
    /// When this clinic last exchanged blocks with a peer (RFC 3339).
    pub last_sync: Option<String>,
    /// Where this clinic listens for peers, while sync runs.
    pub listening: Option<String>,
    /// Why sync is off, in words, when it is.
    pub sync_problem: Option<String>,
    /// For a clinic of several machines: "3 devices of this clinic, in sync".
    #[serde(default)]
    pub devices: Option<String>,
}

impl StatusBar {
    /// Links in sync right now.
    pub fn in_sync(&self) -> usize {
        self.peers.iter().filter(|p| p.state == "in-sync").count()
    }
}

/// One link to another clinic, for the sync bar and the admin's peers panel.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PeerLink {
    /// The peer's address.
    pub addr: String,
    /// The peer clinic's name, once it proved who it is.
    pub clinic: Option<String>,
    /// connecting, syncing, in-sync or offline.
    pub state: String,
    /// When this link was last in sync (RFC 3339).
    pub last_sync: Option<String>,
}

/// What "Sync now" did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncNow {
    /// The sync bar after the round.
    pub status: StatusBar,
    /// Blocks that arrived during the round.
    pub received: usize,
    /// Blocks that left the outbox during the round.
    pub sent: u64,
}

/// A staff user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StaffMember {
    /// User id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `admin`, `doctor` or `lab`.
    pub role: String,
    /// A doctor's specialty.
    pub specialty: Option<String>,
    /// The clinic where they were enrolled.
    pub clinic: String,
    /// Why an admin disabled them, if one did (they can no longer sign in).
    #[serde(default)]
    pub disabled: Option<String>,
}

/// An admin disables a staff user who left or whose account was misused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DisableUser {
    /// The user's id.
    pub user_id: String,
    /// Why, as the audit and the user's refused sign-in will say.
    pub reason: String,
}

/// An admin gives a staff user new keys (a lost laptop, a forgotten passphrase).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplaceUserKey {
    /// The user's id.
    pub user_id: String,
    /// The passphrase the user types for their new keys.
    pub passphrase: String,
    /// Why.
    pub reason: String,
}

/// A second party asks for (or agrees to) new keys for a patient who lost their card or
/// forgot their PIN.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplacePatientKey {
    /// The patient's id.
    pub patient_id: String,
    /// The new PIN the patient types (only when asking first: the new card is made here).
    pub pin: String,
    /// Why.
    pub reason: String,
}

/// What asking for a patient's new keys did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PatientKeyReplaced {
    /// Whether the new keys are in force (a second party had already asked for them), or wait
    /// for a second party.
    pub done: bool,
    /// The new card's QR content, when this call made it (print it now: it is kept nowhere).
    pub card: Option<String>,
    /// The number printed on the new card.
    pub card_number: Option<String>,
}

/// A clinic of the network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClinicRow {
    /// The clinic's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Why the health authority suspended it, while it is suspended.
    pub suspended: Option<String>,
    /// Whether it is the clinic whose window this is.
    pub here: bool,
}

/// The health authority suspends a clinic, or lifts its suspension.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClinicStanding {
    /// The clinic's id.
    pub clinic_id: String,
    /// `true` to suspend, `false` to reinstate.
    pub suspend: bool,
    /// Why (required to suspend).
    pub reason: String,
    /// The health authority's passphrase.
    pub authority_passphrase: String,
}

/// The health authority gives a clinic new node keys, from the join request of its new machine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplaceClinicKey {
    /// The clinic's id.
    pub clinic_id: String,
    /// The join request the clinic's new machine wrote.
    pub request_path: String,
    /// Addresses (`host:port`) it can sync from, separated by spaces or commas.
    pub peers: String,
    /// Why.
    pub reason: String,
    /// The health authority's passphrase.
    pub authority_passphrase: String,
}

/// The signed-in person.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Me {
    /// User or patient id.
    pub id: String,
    /// Name (a patient: "patient" and the id's head, the name is sealed).
    pub name: String,
    /// `admin`, `doctor`, `lab` or `patient`.
    pub role: String,
    /// At the kiosk: the records this person opens — their own, or, for a proxy, those of
    /// the patients they act for.
    #[serde(default)]
    pub records: Vec<String>,
    /// At the kiosk: whether they act for someone else (a parent, guardian or carer).
    #[serde(default)]
    pub proxy: bool,
    /// At the kiosk: what others did to the record since this person last read it (their last
    /// visit), newest first, taken at sign-in before the kiosk reads the record again.
    #[serde(default)]
    pub since_last_visit: Vec<AuditRow>,
}

/// Staff sign-in.
#[derive(Clone, Serialize, Deserialize)]
pub struct SignIn {
    /// The user's id.
    pub user_id: String,
    /// The passphrase.
    pub passphrase: String,
}

/// A patient identifies at the kiosk.
#[derive(Clone, Serialize, Deserialize)]
pub struct KioskSignIn {
    /// The patient's card as its QR code reads (or, for a patient registered before cards,
    /// the patient id or card number).
    pub card: String,
    /// The PIN.
    pub pin: String,
}

/// The node passphrase of a home sealed under one.
#[derive(Clone, Serialize, Deserialize)]
pub struct UnlockHome {
    /// The node passphrase.
    pub passphrase: String,
}

/// Entering or leaving kiosk mode.
#[derive(Clone, Serialize, Deserialize)]
pub struct SetKiosk {
    /// Whether the window is the patients' kiosk from now on.
    pub on: bool,
}

/// A staff member changes their own passphrase.
#[derive(Clone, Serialize, Deserialize)]
pub struct ChangePassphrase {
    /// The passphrase now (asked again).
    pub old: String,
    /// The new one.
    pub new: String,
}

/// A patient changes their PIN at the kiosk.
#[derive(Clone, Serialize, Deserialize)]
pub struct ChangePin {
    /// The PIN now (asked again).
    pub old: String,
    /// The new PIN (6 to 12 digits).
    pub new: String,
}

/// A patient just registered: what their card carries.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RegisteredPatient {
    /// The new patient's id.
    pub patient_id: String,
    /// The card's QR content (print it on the card; it is kept nowhere else).
    pub card: String,
    /// The number printed on the card.
    pub card_number: String,
}

/// Founding a network in an empty home.
#[derive(Clone, Serialize, Deserialize)]
pub struct CreateNetwork {
    /// The network's name.
    pub network: String,
    /// This clinic's name.
    pub clinic: String,
    /// The first admin's name.
    pub admin: String,
    /// The first admin's passphrase.
    pub passphrase: String,
    /// The passphrase that seals the health authority's key.
    pub authority_passphrase: String,
    /// A node passphrase for this computer's home; empty: the OS keyring keeps its key.
    #[serde(default)]
    pub node_passphrase: String,
}

/// Asking to join a network from an empty home: this clinic and its first admin.
#[derive(Clone, Serialize, Deserialize)]
pub struct RequestJoin {
    /// This clinic's name.
    pub clinic: String,
    /// The first admin's name.
    pub admin: String,
    /// The first admin's passphrase.
    pub passphrase: String,
    /// A node passphrase for this computer's home; empty: the OS keyring keeps its key.
    #[serde(default)]
    pub node_passphrase: String,
}

/// A file the app wrote for the person to hand on (a join request, an invite).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SavedFile {
    /// Where it was saved.
    pub file: String,
}

/// Joining with the health authority's invite.
#[derive(Clone, Serialize, Deserialize)]
pub struct JoinNetwork {
    /// The invite file.
    pub invite_path: String,
}

/// The health authority approves a clinic's join request.
#[derive(Clone, Serialize, Deserialize)]
pub struct ApproveClinic {
    /// The request file the clinic sent.
    pub request_path: String,
    /// Addresses (`host:port`) the new clinic can sync from, separated by spaces or commas.
    pub peers: String,
    /// The health authority's passphrase.
    pub authority_passphrase: String,
}

/// A patient the signed-in user may open.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PatientRow {
    /// Patient id.
    pub patient_id: String,
    /// Name as the level allows (initials at sample level), when it opens here.
    pub name: Option<String>,
    /// The level held.
    pub level: AccessLevel,
    /// Why (custodian, attending, grant, breakglass).
    pub basis: String,
}

/// A chart entry that arrived from another clinic, for a patient the user may read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewRecordNote {
    /// Patient id.
    pub patient_id: String,
    /// Entry id.
    pub entry_id: String,
    /// Its kind.
    pub kind: EntryKind,
    /// The clinic where it was written.
    pub clinic: String,
    /// When (RFC 3339).
    pub time: String,
}

/// A chart to export.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExportChart {
    /// Patient id.
    pub patient_id: String,
    /// `hl7` (v2.5 ORU^R01) or `fhir` (R4 Bundle).
    pub format: String,
    /// Where to save it (chosen with [`commands::CHOOSE_EXPORT_FILE`] or typed); the file is
    /// unencrypted health information, written readable by its owner only.
    pub path: String,
}

/// Asking where to save an export.
#[derive(Clone, Serialize, Deserialize)]
pub struct ChooseExportFile {
    /// `hl7`, `fhir` or `pdf` (the file type the dialog suggests).
    pub format: String,
}

/// An export, saved to a file and shown for copying.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Exported {
    /// Where the file was saved.
    pub file: String,
    /// The message itself (HL7 segments on separate lines).
    pub text: String,
}

/// Results to import: a file on this computer or pasted text.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImportRecords {
    /// `hl7` or `fhir`.
    pub format: String,
    /// A file to read, when given.
    pub path: Option<String>,
    /// The message pasted in, when no file is given.
    pub text: Option<String>,
}

/// What an import added.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Imported {
    /// The patient the message named.
    pub patient_id: String,
    /// Entries added to the chart.
    pub entries: usize,
    /// What the importer noticed but did not refuse.
    pub warnings: Vec<String>,
}

/// Which chart to open.
#[derive(Clone, Serialize, Deserialize)]
pub struct OpenChart {
    /// Patient id.
    pub patient_id: String,
}

/// One point of a trend.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrendPoint {
    /// When (Unix ms).
    pub time_ms: i64,
    /// When (RFC 3339).
    pub time: String,
    /// The value.
    pub value: f64,
}

/// The values of one LOINC code over time, with its reference range.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    /// LOINC code.
    pub loinc: String,
    /// What is measured.
    pub name: String,
    /// UCUM unit.
    pub unit: String,
    /// Reference range, lower end.
    pub low: Option<f64>,
    /// Reference range, upper end.
    pub high: Option<f64>,
    /// `vitals` or `lab`.
    pub kind: EntryKind,
    /// Points in time order.
    pub points: Vec<TrendPoint>,
}

/// An opened chart: the view for the reader's level, plus trends of measured values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChartScreen {
    /// Patient id.
    pub patient_id: String,
    /// Name as the level allows.
    pub name: Option<String>,
    /// The level of the view.
    pub level: AccessLevel,
    /// The chart view as `carelog chart show --json` prints it.
    pub view: serde_json::Value,
    /// Trends of current (not amended) values, vitals first.
    pub trends: Vec<Trend>,
}

/// A new chart entry (or an amendment of `amends`).
#[derive(Clone, Serialize, Deserialize)]
pub struct NewEntry {
    /// Patient id.
    pub patient_id: String,
    /// vitals, lab, note, condition, allergy, medication, encounter, order, immunization
    /// (demographics only as an amendment).
    pub kind: EntryKind,
    /// The entry's fields as the CLI's `--data` takes them.
    pub data: serde_json::Value,
    /// The entry this one corrects.
    pub amends: Option<String>,
    /// The encounter (visit) it was written in.
    #[serde(default)]
    pub encounter: Option<String>,
    /// Why a drug that matches a recorded allergy is prescribed anyway.
    #[serde(default)]
    pub allergy_override: Option<String>,
}

/// Asking a patient for access.
#[derive(Clone, Serialize, Deserialize)]
pub struct AskAccess {
    /// Patient id.
    pub patient_id: String,
    /// information, sample or full.
    pub level: AccessLevel,
    /// Why.
    pub reason: String,
}

/// Emergency access.
#[derive(Clone, Serialize, Deserialize)]
pub struct BreakGlass {
    /// Patient id.
    pub patient_id: String,
    /// Why, recorded and shown to the patient.
    pub reason: String,
}

/// Opening a patient's emergency summary with their card, after breaking the glass.
#[derive(Clone, Serialize, Deserialize)]
pub struct EmergencyCard {
    /// Patient id.
    pub patient_id: String,
    /// The content of the card's QR code (`CL1:…`), scanned or typed.
    pub card: String,
}

/// What a doctor needs when the patient cannot speak, in plain lines.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EmergencySummary {
    /// "Penicillin: rash (moderate)".
    pub allergies: Vec<String>,
    /// Active problems, "Type 2 diabetes (since 2025-12-17)".
    pub problems: Vec<String>,
    /// Current medications, "Metformin 500 mg: 500 mg, oral, twice daily, since 2025-12-17".
    pub medications: Vec<String>,
    /// Whom to call: the parents, guardians or carers who act for the patient.
    #[serde(default)]
    pub contacts: Vec<String>,
}

/// A break-glass opening of a record and who reviewed it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Opening {
    /// The opening's transaction id (what a review names).
    pub opening: String,
    /// RFC 3339.
    pub time: String,
    /// The doctor who broke the glass.
    pub doctor: String,
    /// Their clinic.
    pub clinic: String,
    /// The reason they gave.
    pub reason: String,
    /// Who reviewed it (names), oldest first; empty while no one has.
    pub reviewed_by: Vec<String>,
}

/// What a patient takes away from the kiosk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TakeAwayKind {
    /// The record in short, who may read it, the latest of the access log: a PDF to keep (it
    /// is readable by whoever holds it).
    Summary,
    /// The record to carry to a clinic with no link to this one: its blocks, still encrypted,
    /// and the patient's keys, which open only with their card and PIN.
    Record,
}

/// Saving something for the patient on a removable drive.
#[derive(Clone, Serialize, Deserialize)]
pub struct TakeAway {
    /// Patient id.
    pub patient_id: String,
    /// What to save.
    pub what: TakeAwayKind,
    /// One of the drives [`commands::REMOVABLE_DRIVES`] listed.
    pub drive: String,
}

/// A patient's record brought on a USB stick or phone.
#[derive(Clone, Serialize, Deserialize)]
pub struct ImportBundle {
    /// The file's full path.
    pub path: String,
}

/// A record received from a bundle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BundleImported {
    /// The patient whose record it is.
    pub patient_id: String,
    /// How many of its blocks were new here.
    pub blocks: usize,
}

/// Reviewing a break-glass opening.
#[derive(Clone, Serialize, Deserialize)]
pub struct ReviewOpening {
    /// Patient id.
    pub patient_id: String,
    /// The opening's transaction id.
    pub opening: String,
    /// The reviewer's note, recorded on the ledger.
    pub note: String,
}

/// Enrolling staff.
#[derive(Clone, Serialize, Deserialize)]
pub struct Enroll {
    /// doctor, lab or admin.
    pub role: String,
    /// Name.
    pub name: String,
    /// A doctor's specialty.
    pub specialty: Option<String>,
    /// Their first passphrase.
    pub passphrase: String,
}

/// Registering a patient.
#[derive(Clone, Serialize, Deserialize)]
pub struct NewPatient {
    /// Full name.
    pub name: String,
    /// YYYY-MM-DD.
    pub birth_date: String,
    /// female, male, other or unknown.
    pub sex: String,
    /// The patient's kiosk PIN.
    pub pin: String,
    /// The desk checked that the possible duplicates named are someone else.
    #[serde(default)]
    pub not_duplicate: bool,
}

/// A patient registered at this clinic, as the admin sees it (the name is sealed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClinicPatient {
    /// Patient id.
    pub patient_id: String,
    /// The custodian (family doctor)'s name.
    pub custodian: Option<String>,
    /// Names of the doctors on the attention list.
    pub attention: Vec<String>,
    /// Chart entries on the ledger.
    pub entries: usize,
}

/// Putting a doctor on a patient's attention list.
#[derive(Clone, Serialize, Deserialize)]
pub struct Assign {
    /// Patient id.
    pub patient_id: String,
    /// Doctor id.
    pub doctor_id: String,
    /// As custodian (family doctor).
    pub custodian: bool,
}

/// Names a patient.
#[derive(Clone, Serialize, Deserialize)]
pub struct PatientRef {
    /// Patient id.
    pub patient_id: String,
}

/// One line of a patient's audit trail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    /// When (RFC 3339).
    pub time: String,
    /// Who (id).
    pub actor: String,
    /// Who (name).
    pub actor_name: String,
    /// What (read, write, grant, …).
    pub action: String,
    /// The level involved.
    pub level: Option<AccessLevel>,
    /// Purpose, reason or the other party.
    pub detail: Option<String>,
    /// The clinic the actor works at (staff), when known.
    #[serde(default)]
    pub clinic: Option<String>,
}

/// A pending access request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PendingRequest {
    /// Request id.
    pub request_id: String,
    /// Patient id.
    pub patient_id: String,
    /// The patient's name, when the person deciding may read it.
    #[serde(default)]
    pub patient_name: Option<String>,
    /// Who asks (id).
    pub requester: String,
    /// Who asks (name).
    pub requester_name: String,
    /// Level asked for.
    pub level: AccessLevel,
    /// Why.
    pub reason: String,
    /// When (RFC 3339).
    pub time: String,
}

/// Granting a reader a level.
#[derive(Clone, Serialize, Deserialize)]
pub struct GrantAccess {
    /// Patient id.
    pub patient_id: String,
    /// The reader.
    pub grantee: String,
    /// information, sample or full.
    pub level: AccessLevel,
    /// Days until the grant ends by itself; none means until the patient revokes it.
    #[serde(default)]
    pub days: Option<u32>,
}

/// Refusing a pending request.
#[derive(Clone, Serialize, Deserialize)]
pub struct RefuseRequest {
    /// Patient id.
    pub patient_id: String,
    /// Request id.
    pub request_id: String,
}

/// Someone who may read a record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reader {
    /// Reader id.
    pub id: String,
    /// Name.
    pub name: String,
    /// custodian, attending, grant or break-glass.
    pub basis: String,
    /// Level held.
    pub level: AccessLevel,
    /// When a grant ends (RFC 3339).
    pub expires: Option<String>,
}

/// Taking a reader's access away.
#[derive(Clone, Serialize, Deserialize)]
pub struct RevokeAccess {
    /// Patient id.
    pub patient_id: String,
    /// The reader.
    pub reader: String,
}

/// The command's single argument object: `{"args": …}`.
#[derive(Serialize)]
pub struct Args<'a, T> {
    /// The command's argument struct.
    pub args: &'a T,
}

/// Where to look for an update of the app.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckUpdate {
    /// An update folder or its `latest.json` (a USB stick); `None` for the update server.
    pub manifest_path: Option<String>,
}

/// What an update check found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateOffer {
    /// The running version.
    pub current: String,
    /// A newer version, if there is one.
    pub available: Option<String>,
    /// Its release notes.
    pub notes: Option<String>,
    /// Where it was looked for.
    pub source: String,
}
