"""The typed Python facade over Temporal that the CLI and the HTTP API call: `complaints.ComplaintClient`,
`assessment.AssessmentClient`, `calendars` (status and refresh); every refusal is an `errors.CxSlaError`."""
