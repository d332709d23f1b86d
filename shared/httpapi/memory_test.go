package httpapi_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/httpapi"
	"github.com/credbatch/credbatch/shared/ingest"
	"github.com/credbatch/credbatch/shared/sheet"
)

// rowsBody is a POST /api/validate JSON body of about size bytes of valid rows.
func rowsBody(size int) ([]byte, int) {
	var b bytes.Buffer
	b.WriteString(`{"definition_id":"course","rows":[`)
	n := 0
	for b.Len() < size {
		if n > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"first_name":"Person %d","last_name":"Lee-Okonkwo","email":"person%d@example.org","issue_date":"2025-04-30","attributes":{"Score":"%d"}}`, n, n, n%101)
		n++
	}
	b.WriteString(`]}`)
	return b.Bytes(), n
}

// peakHeap runs fn while sampling the heap every millisecond and returns the highest heap
// (live and not yet collected objects) seen above the heap before fn.
func peakHeap(fn func()) uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	runtime.GC()
	base := read()
	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			if v := read(); v > peak {
				peak = v
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	fn()
	close(stop)
	wg.Wait()
	if peak < base {
		return 0
	}
	return peak - base
}

// TestValidateMemoryUnderParallelRequests is the attack's twelve parallel POST /api/validate
// calls with 12 MB JSON bodies (it took the server from 30 MB to 1.1 GB). The rows are
// streamed (spooled to disk, read one at a time), so one request's peak heap is a fraction
// of its body; at most MaxHeavy run at once and the others get 429 with Retry-After, so
// twelve at once peak near MaxHeavy times one, not twelve times. Figures are ratios to the
// single request measured in the same run.
func TestValidateMemoryUnderParallelRequests(t *testing.T) {
	const parallel, maxHeavy = 12, 2
	e := newEnv(t, func(d *httpapi.Deps) { d.MaxHeavy = maxHeavy })
	must(t, e.call("POST", "/api/definitions", "issuer", course(true)), http.StatusCreated, nil)
	body, rows := rowsBody(12 << 20)
	quarter, _ := rowsBody(3 << 20)
	send := func(body []byte) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/api/validate", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer "+e.tokens["issuer"])
		w := httptest.NewRecorder()
		e.api.ServeHTTP(w, r)
		return w
	}
	var one *httptest.ResponseRecorder
	small := peakHeap(func() { must(t, send(quarter), http.StatusOK, nil) })
	single := peakHeap(func() { one = send(body) })
	var res ingest.Result
	must(t, one, http.StatusOK, &res)
	if res.Rows != rows || res.Valid != rows {
		t.Fatalf("validate: %+v, want %d valid rows", res, rows)
	}

	codes := make([]*httptest.ResponseRecorder, parallel)
	start := make(chan struct{})
	many := peakHeap(func() {
		var wg sync.WaitGroup
		for i := range codes {
			wg.Go(func() { <-start; codes[i] = send(body) })
		}
		close(start)
		wg.Wait()
	})
	ok, busy := 0, 0
	for _, w := range codes {
		switch w.Code {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
			busy++
			if w.Header().Get("Retry-After") == "" || errorOf(t, w).Error.Code != "too_many_requests" {
				t.Errorf("429 without Retry-After or code: %v %s", w.Header(), w.Body.String())
			}
		default:
			t.Errorf("status %d: %s", w.Code, w.Body.String())
		}
	}
	ratio, growth := float64(many)/float64(single), float64(single)/float64(small)
	t.Logf("body %.1f MB (%d rows): one request peaks at %.1f MB of heap, %.2f x a 3 MB body's %.1f MB; %d at once: %.1f MB (%.2f x one), %d answered, %d refused with 429",
		float64(len(body))/(1<<20), rows, float64(single)/(1<<20), growth, float64(small)/(1<<20), parallel, float64(many)/(1<<20), ratio, ok, busy)
	if ok < 1 || busy < parallel-2*maxHeavy {
		t.Errorf("%d answered and %d refused; want at most about %d running at once", ok, busy, maxHeavy)
	}
	if growth > 2 {
		t.Errorf("a 12 MB body peaks at %.2f x a 3 MB body's heap; want under 2 (the rows streamed, memory flat as the body grows)", growth)
	}
	if ratio > maxHeavy+1.5 {
		t.Errorf("%d parallel requests peak at %.2f x one request; want at most %d + 1.5 (the concurrency limit)", parallel, ratio, maxHeavy)
	}
}

// TestValidateRefusesMoreRowsThanABatch: JSON rows beyond the batch limit are refused with
// too_many_rows (400), as POST /api/batches refuses them; attribute names beyond the column
// limit with too_many_columns.
func TestValidateRefusesMoreRowsThanABatch(t *testing.T) {
	lim := sheet.DefaultLimits()
	lim.MaxRows, lim.MaxColumns = 10, 7 // the six columns of course rows fit
	e := newEnv(t, func(d *httpapi.Deps) { d.Limits = lim })
	must(t, e.call("POST", "/api/definitions", "issuer", course(true)), http.StatusCreated, nil)
	tests := []struct {
		name string
		body map[string]any
		path string
		want string
	}{
		{"validate: 11 rows", batchBody(11, 0, false), "/api/validate", credbatch.CodeTooManyRows},
		{"batches: 11 rows", batchBody(11, 0, false), "/api/batches", credbatch.CodeTooManyRows},
		{"validate: 4 attributes", map[string]any{"definition_id": "course", "rows": []map[string]any{{"first_name": "A", "last_name": "B",
			"email": "a@example.org", "attributes": map[string]string{"Score": "1", "A": "1", "B": "2", "C": "3"}}}}, "/api/validate", credbatch.CodeTooManyColumns},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := e.call("POST", tt.path, "issuer", tt.body)
			if w.Code != http.StatusBadRequest || errorOf(t, w).Error.Code != tt.want {
				t.Fatalf("status %d %s, want 400 %s", w.Code, w.Body.String(), tt.want)
			}
		})
	}
	var res ingest.Result
	must(t, e.call("POST", "/api/validate", "issuer", batchBody(10, 0, false)), http.StatusOK, &res)
	if res.Rows != 10 || res.Valid != 10 {
		t.Errorf("10 rows: %+v", res)
	}
}
