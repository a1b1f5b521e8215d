//! Every text the web pages show, in one table keyed by id, so that a second
//! language is one more column ([`Text::en`] today; a `de` follows the same
//! match). Messages of the batch engine (refusals, deviations) are shown as the
//! engine words them.

macro_rules! texts {
    ($($id:ident => $en:expr,)*) => {
        /// The id of one user-visible text.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Text { $($id,)* }

        impl Text {
            /// Every text id (for tests: none is empty).
            pub const ALL: &'static [Text] = &[$(Text::$id,)*];

            /// The English text.
            pub fn en(self) -> &'static str {
                match self { $(Text::$id => $en,)* }
            }
        }
    };
}

texts! {
    AppName => "atmpflow",
    SkipToContent => "Skip to content",
    LoginTitle => "Log in",
    LoginIntro => "Log in with your atmpflow user name and password.",
    UserName => "User name",
    Password => "Password",
    LoginButton => "Log in",
    LoginFailed => "Log-in refused",
    LogoutButton => "Log out",
    SignedInAs => "Signed in as",
    Roles => "Roles",
    BoardTitle => "Batches",
    BoardIntro => "Open batches and what happens next. Choose a batch to work on it.",
    NoBatches => "No batches yet.",
    Batch => "Batch",
    Product => "Product",
    Stage => "Stage",
    NextStep => "Next step",
    Running => "Running",
    PlannedStart => "Planned start",
    Updated => "Last change",
    Open => "Open",
    ActExecute => "Execute",
    ActReview => "Review",
    ActDispose => "Disposition",
    ActView => "View",
    BackToBoard => "All batches",
    BatchRecord => "Batch record",
    OpenRecord => "Open the batch record (same content as `atmpflow batch report`)",
    StepTitle => "Step",
    StartStepTitle => "Start the next step",
    StartStepHelp => "Scan the material's label: the chain-of-identity id, then the DIN. A barcode scanner's Enter moves to the next field.",
    ScanCoi => "Scanned COI",
    ScanDin => "Scanned DIN",
    Location => "Location",
    StartButton => "Start step",
    ReceiveTitle => "Receive the apheresis",
    ReceiveButton => "Record receipt",
    RecordValueTitle => "Enter values",
    Allowed => "allowed",
    NoRange => "no range given",
    Target => "target",
    SaveValue => "Save value",
    EquipmentTitle => "Scan equipment",
    Equipment => "Equipment id",
    UseEquipmentButton => "Record equipment",
    CompleteTitle => "Complete the step",
    CompleteHelp => "Completing the step signs it as performed by you.",
    FailedReason => "If the run failed: why (leave empty otherwise)",
    CompleteButton => "Complete step",
    NothingToDo => "Nothing for your roles to do on this batch now.",
    SignTitle => "Electronic signature",
    SignHelp => "Re-enter your password to sign. Your signature is bound to the entry shown and its hash.",
    SignEntry => "Entry to sign",
    Meaning => "Meaning of the signature",
    MeaningPerformed => "performed: I did this",
    MeaningVerified => "verified: I checked what another person did",
    MeaningReviewed => "reviewed: I reviewed the record up to this entry",
    SignButton => "Sign",
    ExceptionsTitle => "Review by exception",
    ExceptionsIntro => "Deviations, corrections and signatures of this batch.",
    NoExceptions => "No deviations, corrections or signatures.",
    Entry => "Entry",
    When => "When",
    Who => "Who",
    What => "What",
    DeviationsTitle => "Deviations",
    Deviation => "Deviation",
    Classification => "Classification",
    Unassessed => "not assessed",
    AssessTitle => "Assess deviation",
    ClassMinor => "minor: no impact on quality",
    ClassMajor => "major: possible impact, investigation and CAPA",
    ClassCritical => "critical: impact on patient safety or product quality",
    Capa => "CAPA reference (major and critical)",
    Rationale => "Rationale",
    AssessButton => "Save assessment",
    DispositionTitle => "Disposition",
    DispositionHelp => "Your signature as qualified person certifies the decision. The person who reviewed the record cannot also release it (four-eyes rule); the engine refuses it.",
    Decision => "Decision",
    DecisionRelease => "release",
    DecisionReleaseDev => "release with documented deviations",
    DecisionReject => "reject",
    Reason => "Justification",
    DisposeButton => "Sign the disposition",
    Applied => "Recorded",
    AppliedWithDeviation => "Recorded, and the engine raised a deviation",
    Refused => "Refused",
    DeviationRaised => "Deviation raised",
    EntriesMade => "entries recorded",
    NotFoundTitle => "Not found",
    ForbiddenTitle => "Not allowed",
    BadRequestTitle => "Request refused",
    CsrfRefused => "This form is out of date or did not come from this server's pages. Reload the page and try again.",
    OriginRefused => "Forms are accepted only from this server's own pages.",
    HoldLeft => "Hold time left",
    HoldOverdue => "Hold time exceeded",
    Units => "Unit",
    Value => "Value",
}

/// The text of `id` in the language of the pages (English).
pub fn t(id: Text) -> &'static str {
    id.en()
}
