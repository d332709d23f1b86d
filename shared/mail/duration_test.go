package mail

import (
	"testing"
	"time"
)

func TestDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{7 * 24 * time.Hour, "7 days"},
		{24 * time.Hour, "1 day"},
		{30 * time.Hour, "1 day 6 hours"},
		{15 * time.Minute, "15 minutes"},
		{2*time.Hour + 30*time.Second, "2 hours"},
		{90 * time.Second, "1 minute 30 seconds"},
		{0, "no time"},
		{time.Millisecond, "less than a second"},
	}
	for _, tt := range tests {
		if got := Duration(tt.d); got != tt.want {
			t.Errorf("Duration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
