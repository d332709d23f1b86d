package httpapi_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/credbatch/credbatch/shared/httpapi"
)

// TestOpenAPICoversRoutes checks that every registered route is documented at
// /openapi.json and every documented operation is registered, with the same security.
func TestOpenAPICoversRoutes(t *testing.T) {
	e := newEnv(t)
	var doc struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]struct {
			Security   []map[string][]string `json:"security"`
			Parameters []struct {
				Name string `json:"name"`
				In   string `json:"in"`
			} `json:"parameters"`
		} `json:"paths"`
	}
	must(t, e.call("GET", "/openapi.json", "", nil), 200, &doc)
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	type op struct{ method, path string }
	registered := map[op]httpapi.Route{}
	for _, rt := range httpapi.Routes() {
		registered[op{strings.ToLower(rt.Method), rt.Path}] = rt
	}
	documented := map[op]bool{}
	pathParam := regexp.MustCompile(`\{([a-z]+)\}`)
	for path, ops := range doc.Paths {
		for method, o := range ops {
			k := op{method, path}
			documented[k] = true
			rt, ok := registered[k]
			if !ok {
				t.Errorf("documented %s %s is not a route", strings.ToUpper(method), path)
				continue
			}
			if public := len(o.Security) == 0; public != rt.Public {
				t.Errorf("%s %s: documented public=%v, route public=%v", strings.ToUpper(method), path, public, rt.Public)
			}
			for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
				if !slices.ContainsFunc(o.Parameters, func(p struct {
					Name string `json:"name"`
					In   string `json:"in"`
				}) bool {
					return p.Name == m[1] && p.In == "path"
				}) {
					t.Errorf("%s %s: path parameter %s is not documented", strings.ToUpper(method), path, m[1])
				}
			}
		}
	}
	for k := range registered {
		if !documented[k] {
			t.Errorf("route %s %s is not in openapi.json", strings.ToUpper(k.method), k.path)
		}
	}
	if len(registered) == 0 || len(documented) != len(registered) {
		t.Errorf("%d routes, %d documented operations", len(registered), len(documented))
	}
}
