package issuance

import (
	"strings"
	"testing"
	"time"
)

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "minimal", env: map[string]string{"PUBLIC_BASE_URL": "https://c.example", "MAIL_FROM": "a@example.com"},
			check: func(t *testing.T, c Config) {
				if c.withDefaults().ApprovalTimeout != 7*24*time.Hour {
					t.Errorf("default approval timeout = %v", c.withDefaults().ApprovalTimeout)
				}
			}},
		{name: "lists and numbers", env: map[string]string{"PUBLIC_BASE_URL": "https://c.example", "MAIL_FROM": "a@example.com",
			"ADMIN_EMAILS": "x@example.com, y@example.com", "APPROVAL_TIMEOUT_SECONDS": "3600", "SEND_RATE": "14"},
			check: func(t *testing.T, c Config) {
				if len(c.Admins) != 2 || c.ApprovalTimeout != time.Hour || c.SendRate != 14 {
					t.Errorf("config = %+v", c)
				}
			}},
		{name: "missing base url", env: map[string]string{"MAIL_FROM": "a@example.com"}, wantErr: "PUBLIC_BASE_URL"},
		{name: "bad number", env: map[string]string{"PUBLIC_BASE_URL": "x", "MAIL_FROM": "a", "SEND_RATE": "fast"}, wantErr: "SEND_RATE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ConfigFromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}
