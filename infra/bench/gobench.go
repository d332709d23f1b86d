package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// goBench runs `go test -bench` for a pattern in packages and returns each benchmark's
// metrics by name (without the -N CPU suffix), e.g. result["BenchmarkPutRows/rows=20000"]["rows/s"].
func goBench(pattern, benchtime string, pkgs ...string) (map[string]map[string]float64, error) {
	args := append([]string{"test", "-run", "^$", "-bench", pattern, "-benchtime", benchtime}, pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		os.Stdout.Write(out)
		return nil, fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	res := map[string]map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			if strings.Contains(sc.Text(), "SKIP") || strings.HasPrefix(sc.Text(), "---") {
				fmt.Println("  " + sc.Text())
			}
			continue
		}
		name := f[0]
		if i := strings.LastIndex(name, "-"); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		m := map[string]float64{}
		for i := 2; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				m[f[i+1]] = v
			}
		}
		res[name] = m
	}
	return res, nil
}
