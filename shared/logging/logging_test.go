package logging

import (
	"log/slog"
	"testing"
)

func TestLevel(t *testing.T) {
	tests := []struct {
		lambda, plain string
		want          slog.Level
	}{
		{"", "", slog.LevelInfo},
		{"DEBUG", "", slog.LevelDebug},
		{"warn", "", slog.LevelWarn},
		{"", "ERROR", slog.LevelError},
		{"INFO", "DEBUG", slog.LevelInfo},
	}
	for _, tt := range tests {
		t.Setenv("AWS_LAMBDA_LOG_LEVEL", tt.lambda)
		t.Setenv("LOG_LEVEL", tt.plain)
		if got := Level(); got != tt.want {
			t.Errorf("Level() with %q/%q = %v, want %v", tt.lambda, tt.plain, got, tt.want)
		}
	}
}
