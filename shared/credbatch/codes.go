package credbatch

// Stable codes of validation findings (DESIGN §7). They are part of the public contract:
// the API, the CLI and the reports use them, and the README documents each one.
const (
	// File level.
	CodeEmptyFile         = "empty_file"
	CodeUnsupportedFormat = "unsupported_format"
	CodeCorruptFile       = "corrupt_file"
	CodeFileTooLarge      = "file_too_large"
	CodeTooManyRows       = "too_many_rows"
	CodeMissingColumns    = "missing_columns"
	CodeDuplicateColumns  = "duplicate_columns"
	CodeUnknownColumns    = "unknown_columns" // warning: a column no field maps to
	CodeTooManyColumns    = "too_many_columns"
	CodeUnknownSheet      = "unknown_sheet"
	CodeInvalidMapping    = "invalid_mapping"    // the upload's mapping names an unknown column or field
	CodeInvalidDateOrder  = "invalid_date_order" // the upload's date order is not DMY or MDY
	CodeValueTooLarge     = "cell_too_large"     // a single cell beyond the reader's limit

	// Batch level: the batch as a whole cannot be issued (Row 0, no Column).
	CodeBatchTooLarge = "batch_too_large" // more rows than one execution can issue at the send rate (issuance.PlanFor)

	// Row level (CodeUnknownDefinition is also upload level).
	CodeUnknownDefinition   = "unknown_definition"
	CodeMissingValue        = "missing_value"
	CodeInvalidEmail        = "invalid_email"
	CodeInvalidDate         = "invalid_date"
	CodeAmbiguousDate       = "ambiguous_date"
	CodeInvalidDuration     = "invalid_duration"
	CodeExpiryBeforeIssue   = "expiry_before_issue"
	CodeInvalidNumber       = "invalid_number"
	CodeOutOfRange          = "out_of_range"
	CodeInvalidChoice       = "invalid_choice"
	CodeInvalidURL          = "invalid_url"
	CodeValueTooLong        = "value_too_long"
	CodeUnsafeValue         = "unsafe_value"
	CodeInvalidEncoding     = "invalid_encoding" // a cell's bytes contradict the text file's encoding (a warning on the header row)
	CodeDuplicateRow        = "duplicate_row"
	CodeAlreadyIssued       = "already_issued"
	CodeSuppressedRecipient = "suppressed_recipient" // warning

	// Evidence (row level unless said otherwise).
	CodeEvidenceNotAllowed   = "evidence_not_allowed"    // the definition takes no evidence
	CodeMissingEvidence      = "missing_evidence"        // a required definition's row has no evidence file or URL
	CodeEvidenceFileNotFound = "evidence_file_not_found" // Evidence File names a file the upload's zip does not hold (or there is no zip)
	CodeEvidenceWrongType    = "evidence_wrong_type"     // the file's content is not an allowed type, or its name claims another type
	CodeEvidenceTooLarge     = "evidence_too_large"      // the file is over the definition's size limit
	CodeUnmatchedEvidence    = "unmatched_evidence"      // warning (file level): a zip entry no row names
	CodeUnsafeZipEntry       = "unsafe_zip_entry"        // file level: a zip entry's name escapes the folder, or two entries share a name
	CodeZipTooLarge          = "zip_too_large"           // file level: the zip unpacks to more than allowed, or an entry is a zip bomb
	CodeZipOtherUploader     = "zip_other_uploader"      // file level: the evidence zip was uploaded by someone other than its spreadsheet
)

// Severity says whether a finding blocks its row.
type Severity string

// Severities.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Finding is one validation result. Row is the spreadsheet row number as the user sees it
// (header = row 1; 0 for a file-level finding), Column the header as written in the file
// ("" when the finding is about the whole row or file).
type Finding struct {
	Row      int      `json:"row"`
	Column   string   `json:"column"`
	Code     string   `json:"code"`
	Message  string   `json:"message"`
	Severity Severity `json:"severity,omitempty"`
}

// FileError returns the KindInvalid *Error for a file-level code, whose message says how to fix it.
func FileError(code, message string) *Error { return E(KindInvalid, code, message) }
