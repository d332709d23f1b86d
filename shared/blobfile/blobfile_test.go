package blobfile_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/credbatch/credbatch/shared/blobfile"
	"github.com/credbatch/credbatch/shared/blobtest"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/dirblob"
)

func TestDownloadToTemp(t *testing.T) {
	ctx := context.Background()
	b, err := dirblob.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	blobtest.MustPut(t, b, "uploads/d1/People List.XLSX", []byte("xlsx bytes"), "application/octet-stream", map[string]string{"k": "v"})
	blobtest.MustPut(t, b, "uploads/noext", []byte(""), "text/plain", nil)

	tests := []struct {
		key, wantExt, wantContent string
		wantKind                  credbatch.Kind
	}{
		{"uploads/d1/People List.XLSX", ".xlsx", "xlsx bytes", ""},
		{"uploads/noext", "", "", ""},
		{"uploads/missing.csv", "", "", credbatch.KindNotFound},
		{"../evil", "", "", credbatch.KindInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			dir := t.TempDir()
			p, info, err := blobfile.DownloadToTemp(ctx, b, tc.key, dir)
			if tc.wantKind != "" {
				if got := credbatch.ErrorKind(err); got != tc.wantKind {
					t.Errorf("error %v kind %s, want %s", err, got, tc.wantKind)
				}
				if left, _ := os.ReadDir(dir); len(left) != 0 {
					t.Errorf("%d files left in dir after error", len(left))
				}
				return
			}
			if err != nil {
				t.Fatalf("DownloadToTemp: %v", err)
			}
			if filepath.Dir(p) != dir || filepath.Ext(p) != tc.wantExt {
				t.Errorf("path %q, want a file in %q with extension %q", p, dir, tc.wantExt)
			}
			got, err := os.ReadFile(p)
			if err != nil || string(got) != tc.wantContent {
				t.Errorf("content %q (err %v), want %q", got, err, tc.wantContent)
			}
			if info.Key != tc.key || info.Size != int64(len(tc.wantContent)) {
				t.Errorf("info = %+v, want key %q size %d", info, tc.key, len(tc.wantContent))
			}
		})
	}
}
