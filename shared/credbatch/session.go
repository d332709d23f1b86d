package credbatch

import "time"

// Session is a signed-in browser session of the pages (the review page, the console). The
// browser holds a random session id in a cookie; the store keeps only Key, a hash of it, so
// that reading the table does not give anyone a live session.
type Session struct {
	Key       string    `json:"key"` // hash of the cookie value
	Subject   string    `json:"subject"`
	Email     string    `json:"email,omitempty"`
	Roles     []string  `json:"roles,omitempty"`
	CSRF      string    `json:"csrf"` // the form token of the session
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}
