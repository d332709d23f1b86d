package config_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/credbatch/credbatch/shared/config"
)

// reads returns, per function directory, the variables its loader reads: derived by running
// the loader, not listed by hand.
func reads(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for name, load := range config.Functions {
		e := config.FromMap(nil)
		if err := load(e); err == nil {
			t.Errorf("%s: an empty environment loads without error", name)
		}
		out[name] = e.Read()
	}
	return out
}

// logicalID is a function's logical id in template.yaml (the Makefile's build-<LogicalId>
// rule uses the same convention): ingest -> IngestFunction.
func logicalID(dir string) string { return strings.ToUpper(dir[:1]) + dir[1:] + "Function" }

type templateEnv struct {
	Globals struct {
		Function struct {
			Environment struct {
				Variables map[string]yaml.Node `yaml:"Variables"`
			} `yaml:"Environment"`
			LoggingConfig struct {
				ApplicationLogLevel yaml.Node `yaml:"ApplicationLogLevel"`
			} `yaml:"LoggingConfig"`
		} `yaml:"Function"`
	} `yaml:"Globals"`
	Resources map[string]struct {
		Type       string `yaml:"Type"`
		Properties struct {
			Environment struct {
				Variables map[string]yaml.Node `yaml:"Variables"`
			} `yaml:"Environment"`
		} `yaml:"Properties"`
	} `yaml:"Resources"`
}

// TestTemplateSetsWhatFunctionsRead: every variable a function's loader reads is set by
// template.yaml for that function (Globals or its own Environment), every variable a
// function's own Environment sets is read by it, and every functions/<name> has a loader
// and a resource.
func TestTemplateSetsWhatFunctionsRead(t *testing.T) {
	raw, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var tpl templateEnv
	if err := yaml.Unmarshal(raw, &tpl); err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	// AWS_LAMBDA_LOG_LEVEL, which shared/logging reads, is set by Lambda from LoggingConfig.
	if tpl.Globals.Function.LoggingConfig.ApplicationLogLevel.Value == "" {
		t.Error("Globals.Function.LoggingConfig.ApplicationLogLevel is not set (Lambda derives AWS_LAMBDA_LOG_LEVEL from it)")
	}
	global := tpl.Globals.Function.Environment.Variables
	got := reads(t)
	dirs, err := os.ReadDir("../../functions")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range dirs {
		if d.IsDir() {
			names = append(names, d.Name())
		}
	}
	if want := slices.Sorted(maps.Keys(config.Functions)); !slices.Equal(names, want) {
		t.Fatalf("functions/ holds %v, config.Functions has loaders for %v", names, want)
	}
	var serverless []string
	for id, r := range tpl.Resources {
		if r.Type == "AWS::Serverless::Function" {
			serverless = append(serverless, id)
		}
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			id := logicalID(name)
			res, ok := tpl.Resources[id]
			if !ok || res.Type != "AWS::Serverless::Function" {
				t.Fatalf("template.yaml has no AWS::Serverless::Function %s", id)
			}
			own := res.Properties.Environment.Variables
			for _, v := range got[name] {
				_, inGlobal := global[v]
				_, inOwn := own[v]
				if !inGlobal && !inOwn {
					t.Errorf("%s reads %s, which template.yaml does not set for %s", name, v, id)
				}
			}
			for v := range own {
				if !slices.Contains(got[name], v) {
					t.Errorf("template.yaml sets %s for %s, which does not read it", v, id)
				}
			}
		})
	}
	if len(serverless) != len(names) {
		t.Errorf("template.yaml has functions %v, functions/ has %v", serverless, names)
	}
}

// TestMainsUseTheLoader: each functions/<name>/main.go reads its configuration through its
// own loader (config.Load<Name>) and never reads the environment itself, so that what the
// loader reads is what the function reads.
func TestMainsUseTheLoader(t *testing.T) {
	for name := range config.Functions {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("../../functions", name, "main.go")
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			var loaders []string
			ast.Inspect(f, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				pkg, ok := sel.X.(*ast.Ident)
				if !ok {
					return true
				}
				switch {
				case pkg.Name == "os" && slices.Contains([]string{"Getenv", "LookupEnv", "Environ"}, sel.Sel.Name):
					t.Errorf("%s calls os.%s: read variables through shared/config", path, sel.Sel.Name)
				case pkg.Name == "config" && strings.HasPrefix(sel.Sel.Name, "Load") && sel.Sel.Name != "LoadDefaultConfig":
					loaders = append(loaders, sel.Sel.Name)
				}
				return true
			})
			if len(loaders) != 1 || !strings.EqualFold(loaders[0], "Load"+name) {
				t.Errorf("%s calls config loaders %v, want exactly config.Load%s", path, loaders, name)
			}
		})
	}
}

// TestREADMETable: the README's environment table lists every variable read, with exactly
// the functions that read it.
func TestREADMETable(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	start := strings.Index(text, "### Environment variables")
	if start < 0 {
		t.Fatal(`README.md has no "### Environment variables" section`)
	}
	text = text[start:]
	if end := strings.Index(text[4:], "\n#"); end >= 0 {
		text = text[:end+4]
	}
	documented := map[string][]string{}
	name := regexp.MustCompile("`([A-Z][A-Z0-9_]+)`")
	for _, line := range strings.Split(text, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.Contains(cells[1], "`") {
			continue
		}
		var who []string
		for _, w := range strings.Split(cells[2], ",") {
			who = append(who, strings.TrimSpace(w))
		}
		slices.Sort(who)
		for _, m := range name.FindAllStringSubmatch(cells[1], -1) {
			documented[m[1]] = who
		}
	}
	want := map[string][]string{}
	for fn, vars := range reads(t) {
		for _, v := range vars {
			want[v] = append(want[v], fn)
		}
	}
	for v, fns := range want {
		slices.Sort(fns)
		if got, ok := documented[v]; !ok {
			t.Errorf("README: %s (read by %v) is not in the environment table", v, fns)
		} else if !slices.Equal(got, fns) {
			t.Errorf("README: %s is listed for %v, read by %v", v, got, fns)
		}
	}
	for v := range documented {
		if _, ok := want[v]; !ok && v != "AWS_LAMBDA_LOG_LEVEL" && v != "LOG_LEVEL" {
			t.Errorf("README lists %s, which nothing reads", v)
		}
	}
}
